import AirlockTestSupport
import Foundation
import Testing

/// Faults made for real around the built binaries: the worker killed mid-run, the state directory
/// full or read-only, PostgreSQL stopped mid-run. After each, every `Started` has exactly one
/// `Completed`, nothing was launched that was not recorded as started first, and the audit chain
/// verifies (`airlock events verify`).
@Suite("Fault suite", .serialized)
struct FaultSuiteTests {
    static func policy(directory: String, seconds: Int = 600) throws -> String {
        try EventsCommandTests.sleeperPolicy(directory: directory, seconds: seconds)
    }

    /// Execution ids of `Started` and of `Completed` events, each as many times as recorded.
    static func ledger(_ state: String, extra: [String] = []) throws -> (started: [String], completed: [String]) {
        func ids(_ type: String) throws -> [String] {
            try EventsCommandTests.events(state, extra + ["--type", type]).compactMap { ($0["payload"] as? [String: Any])?["execution_id"] as? String }
        }
        return (try ids("CliToolInvocationStarted"), try ids("CliToolInvocationCompleted"))
    }

    /// Every Started has exactly one Completed, and every Completed a Started.
    static func expectBalanced(_ state: String, extra: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (started, completed) = try ledger(state, extra: extra)
        #expect(!started.isEmpty, sourceLocation: sourceLocation)
        #expect(started.sorted() == completed.sorted(), "started \(started), completed \(completed)", sourceLocation: sourceLocation)
        #expect(Set(completed).count == completed.count, "a second Completed: \(completed)", sourceLocation: sourceLocation)
        let verify = try CommandLineTests.airlock(["events", "verify", "--state-dir", state] + extra)
        #expect(verify.status == 0 && verify.stdout.contains("intact"), "\(verify.stdout)\(verify.stderr)", sourceLocation: sourceLocation)
    }

