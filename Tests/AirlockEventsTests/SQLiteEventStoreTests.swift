import AirlockEvents
import Foundation
import GRDB
import Testing

/// SQLite specifics: durability, the append-only table, the reference recipes with the documented
/// translation, and a gateway-made table that already exists.
struct SQLiteEventStoreTests {
    func open() throws -> (SQLiteEventStore, String) {
        let path = try makeScratchDirectory() + "/events.sqlite"
        return (try SQLiteEventStore(path: path, use: .longLived), path)
    }

    /// Both ways of opening (a pool for the worker, one connection for `airlock run`): WAL, and
    /// synchronous=FULL so that an append is on disk when it returns.
    @Test(arguments: EventStoreUse.allCases)
    func appendsAreDurable(use: EventStoreUse) async throws {
        let path = try makeScratchDirectory() + "/events.sqlite"
        let store = try SQLiteEventStore(path: path, use: use)
        #expect(try await store.writerSynchronousMode() == 2, "synchronous=FULL: each commit fsyncs the WAL")
        _ = try await store.append(Samples.started(executionID: "exec-durable"))
        await store.close()
        let queue = try DatabaseQueue(path: path)
        #expect(try await queue.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "wal")
        try queue.close()
    }

    /// `airlock run`'s one-shot store closes without checkpointing: the WAL stays, holding committed
    /// events that every later reader sees, and its auto-checkpoint keeps it from growing run by run.
    @Test func oneShotCloseKeepsEveryEventAndABoundedWAL() async throws {
        let path = try makeScratchDirectory() + "/events.sqlite"
        for run in 0..<80 {
            let store = try SQLiteEventStore(path: path, use: .oneShot)
            _ = try await store.append(Samples.started(executionID: "exec-\(run)"))
            _ = try await store.append(Samples.completed(executionID: "exec-\(run)"))
            await store.close()
            #expect(FileManager.default.fileExists(atPath: path + "-wal"), "run \(run): the WAL was checkpointed and deleted on close")
        }
        let walBytes = try #require(try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int)
        // A WAL frame is a page (4096 bytes) and a 24-byte header; a commit may run past the limit.
        let pageLimit = SQLiteEventStore.oneShotCheckpointPages + 32
        #expect(walBytes <= 32 + pageLimit * (4096 + 24), "WAL of \(walBytes) bytes: the auto-checkpoint did not run")

        // Another process's view: a fresh connection reads every event, none left open.
        let reader = try DatabaseQueue(path: path)
        #expect(try await reader.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM gateway_events") } == 160)
        #expect(try await reader.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM airlock_open_invocations") } == 0)
        try reader.close()
        // And the worker's pool opens it as usual.
        let pool = try SQLiteEventStore(path: path, use: .longLived)
        #expect(try await pool.events(matching: EventQuery(limit: 1000)).count == 160)
        await pool.close()
    }

    @Test func tableIsAppendOnly() async throws {
        let (store, path) = try open()
        _ = try await store.append(Samples.oneOfEach(executionID: "exec-1"))
        let queue = try DatabaseQueue(path: path)
        await #expect(throws: (any Error).self) { try await queue.write { try $0.execute(sql: "UPDATE gateway_events SET payload = '{}'") } }
        await #expect(throws: (any Error).self) { try await queue.write { try $0.execute(sql: "DELETE FROM gateway_events") } }
        #expect(try await queue.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM gateway_events") } == 4)
    }

