import CSQLiteConfig
import Foundation
import GRDB

/// The embedded default store: `gateway_events` in a SQLite file (WAL, `synchronous=FULL`: an
/// append is on disk when it returns). Concurrent appends are group-committed.
///
/// `created_at` is UTC text in SQLite's `datetime()` form with milliseconds, so the reference
/// recipes' translation (`created_at > datetime('now', '-1 hour')`) compares correctly.
public final class SQLiteEventStore: EventStore {
    public let location: String
    /// How it was opened: the worker's store is `.longLived`.
    public let use: EventStoreUse
    private let database: any DatabaseWriter  // a DatabasePool, long-lived; a DatabaseQueue, one-shot
    private let committer: GroupCommitter
    /// Whether `sqlite_sequence` exists (the table is `AUTOINCREMENT`): ids are drawn after its
    /// high-water mark, so that an id is never used twice even after the newest row was removed.
    private let sequence: Bool

    /// Opens (creating if needed) the database at `path` and brings its schema up to date, as
    /// `use` asks: a pool of readers beside the writer for the worker, one connection for a
    /// short-lived command (cheaper to open than a pool).
    public init(path: String, busyTimeout: TimeInterval = 5, use: EventStoreUse) throws(EventStoreError) {
        location = "sqlite:\(path)"
        self.use = use
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        do {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                do {
                    try FileManager.default.createDirectory(
                        atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
                } catch {
                    throw EventStoreError(creatingDirectory: directory, of: "the event store's directory", error)
                }
            }
            switch use {
            case .oneShot:
                // One connection: a pool's setup writes a throwaway transaction whenever the WAL file
                // is missing (an fsync per `airlock run`).
                //
                // Closing leaves the WAL in place. A checkpoint at every close, then deleting the WAL
                // and creating it again at the next open, cost a short command four extra fsyncs
                // (database, WAL header, directory twice) for nothing: every commit is already on
                // disk in the WAL. A small auto-checkpoint keeps the WAL, and the recovery scan
                // of it at the next open, short.
                configuration.prepareDatabase { db in
                    let result = airlock_sqlite_skip_checkpoint_on_close(db.sqliteConnection)
                    guard result == SQLITE_OK else {
                        throw DatabaseError(resultCode: ResultCode(rawValue: result), message: "cannot keep the WAL on close")
                    }
                    try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.oneShotCheckpointPages)")
                }
                let queue = try DatabaseQueue(path: path, configuration: configuration)
                try queue.writeWithoutTransaction { db in _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") }
                database = queue
            case .longLived:
                database = try DatabasePool(path: path, configuration: configuration)
            }
            // GRDB sets NORMAL with WAL, which may lose the last commits on power loss; an audit
            // append must be on disk when it returns. Only the writer connection writes.
            try database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try Self.migrator.migrate(database)
            sequence = try database.writeWithoutTransaction { db in try db.tableExists("sqlite_sequence") }
        } catch {
            throw EventStoreError("cannot open the event store \(location): \(Self.describe(error))")
        }
        let database = self.database
        let location = self.location
        let sequence = self.sequence
        committer = GroupCommitter(name: "airlock-sqlite-events") { records throws(EventStoreError) in
            do {
                return try database.writeWithoutTransaction { db in try SQLiteAppender.appendInTransaction(records, db, sequence: sequence) }
            } catch {
                throw EventStoreError("cannot append to the event store \(location): \(Self.describe(error))")
            }
        }
    }

    /// WAL pages after which a one-shot connection's commit checkpoints: a run writes about 16.
    public static let oneShotCheckpointPages = 200

    deinit { committer.close() }

    public func appendReportingOutcomes(_ records: [EventRecord]) async throws(EventStoreError) -> [AppendOutcome] {
        try await committer.append(records)
    }