    static func shell(_ command: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// `airlock serve` on `state`, as a process of its own.
    static func startWorker(state: String, policy: String) throws -> Process {
        try startWorker(["--policy", policy, "--state-dir", state, "--engine", "podman"])
    }

    /// `airlock serve ARGUMENTS` from the repository, this process's environment and `environment`.
    static func startWorker(_ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        let worker = Process()
        worker.executableURL = CommandLineTests.binary
        worker.arguments = ["serve"] + arguments
        worker.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        worker.currentDirectoryURL = URL(fileURLWithPath: CommandLineTests.repositoryRoot)
        worker.standardOutput = FileHandle.nullDevice
        worker.standardError = FileHandle.nullDevice
        try worker.run()
        return worker
    }

    static func waitUntil(_ seconds: Double, _ condition: () throws -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.3)
        }
        return try condition()
    }

    @Test("kill -9 of the worker mid-run: the next start removes the container and records it abandoned, once")
    func workerKilled() throws {
        let directory = try EventsCommandTests.scratch()
        let state = directory + "/state"
        let policy = try Self.policy(directory: directory)
        let worker = try Self.startWorker(state: state, policy: policy)
        defer { if worker.isRunning { kill(worker.processIdentifier, SIGKILL) } }
        let socket = state + "/airlock.sock"
        #expect(try Self.waitUntil(60) { FileManager.default.fileExists(atPath: socket) })
        let call = Process()
        call.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        call.arguments = [
            "-s", "--unix-socket", socket, "-d",
            #"{"tool_name":"sleeper","subcommand":"log","args":[],"tenant_id":"acme","security_context":"ro"}"#,
            "http://localhost/v1/invocations",
        ]
        call.standardOutput = FileHandle.nullDevice
        try call.run()
        #expect(try Self.waitUntil(60) { try !Self.ledger(state).started.isEmpty })
        let (started, _) = try Self.ledger(state)
        let id = try #require(started.first)
        #expect(try EventsCommandTests.podman(["ps", "--filter", "name=^airlock-\(id)$", "--format", "{{.Names}}"]) == "airlock-\(id)")

        kill(worker.processIdentifier, SIGKILL)
        worker.waitUntilExit()
        call.waitUntilExit()
        #expect(try EventsCommandTests.podman(["ps", "--filter", "name=^airlock-\(id)$", "--format", "{{.Names}}"]) == "airlock-\(id)")

        let restarted = try Self.startWorker(state: state, policy: policy)
        defer {
            kill(restarted.processIdentifier, SIGTERM)
            restarted.waitUntilExit()
        }
        #expect(try Self.waitUntil(60) { try Self.ledger(state).completed.contains(id) })
        let completed = try EventsCommandTests.events(state, ["--execution-id", id, "--type", "CliToolInvocationCompleted"])
        #expect((completed.first?["payload"] as? [String: Any])?["abandoned"] as? Bool == true)
        #expect(try EventsCommandTests.podman(["ps", "--all", "--filter", "name=^airlock-\(id)$", "--format", "{{.Names}}"]).isEmpty)
        try Self.expectBalanced(state)
    }

    /// The state directory (store and spool) on a small tmpfs: filled up, then read-only. Nothing
    /// is launched while `Started` cannot be committed; once it can, runs work again.
    @Test("the state directory full, then read-only: refused before launch, nothing lost once it recovers", .enabled(if: geteuid() == 0, "mounts a tmpfs"))
    func stateDirectoryFaults() throws {
        let directory = try EventsCommandTests.scratch()
        let state = directory + "/state"
        let policy = try Self.policy(directory: directory, seconds: 0)
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        #expect(try Self.shell("mount -t tmpfs -o size=4m airlock-fault \(state)") == 0)
        defer { _ = try? Self.shell("umount -l \(state)") }
        let marker = directory + "/launched"
        func run() throws -> CommandLineTests.Run {
            try CommandLineTests.airlock(["run", "--state-dir", state, "--policy", policy, "--context", "ro", "--engine", "podman", "--", "sleeper", "log"])
        }
        #expect(try run().status == 0)

        // Full: a file takes every byte left.
        _ = try Self.shell("dd if=/dev/zero of=\(state)/filler bs=64k 2>/dev/null")
        let full = try run()
        #expect(full.status == 2, "\(full.stdout)\(full.stderr)")
        #expect(full.stderr.contains("nothing was launched"), "\(full.stderr)")
        #expect(!full.stdout.contains("started"), "the tool ran without its Started committed")
        #expect(!FileManager.default.fileExists(atPath: marker))
        try FileManager.default.removeItem(atPath: state + "/filler")
        #expect(try run().status == 0)

        // Read-only.
        #expect(try Self.shell("mount -o remount,ro \(state)") == 0)
        let readOnly = try run()
        #expect(readOnly.status == 2, "\(readOnly.stdout)\(readOnly.stderr)")
        #expect(!readOnly.stdout.contains("started"))
        #expect(try Self.shell("mount -o remount,rw \(state)") == 0)
        #expect(try run().status == 0)
        try Self.expectBalanced(state)
        #expect(try Self.ledger(state).started.count == 3)
    }

    /// PostgreSQL goes away while the tool runs: `Completed` waits in the spool, and the next run
    /// delivers it once the server is back.
    @Test("PostgreSQL stopped mid-run and restarted: Completed is spooled, then delivered; exactly one each")
    func postgresStoppedMidRun() throws {
        let cluster = try PostgresTestCluster.start()
        defer { cluster.destroy() }
        let database = try cluster.createDatabase()
        let location = database.hasPrefix("postgresql://") ? database : "postgresql:" + database
        let directory = try EventsCommandTests.scratch()
        let state = directory + "/state"
        let policy = try Self.policy(directory: directory, seconds: 4)
        let running = Process()
        running.executableURL = CommandLineTests.binary
        running.arguments = ["run", "--events", location, "--state-dir", state, "--policy", policy, "--context", "ro", "--engine", "podman", "--", "sleeper", "log"]
        let output = Pipe()
        running.standardOutput = output
        try running.run()
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("started") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += chunk
        }
        try cluster.stop(mode: .immediate)
        running.waitUntilExit()
        #expect(running.terminationStatus == 0, "the tool's own exit status, though its end could not be committed")
        let spooled = try FileManager.default.contentsOfDirectory(atPath: state + "/spool").filter { $0.hasSuffix(".json") }
        #expect(spooled.count == 1, "\(spooled)")
        try cluster.start()
        let next = try CommandLineTests.airlock([
            "run", "--events", location, "--state-dir", state, "--policy", policy, "--context", "ro", "--engine", "podman", "--timeout", "1",
            "--", "sleeper", "log",
        ])
        #expect(next.status == 124, "\(next.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: state + "/spool").filter { $0.hasSuffix(".json") }.isEmpty)
        try Self.expectBalanced(state, extra: ["--events", location])
        #expect(try Self.ledger(state, extra: ["--events", location]).started.count == 2)
    }
}
