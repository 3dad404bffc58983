import CSQLiteConfig
import GRDB

/// The append path of `SQLiteEventStore`: its statements, prepared once per connection (GRDB's
/// statement cache, which also finalizes them at close), bound and stepped through SQLite's C API.
/// Through GRDB's statement and transaction layers the store's 8-event appends reached 65–92% of
/// the throughput of SQLite running the same statements alone, through the C API 88–97%
/// (`Benchmarks/event-stores` prints both).
///
/// Called only inside the database's writer critical section (`write`, `writeWithoutTransaction`).
enum SQLiteAppender {
    /// Appends `records` in a transaction of its own, committed (on disk, `synchronous = FULL`)
    /// when this returns. `BEGIN IMMEDIATE`: the write lock is taken, or waited for within the
    /// connection's busy timeout, before any statement runs — so the chain's head read below is the
    /// head when the rows are written, whichever process or store instance writes next.
    static func appendInTransaction(_ records: [EventRecord], _ db: Database, sequence: Bool) throws -> [AppendOutcome] {
        let connection = try connection(of: db)
        try execute("BEGIN IMMEDIATE", connection)
        do {
            let outcomes = try append(records, db, sequence: sequence)
            try execute("COMMIT", connection)
            return outcomes
        } catch {
            if sqlite3_get_autocommit(connection) == 0 { sqlite3_exec(connection, "ROLLBACK", nil, nil, nil) }
            throw error
        }
    }

    /// Appends `records` in the caller's write transaction, each with its id given explicitly and
    /// its `chain_hash` computed from the chain's head (see `AuditChain`). An event already stored (a
    /// redelivery) or a second `Completed` for an execution is not inserted (`ON CONFLICT DO
    /// NOTHING`: the unique indexes on the event id and on a Completed's execution id), leaves the
    /// chain as it was, and is reported with the id of the row that stands. Keeps
    /// `airlock_open_invocations` in step. `sequence`: whether `sqlite_sequence` exists (the table
    /// is `AUTOINCREMENT`; a table the gateway made may not be).
    static func append(_ records: [EventRecord], _ db: Database, sequence: Bool) throws -> [AppendOutcome] {
        let connection = try connection(of: db)
        let statements = SQLiteEventStore.AppendStatements.self
        let tip = try db.cachedStatement(sql: sequence ? statements.chainTip : statements.chainTipWithoutSequence).sqliteStatement
        var (head, nextID) = try chainTip(tip, connection)
        let insert = try db.cachedStatement(sql: statements.insertEvent).sqliteStatement
        return try records.map { record throws -> AppendOutcome in
            let createdAt = Timestamp.sqlite(record.createdAt)
            let hash = AuditChain.hash(previous: head, id: nextID, eventType: record.type.rawValue, createdAt: createdAt, payload: record.payload)
            let values: [Value] = [.integer(nextID), .text(record.type.rawValue), .text(createdAt), .text(record.payload), .text(hash)]
            try run(insert, values, connection)
            guard sqlite3_changes(connection) == 1 else { return try notInserted(record, db, connection) }
            let id = nextID
            head = hash
            nextID += 1
            switch (record.type, record.executionID) {
            case let (.cliToolInvocationStarted, executionID?):
                try run(db.cachedStatement(sql: statements.openInvocation).sqliteStatement, [.text(executionID), .integer(id)], connection)
            case let (.cliToolInvocationCompleted, executionID?):
                try run(db.cachedStatement(sql: statements.closeInvocation).sqliteStatement, [.text(executionID)], connection)
            default: break
            }
            return AppendOutcome(id: id, kind: .appended)
        }
    }

    /// Why a record was not inserted: its event id is stored (a redelivery), or it is a second
    /// `Completed` for its execution.
    private static func notInserted(_ record: EventRecord, _ db: Database, _ connection: SQLiteConnection) throws -> AppendOutcome {
        let statements = SQLiteEventStore.AppendStatements.self
        if let stored = try firstID(db.cachedStatement(sql: statements.storedEvent).sqliteStatement, [.text(record.eventID)], connection) {
            return AppendOutcome(id: stored, kind: .alreadyStored)
        }
        if record.type == .cliToolInvocationCompleted, let executionID = record.executionID,
            let completed = try firstID(db.cachedStatement(sql: statements.completion).sqliteStatement, [.text(executionID)], connection)
        {
            return AppendOutcome(id: completed, kind: .refusedSecondCompletion)
        }
        throw EventStoreError("event \(record.eventID) was neither inserted nor found")
    }

    /// The chain's head (the last Airlock event's hash; nil before the first) and the next id.
    private static func chainTip(_ statement: SQLiteStatement, _ connection: SQLiteConnection) throws -> (String?, Int64) {
        defer { sqlite3_reset(statement) }
        try check(sqlite3_step(statement), expect: SQLITE_ROW, connection)
        let head = sqlite3_column_text(statement, 0).map { String(cString: $0) }
        return (head, sqlite3_column_int64(statement, 1))
    }

    // MARK: Statements

    private enum Value {
        case text(String)
        case integer(Int64)
    }

    /// The first column of the statement's first row, if it has one and it is not NULL.
    private static func firstID(_ statement: SQLiteStatement, _ values: [Value], _ connection: SQLiteConnection) throws -> Int64? {
        defer { sqlite3_reset(statement) }
        try bind(statement, values, connection)
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return sqlite3_column_type(statement, 0) == SQLITE_NULL ? nil : sqlite3_column_int64(statement, 0)
        case SQLITE_DONE: return nil
        case let code: throw error(code, connection)
        }
    }

    private static func run(_ statement: SQLiteStatement, _ values: [Value], _ connection: SQLiteConnection) throws {
        defer { sqlite3_reset(statement) }
        try bind(statement, values, connection)
        try check(sqlite3_step(statement), expect: SQLITE_DONE, connection)
    }

    /// SQLite copies each value (SQLITE_TRANSIENT): the Swift strings need not outlive the call.
    private static func bind(_ statement: SQLiteStatement, _ values: [Value], _ connection: SQLiteConnection) throws {
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let code =
                switch value {
                case let .text(text): text.withCString { sqlite3_bind_text(statement, index, $0, -1, transient) }
                case let .integer(number): sqlite3_bind_int64(statement, index, number)
                }
            try check(code, expect: SQLITE_OK, connection)
        }
    }

    private static func connection(of db: Database) throws -> SQLiteConnection {
        guard let connection = db.sqliteConnection else { throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "the database connection is closed") }
        return connection
    }

    private static func execute(_ sql: String, _ connection: SQLiteConnection) throws {
        try check(sqlite3_exec(connection, sql, nil, nil, nil), expect: SQLITE_OK, connection)
    }

    private static func check(_ code: Int32, expect expected: Int32, _ connection: SQLiteConnection) throws {
        if code != expected { throw error(code, connection) }
    }

    /// GRDB's error type, so that messages read as the store's other SQLite errors do.
    private static func error(_ code: Int32, _ connection: SQLiteConnection) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)))
    }
}