    public func chainLinks(afterID: Int64, limit: Int) async throws(EventStoreError) -> [ChainLink] {
        do {
            return try await database.read { db in
                // As text whatever a foreign row stored: the chain hashes the columns' text.
                try Row.fetchAll(db, sql: AppendStatements.chainLinks, arguments: [afterID, limit]).map { row -> ChainLink in
                    let id: Int64 = row[0]
                    let eventType: String? = row[1]
                    let createdAt: String? = row[2]
                    let payload: String? = row[3]
                    let chainHash: String? = row[4]
                    return ChainLink(id: id, eventType: eventType ?? "", createdAt: createdAt ?? "", payload: payload ?? "", chainHash: chainHash)
                }
            }
        } catch {
            throw EventStoreError("cannot read the audit chain of \(location): \(Self.describe(error))")
        }
    }

    public func events(matching query: EventQuery) async throws(EventStoreError) -> [StoredEvent] {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let afterID = query.afterID {
            clauses.append("id > ?")
            arguments += [afterID]
        }
        if !query.types.isEmpty {
            // Unary `+`: not through the (event_type, created_at) index. With it SQLite gathered every
            // row of the types and sorted them by id at each page, so paging a trail was quadratic;
            // the id order is the primary key's, and a page stops at its limit.
            clauses.append("+event_type IN (\(query.types.map { _ in "?" }.joined(separator: ", ")))")
            arguments += StatementArguments(query.types.map(\.rawValue))
        }
        if let executionID = query.executionID {
            clauses.append("json_extract(payload, '$.execution_id') = ?")
            arguments += [executionID]
        }
        if let tenantID = query.tenantID {
            clauses.append("json_extract(payload, '$.tenant_id') = ?")
            arguments += [tenantID]
        }
        if let since = query.since {
            clauses.append("created_at >= ?")
            arguments += [Timestamp.sqlite(since)]
        }
        let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        arguments += [query.limit]
        return try await read(
            "SELECT id, event_type, created_at, payload FROM gateway_events \(filter) ORDER BY id LIMIT ?", arguments)
    }

    public func unfinishedInvocations() async throws(EventStoreError) -> [StoredEvent] {
        try await read(
            """
            SELECT s.id, s.event_type, s.created_at, s.payload
              FROM airlock_open_invocations o JOIN gateway_events s ON s.id = o.started_id
             ORDER BY s.id
            """, [])
    }

    /// The writer connection's `PRAGMA synchronous` (2 = FULL: every commit fsyncs the WAL).
    public func writerSynchronousMode() async throws(EventStoreError) -> Int {
        do {
            return try await database.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
        } catch {
            throw EventStoreError("query on \(location) failed: \(Self.describe(error))")
        }
    }

    public func close() async {
        committer.close()
        try? database.close()
    }

    /// Runs a read-only statement: operators' recipes and tests. Rows are not Sendable, so this reads
    /// on the calling thread.
    public func query(_ sql: String, _ arguments: StatementArguments = []) throws(EventStoreError) -> [Row] {
        do {
            return try database.read { db in try Row.fetchAll(db, sql: sql, arguments: arguments) }
        } catch {
            throw EventStoreError("query on \(location) failed: \(Self.describe(error))")
        }
    }

