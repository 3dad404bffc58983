import Foundation
import Testing

/// The audit trail through the binary: `airlock run` writes it, `airlock events` reads it, and a
/// crash between Started and Completed is closed by the next run.
@Suite("airlock events", .serialized)
struct EventsCommandTests {
    static let root = CommandLineTests.repositoryRoot

    /// A policy with a tool that sleeps (git's grammar, `sh -c` in the busybox test image: the
    /// arguments after the script are ignored).
    /// A policy whose `sleeper` says "started", then sleeps `seconds`; tenant acme may call it.
    static func sleeperPolicy(directory: String, seconds: Int = 600) throws -> String {
        let policy = directory + "/policy.yaml"
        try """
            version: 1
            tools:
              sleeper:
                grammar: \(root)/policies/grammars/git.yaml
                image: airlock/test:1
                entrypoint: [/bin/sh, -c, "echo started; sleep \(seconds)"]
                timeout: 120s
                seccomp: \(root)/policies/seccomp/hardened.json
                runtime: runc
            contexts:
              ro:
                allow:
                  - {id: sleep-log, tool: sleeper, subcommand: [log], reason: test}
            tenants:
              acme: {contexts: [ro]}
            """.write(toFile: policy, atomically: true, encoding: .utf8)
        return policy
    }

    /// `airlock run -- sleeper log`, returned once the tool has started (it says so on stdout).
    static func startSleeper(state: String, policy: String, environment: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = CommandLineTests.binary
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.arguments = ["run", "--state-dir", state, "--policy", policy, "--context", "ro", "--engine", "podman", "--", "sleeper", "log"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("started") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += chunk
        }
        return process
    }

