import Foundation
import Synchronization

/// `gateway_events` in memory, for tests of the code above the store. It can be told to fail, as a
/// real store does when its disk or server goes away.
public final class InMemoryEventStore: EventStore {
    public let location = "memory:"
    private struct State {
        var rows: [StoredEvent] = []
        var idsByEventID: [String: Int64] = [:]
        var failure: String?
    }
    private let state = Mutex(State())

    public init() {}

    /// While set, every call fails with this message.
    public func fail(with message: String?) {
        state.withLock { $0.failure = message }
    }

    public func append(_ records: [EventRecord]) async throws(EventStoreError) -> [Int64] {
        try state.withLock { state throws(EventStoreError) in
            if let failure = state.failure { throw EventStoreError(failure) }
            return records.map { record in
                if let id = state.idsByEventID[record.eventID] { return id }
                let id = Int64(state.rows.count + 1)
                state.rows.append(StoredEvent(id: id, eventType: record.type.rawValue, createdAt: record.createdAt, payload: record.payload))
                state.idsByEventID[record.eventID] = id
                return id
            }
        }
    }

    public func events(matching query: EventQuery) async throws(EventStoreError) -> [StoredEvent] {
        try state.withLock { state throws(EventStoreError) in
            if let failure = state.failure { throw EventStoreError(failure) }
            return Array(
                state.rows.lazy.filter { row in
                    (query.afterID.map { row.id > $0 } ?? true)
                        && (query.types.isEmpty || query.types.contains { $0.rawValue == row.eventType })
                        && (query.executionID.map { row.field("execution_id") == $0 } ?? true)
                        && (query.tenantID.map { row.field("tenant_id") == $0 } ?? true)
                        && (query.since.map { row.createdAt >= $0 } ?? true)
                }
                .prefix(query.limit))
        }
    }

    public func unfinishedInvocations() async throws(EventStoreError) -> [StoredEvent] {
        try state.withLock { state throws(EventStoreError) in
            if let failure = state.failure { throw EventStoreError(failure) }
            let completed = Set(
                state.rows.filter { $0.eventType == EventType.cliToolInvocationCompleted.rawValue }.compactMap { $0.field("execution_id") })
            return state.rows.filter {
                $0.eventType == EventType.cliToolInvocationStarted.rawValue && !completed.contains($0.field("execution_id") ?? "")
            }
        }
    }

    public func close() async {}
}
