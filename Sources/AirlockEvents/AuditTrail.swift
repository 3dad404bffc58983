import Foundation
import Logging

/// The invocation pipeline's view of the audit trail: what must be committed before a launch, what
/// must never be lost after one, and what a crash left open.
public final class AuditTrail: Sendable {
    public let store: any EventStore
    public let spool: EventSpool
    private let logger: Logger

    public init(store: any EventStore, spool: EventSpool, logger: Logger = Logger(label: "airlock.events")) {
        self.store = store
        self.spool = spool
        self.logger = logger
    }

    /// Where an event went.
    public enum Delivery: Sendable, Equatable {
        case stored(id: Int64)
        /// The store failed; the event is on disk in the spool and will be delivered later.
        case spooled
        /// A `CliToolInvocationCompleted` for an execution that has one already: the store refused
        /// it (an execution completes once) and the first, `existingID`, stands. Logged as a warning.
        case secondCompletionRefused(existingID: Int64)
    }

    /// Commits `CliToolInvocationStarted`. Must succeed before the container is launched: when it
    /// throws, the caller launches nothing (no invocation without its record).
    @discardableResult
    public func recordStarted(_ event: CliToolInvocationStarted) async throws(EventStoreError) -> Int64 {
        do {
            return try await store.append(EventRecord(event))
        } catch {
            throw EventStoreError("the audit store cannot record the invocation, so it was not launched: \(error.message)")
        }
    }

    /// Records an event that must not be lost (`Completed`, `SemanticRejected`, `Registered`): in the
    /// store, or, when the store fails, in the spool. Throws only when both fail.
    @discardableResult
    public func record<Payload: AuditPayload>(_ event: Payload, eventID: String = TimeOrderedUUID.make()) async throws(EventStoreError)
        -> Delivery
    {
        try await record(EventRecord(event, eventID: eventID))
    }

    @discardableResult
    public func record(_ record: EventRecord) async throws(EventStoreError) -> Delivery {
        do {
            let outcome = try await store.appendReportingOutcomes([record])[0]
            guard outcome.kind != .refusedSecondCompletion else {
                logRefusedCompletion(record, standing: outcome.id)
                return .secondCompletionRefused(existingID: outcome.id)
            }
            return .stored(id: outcome.id)
        } catch {
            logger.warning(
                "Event store unavailable; event spooled",
                metadata: ["event_type": "\(record.type.rawValue)", "event_id": "\(record.eventID)", "error": "\(error.message)"])
            do {
                try spool.write(record)
            } catch let spoolError {
                logger.critical(
                    "Event lost: neither the store nor the spool took it",
                    metadata: ["event_type": "\(record.type.rawValue)", "payload": "\(record.payload)"])
                throw EventStoreError("\(error.message); and the spool failed too: \(spoolError.message)")
            }
            return .spooled
        }
    }

    private func logRefusedCompletion(_ record: EventRecord, standing id: Int64) {
        logger.warning(
            "Second CliToolInvocationCompleted for an execution refused; the first stands",
            metadata: [
                "execution_id": "\(record.executionID ?? "")", "event_id": "\(record.eventID)", "completed_id": "\(id)",
                "payload": "\(record.payload)",
            ])
    }

    /// What a spool delivery did.
    public struct SpoolDelivery: Sendable, Equatable {
        public var delivered: Int
        public var remaining: Int
        /// Why delivery stopped early (the store is still down), if it did.
        public var error: String?
        public var problems: [String]
    }

    /// Delivers spooled events to the store, oldest first; each reaches the store once (redelivery
    /// after a lost acknowledgement is deduplicated by `event_id`). Stops at the first store failure.
    @discardableResult
    public func deliverSpool() async -> SpoolDelivery {
        let (records, files, problems) = spool.pending()
        for problem in problems { logger.error("\(problem)") }
        var delivered = 0
        for (record, file) in zip(records, files) {
            do {
                // A refused second Completed is delivered as far as it ever will be: removed, logged.
                let outcome = try await store.appendReportingOutcomes([record])[0]
                if outcome.kind == .refusedSecondCompletion { logRefusedCompletion(record, standing: outcome.id) }
            } catch {
                return SpoolDelivery(delivered: delivered, remaining: records.count - delivered, error: error.message, problems: problems)
            }
            spool.remove(file: file)
            delivered += 1
        }
        if delivered > 0 { logger.info("Delivered spooled events", metadata: ["count": "\(delivered)"]) }
        return SpoolDelivery(delivered: delivered, remaining: 0, error: nil, problems: problems)
    }

    /// At start, after a crash: every `Started` without a `Completed` whose owner process is gone gets
    /// its container removed (`removeContainer`) and a `Completed` with `abandoned: true`. The spool is
    /// delivered first, so an invocation whose `Completed` was spooled is not taken for abandoned.
    /// Returns the execution ids reconciled.
    public func reconcile(
        isOwnerGone: @Sendable (String) -> Bool, removeContainer: @Sendable (String) async -> Void
    ) async throws(EventStoreError) -> [String] {
        let delivery = await deliverSpool()
        if let error = delivery.error {
            throw EventStoreError("cannot reconcile: spooled events could not be delivered: \(error)")
        }
        var reconciled: [String] = []
        for event in try await store.unfinishedInvocations() {
            guard let started = try? event.decode(CliToolInvocationStarted.self) else {
                logger.error("Unreadable CliToolInvocationStarted payload; not reconciled", metadata: ["id": "\(event.id)"])
                continue
            }
            guard isOwnerGone(started.owner) else { continue }
            await removeContainer(started.containerName)
            let completed = CliToolInvocationCompleted(
                executionId: started.executionId, toolName: started.toolName, exitCode: nil, stdoutBytes: 0, stderrBytes: 0,
                durationMs: Int64(Date().timeIntervalSince(started.startedAt) * 1000), tenantId: started.tenantId,
                outcome: .abandoned, traceId: started.traceId)
            // A fixed event id: two processes reconciling at once write it once.
            let outcome = try await store.appendReportingOutcomes([EventRecord(completed, eventID: "abandoned-\(started.executionId)")])[0]
            if outcome.kind == .refusedSecondCompletion {
                // Its own Completed arrived meanwhile (another process delivered its spool): not abandoned.
                logger.notice(
                    "Invocation completed meanwhile; not reconciled",
                    metadata: ["execution_id": "\(started.executionId)", "completed_id": "\(outcome.id)"])
                continue
            }
            logger.warning(
                "Reconciled an invocation abandoned by a crash",
                metadata: ["execution_id": "\(started.executionId)", "owner": "\(started.owner)", "container": "\(started.containerName)"])
            reconciled.append(started.executionId)
        }
        return reconciled
    }
}
