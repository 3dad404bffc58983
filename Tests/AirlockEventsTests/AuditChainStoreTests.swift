import AirlockEvents
import AirlockTestSupport
import Foundation
import Testing

/// The chain and the one-Completed rule in the real stores: SQLite files and PostgreSQL databases
/// (a fresh database of the shared test server per test).
@Suite("audit chain in the stores")
struct AuditChainStoreTests {
    enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case sqlite
        case postgres
        var testDescription: String { rawValue }
    }

    /// One audit database: stores opened on it, and SQL run on it from outside, as an operator would
    /// (`sqlite3`, `psql`).
    struct Place: Sendable {
        let open: @Sendable () async throws -> any EventStore
        let sql: @Sendable (String) throws -> (status: Int32, output: String)

        @discardableResult
        func run(_ statement: String) throws -> String {
            let result = try sql(statement)
            guard result.status == 0 else { throw EventStoreError("\(statement): \(result.output)") }
            return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// A fresh place; `setUp` runs before any store opens it (a table the gateway made).
    static func place(_ backend: Backend, setUp: String? = nil) throws -> Place {
        switch backend {
        case .sqlite:
            let path = try makeScratchDirectory() + "/events.sqlite"
            let place = Place(open: { try SQLiteEventStore(path: path, use: .longLived) }, sql: { try sqlite3(path, $0) })
            if let setUp { try place.run(setUp) }
            return place
        case .postgres:
            let cluster = try PostgresTestCluster.shared()
            let connection = try cluster.createDatabase()
            let place = Place(open: { try await PostgresEventStore(connection: connection) }, sql: { try cluster.psqlResult(connection, $0) })
            if let setUp { try place.run(setUp) }
            return place
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

    @Test(arguments: Backend.allCases)
    func everyAppendIsLinked(_ backend: Backend) async throws {
        let place = try Self.place(backend)
        let store = try await place.open()
        var appended = 0
        for batch in 0..<3 {
            appended += try await store.append(Samples.oneOfEach(executionID: "exec-\(batch)")).count
        }
        let single = Samples.started(executionID: "exec-single")
        _ = try await store.append(single)
        _ = try await store.append([single, Samples.completed(executionID: "exec-0")])  // a redelivery, a second Completed
        appended += 1
        #expect(try place.run("SELECT count(*) FROM gateway_events") == "\(appended)")
        #expect(try place.run("SELECT count(*) FROM gateway_events WHERE chain_hash IS NULL") == "0")
        #expect(try place.run("SELECT count(DISTINCT chain_hash) FROM gateway_events") == "\(appended)")
        let result = try await AuditChainVerifier(store: store, pageSize: 5).verify()
        #expect(result.breach == nil, "\(String(describing: result.breach))")
        #expect(result.verified == appended && result.skipped == 0)
        let head = try #require(result.head)
        #expect(try place.run("SELECT id || ' ' || chain_hash FROM gateway_events ORDER BY id DESC LIMIT 1") == "\(head.id) \(head.chainHash)")
        await store.close()
        // Reopened, the chain goes on from its head.
        let reopened = try await place.open()
        _ = try await reopened.append(Samples.completed(executionID: "exec-single"))
        #expect(try await AuditChainVerifier(store: reopened).verify().verified == appended + 1)
        await reopened.close()
    }

    /// PostgreSQL hashes in SQL (`airlock_chain_hash`), the verifier in Swift: the same bytes, also
    /// for text outside ASCII and a database whose sessions default to another time zone.
    @Test func postgresHashesAsSwiftDoes() async throws {
        let cluster = try PostgresTestCluster.shared()
        let connection = try cluster.createDatabase()
        let database = try cluster.psql(connection, "SELECT current_database()")
        try cluster.psql(connection, "ALTER DATABASE \(database) SET TimeZone = 'Asia/Kolkata'")
        let store = try await PostgresEventStore(connection: connection)
        let record = EventRecord(
            CliToolSemanticRejected(
                executionId: "exec-ü", toolName: "gït", requestedSubcommand: "push", rejectionReason: "naïve \"quoted\" \\ ✓",
                securityContext: "dév", rejectedAt: Date(), ruleId: "git-no-force-push", policyDigest: "sha256:p", tenantId: "acme",
                args: ["push", "--force", "ünï"]))
        _ = try await store.append([record, Samples.started(executionID: "exec-2")])
        let result = try await AuditChainVerifier(store: store).verify()
        #expect(result.breach == nil && result.verified == 2, "\(String(describing: result.breach))")
        let recomputed = try cluster.psql(
            connection,
            """
            SELECT bool_and(chain_hash = airlock_chain_hash(previous, id, event_type, created_at, payload::text))
              FROM (SELECT *, lag(chain_hash) OVER (ORDER BY id) AS previous FROM gateway_events) AS rows
            """)
        #expect(recomputed == "t", "every row's hash is what the documented function gives")
        await store.close()
    }

    /// Several tasks on each of two stores (two connections, as two processes would have) on one
    /// database: one chain, no fork, every event in it.
    @Test(arguments: Backend.allCases)
    func concurrentAppendersKeepOneChain(_ backend: Backend) async throws {
        let place = try Self.place(backend)
        let stores = [try await place.open(), try await place.open()]
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for (number, store) in stores.enumerated() {
                for lane in 0..<4 {
                    group.addTask {
                        for index in 0..<50 {
                            let execution = "s\(number)-\(lane)-\(index)"
                            if index % 2 == 0 {
                                _ = try await store.append(Samples.started(executionID: execution))
                            } else {
                                _ = try await store.append([Samples.started(executionID: execution), Samples.completed(executionID: execution)])
                            }
                        }
                        return 75
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(total == 600)
        let result = try await AuditChainVerifier(store: stores[0], pageSize: 64).verify()
        #expect(result.breach == nil, "\(String(describing: result.breach))")
        #expect(result.verified == 600)
        #expect(try place.run("SELECT count(DISTINCT chain_hash) FROM gateway_events") == "600")
        for store in stores { await store.close() }
    }

    @Test(arguments: Backend.allCases)
    func aSecondCompletedIsRefused(_ backend: Backend) async throws {
        let place = try Self.place(backend)
        let store = try await place.open()
        let first = try await store.appendReportingOutcomes([Samples.started(executionID: "x"), Samples.completed(executionID: "x")])
        #expect(first.map(\.kind) == [.appended, .appended])
        let completedX = first[1].id

        // In one batch: a second Completed of x (stored before), and of y (earlier in the batch).
        let batch = try await store.appendReportingOutcomes([
            Samples.completed(executionID: "x"), Samples.started(executionID: "y"), Samples.completed(executionID: "y"),
            Samples.completed(executionID: "y"), Samples.started(executionID: "z"),
        ])
        #expect(batch.map(\.kind) == [.refusedSecondCompletion, .appended, .appended, .refusedSecondCompletion, .appended])
        #expect(batch[0].id == completedX && batch[3].id == batch[2].id, "the Completed that stands")
        #expect(try place.run("SELECT count(*) FROM gateway_events WHERE event_type = 'CliToolInvocationCompleted'") == "2")

        // Through the trail: the caller sees it; from the spool: delivered as far as it ever will be.
        let log = CapturedLog()
        let spool = try EventSpool(directory: try makeScratchDirectory() + "/spool")
        let trail = AuditTrail(store: store, spool: spool, logger: log.logger)
        #expect(try await trail.record(Samples.completedPayload(executionID: "x")) == .secondCompletionRefused(existingID: completedX))
        #expect(log.messages.contains("warning: Second CliToolInvocationCompleted for an execution refused; the first stands"), "\(log.messages)")
        try spool.write(Samples.completed(executionID: "y"))
        let delivery = await trail.deliverSpool()
        #expect(delivery.delivered == 1 && delivery.remaining == 0 && delivery.error == nil)
        #expect(spool.isEmpty, "not retried forever")

        // The store itself refuses it, whoever writes.
        let direct = try place.sql(
            """
            INSERT INTO gateway_events (event_type, created_at, payload)
            VALUES ('CliToolInvocationCompleted', '2026-11-23 10:00:00', '{"execution_id": "x", "event_id": "by-hand"}')
            """)
        #expect(direct.status != 0, "a second Completed written by hand: \(direct.output)")
        #expect(direct.output.lowercased().contains("unique"), "\(direct.output)")

        #expect(try place.run("SELECT count(*) FROM gateway_events WHERE event_type = 'CliToolInvocationCompleted'") == "2")
        #expect(try await store.unfinishedInvocations().compactMap { $0.field("execution_id") } == ["z"])
        let result = try await AuditChainVerifier(store: store).verify()
        #expect(result.breach == nil && result.verified == 5, "refused records are not links: \(String(describing: result.breach))")
        await store.close()
    }

    /// A `gateway_events` table the gateway made, with its own rows, rows of Airlock's types from
    /// before the chain, and an execution completed twice: it opens, the repeat stays, the chain
    /// starts at Airlock's first event and skips the gateway's rows written after it.
    @Test(arguments: Backend.allCases)
    func anAdoptedTableVerifies(_ backend: Backend) async throws {
        let setUp: String
        switch backend {
        case .sqlite:
            setUp = """
                CREATE TABLE gateway_events (id INTEGER PRIMARY KEY AUTOINCREMENT, event_type TEXT NOT NULL,
                    created_at TEXT NOT NULL DEFAULT (datetime('now')), payload TEXT NOT NULL);
                INSERT INTO gateway_events (event_type, payload) VALUES
                    ('ApiSpecRegistered', '{"spec_id": "s1", "name": "petstore"}'),
                    ('CliToolInvocationCompleted', '{"execution_id": "legacy", "exit_code": 0}'),
                    ('CliToolInvocationCompleted', '{"execution_id": "legacy", "exit_code": 1}');
                """
        case .postgres:
            setUp = """
                CREATE TABLE gateway_events (id BIGSERIAL PRIMARY KEY, event_type TEXT NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL DEFAULT now(), payload JSONB NOT NULL);
                INSERT INTO gateway_events (event_type, payload) VALUES
                    ('ApiSpecRegistered', '{"spec_id": "s1", "name": "petstore"}'),
                    ('CliToolInvocationCompleted', '{"execution_id": "legacy", "exit_code": 0}'),
                    ('CliToolInvocationCompleted', '{"execution_id": "legacy", "exit_code": 1}');
                """
        }
        let place = try Self.place(backend, setUp: setUp)
        let store = try await place.open()
        let ids = try await store.append(Samples.oneOfEach(executionID: "ours"))
        #expect(ids == [4, 5, 6, 7])
        #expect(try await store.appendReportingOutcomes([Samples.completed(executionID: "legacy")]) == [AppendOutcome(id: 2, kind: .refusedSecondCompletion)])
        // The gateway goes on writing its own events.
        try place.run("INSERT INTO gateway_events (event_type, payload) VALUES ('WorkflowInvocationStarted', '{\"workflow_id\": \"wf\"}')")
        _ = try await store.append(Samples.started(executionID: "ours-2"))
        await store.close()

        let reopened = try await place.open()
        let result = try await AuditChainVerifier(store: reopened, pageSize: 2).verify()
        #expect(result.breach == nil, "\(String(describing: result.breach))")
        #expect(result.verified == 5 && result.skipped == 4)
        #expect(try place.run("SELECT count(*) FROM gateway_events WHERE chain_hash IS NULL") == "4")
        await reopened.close()
    }
}
