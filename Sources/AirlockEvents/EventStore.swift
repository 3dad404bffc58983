import Foundation

/// A row of `gateway_events` as read back.
public struct StoredEvent: Sendable, Equatable, Codable {
    public var id: Int64
    public var eventType: String
    public var createdAt: Date
    /// The payload as JSON text.
    public var payload: String

    public init(id: Int64, eventType: String, createdAt: Date, payload: String) {
        self.id = id
        self.eventType = eventType
        self.createdAt = createdAt
        self.payload = payload
    }

    /// Decodes the payload as `Payload`.
    public func decode<Payload: AuditPayload>(_: Payload.Type) throws -> Payload {
        try EventJSON.decoder.decode(Payload.self, from: Data(payload.utf8))
    }

    /// The payload's top-level string field `key` (`execution_id`, `tenant_id`, ...).
    public func field(_ key: String) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else { return nil }
        return object[key] as? String
    }
}

/// Which events to read, in id order.
public struct EventQuery: Sendable, Equatable {
    /// Only events with an id greater than this (the SIEM cursor).
    public var afterID: Int64?
    public var types: [EventType]
    public var executionID: String?
    public var tenantID: String?
    /// Only events created at or after this moment.
    public var since: Date?
    public var limit: Int

    public init(
        afterID: Int64? = nil, types: [EventType] = [], executionID: String? = nil, tenantID: String? = nil, since: Date? = nil,
        limit: Int = 1000
    ) {
        self.afterID = afterID
        self.types = types
        self.executionID = executionID
        self.tenantID = tenantID
        self.since = since
        self.limit = limit
    }
}

/// Why a store could not do what was asked. The message names the store and the cause.
public struct EventStoreError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The audit table `gateway_events(id, event_type, created_at, payload)`: append-only, ids increasing,
/// and beside the four documented columns a `chain_hash` that links every row Airlock appends to
/// the one before it (`AuditChain`).
///
/// No method updates or deletes a row. Appends are durable (on disk or committed) when they return.
public protocol EventStore: AnyObject, Sendable {
    /// Where the events go, for messages (`sqlite:/var/lib/airlock/events.sqlite`; never a password).
    var location: String { get }

    /// Appends the records in order, in one transaction, each linked into the audit chain (see
    /// `AuditChain`), and says what became of each. A record whose `event_id` is already stored is
    /// not written again (`alreadyStored`, its existing id); a `CliToolInvocationCompleted` for an
    /// execution that has one already is refused (`refusedSecondCompletion`, the existing one's id)
    /// and the batch's other records are appended as usual.
    func appendReportingOutcomes(_ records: [EventRecord]) async throws(EventStoreError) -> [AppendOutcome]

    /// Rows with an id greater than `afterID`, in id order, at most `limit`, in the form the chain
    /// hashes them: what `airlock events verify` walks.
    func chainLinks(afterID: Int64, limit: Int) async throws(EventStoreError) -> [ChainLink]

    /// Events matching the query, in id order, at most `query.limit`.
    func events(matching query: EventQuery) async throws(EventStoreError) -> [StoredEvent]

    /// `CliToolInvocationStarted` events with no `CliToolInvocationCompleted` for the same execution id.
    func unfinishedInvocations() async throws(EventStoreError) -> [StoredEvent]

    /// Releases connections and files; further calls fail.
    func close() async
}

extension EventStore {
    /// Appends the records in order and returns their ids: for a record already stored, or a second
    /// `CliToolInvocationCompleted` refused, the id of the row that stands (see
    /// `appendReportingOutcomes`).
    public func append(_ records: [EventRecord]) async throws(EventStoreError) -> [Int64] {
        try await appendReportingOutcomes(records).map(\.id)
    }

    public func append(_ record: EventRecord) async throws(EventStoreError) -> Int64 {
        try await append([record])[0]
    }
}

/// What an append did with one record.
public struct AppendOutcome: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Written as a new row, linked into the chain.
        case appended
        /// Its `event_id` was stored before (a redelivery): not written again.
        case alreadyStored
        /// A `CliToolInvocationCompleted` for an execution that has one: not written. An execution
        /// completes once; the first record stands. Not an error, so that a spool delivering it
        /// does not retry it forever, and the batch it came in is stored.
        case refusedSecondCompletion
    }

    /// The new row's id; for `alreadyStored` the stored row's; for `refusedSecondCompletion` the
    /// id of the execution's `CliToolInvocationCompleted` that stands.
    public var id: Int64
    public var kind: Kind

    public init(id: Int64, kind: Kind) {
        self.id = id
        self.kind = kind
    }
}