    static func scratch() throws -> String {
        let directory = NSTemporaryDirectory() + "airlock-events-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    static func events(_ state: String, _ extra: [String] = []) throws -> [[String: Any]] {
        let list = try CommandLineTests.airlock(["events", "list", "--state-dir", state] + extra)
        #expect(list.status == 0, "\(list.stderr)")
        return try list.stdout.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    static func podman(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/podman")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("run records Started and Completed; list filters by type, execution and time")
    func runThenList() throws {
        let state = try Self.scratch() + "/state"
        let denied = try CommandLineTests.airlock(["run", "--state-dir", state, "--context", "readonly", "--", "git", "push", "--force"])
        #expect(denied.status == 3)
        let rejected = try Self.events(state, ["--type", "CliToolSemanticRejected"])
        #expect(rejected.count == 1)
        let payload = try #require(rejected.first?["payload"] as? [String: Any])
        #expect(payload["requested_subcommand"] as? String == "push")
        #expect(payload["rule_id"] as? String == "airlock.default-deny")
        let executionID = try #require(payload["execution_id"] as? String)
        #expect(try Self.events(state, ["--execution-id", executionID]).count == 1)
        #expect(try Self.events(state, ["--execution-id", "other"]).isEmpty)
        #expect(try Self.events(state, ["--since", "1h"]).count == 1)
        #expect(try Self.events(state, ["--after-id", "1"]).isEmpty)

        let text = try CommandLineTests.airlock(["events", "list", "--state-dir", state, "--format", "text"])
        #expect(text.stdout.contains("CliToolSemanticRejected  execution_id=\(executionID)"), "\(text.stdout)")

        let bad = try CommandLineTests.airlock(["events", "list", "--state-dir", state, "--type", "Nope", "--since", "soon"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("--type Nope is not an Airlock event type"), "\(bad.stderr)")

        // A second event, so that a limit that does nothing shows.
        _ = try CommandLineTests.airlock(["run", "--state-dir", state, "--context", "readonly", "--", "git", "push", "--force"])
        for limit in ["0", "-1"] {
            let result = try CommandLineTests.airlock(["events", "list", "--state-dir", state, "--limit=\(limit)"])
            #expect(result.status == 64, "--limit=\(limit): \(result.stdout)")
            #expect(result.stdout.isEmpty, "--limit=\(limit) printed events")
            #expect(result.stderr.contains("--limit must be a positive number of events"), "\(result.stderr)")
        }
        let one = try CommandLineTests.airlock(["events", "list", "--state-dir", state, "--limit", "1"])
        #expect(one.status == 0 && one.stdout.split(separator: "\n").count == 1, "\(one.stdout)")
    }

    @Test("the store cannot be opened: nothing launched, the denial spooled, a clear error")
    func storeUnavailable() throws {
        let state = try Self.scratch()
        // A store path below a regular file cannot be created.
        let events = "sqlite:/etc/hostname/events.sqlite"
        let allowed = try CommandLineTests.airlock(
            ["run", "--state-dir", state, "--events", events, "--context", "readonly", "--", "git", "status"])
        #expect(allowed.status == 2)
        #expect(allowed.stderr.contains("cannot record the invocation, so it was not launched"), "\(allowed.stderr)")
        let denied = try CommandLineTests.airlock(
            ["run", "--state-dir", state, "--events", events, "--context", "readonly", "--", "git", "push"])
        #expect(denied.status == 3)
        let spooled = try FileManager.default.contentsOfDirectory(atPath: state + "/spool").filter { $0.hasSuffix(".json") }
        #expect(spooled.count == 1, "the rejection waits in the spool")
        // With a working store, the next run delivers it.
        let next = try CommandLineTests.airlock(["run", "--state-dir", state, "--context", "readonly", "--", "git", "push"])
        #expect(next.status == 3)
        #expect(try Self.events(state, ["--type", "CliToolSemanticRejected"]).count == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: state + "/spool").filter { $0.hasSuffix(".json") }.isEmpty)
    }

    @Test("a crash between Started and Completed: the next run removes the container and records it abandoned")
    func crashIsReconciled() async throws {
        let directory = try Self.scratch()
        let state = directory + "/state"
        let policy = try Self.sleeperPolicy(directory: directory)
        // Its own temporary directory, to watch the engine working directory the crash leaves.
        let temporary = directory + "/tmp"
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        let crashing = try Self.startSleeper(state: state, policy: policy, environment: ["TMPDIR": temporary])
        let started = try Self.events(state, ["--type", "CliToolInvocationStarted"])
        let payload = try #require(started.first?["payload"] as? [String: Any])
        let container = try #require(payload["container_name"] as? String)
        let executionID = try #require(payload["execution_id"] as? String)
        kill(crashing.processIdentifier, SIGKILL)
        crashing.waitUntilExit()
        #expect(try Self.podman(["ps", "--filter", "name=^\(container)$", "--format", "{{.Names}}"]) == container, "the container outlived airlock")
        let leftBehind = try FileManager.default.contentsOfDirectory(atPath: temporary)
        #expect(leftBehind.count == 1 && leftBehind[0].hasPrefix("airlock-engine-\(crashing.processIdentifier)-"), "\(leftBehind)")

        // The next allowed run reconciles before it launches (its own deadline is 1 s).
        let next = try CommandLineTests.airlock(
            ["run", "--state-dir", state, "--policy", policy, "--context", "ro", "--engine", "podman", "--timeout", "1", "--", "sleeper", "log"],
            environment: ["TMPDIR": temporary])
        #expect(next.status == 124, "\(next.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary).isEmpty, "the crashed run's engine directory removed")
        #expect(try Self.podman(["ps", "--all", "--filter", "name=^\(container)$", "--format", "{{.Names}}"]).isEmpty, "container removed")
        let trail = try Self.events(state, ["--execution-id", executionID])
        #expect(trail.map { $0["event_type"] as? String } == ["CliToolInvocationStarted", "CliToolInvocationCompleted"])
        let completed = try #require(trail.last?["payload"] as? [String: Any])
        #expect(completed["abandoned"] as? Bool == true)
        #expect(completed["outcome"] as? String == "abandoned")
        #expect(completed["exit_code"] is NSNull)
        // Every Started has its Completed now, the second run's included.
        #expect(try Self.events(state, ["--type", "CliToolInvocationStarted"]).count == 2)
        #expect(try Self.events(state, ["--type", "CliToolInvocationCompleted"]).count == 2)
    }

    @Test("SIGTERM cancels a run: container killed, Completed recorded as cancelled, exit 130")
    func signalCancels() async throws {
        let directory = try Self.scratch()
        let state = directory + "/state"
        let policy = try Self.sleeperPolicy(directory: directory)
        let running = try Self.startSleeper(state: state, policy: policy)
        kill(running.processIdentifier, SIGTERM)
        running.waitUntilExit()
        #expect(running.terminationStatus == 130)
        let completed = try Self.events(state, ["--type", "CliToolInvocationCompleted"])
        let payload = try #require(completed.first?["payload"] as? [String: Any])
        #expect(payload["cancelled"] as? Bool == true)
        let container = "airlock-" + (payload["execution_id"] as? String ?? "")
        #expect(try Self.podman(["ps", "--all", "--filter", "name=^\(container)$", "--format", "{{.Names}}"]).isEmpty)
    }

    @Test("list and tail on a store that does not exist: a clear error naming the path, exit 2, and no store created")
    func missingStore() throws {
        let state = try Self.scratch() + "/mistyped-state"
        for command in ["list", "tail"] {
            let result = try CommandLineTests.airlock(["events", command, "--state-dir", state])
            #expect(result.status == 2, "\(command): \(result.stderr)")
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.contains("no event store at \(state)/events.sqlite"), "\(command): \(result.stderr)")
            #expect(result.stderr.contains("--state-dir"), "\(result.stderr)")
        }
        let events = try Self.scratch() + "/typo.sqlite"
        let result = try CommandLineTests.airlock(["events", "list", "--events", "sqlite:" + events])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("no event store at \(events)"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: state), "a read created the state directory")
        #expect(!FileManager.default.fileExists(atPath: events), "a read created the store")
    }

    @Test("tail prints what exists, then follows new events in id order")
    func tailFollows() async throws {
        let state = try Self.scratch() + "/state"
        _ = try CommandLineTests.airlock(["run", "--state-dir", state, "--context", "readonly", "--", "git", "push"])
        let tail = Process()
        tail.executableURL = CommandLineTests.binary
        tail.arguments = ["events", "tail", "--state-dir", state, "--interval", "0.1"]
        let output = Pipe()
        tail.standardOutput = output
        try tail.run()
        defer { tail.terminate() }
        _ = try CommandLineTests.airlock(["run", "--state-dir", state, "--context", "readonly", "--", "git", "push", "--force"])
        var lines: [String] = []
        var buffer = Data()
        while lines.count < 2 {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer += chunk
            lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        let ids = try lines.map { line in try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])["id"] as? Int }
        #expect(ids == [1, 2])
    }
}
