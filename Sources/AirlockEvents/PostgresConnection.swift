import CLibPQ
import Foundation

/// A libpq call that failed: libpq's or the server's message, and the SQLSTATE when the server sent one.
struct PostgresError: Error, Sendable, CustomStringConvertible {
    var message: String
    var sqlState: String?
    /// The connection failed or is gone, or the server refuses work while it starts or stops: reconnect.
    var connectionLost: Bool

    var description: String { message }
}

/// A result in libpq's text format: every value as text, SQL NULL as nil.
struct PostgresRows {
    var columns: [String]
    var rows: [[String?]]
    /// `INSERT 0 3`, `COMMIT`, `ROLLBACK` (what a COMMIT of a failed transaction answers).
    var commandTag: String
}

/// One libpq connection, used from one thread at a time.
///
/// Like libpq's `PGconn`, it exists also when connecting failed; `reset()` connects again with the same
/// parameters. The connection string is anything `PQconnectdb` accepts (`key=value` pairs or a
/// `postgresql://` URL), so `PG*` variables, `sslmode`, service files and `.pgpass` work as in `psql`.
final class PostgresConnection {
    private let handle: OpaquePointer
    /// `postgresql://user@host:port/db`: where it connects, for messages. Never the password.
    let location: String

    /// Connects (blocking). `defaults` apply only where neither the connection string nor a `PG*`
    /// variable says otherwise.
    ///
    /// - Throws: `PostgresError` only when the connection string cannot be parsed; an unreachable server
    ///   is not thrown but seen in `isConnected` and `errorMessage`.
    init(_ connectionString: String, defaults: [(String, String)] = []) throws(PostgresError) {
        try Self.loadLibPQ()
        let trimmed = connectionString.trimmingCharacters(in: .whitespacesAndNewlines)
        var parseError: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(trimmed, &parseError) else {
            let message = parseError.map { String(cString: $0) } ?? "out of memory"
            if let parseError { PQfreemem(parseError) }
            throw PostgresError(message: "not a PostgreSQL connection string or URL: \(Self.oneLine(message))", connectionLost: false)
        }
        PQconninfoFree(options)

        // Our defaults come first: the expanded connection string (`dbname`) overrides them.
        let pairs = defaults + [("dbname", trimmed)]
        let keywords = pairs.map { strdup($0.0) }
        let values = pairs.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let keywordList: [UnsafePointer<CChar>?] = keywords.map { $0.map { UnsafePointer($0) } } + [nil]
        let valueList: [UnsafePointer<CChar>?] = values.map { $0.map { UnsafePointer($0) } } + [nil]
        guard let handle = PQconnectdbParams(keywordList, valueList, 1) else {
            fatalError("libpq could not allocate a connection")
        }
        self.handle = handle
        // Notices ("relation already exists, skipping") would otherwise go to stderr.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        location = Self.location(of: handle)
    }

    deinit { PQfinish(handle) }

    /// libpq is loaded on first use (see `LibPQLoader.c`); a machine without it gets a clear error.
    private static func loadLibPQ() throws(PostgresError) {
        var error = [CChar](repeating: 0, count: 512)
        guard airlock_libpq_load(&error, error.count) == 1 else {
            throw PostgresError(message: error.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, connectionLost: false)
        }
    }

    var isConnected: Bool { PQstatus(handle) == CONNECTION_OK }

    /// Whether a transaction is open (or failed and awaiting ROLLBACK).
    var inTransaction: Bool { PQtransactionStatus(handle) != PQTRANS_IDLE }

    /// libpq's last message for this connection, on one line.
    var errorMessage: String { Self.oneLine(String(cString: PQerrorMessage(handle))) }

    /// Statements prepared in the current session, by name: a reset starts a session without them.
    private var prepared: Set<String> = []

    /// Closes the connection and connects again with the same parameters (blocking).
    func reset() {
        prepared = []
        PQreset(handle)
    }

