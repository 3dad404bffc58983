import Foundation

/// UUIDs of version 7 (RFC 9562): the first 48 bits are the Unix time in milliseconds, the rest random.
///
/// Event and execution ids are keys of the audit table's unique and lookup indexes. Random (version 4)
/// keys land on a different index page per row, so a commit of n events wrote about 3n pages to the
/// WAL; time-ordered keys land on the last few pages, and a commit writes about the same handful
/// of pages however many events it holds.
public enum TimeOrderedUUID {
    /// A new id, lowercased, in the usual 8-4-4-4-12 form.
    public static func make(at date: Date = Date()) -> String {
        let milliseconds = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        // A version 4 UUID's random bits, drawn in one call, with the time written over its first six bytes.
        var bytes = withUnsafeBytes(of: UUID().uuid) { Array($0) }
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - index))) }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // variant 10
        let uuid = UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
        return uuid.uuidString.lowercased()
    }
}
