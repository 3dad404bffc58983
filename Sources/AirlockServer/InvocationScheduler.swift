import AirlockEngine
import AirlockEvents
import AirlockInvocation
import AirlockPolicy
import Foundation
import HTTPTypes
import Logging

/// Runs the socket's invocations: reserves execution ids, admits within the limits, and runs each
/// invocation as a child task of `run()` (so shutdown waits for every one of them, and cancelling the
/// worker cancels them all: containers killed, `Completed` recorded).
public final class InvocationScheduler: Sendable {
    struct Job: Sendable {
        var request: InvocationRequest
        var judge: Judge
        var shadow: ShadowJudge?
        var handle: InvocationHandle
    }

    enum Start {
        case started(InvocationHandle)
        /// The execution id already finished here; this is what it was answered.
        case replay(InvocationResponse)
    }

    let pipeline: InvocationPipeline
    let registry: InvocationRegistry
    public let admission: AdmissionControl
    private let jobs: AsyncStream<Job>
    private let submit: AsyncStream<Job>.Continuation
    let logger: Logger

    init(pipeline: InvocationPipeline, limits: AdmissionLimits, registry: InvocationRegistry, logger: Logger) {
        self.pipeline = pipeline
        self.registry = registry
        self.admission = AdmissionControl(limits: limits)
        (jobs, submit) = AsyncStream.makeStream(of: Job.self)
        self.logger = logger
    }

    /// Reserves the execution id, checks it never ran, waits for a slot and hands the invocation to
    /// `run()`. Nothing is launched when this throws.
    ///
    /// - Parameter checkStore: the id came from the caller, so it may have run before this process.
    func start(
        _ request: InvocationRequest, judge: Judge, shadow: ShadowJudge? = nil, checkStore: Bool, relay: OutputRelay?
    ) async throws(APIError) -> Start {
        let id = request.executionID
        let tenant = request.recordedTenant
        let handle: InvocationHandle
        switch registry.reserve(id, tenant: tenant, relay: relay) {
        case let .finished(response): return .replay(response)
        case .active:
            throw APIError(.conflict, code: "already_running", "execution \(id) is already running", field: "execution_id")
        case let .reserved(reserved): handle = reserved
        }
        do throws(APIError) {
            if checkStore { try await checkNeverRan(id) }
            do {
                try await admission.admit(id: id, tenant: tenant)
            } catch {
                throw error.apiError
            }
        } catch {
            registry.remove(handle, answer: InvocationResponse(status: error.status, body: error.body, isFinal: false))
            throw error
        }
        if case .terminated = submit.yield(Job(request: request, judge: judge, shadow: shadow, handle: handle)) {
            admission.release(tenant: tenant)
            let error = AdmissionRefusal.shuttingDown.apiError
            registry.remove(handle, answer: InvocationResponse(status: error.status, body: error.body, isFinal: false))
            throw error
        }
        return .started(handle)
    }

    /// 409 when the store already has events of this execution id (it ran before this process, or its
    /// answer is no longer in memory); 503 when the store cannot tell.
    func checkNeverRan(_ id: String) async throws(APIError) {
        let earlier: [StoredEvent]
        do {
            earlier = try await pipeline.trail.store.events(matching: EventQuery(executionID: id, limit: 20))
        } catch {
            throw APIError(
                .serviceUnavailable, code: "audit_store_unavailable",
                "cannot check whether execution \(id) already ran: \(error.message); nothing was launched")
        }
        guard !earlier.isEmpty else { return }
        throw APIError(
            .conflict, code: "already_ran",
            "execution \(id) already ran (events \(earlier.map { String($0.id) }.joined(separator: ", "))); use a new execution_id",
            field: "execution_id",
            extra: ["execution_id": .string(id), "event_ids": .array(earlier.map { .integer($0.id) })])
    }

    /// Runs every submitted invocation, each as a child task; returns once `shutDown()` was called and
    /// every invocation has ended.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await job in jobs {
                group.addTask { await self.execute(job) }
            }
        }
    }

    private func execute(_ job: Job) async {
        let handle = job.handle
        let output = Self.outputForwarding(handle.relay)
        // The run races a cancel request (DELETE, end of the shutdown grace); whichever comes first,
        // the other is cancelled. A cancelled run still ends with its `Completed`.
        let result = await withTaskGroup(of: InvocationResult?.self) { race in
            race.addTask { await self.pipeline.invoke(job.request, judge: job.judge, shadow: job.shadow, output: output) }
            race.addTask {
                await handle.cancellation()
                return nil
            }
            var result: InvocationResult?
            while let next = await race.next() {
                if let next { result = next }
                race.cancelAll()
            }
            return result
        }
        admission.release(tenant: handle.tenantID)
        handle.relay?.finish()
        guard let result else {
            // Cannot happen: the race always runs `invoke` to its end. Still, no waiter may hang.
            let error = APIError(.internalServerError, code: "internal", "the invocation ended without a result")
            registry.remove(handle, answer: InvocationResponse(status: error.status, body: error.body, isFinal: false))
            return
        }
        registry.finish(handle, InvocationResponse(result, executionID: handle.executionID))
    }

    private static func outputForwarding(_ relay: OutputRelay?) -> OutputForwarding? {
        guard let relay else { return nil }
        return .handler { stream, bytes in relay.push(stream, bytes) }
    }

    /// Admits nothing more: waiters are refused, new requests get 503.
    func shutDown() {
        admission.close()
        submit.finish()
    }

    /// Cancels every invocation still waiting or running.
    func cancelAll() {
        for handle in registry.activeHandles {
            admission.withdraw(id: handle.executionID)
            handle.requestCancel()
        }
    }
}
