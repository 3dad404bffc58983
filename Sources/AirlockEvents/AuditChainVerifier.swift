/// Walks the audit chain in id order, a page at a time (memory bounded by the page, whatever the
/// table holds), and finds the first broken link.
///
/// A link is broken when a row's `chain_hash` is not the hash of the previous Airlock event's and
/// its own fields, or when a row of an Airlock event type has no hash once the chain has begun. The
/// break is then explained by looking around it: the hash names the row's content and its
/// predecessor, not which of them changed, so the verifier tries what an edit, a deletion, a
/// renumbering or an insertion would each leave behind (see `diagnose`).
public struct AuditChainVerifier: Sendable {
    /// Reads up to `limit` rows with an id greater than `afterID`, in id order.
    public typealias ReadPage = @Sendable (_ afterID: Int64, _ limit: Int) async throws(EventStoreError) -> [ChainLink]

    private let read: ReadPage
    private let pageSize: Int
    /// How far after the previous event's id a row's original id is looked for, when a row may have
    /// been renumbered.
    static let renumberingWindow: Int64 = 256

    public init(pageSize: Int = 1000, read: @escaping ReadPage) {
        self.pageSize = max(1, pageSize)
        self.read = read
    }

    /// Verifies `store`'s chain.
    public init(store: any EventStore, pageSize: Int = 1000) {
        self.init(pageSize: pageSize) { afterID, limit throws(EventStoreError) in try await store.chainLinks(afterID: afterID, limit: limit) }
    }

    /// Walks the whole chain; stops at the first break.
    ///
    /// - Throws: `EventStoreError` only when the store cannot be read; a broken chain is a result.
    public func verify() async throws(EventStoreError) -> ChainVerification {
        var result = ChainVerification()
        var previous: ChainLink?
        var lastRowID: Int64?
        var cursor = Int64.min
        while true {
            let page = try await read(cursor, pageSize)
            for row in page {
                defer { lastRowID = row.id }
                guard let stored = row.chainHash else {
                    if let previous, AuditChain.isAirlockEventType(row.eventType) {
                        result.breach = ChainBreach(
                            id: row.id, kind: .forged,
                            message: "a \(row.eventType) row without a chain hash after the chain began (id \(previous.id)): Airlock did not write it")
                        return result
                    }
                    result.skipped += 1
                    continue
                }
                if stored == row.expectedHash(after: previous?.chainHash) {
                    result.verified += 1
                    result.head = ChainHead(id: row.id, chainHash: stored)
                    previous = row
                    continue
                }
                result.breach = try await diagnose(row, previous: previous, lastRowID: lastRowID)
                return result
            }
            guard page.count == pageSize, let last = page.last else { return result }
            cursor = last.id
        }
    }

    /// Why `row` does not follow `previous` (nil: the chain's first event). What each tampering leaves:
    ///
    /// - renumbered: the row hashes right under another id after the previous event's;
    /// - edited: the next event follows this row's stored hash (so it is the hash written), its
    ///   fields no longer give it, and no id is missing before it;
    /// - deleted: the same, with ids missing between the previous row and this one;
    /// - reordered (ids swapped): the next event hashes right after `previous` under this row's id;
    /// - inserted (forged): the next event follows `previous` directly.
    private func diagnose(_ row: ChainLink, previous: ChainLink?, lastRowID: Int64?) async throws(EventStoreError) -> ChainBreach {
        let previousHash = previous?.chainHash
        let after = previous.map { "id \($0.id)" } ?? "the start of the chain"
        if let original = originalID(of: row, after: previous) {
            return ChainBreach(
                id: row.id, kind: .reordered, message: "the event at id \(row.id) was written as id \(original): its id was changed")
        }
        let missing: ClosedRange<Int64>? = {
            let before = lastRowID ?? 0
            return row.id > before + 1 ? (before + 1)...(row.id - 1) : nil
        }()
        guard let next = try await nextChained(after: row.id) else {
            if let missing {
                return ChainBreach(
                    id: row.id, kind: .deleted, missing: missing,
                    message: "id \(row.id) does not follow \(after), and \(Self.describe(missing)) missing: deleted")
            }
            return ChainBreach(
                id: row.id, kind: .unlinked, message: "id \(row.id), the last event, does not follow \(after): edited, or inserted")
        }
        if next.chainHash == next.expectedHash(after: row.chainHash) {
            if let missing {
                return ChainBreach(
                    id: row.id, kind: .deleted, missing: missing,
                    message: "id \(row.id) does not follow \(after): \(Self.describe(missing)) missing, deleted")
            }
            return ChainBreach(id: row.id, kind: .edited, message: "id \(row.id) was changed after it was written: \(editedField(row, previousHash))")
        }
        if next.chainHash == next.expectedHash(after: previousHash) {
            return ChainBreach(
                id: row.id, kind: .forged,
                message: "id \(row.id) is not Airlock's: the next event, id \(next.id), follows \(after) directly (a row inserted between them)")
        }
        if let original = originalID(of: next, after: previous, also: row.id) {
            return ChainBreach(
                id: row.id, kind: .reordered,
                message: "ids \(row.id) and \(next.id) are out of order: the event at id \(next.id) was written as id \(original) (ids swapped)")
        }
        return ChainBreach(
            id: row.id, kind: .unlinked,
            message: "id \(row.id) does not follow \(after), and its chain hash matches neither its own fields nor its neighbours'")
    }

