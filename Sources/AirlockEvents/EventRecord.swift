import Foundation

/// One row to append to `gateway_events`: type, time and the payload as JSON text.
///
/// Every payload carries an `event_id`: the stores keep it unique, so delivering the same record
/// twice (a retry after a lost acknowledgement, a spool flushed by two processes) writes it once.
public struct EventRecord: Sendable, Equatable {
    public var eventID: String
    public var type: EventType
    public var createdAt: Date
    /// A flat JSON object, `event_id` included.
    public let payload: String
    /// The payload's `execution_id`, if it has one: the SQLite store keeps its open invocations by it
    /// without parsing the payload once more (a sixth of the instructions of an append). PostgreSQL
    /// reads it from the JSONB payload in its append function.
    public let executionID: String?

    /// A record read back (from the spool, or a test): `executionID` is read from the payload.
    public init(eventID: String, type: EventType, createdAt: Date, payload: String) {
        self.eventID = eventID
        self.type = type
        self.createdAt = createdAt
        self.payload = payload
        let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any]
        self.executionID = object?["execution_id"] as? String
    }

    /// Encodes a typed payload; `eventID` defaults to a fresh time-ordered UUID (see `TimeOrderedUUID`).
    public init<Payload: AuditPayload>(_ payload: Payload, eventID: String = TimeOrderedUUID.make()) {
        self.eventID = eventID
        self.type = Payload.eventType
        self.createdAt = payload.occurredAt
        self.executionID = payload.invocationID
        // Encoding plain strings, numbers, booleans and arrays of them cannot fail.
        self.payload = try! EventJSON.encode(WithEventID(eventID: eventID, payload: payload))
    }

    /// Decodes the payload as `Payload` (tests and tools reading the trail back).
    public func decode<Payload: AuditPayload>(_: Payload.Type) throws -> Payload {
        try EventJSON.decoder.decode(Payload.self, from: Data(payload.utf8))
    }
}

/// The payload with `event_id` added as one more field of the same flat object.
struct WithEventID<Payload: AuditPayload>: Encodable {
    var eventID: String
    var payload: Payload

    enum CodingKeys: String, CodingKey { case eventId = "event_id" }

    func encode(to encoder: any Encoder) throws {
        try payload.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(eventID, forKey: .eventId)
    }
}

/// The JSON conventions of the audit trail: keys as each type's `CodingKeys` spell them (snake_case),
/// RFC 3339 UTC timestamps with milliseconds, keys sorted so equal events have equal text, slashes
/// unescaped.
public enum EventJSON {
    public static func encode(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Its settings never change after this, and `JSONEncoder` may encode on several threads at once.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.rfc3339(date))
        }
        return encoder
    }()

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = Timestamp.parseRFC3339(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 timestamp: \(text)")
            }
            return date
        }
        return decoder
    }
}

/// Timestamps in the forms the audit trail uses.
public enum Timestamp {
    /// `2026-11-23T10:15:30.123Z`
    public static func rfc3339(_ date: Date) -> String { format(date, separator: UInt8(ascii: "T"), suffix: "Z") }

    public static func parseRFC3339(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    /// `2026-11-23 10:15:30.123`, UTC (to the nearest millisecond, as `rfc3339`): SQLite's `datetime()` text form plus milliseconds, so that
    /// `created_at > datetime('now', '-1 hour')` compares correctly as text.
    public static func sqlite(_ date: Date) -> String { format(date, separator: UInt8(ascii: " "), suffix: "") }

    /// Digits written straight into bytes: `String(format:)` costs about half a millisecond at its
    /// first call in a process, and string concatenation and `replace` showed up on the append path.
    private static func format(_ date: Date, separator: UInt8, suffix: String) -> String {
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (seconds, milliseconds) = millis.quotientAndRemainder(dividingBy: 1000)
        // Before 1970 the remainder is negative: borrow a second so that the milliseconds are not.
        var time = time_t(milliseconds < 0 ? seconds - 1 : seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        /// `value` zero-padded to `width` digits; wider or negative values (years) as they are.
        func digits(_ value: Int32, _ width: Int) {
            var divisor: Int32 = 1
            for _ in 1..<width { divisor *= 10 }
            guard value >= 0, value < divisor * 10 else {
                bytes.append(contentsOf: String(value).utf8)
                return
            }
            var rest = value
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(parts.tm_year + 1900, 4)
        bytes.append(UInt8(ascii: "-"))
        digits(parts.tm_mon + 1, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(parts.tm_mday, 2)
        bytes.append(separator)
        digits(parts.tm_hour, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(parts.tm_min, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(parts.tm_sec, 2)
        bytes.append(UInt8(ascii: "."))
        digits(Int32(milliseconds < 0 ? milliseconds + 1000 : milliseconds), 3)
        bytes.append(contentsOf: suffix.utf8)
        return String(decoding: bytes, as: UTF8.self)
    }

    public static func parseSQLite(_ text: String) -> Date? {
        let pieces = text.split(whereSeparator: { " -:.T".contains($0) }).compactMap { Int($0) }
        guard pieces.count >= 6 else { return nil }
        var parts = tm()
        parts.tm_year = Int32(pieces[0] - 1900)
        parts.tm_mon = Int32(pieces[1] - 1)
        parts.tm_mday = Int32(pieces[2])
        parts.tm_hour = Int32(pieces[3])
        parts.tm_min = Int32(pieces[4])
        parts.tm_sec = Int32(pieces[5])
        let seconds = timegm(&parts)
        let millis = pieces.count > 6 ? Double(pieces[6]) / 1000 : 0
        return Date(timeIntervalSince1970: Double(seconds) + millis)
    }
}