    private func read(_ sql: String, _ arguments: StatementArguments) async throws(EventStoreError) -> [StoredEvent] {
        do {
            return try await database.read { db in
                try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                    StoredEvent(
                        id: row["id"], eventType: row["event_type"],
                        createdAt: Timestamp.parseSQLite(row["created_at"]) ?? Date(timeIntervalSince1970: 0), payload: row["payload"])
                }
            }
        } catch {
            throw EventStoreError("query on \(location) failed: \(Self.describe(error))")
        }
    }

    /// What an append runs for each event, in its transaction (see `SQLiteAppender`). Public so
    /// that the event store benchmark can measure SQLite running exactly these alone.
    public enum AppendStatements {
        /// Once per transaction: the chain's head (the newest Airlock event's `chain_hash`, NULL
        /// before the first) and the next id (after the highest id and `sqlite_sequence`'s mark).
        public static let chainTip = """
            SELECT (SELECT chain_hash FROM gateway_events WHERE chain_hash IS NOT NULL ORDER BY id DESC LIMIT 1),
                   max(coalesce((SELECT max(id) FROM gateway_events), 0),
                       coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'gateway_events'), 0)) + 1
            """
        /// `chainTip` for a table without `AUTOINCREMENT` (no `sqlite_sequence`).
        public static let chainTipWithoutSequence = """
            SELECT (SELECT chain_hash FROM gateway_events WHERE chain_hash IS NOT NULL ORDER BY id DESC LIMIT 1),
                   coalesce((SELECT max(id) FROM gateway_events), 0) + 1
            """
        /// Binds id, event type, `created_at`, payload, `chain_hash`. Changes no row for a
        /// redelivery (the event id's unique index) or a second Completed for an execution (the
        /// partial unique index on a Completed's execution id).
        public static let insertEvent =
            "INSERT INTO gateway_events (id, event_type, created_at, payload, chain_hash) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
        /// For a redelivery: binds the event id; returns the id it was stored with.
        public static let storedEvent = "SELECT id FROM gateway_events WHERE json_extract(payload, '$.event_id') = ?"
        /// For a second Completed: binds the execution id; returns the id of the Completed that stands.
        public static let completion =
            "SELECT min(id) FROM gateway_events WHERE json_extract(payload, '$.execution_id') = ? AND event_type = 'CliToolInvocationCompleted'"
        /// What `airlock events verify` reads: binds the id to read after and the page size.
        static let chainLinks = """
            SELECT id, CAST(event_type AS TEXT), CAST(created_at AS TEXT), CAST(payload AS TEXT), chain_hash
              FROM gateway_events WHERE id > ? ORDER BY id LIMIT ?
            """
        /// For a Started event: binds its execution id, the new id. `airlock_open_invocations` holds
        /// the invocations started and not completed, so that recovery reads the few open ones
        /// instead of scanning every Started event ever written.
        public static let openInvocation = "INSERT INTO airlock_open_invocations (execution_id, started_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
        /// For a Completed event: binds its execution id.
        public static let closeInvocation = "DELETE FROM airlock_open_invocations WHERE execution_id = ?"
    }

    /// Versioned, idempotent migrations. `IF NOT EXISTS` throughout, so a `gateway_events` table that
    /// already exists (written by the gateway itself) is kept, rows and all, and gains our indexes.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: gateway_events") { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS gateway_events (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        event_type TEXT NOT NULL,
                        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
                        payload TEXT NOT NULL CHECK (json_valid(payload))
                    );
                    CREATE INDEX IF NOT EXISTS gateway_events_type_created ON gateway_events (event_type, created_at);
                    CREATE INDEX IF NOT EXISTS gateway_events_created ON gateway_events (created_at);
                    CREATE INDEX IF NOT EXISTS gateway_events_execution_id ON gateway_events (json_extract(payload, '$.execution_id'));
                    CREATE UNIQUE INDEX IF NOT EXISTS gateway_events_event_id ON gateway_events (json_extract(payload, '$.event_id'));
                    CREATE TRIGGER IF NOT EXISTS gateway_events_no_update BEFORE UPDATE ON gateway_events
                        BEGIN SELECT RAISE(ABORT, 'gateway_events is append-only'); END;
                    CREATE TRIGGER IF NOT EXISTS gateway_events_no_delete BEFORE DELETE ON gateway_events
                        BEGIN SELECT RAISE(ABORT, 'gateway_events is append-only'); END;
                    """)
        }
        migrator.registerMigration("v2: airlock_cli_tools") { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS airlock_cli_tools (
                        tenant_id TEXT NOT NULL,
                        name TEXT NOT NULL,
                        definition TEXT NOT NULL CHECK (json_valid(definition)),
                        registered_at TEXT NOT NULL,
                        PRIMARY KEY (tenant_id, name)
                    );
                    """)
        }
        migrator.registerMigration("v3: airlock_open_invocations") { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS airlock_open_invocations (
                        execution_id TEXT PRIMARY KEY NOT NULL,
                        started_id INTEGER NOT NULL
                    );
                    INSERT INTO airlock_open_invocations (execution_id, started_id)
                        SELECT json_extract(s.payload, '$.execution_id'), s.id FROM gateway_events s
                        WHERE s.event_type = 'CliToolInvocationStarted' AND json_extract(s.payload, '$.execution_id') IS NOT NULL
                          AND NOT EXISTS (SELECT 1 FROM gateway_events c
                                           WHERE c.event_type = 'CliToolInvocationCompleted'
                                             AND json_extract(c.payload, '$.execution_id') = json_extract(s.payload, '$.execution_id'))
                        ON CONFLICT DO NOTHING;
                    """)
        }
        migrator.registerMigration("v4: audit chain, one completion per execution") { db in
            // A table the gateway made, or one from before the chain, gains the column; its rows keep
            // NULL there and stay outside the chain.
            if try !db.columns(in: "gateway_events").contains(where: { $0.name.lowercased() == "chain_hash" }) {
                try db.execute(sql: "ALTER TABLE gateway_events ADD COLUMN chain_hash TEXT")
            }
            // Completed events that repeat an execution's earlier one (written before this index
            // existed) stay, as the table is append-only, and are left out of the index by id, so it
            // can be built; every later second Completed is refused.
            let repeated = try Int64.fetchAll(
                db,
                sql: """
                    SELECT c.id FROM gateway_events c
                     WHERE c.event_type = 'CliToolInvocationCompleted' AND json_extract(c.payload, '$.execution_id') IS NOT NULL
                       AND EXISTS (SELECT 1 FROM gateway_events f
                                    WHERE f.event_type = 'CliToolInvocationCompleted' AND f.id < c.id
                                      AND json_extract(f.payload, '$.execution_id') = json_extract(c.payload, '$.execution_id'))
                     ORDER BY c.id
                    """)
            let exemption = repeated.isEmpty ? "" : " AND id NOT IN (\(repeated.map(String.init).joined(separator: ", ")))"
            try db.execute(
                sql: """
                    CREATE UNIQUE INDEX IF NOT EXISTS gateway_events_one_completion ON gateway_events (json_extract(payload, '$.execution_id'))
                        WHERE event_type = 'CliToolInvocationCompleted'\(exemption)
                    """)
        }
        return migrator
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError { return error.message ?? "\(error)" }
        return "\(error)"
    }
}

extension SQLiteEventStore: ToolRegistryStore {
    public func register(_ tool: RegisteredTool, limit: Int) async throws(EventStoreError) -> RegistrationOutcome {
        let event = EventRecord(tool.registeredEvent)
        let sequence = self.sequence
        do {
            return try await database.write { db in
                let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM airlock_cli_tools WHERE tenant_id = ?", arguments: [tool.tenantId]) ?? 0
                if try Bool.fetchOne(
                    db, sql: "SELECT 1 FROM airlock_cli_tools WHERE tenant_id = ? AND name = ?", arguments: [tool.tenantId, tool.name]) == true
                {
                    return .nameTaken
                }
                guard count < limit else { return .limitReached }
                try db.execute(
                    sql: "INSERT INTO airlock_cli_tools (tenant_id, name, definition, registered_at) VALUES (?, ?, ?, ?)",
                    arguments: [tool.tenantId, tool.name, tool.definitionJSON, Timestamp.sqlite(tool.registeredAt)])
                _ = try SQLiteAppender.append([event], db, sequence: sequence)
                return .registered
            }
        } catch {
            throw EventStoreError("cannot register tool '\(tool.name)' in \(location): \(Self.describe(error))")
        }
    }

    public func registeredTools(tenantID: String) async throws(EventStoreError) -> [RegisteredTool] {
        let definitions: [String]
        do {
            definitions = try await database.read { db in
                try String.fetchAll(db, sql: "SELECT definition FROM airlock_cli_tools WHERE tenant_id = ? ORDER BY name", arguments: [tenantID])
            }
        } catch {
            throw EventStoreError("query on \(location) failed: \(Self.describe(error))")
        }
        var tools: [RegisteredTool] = []
        for definition in definitions { tools.append(try RegisteredTool(definitionJSON: definition)) }
        return tools
    }

    public func removeRegisteredTool(name: String, tenantID: String) async throws(EventStoreError) -> Bool {
        do {
            return try await database.write { db in
                try db.execute(sql: "DELETE FROM airlock_cli_tools WHERE tenant_id = ? AND name = ?", arguments: [tenantID, name])
                return db.changesCount > 0
            }
        } catch {
            throw EventStoreError("cannot remove tool '\(name)' from \(location): \(Self.describe(error))")
        }
    }
}