    /// Runs one statement with `$1, $2, ...` bound to `parameters`, sent as text.
    func execute(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PostgresRows {
        try rows(of: Self.withCStrings(parameters) { PQexecParams(handle, sql, Int32($0.count), nil, $0, nil, nil, 0) })
    }

    /// Runs `sql` as the session's prepared statement `name`, preparing it on first use: the server
    /// parses and plans it once per session instead of at every call. `name` must always stand for
    /// the same `sql`.
    func executePrepared(_ name: String, _ sql: String, _ parameters: [String?]) throws(PostgresError) -> PostgresRows {
        do {
            return try runPrepared(name, sql, parameters)
        } catch where error.sqlState == "26000" && !inTransaction {
            // The session lost it (DISCARD ALL, a pooler handing over another session): nothing ran,
            // so prepare it again and run it once more.
            prepared.remove(name)
            return try runPrepared(name, sql, parameters)
        }
    }

    private func runPrepared(_ name: String, _ sql: String, _ parameters: [String?]) throws(PostgresError) -> PostgresRows {
        if !prepared.contains(name) {
            _ = try rows(of: PQprepare(handle, name, sql, Int32(parameters.count), nil))
            prepared.insert(name)
        }
        return try rows(of: Self.withCStrings(parameters) { PQexecPrepared(handle, name, Int32($0.count), $0, nil, nil, 0) })
    }

    /// Parameters as libpq takes them: C strings, NULL for SQL NULL, alive for the call.
    private static func withCStrings<T>(_ parameters: [String?], _ body: ([UnsafePointer<CChar>?]) -> T) -> T {
        let copies = parameters.map { $0.flatMap { strdup($0) } }
        defer { copies.forEach { free($0) } }
        return body(copies.map { $0.map { UnsafePointer($0) } })
    }

    /// Runs statements separated by `;`, without parameters, and returns the last result. A failing
    /// statement stops the rest.
    func executeScript(_ sql: String) throws(PostgresError) -> PostgresRows {
        try rows(of: PQexec(handle, sql))
    }

    private func rows(of result: OpaquePointer?) throws(PostgresError) -> PostgresRows {
        guard let result else {
            throw PostgresError(message: errorMessage, sqlState: nil, connectionLost: !isConnected)
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            var message = Self.oneLine(String(cString: PQresultErrorMessage(result)))
            if message.isEmpty { message = errorMessage }
            let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            // An error without SQLSTATE comes from libpq, not the server: the connection failed, even
            // where PQstatus still says CONNECTION_OK (as after the server's immediate shutdown).
            throw PostgresError(
                message: message, sqlState: sqlState, connectionLost: sqlState == nil || !isConnected || Self.meansReconnect(sqlState))
        }
        let columnCount = PQnfields(result)
        let columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        let rows = (0..<PQntuples(result)).map { row in
            (0..<columnCount).map { column -> String? in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            }
        }
        return PostgresRows(columns: columns, rows: rows, commandTag: String(cString: PQcmdStatus(result)))
    }

    /// Class 08 (connection exception), and the server shutting down, crashed or still starting.
    private static func meansReconnect(_ sqlState: String?) -> Bool {
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(sqlState)
    }

    /// libpq's messages span lines ("ERROR:  ...\n\tIs the server running ...?\n"); ours are one line.
    private static func oneLine(_ message: String) -> String {
        message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .joined(separator: " ")
    }

    /// Built from what libpq resolved (connection string, `PG*` variables, service file, built-in
    /// defaults) — so it holds no password whatever the connection string held.
    private static func location(of handle: OpaquePointer) -> String {
        func text(_ value: UnsafeMutablePointer<CChar>?) -> String { value.map { String(cString: $0) } ?? "" }
        let user = text(PQuser(handle))
        let host = text(PQhost(handle))
        let port = text(PQport(handle))
        let database = text(PQdb(handle))
        let userPart = user.isEmpty ? "" : "\(user.addingPercentEncoding(withAllowedCharacters: .urlUserAllowed) ?? user)@"
        let databasePart = database.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? database
        // A socket directory (or an abstract socket, `@name`) goes where libpq's URLs put it: in `host=`.
        if host.isEmpty || host.hasPrefix("/") || host.hasPrefix("@") {
            var query = host.isEmpty ? [] : ["host=\(host)"]
            if !port.isEmpty { query.append("port=\(port)") }
            return "postgresql://\(userPart)/\(databasePart)" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "postgresql://\(userPart)\(hostPart)\(port.isEmpty ? "" : ":\(port)")/\(databasePart)"
    }
}
