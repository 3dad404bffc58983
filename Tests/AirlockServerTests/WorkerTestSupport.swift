import AirlockEngine
import AirlockEvents
import AirlockPolicy
import AirlockSeccomp
import AirlockServer
import AirlockTestSupport
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// The worker's tests, one after another: they share podman and two cores, and the shutdown and
/// signal tests must not overlap with others' containers.
@Suite("airlock serve", .serialized) enum WorkerSuite {}

/// A policy of busybox tools that behave as each test needs. They borrow git's grammar: `TOOL log`
/// is allowed for tenants acme and globex in context `ro`; `sh -c SCRIPT` ignores the arguments.
enum TestPolicy {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func yaml(workspace: String, extraTenant: String? = nil) -> String {
        func tool(_ name: String, _ script: String, image: String = "airlock/test:1", timeout: String = "60s") -> String {
            """
              \(name):
                grammar: \(root)/policies/grammars/git.yaml
                image: \(image)
                entrypoint: [/bin/sh, -c, "\(script)"]
                timeout: \(timeout)
                seccomp: \(root)/policies/seccomp/hardened.json
                runtime: runc
                limits: {memory: 128m, pids: 64, cpus: 1, nofile: 256, nproc: 64, tmpfs: 16m}
                mounts: [{root: \(workspace), writable: true}]

            """
        }
        let tools: [(String, String)] = [
            ("ok", "echo hello; echo oops >&2"),
            ("chatty", "echo one; sleep 1; echo two; sleep 1; echo three"),
            ("short", "sleep 2; echo done"),
            ("sleeper", "sleep 600"),
            ("binary", "printf '\\\\377\\\\376'"),
            ("big", "yes abcdefghij | head -c 3000000"),
            ("marker", "touch /workspace/launched"),
            ("echoin", "cat"),
        ]
        return "version: 1\ntools:\n" + tools.map { tool($0.0, $0.1) }.joined()
            + tool("slow", "sleep 30", timeout: "1s") + tool("missing", "true", image: "airlock/no-such-image:1")
            + tool("vanished", "true", image: VanishingImage.worker.name)
            + """
            contexts:
              ro:
                allow:
                  - {id: run-log, tool: [\(tools.map(\.0).joined(separator: ", ")), slow, missing, vanished], subcommand: [log], reason: test tools}
            registry:
              tools: [ok, sleeper]
              images: ["airlock/*"]
              max_per_tenant: 3
            tenants:
              acme: {contexts: [ro]}
              globex: {contexts: [ro]}

            """ + (extraTenant.map { "  \($0): {contexts: [ro]}\n" } ?? "")
    }

    static func load(_ path: String) throws(PolicyRejection) -> Policy {
        do {
            return try PolicyLoader { try String(contentsOfFile: $0, encoding: .utf8) }.load(path: path)
        } catch {
            throw PolicyRejection(messages: error.errors.map(\.description))
        }
    }
}

/// Collects log lines, to check what the worker said.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
    func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }
}

/// A worker running in this process, on a temporary directory, with the real SQLite store (or the
/// store a test gives it) and real podman.
final class TestWorker: Sendable {
    let directory: String
    let workspace: String
    let socket: String
    let policyFile: String
    let trail: AuditTrail
    let worker: AirlockWorker
    let group: ServiceGroup
    let running: Task<Void, any Error>
    let logs: LogLines
    let addresses: [ListeningAddress]

    var store: any EventStore { trail.store }

