import AirlockEvents
import AirlockTestSupport
import Foundation
import Logging
import Testing

/// The backends the contract suite runs against (PostgreSQL: a throwaway cluster per test, see
/// `PostgresTestCluster`).
enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory
    /// As the worker opens it.
    case sqlite
    /// As `airlock run` and `airlock events` open it.
    case sqliteOneShot = "sqlite, one-shot"
    case postgres

    var testDescription: String { rawValue }

    func fixture() async throws -> any StoreFixture {
        switch self {
        case .memory: try MemoryFixture()
        case .sqlite: try SQLiteFixture(use: .longLived)
        case .sqliteOneShot: try SQLiteFixture(use: .oneShot)
        case .postgres: try PostgresFixture()
        }
    }
}

/// A store the test can open (and reopen), break the way it breaks for real, and heal.
protocol StoreFixture: Sendable {
    /// A fresh directory for the test's files (spool, database).
    var scratch: String { get }
    func open() async throws -> any EventStore
    func breakStore() async throws
    func healStore() async throws
    func cleanUp()
}

func makeScratchDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-events-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

final class MemoryFixture: StoreFixture {
    let scratch: String
    let store = InMemoryEventStore()
    init() throws { scratch = try makeScratchDirectory() }
    func open() async throws -> any EventStore { store }
    func breakStore() async throws { store.fail(with: "memory store: disk gone") }
    func healStore() async throws { store.fail(with: nil) }
    func cleanUp() { try? FileManager.default.removeItem(atPath: scratch) }
}

/// SQLite breaks for real when another process holds the write lock past the busy timeout: here
/// the `sqlite3` shell holds `BEGIN EXCLUSIVE` until it is told to let go.
final class SQLiteFixture: StoreFixture, @unchecked Sendable {
    let scratch: String
    let use: EventStoreUse
    var path: String { scratch + "/events.sqlite" }
    private var locker: (process: Process, input: Pipe)?

    init(use: EventStoreUse) throws {
        scratch = try makeScratchDirectory()
        self.use = use
    }

    func open() async throws -> any EventStore { try SQLiteEventStore(path: path, busyTimeout: 0.3, use: use) }

    func breakStore() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [path]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data("BEGIN EXCLUSIVE;\nSELECT 'locked';\n".utf8))
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("locked") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { throw EventStoreError("sqlite3 exited before taking the lock") }
            seen += chunk
        }
        locker = (process, input)
    }

    func healStore() async throws {
        guard let locker else { return }
        try locker.input.fileHandleForWriting.close()
        locker.process.waitUntilExit()
        self.locker = nil
    }

    func cleanUp() {
        if let locker { locker.process.terminate() }
        try? FileManager.default.removeItem(atPath: scratch)
    }
}

/// Sample events.
enum Samples {
    static func object(_ payload: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any])
    }

    static func startedPayload(executionID: String, tenant: String = "acme", owner: String = "host:1", at date: Date = Date())
        -> CliToolInvocationStarted
    {
        CliToolInvocationStarted(
            executionId: executionID, toolName: "git", dockerImage: "localhost/airlock/tools:1", command: ["git"],
            args: ["log", "--oneline", "--", "a b"], tenantId: tenant, startedAt: date, securityContext: "developer",
            ruleId: "git-read", requestedSubcommand: "git log", policyDigest: "sha256:policy", seccompProfileDigest: "sha256:seccomp",
            engine: "podman 4.3.1", containerName: "airlock-\(executionID)", owner: owner, timeoutMs: 30000)
    }

    static func completedPayload(executionID: String, tenant: String = "acme", at date: Date = Date()) -> CliToolInvocationCompleted {
        CliToolInvocationCompleted(
            executionId: executionID, toolName: "git", exitCode: 0, stdoutBytes: 1234, stderrBytes: 5, durationMs: 210,
            completedAt: date, tenantId: tenant, outcome: .exited)
    }

    static func started(executionID: String) -> EventRecord { EventRecord(startedPayload(executionID: executionID)) }
    static func completed(executionID: String) -> EventRecord { EventRecord(completedPayload(executionID: executionID)) }

    /// Registered, Started, Completed, Rejected for one execution.
    static func oneOfEach(executionID: String, tenant: String = "acme", at date: Date = Date()) -> [EventRecord] {
        [
            EventRecord(CliToolRegistered(name: "git", dockerImage: "localhost/airlock/tools:1", registeredAt: date, tenantId: tenant)),
            EventRecord(startedPayload(executionID: executionID, tenant: tenant, at: date)),
            EventRecord(completedPayload(executionID: executionID, tenant: tenant, at: date.addingTimeInterval(0.25))),
            EventRecord(
                CliToolSemanticRejected(
                    executionId: executionID, toolName: "git", requestedSubcommand: "git push", rejectionReason: "force push rewrites history",
                    securityContext: "developer", rejectedAt: date.addingTimeInterval(0.5), ruleId: "git-no-force-push",
                    policyDigest: "sha256:policy", tenantId: tenant, args: ["push", "--force"])),
        ]
    }
}

/// A logger that keeps what it is told, to check what an operator would read in the log.
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    var messages: [String] { lock.withLock { lines } }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(log: self) }
    }

    private func add(_ line: String) { lock.withLock { lines.append(line) } }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) { log.add("\(event.level): \(event.message)") }
    }
}