    /// The recipes of `reference/gateway-observability.txt`, translated as the page says for SQLite:
    /// `json_extract(payload, '$.…')` for `payload->>'…'`, `datetime('now', …)` for the INTERVAL math.
    @Test func referenceRecipesReturnTheRightRows() async throws {
        let (store, _) = try open()
        let old = Date().addingTimeInterval(-2 * 86400)
        _ = try await store.append(Samples.oneOfEach(executionID: "exec-old", at: old))
        _ = try await store.append(Samples.oneOfEach(executionID: "exec-1234"))
        _ = try await store.append(Samples.oneOfEach(executionID: "exec-other"))

        let single = try store.query(
            """
            SELECT event_type, created_at, payload
              FROM gateway_events
              WHERE json_extract(payload, '$.execution_id') = 'exec-1234'
              ORDER BY created_at;
            """)
        #expect(single.map { $0["event_type"] as String } == ["CliToolInvocationStarted", "CliToolInvocationCompleted", "CliToolSemanticRejected"])

        let rejections = try store.query(
            """
            SELECT created_at, json_extract(payload, '$.tool_name') AS tool, json_extract(payload, '$.rejection_reason') AS reason
              FROM gateway_events
              WHERE event_type = 'CliToolSemanticRejected'
                AND created_at > datetime('now', '-1 day')
              ORDER BY created_at DESC;
            """)
        #expect(rejections.count == 2, "the two-day-old rejection is outside the last day")
        #expect(rejections.allSatisfy { ($0["tool"] as String) == "git" && ($0["reason"] as String) == "force push rewrites history" })

        let lastHour = try store.query(
            """
            SELECT
                COUNT(*) FILTER (WHERE event_type = 'CliToolInvocationStarted')   AS started,
                COUNT(*) FILTER (WHERE event_type = 'CliToolInvocationCompleted') AS completed
              FROM gateway_events
              WHERE created_at > datetime('now', '-1 hour');
            """)
        #expect(lastHour.first.map { [$0["started"] as Int, $0["completed"] as Int] } == [2, 2])

        let latest = try store.query(
            """
            SELECT id, event_type, created_at, payload
              FROM gateway_events
              WHERE event_type = 'CliToolSemanticRejected'
              ORDER BY created_at DESC
              LIMIT 50;
            """)
        #expect(latest.count == 3)
        #expect(latest.map { $0["id"] as Int64 } == latest.map { $0["id"] as Int64 }.sorted(by: >))
    }

    /// A database from before `airlock_open_invocations` (migration v3): the migration finds the
    /// invocations already open, so recovery still sees them.
    @Test func openInvocationsAreFoundInAnOlderDatabase() async throws {
        let (store, path) = try open()
        _ = try await store.append([
            Samples.started(executionID: "open-old"), Samples.started(executionID: "done-old"), Samples.completed(executionID: "done-old"),
        ])
        await store.close()
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: "DROP TABLE airlock_open_invocations; DELETE FROM grdb_migrations WHERE identifier LIKE 'v3:%'")
        }
        try queue.close()
        let migrated = try SQLiteEventStore(path: path, use: .longLived)
        #expect(try await migrated.unfinishedInvocations().compactMap { $0.field("execution_id") } == ["open-old"])
        await migrated.close()
    }

    /// A `gateway_events` table the gateway made, with rows: opening keeps them and adds our indexes.
    @Test func existingGatewayTableIsKept() async throws {
        let path = try makeScratchDirectory() + "/gateway.sqlite"
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE gateway_events (id INTEGER PRIMARY KEY AUTOINCREMENT, event_type TEXT NOT NULL,
                        created_at TEXT NOT NULL DEFAULT (datetime('now')), payload TEXT NOT NULL);
                    INSERT INTO gateway_events (event_type, payload) VALUES ('ApiSpecRegistered', '{"spec_id": "s1", "name": "petstore"}');
                    """)
        }
        try queue.close()
        let store = try SQLiteEventStore(path: path, use: .longLived)
        let id = try await store.append(Samples.completed(executionID: "exec-after"))
        #expect(id == 2)
        let rows = try await store.events(matching: EventQuery())
        #expect(rows.map(\.eventType) == ["ApiSpecRegistered", "CliToolInvocationCompleted"])
        let indexes = try store.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'gateway_events'")
        #expect(Set(indexes.map { $0["name"] as String }).isSuperset(of: ["gateway_events_event_id", "gateway_events_execution_id"]))
        await store.close()
        _ = try SQLiteEventStore(path: path, use: .longLived)  // and again: migrations ran once
    }

    @Test func unreadableLocationSaysWhere() throws {
        #expect {
            try SQLiteEventStore(path: "/etc/hostname/events.sqlite", use: .longLived)
        } throws: { error in
            "\(error)".contains("cannot open the event store sqlite:/etc/hostname/events.sqlite")
        }
    }
}