    static func start(
        directory given: String? = nil, store: (any EventStore)? = nil, engine engineName: String = "podman",
        configure: (inout WorkerConfiguration) -> Void = { _ in }
    ) async throws -> TestWorker {
        let directory = given ?? NSTemporaryDirectory() + "airlock-serve-\(UUID().uuidString.prefix(8))"
        let workspace = directory + "/workspace"
        try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
        chmod(workspace, 0o777)  // the tools run as nobody
        let policyFile = directory + "/policy.yaml"
        if !FileManager.default.fileExists(atPath: policyFile) {
            try TestPolicy.yaml(workspace: workspace).write(toFile: policyFile, atomically: true, encoding: .utf8)
        }
        let logs = LogLines()
        let logger = Logger(label: "test") { _ in WorkerLogHandler(format: .json, level: .info, sink: { logs.append($0) }) }
        let eventStore: any EventStore = try store ?? SQLiteEventStore(path: directory + "/events.sqlite", use: .longLived)
        let trail = AuditTrail(store: eventStore, spool: try EventSpool(directory: directory + "/spool"), logger: logger)
        let engine = WorkerEngine(
            logger: logger, resolve: { () async throws(EngineError) -> CommandLineEngine in try await EngineResolver(explicit: engineName).resolve() },
            onFirstResolved: { _ in })
        let (announced, announce) = AsyncStream.makeStream(of: [ListeningAddress].self)
        var configuration = WorkerConfiguration(socketPath: directory + "/airlock.sock")
        configuration.retentionBytes = 4096
        configuration.grace = .seconds(5)
        configuration.onListening = { addresses in
            announce.yield(addresses)
            announce.finish()
        }
        configure(&configuration)
        let policyPath = policyFile
        let worker = AirlockWorker(
            configuration: configuration, policy: LivePolicy(try TestPolicy.load(policyFile), load: { () throws(PolicyRejection) in try TestPolicy.load(policyPath) }),
            trail: trail, engine: engine, sandbox: SandboxAttestor(), logger: logger,
            loadProfile: { path throws(SeccompProfileError) in
                try SeccompProfile.load(path: path) { try Array(Data(contentsOf: URL(fileURLWithPath: $0))) }.reference
            })
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [worker], logger: logger))
        let running = Task {
            // A worker that stops before listening (it could not bind) must not leave the wait below hanging.
            defer { announce.finish() }
            try await group.run()
        }
        var addresses: [ListeningAddress]?
        for await announcement in announced { addresses = announcement }
        guard let addresses else {
            try await running.value
            throw TestFailure("the worker stopped before listening; logs:\n\(logs.all.joined(separator: "\n"))")
        }
        return TestWorker(
            directory: directory, workspace: workspace, socket: configuration.socketPath, policyFile: policyFile, trail: trail, worker: worker,
            group: group, running: running, logs: logs, addresses: addresses)
    }

    private init(
        directory: String, workspace: String, socket: String, policyFile: String, trail: AuditTrail, worker: AirlockWorker, group: ServiceGroup,
        running: Task<Void, any Error>, logs: LogLines, addresses: [ListeningAddress]
    ) {
        self.directory = directory
        self.workspace = workspace
        self.socket = socket
        self.policyFile = policyFile
        self.trail = trail
        self.worker = worker
        self.group = group
        self.running = running
        self.logs = logs
        self.addresses = addresses
    }

    /// Graceful shutdown, as SIGTERM would trigger it; returns once the worker has stopped.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await running.value
    }

    func request(
        _ method: String, _ path: String, json body: String? = nil, headers: [String: String] = [:], user: String? = nil
    ) async throws -> HTTPAnswer {
        try await HTTPClient.request(socket: socket, method: method, path: path, body: body.map { Data($0.utf8) }, headers: headers, user: user)
    }

    /// `POST /v1/invocations` of a test tool for acme in `ro`.
    func invoke(_ tool: String, id: String? = nil, tenant: String = "acme", extra: String = "", headers: [String: String] = [:]) async throws
        -> HTTPAnswer
    {
        try await request("POST", "/v1/invocations", json: Self.body(tool, id: id, tenant: tenant, extra: extra), headers: headers)
    }

    static func body(_ tool: String, id: String? = nil, tenant: String = "acme", extra: String = "") -> String {
        #"{"tool_name":"\#(tool)","subcommand":"log","args":[],"tenant_id":"\#(tenant)","security_context":"ro""#
            + (id.map { #","execution_id":"\#($0)""# } ?? "") + extra + "}"
    }

    func events(_ executionID: String? = nil) async throws -> [StoredEvent] {
        try await store.events(matching: EventQuery(executionID: executionID, limit: 100_000))
    }

    func eventTypes(_ executionID: String) async throws -> [String] {
        try await events(executionID).map(\.eventType)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// An HTTP answer as curl received it.
struct HTTPAnswer: Sendable, CustomStringConvertible {
    var status: Int
    var headers: [String: String]
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
    var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }
    var description: String { "\(status) \(text)" }
}

/// curl over the Unix socket (or TCP), as a gateway would call; `user` runs it as another user.
enum HTTPClient {
    static func request(
        socket: String?, url: String = "http://localhost", method: String, path: String, body: Data? = nil, headers: [String: String] = [:],
        user: String? = nil, timeout: Int = 120
    ) async throws -> HTTPAnswer {
        var arguments = ["-s", "-S", "-i", "-X", method, "--max-time", "\(timeout)", "-H", "Expect:"]
        if let socket { arguments += ["--unix-socket", socket] }
        for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
        if body != nil { arguments += ["-H", "Content-Type: application/json", "--data-binary", "@-"] }
        arguments.append(url + path)
        let (status, output, errors) = try await run(user.map { ["/usr/sbin/runuser", "-u", $0, "--", "/usr/bin/curl"] } ?? ["/usr/bin/curl"], arguments, input: body)
        guard status == 0 else { throw TestFailure("curl failed (\(status)): \(errors)") }
        return try parse(output)
    }

    /// Splits `curl -i` output into status, headers and body.
    static func parse(_ output: Data) throws -> HTTPAnswer {
        let separator = Data("\r\n\r\n".utf8)
        guard let end = output.range(of: separator) else { throw TestFailure("no HTTP header in: \(String(decoding: output, as: UTF8.self))") }
        let head = String(decoding: output[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(head[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTPAnswer(status: status, headers: headers, body: Data(output[end.upperBound...]))
    }

    /// Runs a program to its end off the cooperative pool, feeding `input` on stdin.
    static func run(_ command: [String], _ arguments: [String], input: Data? = nil) async throws -> (Int32, Data, String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: command[0])
                    process.arguments = Array(command.dropFirst()) + arguments
                    let stdin = Pipe()
                    let stdout = Pipe()
                    let stderr = Pipe()
                    process.standardInput = stdin
                    process.standardOutput = stdout
                    process.standardError = stderr
                    try process.run()
                    DispatchQueue.global().async {
                        if let input { try? stdin.fileHandleForWriting.write(contentsOf: input) }
                        try? stdin.fileHandleForWriting.close()
                    }
                    let errors = Mutex(Data())
                    let drained = DispatchSemaphore(value: 0)
                    DispatchQueue.global().async {
                        let data = stderr.fileHandleForReading.readDataToEndOfFile()
                        errors.withLock { $0 = data }
                        drained.signal()
                    }
                    let output = stdout.fileHandleForReading.readDataToEndOfFile()
                    drained.wait()
                    process.waitUntilExit()
                    continuation.resume(returning: (process.terminationStatus, output, String(decoding: errors.withLock { $0 }, as: UTF8.self)))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}

/// Containers podman still lists (running or not) whose names are among `names`.
func leftoverContainers(_ executionIDs: [String]) async throws -> [String] {
    let (_, output, _) = try await HTTPClient.run(
        ["/usr/bin/podman"], ["ps", "--all", "--filter", "label=airlock.execution_id", "--format", "{{.Names}}"])
    let names = Set(executionIDs.map { "airlock-\($0)" })
    return String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init).filter(names.contains)
}

/// An image that is there while a tool's sandbox is attested and gone at its launch: a tag of the
/// test image, removed in between (the image itself stays). The engine then fails after `Started`
/// (its exit 125, the image not in its store): the one engine failure no canary can foresee.
struct VanishingImage: Sendable {
    let name: String

    /// One per suite that runs beside the others: a suite removing its tag never touches another's.
    static let worker = VanishingImage(name: "airlock/test-vanished-worker-\(getpid()):1")
    static let pipeline = VanishingImage(name: "airlock/test-vanished-pipeline-\(getpid()):1")

    static func podman(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/podman")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    func tag() throws { try #require(try Self.podman(["tag", "airlock/test:1", name]) == 0) }
    /// Removes the tag only: `airlock/test:1` keeps the image.
    func remove() throws { try #require(try Self.podman(["rmi", name]) == 0) }
}

/// The built `airlock` binary under test.
enum AirlockBinary {
    static let path = BuiltBinaries.airlock.path

    static var exists: Bool { FileManager.default.isExecutableFile(atPath: path) }
}
