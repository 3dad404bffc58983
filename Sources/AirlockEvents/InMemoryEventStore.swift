import Foundation
import Synchronization

/// `gateway_events` in memory, for tests of the code above the store. It can be told to fail, as a
/// real store does when its disk or server goes away.
public final class InMemoryEventStore: EventStore {
    public let location = "memory:"
    private struct State {
        var rows: [StoredEvent] = []
        /// Each row's chain hash, by index in `rows`.
        var chainHashes: [String] = []
        var idsByEventID: [String: Int64] = [:]
        /// The `CliToolInvocationCompleted` of each execution completed.
        var completionsByExecutionID: [String: Int64] = [:]
        var failure: String?
        var tools: [String: [String: RegisteredTool]] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    /// While set, every call fails with this message.
    public func fail(with message: String?) {
        state.withLock { $0.failure = message }
    }

    /// As the real stores: each new row linked into the chain (`created_at` in SQLite's text form),
    /// redeliveries and second completions not written.
    public func appendReportingOutcomes(_ records: [EventRecord]) async throws(EventStoreError) -> [AppendOutcome] {
        try state.withLock { state throws(EventStoreError) in
            if let failure = state.failure { throw EventStoreError(failure) }
            return records.map { record in
                if let id = state.idsByEventID[record.eventID] { return AppendOutcome(id: id, kind: .alreadyStored) }
                let completion = record.type == .cliToolInvocationCompleted ? record.executionID : nil
                if let completion, let id = state.completionsByExecutionID[completion] {
                    return AppendOutcome(id: id, kind: .refusedSecondCompletion)
                }
                let id = Int64(state.rows.count + 1)
                state.rows.append(StoredEvent(id: id, eventType: record.type.rawValue, createdAt: record.createdAt, payload: record.payload))
                state.chainHashes.append(
                    AuditChain.hash(
                        previous: state.chainHashes.last, id: id, eventType: record.type.rawValue, createdAt: Timestamp.sqlite(record.createdAt),
                        payload: record.payload))
                state.idsByEventID[record.eventID] = id
                if let completion { state.completionsByExecutionID[completion] = id }
                return AppendOutcome(id: id, kind: .appended)
            }
        }
    }

    public func chainLinks(afterID: Int64, limit: Int) async throws(EventStoreError) -> [ChainLink] {
        try state.withLock { state throws(EventStoreError) in
            if let failure = state.failure { throw EventStoreError(failure) }
            return Array(
                zip(state.rows, state.chainHashes).lazy.filter { $0.0.id > afterID }.prefix(max(0, limit)).map { row, hash in
                    ChainLink(id: row.id, eventType: row.eventType, createdAt: Timestamp.sqlite(row.createdAt), payload: row.payload, chainHash: hash)
                })
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

extension InMemoryEventStore: ToolRegistryStore {
    public func register(_ tool: RegisteredTool, limit: Int) async throws(EventStoreError) -> RegistrationOutcome {
        let event = EventRecord(tool.registeredEvent)
        let outcome = try state.withLock { state throws(EventStoreError) -> RegistrationOutcome in
            if let failure = state.failure { throw EventStoreError(failure) }
            let tools = state.tools[tool.tenantId, default: [:]]
            if tools[tool.name] != nil { return .nameTaken }
            guard tools.count < limit else { return .limitReached }
            state.tools[tool.tenantId, default: [:]][tool.name] = tool
            return .registered
        }
        if outcome == .registered { _ = try await append(event) }
        return outcome
    }

    public func registeredTools(tenantID: String) async throws(EventStoreError) -> [RegisteredTool] {
        try state.withLock { state throws(EventStoreError) in
            if let failure = state.failure { throw EventStoreError(failure) }
            return state.tools[tenantID, default: [:]].values.sorted { $0.name < $1.name }
        }
    }

    public func removeRegisteredTool(name: String, tenantID: String) async throws(EventStoreError) -> Bool {
        try state.withLock { state throws(EventStoreError) in
            if let failure = state.failure { throw EventStoreError(failure) }
            return state.tools[tenantID]?.removeValue(forKey: name) != nil
        }
    }
}