    /// The id under which `row` hashes right after `previous`, other than its own: ids after the
    /// previous event's, within `renumberingWindow`, and `also`.
    private func originalID(of row: ChainLink, after previous: ChainLink?, also: Int64? = nil) -> Int64? {
        let first = (previous?.id ?? 0) + 1
        var candidates = Array(first..<first + Self.renumberingWindow)
        if let also { candidates.insert(also, at: 0) }
        return candidates.first { $0 != row.id && row.chainHash == row.expectedHash(after: previous?.chainHash, id: $0) }
    }

    /// Which field of an edited row changed, where it can be told: an event type swapped for
    /// another of Airlock's is found by trying each; a payload or time cannot be recovered.
    private func editedField(_ row: ChainLink, _ previousHash: String?) -> String {
        for type in EventType.allCases where type.rawValue != row.eventType {
            let original = AuditChain.hash(
                previous: previousHash, id: row.id, eventType: type.rawValue, createdAt: row.createdAt, payload: row.payload)
            if original == row.chainHash { return "its event_type was \(type.rawValue), now \(row.eventType)" }
        }
        return "its payload or created_at is not what was written"
    }

    /// The first row after `id` with a chain hash.
    private func nextChained(after id: Int64) async throws(EventStoreError) -> ChainLink? {
        var cursor = id
        while true {
            let page = try await read(cursor, pageSize)
            if let chained = page.first(where: { $0.chainHash != nil }) { return chained }
            guard page.count == pageSize, let last = page.last else { return nil }
            cursor = last.id
        }
    }

    private static func describe(_ range: ClosedRange<Int64>) -> String {
        range.count == 1 ? "id \(range.lowerBound) is" : "ids \(range.lowerBound)…\(range.upperBound) are"
    }
}

/// The newest event of an intact chain: an operator who keeps it elsewhere can tell later that
/// the chain still reaches it (events deleted from the end, or the chain rewritten from an edit on,
/// leave no broken link).
public struct ChainHead: Sendable, Equatable {
    public var id: Int64
    public var chainHash: String

    public init(id: Int64, chainHash: String) {
        self.id = id
        self.chainHash = chainHash
    }
}

/// The first broken link of the chain.
public struct ChainBreach: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The row's fields are not what was hashed.
        case edited
        /// Rows before this one are gone.
        case deleted
        /// The row's id is not the one it was written under (renumbered, swapped).
        case reordered
        /// A row Airlock did not write: an Airlock event type without a hash, or a row whose
        /// successor links past it.
        case forged
        /// The link is broken and none of the above explains it.
        case unlinked
    }

    /// The first row whose link is broken.
    public var id: Int64
    public var kind: Kind
    /// Ids missing before `id`, for `deleted`.
    public var missing: ClosedRange<Int64>?
    public var message: String

    public init(id: Int64, kind: Kind, missing: ClosedRange<Int64>? = nil, message: String) {
        self.id = id
        self.kind = kind
        self.missing = missing
        self.message = message
    }

    public var description: String { "\(kind.rawValue) at id \(id): \(message)" }
}

/// What a walk of the chain found.
public struct ChainVerification: Sendable, Equatable {
    /// Chained events whose link held (up to the break, if there is one).
    public var verified = 0
    /// Rows of other writers, or from before the chain began: not part of it.
    public var skipped = 0
    /// The last event verified.
    public var head: ChainHead?
    /// The first broken link; nil when the chain is intact.
    public var breach: ChainBreach?

    public init() {}
}
