import AirlockTestSupport
import Foundation
import Testing

@testable import AirlockEvents

/// The libpq connection's prepared statements, against a real server: prepared once per session,
/// and prepared again when the session has lost them.
@Suite("PostgresConnection")
struct PostgresConnectionTests {
    static let sum = "SELECT $1::integer + $2::integer"

    static func preparedCount(_ connection: PostgresConnection) throws -> String? {
        try connection.execute("SELECT count(*) FROM pg_prepared_statements").rows.first?.first ?? nil
    }

    @Test("a prepared statement is prepared once per session and runs with each call's parameters")
    func preparedOnce() throws {
        let connection = try PostgresConnection(try PostgresTestCluster.shared().createDatabase())
        #expect(connection.isConnected, "\(connection.errorMessage)")
        #expect(try connection.executePrepared("sum", Self.sum, ["1", "2"]).rows == [["3"]])
        #expect(try connection.executePrepared("sum", Self.sum, ["40", "2"]).rows == [["42"]])
        #expect(try Self.preparedCount(connection) == "1")
    }

    @Test("text arrays reach the server exactly as given: quotes, backslashes, commas, braces, spaces, NULL, empty, non-ASCII")
    func arrayLiteralsRoundTrip() throws {
        let values = ["plain", "with \"quotes\"", "back\\slash", "a,b", "{braces}", " spaced ", "NULL", "", "ünïcödé ✓", "\\\"", "\\"]
        let connection = try PostgresConnection(try PostgresTestCluster.shared().createDatabase())
        let rows = try connection.executePrepared("unnest", "SELECT unnest($1::text[])", [PostgresEventStore.arrayLiteral(values)]).rows
        #expect(rows.map { $0.first ?? nil } == values)
    }

    @Test("a statement the session lost (DEALLOCATE, a reconnect) is prepared again, not failed")
    func preparedAgain() throws {
        let connection = try PostgresConnection(try PostgresTestCluster.shared().createDatabase())
        #expect(try connection.executePrepared("sum", Self.sum, ["1", "2"]).rows == [["3"]])
        _ = try connection.executeScript("DEALLOCATE ALL")
        #expect(try connection.executePrepared("sum", Self.sum, ["2", "2"]).rows == [["4"]])
        connection.reset()
        #expect(connection.isConnected, "\(connection.errorMessage)")
        #expect(try connection.executePrepared("sum", Self.sum, ["3", "2"]).rows == [["5"]])
        #expect(try Self.preparedCount(connection) == "1")
    }

    @Test("inside a transaction a lost statement fails the call: the transaction is already aborted")
    func lostInsideTransaction() throws {
        let connection = try PostgresConnection(try PostgresTestCluster.shared().createDatabase())
        _ = try connection.executePrepared("sum", Self.sum, ["1", "2"])
        _ = try connection.executeScript("DEALLOCATE ALL; BEGIN")
        #expect(throws: PostgresError.self) { try connection.executePrepared("sum", Self.sum, ["1", "1"]) }
        _ = try connection.executeScript("ROLLBACK")
        #expect(try connection.executePrepared("sum", Self.sum, ["1", "1"]).rows == [["2"]])
    }
}
