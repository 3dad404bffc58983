import AirlockPolicy
import Crypto

/// The hash chain that makes the audit trail tamper-evident.
///
/// Every event Airlock appends stores, in the column `chain_hash` (not in the payload: it would
/// hash itself), the lowercase hex SHA-256 of
///
///     field("airlock-chain-v1") ‖ field(previous) ‖ field(id) ‖ field(event_type) ‖ field(created_at) ‖ field(payload)
///
/// where `field(x)` is the byte length of `x`'s UTF-8 as an unsigned 64-bit big-endian integer,
/// followed by those bytes (so no two different rows encode alike, whatever their text holds), and
///
/// - `previous` is the `chain_hash` of the previous event Airlock appended (lower id), or the empty
///   string for the first;
/// - `id` is the row's id in decimal ASCII, no sign, no leading zeros;
/// - `event_type` is the column as stored;
/// - `created_at` is the column's text in its store's canonical form: on SQLite the stored text
///   itself (`2026-11-23 10:15:30.123`), on PostgreSQL the instant in UTC as
///   `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')`
///   (`2026-11-23 10:15:30.123000`), whatever the session's time zone and date style;
/// - `payload` is the column's text: on SQLite the stored text, on PostgreSQL `payload::text`
///   (JSONB's normalized text; a JSON column's stored text).
///
/// Rows of other writers (the gateway's own events, rows from before the chain) have no
/// `chain_hash` and are not part of the chain. A row of one of Airlock's event types (`CliTool…`)
/// without one, after the chain's first event, is a break: Airlock never writes such a row.
///
/// What a hash chain does not show: a deletion of the newest events (the chain just ends sooner),
/// and a rewrite by someone who recomputes every hash from the change onwards (the algorithm is
/// public, there is no key). `airlock events verify` prints the head (id and hash): an operator who
/// keeps it elsewhere can tell both.
public enum AuditChain {
    /// The first field of every hashed record: names this encoding, so another can follow it.
    public static let version = "airlock-chain-v1"

    /// `chain_hash` of a row: lowercase hex SHA-256 over the previous hash and the row's canonical
    /// fields (see `AuditChain`).
    public static func hash(previous: String?, id: Int64, eventType: String, createdAt: String, payload: String) -> String {
        var hasher = SHA256()
        field(version, &hasher)
        field(previous ?? "", &hasher)
        field(String(id), &hasher)
        field(eventType, &hasher)
        field(createdAt, &hasher)
        field(payload, &hasher)
        return PolicyDigest.hex(hasher.finalize())
    }

    /// Whether rows of this type are Airlock's own (`CliTool…`): such a row without a chain hash,
    /// once the chain has begun, was not written by Airlock.
    public static func isAirlockEventType(_ eventType: String) -> Bool { eventType.hasPrefix("CliTool") }

    private static func field(_ text: String, _ hasher: inout SHA256) {
        var text = text
        text.withUTF8 { bytes in
            var length = UInt64(bytes.count).bigEndian
            withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(bytes))
        }
    }

}

/// A row of `gateway_events` as the chain hashes it: every field in its store's canonical text
/// (see `AuditChain`), and its `chain_hash`, nil for rows Airlock did not write.
public struct ChainLink: Sendable, Equatable {
    public var id: Int64
    public var eventType: String
    public var createdAt: String
    public var payload: String
    public var chainHash: String?

    public init(id: Int64, eventType: String, createdAt: String, payload: String, chainHash: String?) {
        self.id = id
        self.eventType = eventType
        self.createdAt = createdAt
        self.payload = payload
        self.chainHash = chainHash
    }

    /// The hash this row would have if it followed `previous`, under `id` (its own by default).
    func expectedHash(after previous: String?, id: Int64? = nil) -> String {
        AuditChain.hash(previous: previous, id: id ?? self.id, eventType: eventType, createdAt: createdAt, payload: payload)
    }
}
