import AirlockInvocation
import HTTPTypes
import Synchronization

/// How many invocations may run at once, overall and per tenant, and how many may wait.
public struct AdmissionLimits: Sendable, Equatable {
    public var maxConcurrent: Int
    public var maxPerTenant: Int
    /// Invocations waiting for a slot; past this, 429.
    public var maxQueued: Int

    public init(maxConcurrent: Int = 8, maxPerTenant: Int = 4, maxQueued: Int = 32) {
        self.maxConcurrent = maxConcurrent
        self.maxPerTenant = maxPerTenant
        self.maxQueued = maxQueued
    }
}

/// Why an invocation was not admitted.
public enum AdmissionRefusal: Error, Sendable, Equatable {
    /// Every slot is taken and the queue is full (429).
    case queueFull
    /// The worker is shutting down (503).
    case shuttingDown
    /// Cancelled (DELETE) while waiting; nothing was launched.
    case withdrawn

    var apiError: APIError {
        switch self {
        case .queueFull:
            APIError(.tooManyRequests, code: "too_many_requests", "too many invocations running and waiting; retry later", headers: [.retryAfter: "1"])
        case .shuttingDown:
            APIError(.serviceUnavailable, code: "shutting_down", "the worker is shutting down; nothing was launched")
        case .withdrawn:
            APIError(.conflict, code: "cancelled", "cancelled while waiting for a slot; nothing was launched")
        }
    }
}

/// Slots for running invocations: a global limit, a per-tenant limit and a bounded FIFO queue.
///
/// A waiter whose tenant is at its own limit does not hold up waiters of other tenants behind it.
public final class AdmissionControl: Sendable {
    public let limits: AdmissionLimits

    private struct Waiter {
        var id: String
        var tenant: String
        var continuation: CheckedContinuation<Result<Void, AdmissionRefusal>, Never>
    }

    private struct State {
        var running = 0
        var perTenant: [String: Int] = [:]
        var queue: [Waiter] = []
        var closed = false

        func hasSlot(for tenant: String, limits: AdmissionLimits) -> Bool {
            running < limits.maxConcurrent && perTenant[tenant, default: 0] < limits.maxPerTenant
        }

        mutating func take(for tenant: String) {
            running += 1
            perTenant[tenant, default: 0] += 1
        }
    }

    private let state = Mutex(State())

    public init(limits: AdmissionLimits) {
        self.limits = limits
    }

    /// Waits for a slot. `id` identifies the waiter for `withdraw`. The caller must `release` the
    /// tenant's slot once admitted.
    public func admit(id: String, tenant: String) async throws(AdmissionRefusal) {
        let limits = self.limits
        enum Immediate { case admitted, refused(AdmissionRefusal), queued }
        let outcome: Result<Void, AdmissionRefusal> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let immediate = state.withLock { state -> Immediate in
                    if state.closed { return .refused(.shuttingDown) }
                    if Task.isCancelled { return .refused(.withdrawn) }
                    if state.queue.isEmpty || !state.queue.contains(where: { $0.tenant == tenant }), state.hasSlot(for: tenant, limits: limits) {
                        state.take(for: tenant)
                        return .admitted
                    }
                    guard state.queue.count < limits.maxQueued else { return .refused(.queueFull) }
                    state.queue.append(Waiter(id: id, tenant: tenant, continuation: continuation))
                    return .queued
                }
                switch immediate {
                case .admitted: continuation.resume(returning: .success(()))
                case let .refused(reason): continuation.resume(returning: .failure(reason))
                case .queued: break
                }
            }
        } onCancel: {
            withdraw(id: id)
        }
        try outcome.get()
    }

    /// Gives the tenant's slot back and admits whoever can now run.
    public func release(tenant: String) {
        let admitted = state.withLock { state -> [Waiter] in
            state.running -= 1
            state.perTenant[tenant, default: 1] -= 1
            if state.perTenant[tenant] == 0 { state.perTenant[tenant] = nil }
            var admitted: [Waiter] = []
            var index = 0
            while index < state.queue.count, state.running < limits.maxConcurrent {
                let waiter = state.queue[index]
                if state.hasSlot(for: waiter.tenant, limits: limits) {
                    state.take(for: waiter.tenant)
                    admitted.append(state.queue.remove(at: index))
                } else {
                    index += 1
                }
            }
            return admitted
        }
        for waiter in admitted { waiter.continuation.resume(returning: .success(())) }
    }

    /// Takes a waiter out of the queue (DELETE, or its request was cancelled). Returns whether it was waiting.
    @discardableResult
    public func withdraw(id: String) -> Bool {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.queue.firstIndex(where: { $0.id == id }) else { return nil }
            return state.queue.remove(at: index)
        }
        waiter?.continuation.resume(returning: .failure(.withdrawn))
        return waiter != nil
    }

    /// Admits nothing more; every waiter is refused (shutdown).
    public func close() {
        let waiters = state.withLock { state -> [Waiter] in
            state.closed = true
            defer { state.queue.removeAll() }
            return state.queue
        }
        for waiter in waiters { waiter.continuation.resume(returning: .failure(.shuttingDown)) }
    }

    /// Whether `close()` was called (shutting down).
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Running and waiting counts, for readiness and tests.
    public var counts: (running: Int, queued: Int) {
        state.withLock { ($0.running, $0.queue.count) }
    }
}
