import AirlockTestSupport
import Foundation
import Testing

/// `airlock events verify` through the binary, on trails written by `airlock run` processes, then
/// tampered with as an attacker holding the database would: the append-only triggers dropped with
/// `sqlite3` or `psql`, then rows edited, deleted, renumbered or forged.
@Suite("airlock events verify", .serialized)
struct EventsVerifyTests {
    enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case sqlite
        case postgres
        var testDescription: String { rawValue }
    }

    /// A trail: where `--events` points, and how SQL reaches it from outside.
    struct Trail {
        var state: String
        var events: String
        var sql: (String) throws -> (status: Int32, output: String)

        @discardableResult
        func run(_ statement: String) throws -> String {
            let result = try sql(statement)
            guard result.status == 0 else { throw VerifyTestError(description: "\(statement): \(result.output)") }
            return result.output
        }

        func verify() throws -> CommandLineTests.Run {
            try CommandLineTests.airlock(["events", "verify", "--state-dir", state, "--events", events])
        }
    }

    struct VerifyTestError: Error, CustomStringConvertible { var description: String }

    static func trail(_ backend: Backend) throws -> Trail {
        let state = try EventsCommandTests.scratch() + "/state"
        switch backend {
        case .sqlite:
            let path = state + "/events.sqlite"
            return Trail(state: state, events: "sqlite:" + path, sql: { try sqlite3(path, $0) })
        case .postgres:
            let cluster = try PostgresTestCluster.shared()
            let connection = try cluster.createDatabase()
            return Trail(state: state, events: "postgresql:" + connection, sql: { try cluster.psqlResult(connection, $0) })
        }
    }

    static func sqlite3(_ path: String, _ sql: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = ["-bail", path, sql]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// `count` denied `airlock run`s at once, each its own process: one `CliToolSemanticRejected` each.
    static func deniedRuns(_ trail: Trail, count: Int) throws {
        let processes = try (0..<count).map { _ in
            let process = Process()
            process.executableURL = CommandLineTests.binary
            process.currentDirectoryURL = URL(fileURLWithPath: CommandLineTests.repositoryRoot)
            process.arguments = [
                "run", "--state-dir", trail.state, "--events", trail.events, "--context", "readonly", "--", "git", "push", "--force",
            ]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        for process in processes {
            process.waitUntilExit()
            #expect(process.terminationStatus == 3, "denied")
        }
    }

    /// Five events, written one process after another (ids 1…5).
    static func fiveEvents(_ backend: Backend) throws -> Trail {
        let trail = try trail(backend)
        for _ in 0..<5 { try deniedRuns(trail, count: 1) }
        #expect(try trail.run("SELECT count(*) FROM gateway_events").trimmingCharacters(in: .whitespacesAndNewlines) == "5")
        return trail
    }

    @Test("an intact trail verifies: exit 0, the count and the head", arguments: Backend.allCases)
    func intact(_ backend: Backend) throws {
        let trail = try Self.fiveEvents(backend)
        let result = try trail.verify()
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("intact: 5 events verified"), "\(result.stdout)")
        let head = try trail.run("SELECT chain_hash FROM gateway_events WHERE id = 5").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(head.count == 64 && result.stdout.contains("head: id 5 chain_hash \(head)"), "\(result.stdout)")
    }

    /// Processes appending at once: each takes the store's write serialization (SQLite's write
    /// lock, PostgreSQL's append lock) and links after the head it finds there.
    ///
    /// The store exists first: processes that create a SQLite store at the same moment can race in
    /// GRDB's migrator, and the losers spool their event (delivered at the next run).
    @Test("concurrent airlock processes write one chain", arguments: Backend.allCases)
    func concurrentProcesses(_ backend: Backend) throws {
        let trail = try Self.trail(backend)
        try Self.deniedRuns(trail, count: 1)
        try Self.deniedRuns(trail, count: 8)
        let result = try trail.verify()
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("intact: 9 events verified"), "\(result.stdout)")
    }

    struct Attack: Sendable, CustomTestStringConvertible {
        var name: String
        var sqlite: String
        var postgres: String
        /// What verify must print.
        var finding: String
        var detail: String
        var testDescription: String { name }
    }

    static let attacks: [Attack] = [
        Attack(
            name: "payload edited",
            sqlite: "UPDATE gateway_events SET payload = json_set(payload, '$.rejection_reason', 'nothing to see') WHERE id = 3",
            postgres: #"UPDATE gateway_events SET payload = jsonb_set(payload, '{rejection_reason}', '"nothing to see"') WHERE id = 3"#,
            finding: "broken at id 3 (edited)", detail: "payload or created_at"),
        Attack(
            name: "created_at changed",
            sqlite: "UPDATE gateway_events SET created_at = '2020-01-01 00:00:00.000' WHERE id = 2",
            postgres: "UPDATE gateway_events SET created_at = '2020-01-01 00:00:00+00' WHERE id = 2",
            finding: "broken at id 2 (edited)", detail: "payload or created_at"),
        Attack(
            name: "event_type changed",
            sqlite: "UPDATE gateway_events SET event_type = 'CliToolRegistered' WHERE id = 4",
            postgres: "UPDATE gateway_events SET event_type = 'CliToolRegistered' WHERE id = 4",
            finding: "broken at id 4 (edited)", detail: "its event_type was CliToolSemanticRejected, now CliToolRegistered"),
        Attack(
            name: "row deleted",
            sqlite: "DELETE FROM gateway_events WHERE id = 3", postgres: "DELETE FROM gateway_events WHERE id = 3",
            finding: "broken at id 4 (deleted)", detail: "id 3 is missing"),
        Attack(
            name: "ids swapped",
            sqlite: "UPDATE gateway_events SET id = -2 WHERE id = 2; UPDATE gateway_events SET id = 2 WHERE id = 3; UPDATE gateway_events SET id = 3 WHERE id = -2",
            postgres: "UPDATE gateway_events SET id = -2 WHERE id = 2; UPDATE gateway_events SET id = 2 WHERE id = 3; UPDATE gateway_events SET id = 3 WHERE id = -2",
            finding: "broken at id 2 (reordered)", detail: "ids 2 and 3 are out of order"),
        Attack(
            name: "ids renumbered",
            sqlite: "UPDATE gateway_events SET id = id + 100 WHERE id >= 4", postgres: "UPDATE gateway_events SET id = id + 100 WHERE id >= 4",
            finding: "broken at id 104 (reordered)", detail: "the event at id 104 was written as id 4"),
        Attack(
            name: "row forged",
            sqlite: """
                INSERT INTO gateway_events (event_type, created_at, payload)
                VALUES ('CliToolInvocationCompleted', '2026-01-01 00:00:00.000', '{"execution_id": "made-up", "exit_code": 0}')
                """,
            postgres: """
                INSERT INTO gateway_events (event_type, created_at, payload)
                VALUES ('CliToolInvocationCompleted', '2026-01-01 00:00:00+00', '{"execution_id": "made-up", "exit_code": 0}')
                """,
            finding: "broken at id 6 (forged)", detail: "without a chain hash"),
    ]

    @Test("each tampering is found, with its id: exit 1", arguments: Backend.allCases, attacks)
    func tampering(_ backend: Backend, _ attack: Attack) throws {
        let trail = try Self.fiveEvents(backend)
        switch backend {
        case .sqlite: try trail.run("DROP TRIGGER gateway_events_no_update; DROP TRIGGER gateway_events_no_delete; " + attack.sqlite)
        case .postgres: try trail.run("DROP TRIGGER gateway_events_append_only ON gateway_events; " + attack.postgres)
        }
        let result = try trail.verify()
        #expect(result.status == 1, "\(attack.name): \(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix(attack.finding), "\(attack.name): \(result.stdout)")
        #expect(result.stdout.contains(attack.detail), "\(attack.name): \(result.stdout)")
    }

    @Test("a store that is not there: exit 2, and none created")
    func missingStore() throws {
        let state = try EventsCommandTests.scratch() + "/mistyped"
        let result = try CommandLineTests.airlock(["events", "verify", "--state-dir", state])
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("no event store at \(state)/events.sqlite"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: state))
    }
}
