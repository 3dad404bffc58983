import AirlockEvents
import Foundation
import Testing

/// Event and execution ids are UUIDs of version 7: valid UUIDs that sort by creation time, so that
/// the audit table's indexes on them grow at one end.
struct TimeOrderedUUIDTests {
    @Test func isAVersion7UUIDCarryingItsMillisecond() throws {
        let moment = Date(timeIntervalSince1970: 1_795_000_000.123)
        let text = TimeOrderedUUID.make(at: moment)
        let uuid = try #require(UUID(uuidString: text), "\(text) is not a UUID")
        #expect(text == text.lowercased())
        let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
        #expect(bytes[6] >> 4 == 7, "version nibble of \(text)")
        #expect(bytes[8] >> 6 == 0b10, "variant bits of \(text)")
        let milliseconds = bytes[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(milliseconds == 1_795_000_000_123)
    }

    @Test func sortsByTimeAndStaysUnique() {
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        // Half a millisecond in, so that binary fractions cannot round a moment into the one before.
        let ids = (0..<2000).map { TimeOrderedUUID.make(at: start.addingTimeInterval((Double($0) + 0.5) / 1000)) }
        #expect((ids == ids.sorted()) as Bool, "ids made a millisecond apart sort in creation order")
        let sameMillisecond = (0..<10_000).map { _ in TimeOrderedUUID.make(at: start) }
        #expect((Set(sameMillisecond).count == 10_000) as Bool, "74 random bits keep ids of one millisecond apart")
    }
}
