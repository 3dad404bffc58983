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
    /// connection's busy timeout, before any statement runs.
    static func appendInTransaction(_ records: [EventRecord], _ db: Database) throws -> [Int64] {
        let connection = try connection(of: db)
        try execute("BEGIN IMMEDIATE", connection)
        do {
            let ids = try append(records, db)
            try execute("COMMIT", connection)
            return ids
        } catch {
            if sqlite3_get_autocommit(connection) == 0 { sqlite3_exec(connection, "ROLLBACK", nil, nil, nil) }
            throw error
        }
    }

    /// Appends `records` in the caller's transaction: each new row's id, or for an event already
    /// stored (a redelivery) the id it was stored with. Keeps `airlock_open_invocations` in step.
    static func append(_ records: [EventRecord], _ db: Database) throws -> [Int64] {
        let connection = try connection(of: db)
        let statements = SQLiteEventStore.AppendStatements.self
        let insert = try db.cachedStatement(sql: statements.insertEvent).sqliteStatement
        return try records.map { record throws -> Int64 in
            guard let id = try insertedID(record, insert, connection) else {
                let existing = try db.cachedStatement(sql: statements.storedEvent).sqliteStatement
                guard let stored = try storedID(record.eventID, existing, connection) else {
                    throw EventStoreError("event \(record.eventID) was neither inserted nor found")
                }
                return stored
            }
            switch (record.type, record.executionID) {
            case let (.cliToolInvocationStarted, executionID?):
                try run(db.cachedStatement(sql: statements.openInvocation).sqliteStatement, [.text(executionID), .integer(id)], connection)
            case let (.cliToolInvocationCompleted, executionID?):
                try run(db.cachedStatement(sql: statements.closeInvocation).sqliteStatement, [.text(executionID)], connection)
            default: break
            }
            return id
        }
    }

    // MARK: Statements

    private enum Value {
        case text(String)
        case integer(Int64)
    }

    private static func insertedID(_ record: EventRecord, _ statement: SQLiteStatement, _ connection: SQLiteConnection) throws -> Int64? {
        defer { sqlite3_reset(statement) }
        try bind(statement, [.text(record.type.rawValue), .text(Timestamp.sqlite(record.createdAt)), .text(record.payload)], connection)
        switch sqlite3_step(statement) {
        case SQLITE_ROW:
            let id = sqlite3_column_int64(statement, 0)
            try check(sqlite3_step(statement), expect: SQLITE_DONE, connection)
            return id
        case SQLITE_DONE: return nil  // ON CONFLICT DO NOTHING: the event_id is stored already
        case let code: throw error(code, connection)
        }
    }

    private static func storedID(_ eventID: String, _ statement: SQLiteStatement, _ connection: SQLiteConnection) throws -> Int64? {
        defer { sqlite3_reset(statement) }
        try bind(statement, [.text(eventID)], connection)
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return sqlite3_column_int64(statement, 0)
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
