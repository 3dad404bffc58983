import Synchronization

/// Every execution id this worker is running, and the answers of those it finished: an execution id
/// never runs twice, and a repeated request gets the answer it got the first time.
///
/// Finished answers are kept in memory, least recently used out first, within `maxEntries` and
/// `maxBytes` (records carry up to the retained output, so the count alone does not bound memory).
final class InvocationRegistry: Sendable {
    enum Reservation {
        /// Reserved for this request, which must end with `finish` or `remove`.
        case reserved(InvocationHandle)
        /// Another request with this execution id is waiting or running.
        case active(InvocationHandle)
        case finished(InvocationResponse)
    }

    private struct Finished {
        var response: InvocationResponse
        var size: Int
        var stamp: Int
    }

    private struct State {
        var active: [String: InvocationHandle] = [:]
        var finished: [String: Finished] = [:]
        /// Execution ids by last use; stale entries (an older stamp) are skipped on eviction.
        var order: [(id: String, stamp: Int)] = []
        var orderStart = 0
        var nextStamp = 0
        var finishedBytes = 0
        var idleWaiters: [CheckedContinuation<Void, Never>] = []

        mutating func touch(_ id: String) -> Int {
            nextStamp += 1
            order.append((id, nextStamp))
            return nextStamp
        }
    }

    private let state = Mutex(State())
    let maxEntries: Int
    let maxBytes: Int

    init(maxEntries: Int = 1000, maxBytes: Int = 64 << 20) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }

    func reserve(_ id: String, tenant: String, relay: OutputRelay?) -> Reservation {
        state.withLock { state in
            if let handle = state.active[id] { return .active(handle) }
            if var finished = state.finished[id] {
                finished.stamp = state.touch(id)
                state.finished[id] = finished
                return .finished(finished.response)
            }
            let handle = InvocationHandle(executionID: id, tenantID: tenant, relay: relay)
            state.active[id] = handle
            return .reserved(handle)
        }
    }

    func active(_ id: String) -> InvocationHandle? { state.withLock { $0.active[id] } }

    func finished(_ id: String) -> InvocationResponse? { state.withLock { $0.finished[id]?.response } }

    var activeHandles: [InvocationHandle] { state.withLock { Array($0.active.values) } }

    /// The invocation ended: its answer goes to every waiter, and is kept if it is final.
    func finish(_ handle: InvocationHandle, _ response: InvocationResponse) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.active[handle.executionID] = nil
            if response.isFinal {
                let size = response.body.encoded().count
                state.finished[handle.executionID] = Finished(response: response, size: size, stamp: state.touch(handle.executionID))
                state.finishedBytes += size
                evict(&state)
            }
            guard state.active.isEmpty else { return [] }
            defer { state.idleWaiters.removeAll() }
            return state.idleWaiters
        }
        handle.answer(response)
        for waiter in waiters { waiter.resume() }
    }

    /// The request ended before its invocation was handed to the pipeline (429, 409, shutdown):
    /// the id is free again, and a DELETE waiting on it gets `response`.
    func remove(_ handle: InvocationHandle, answer response: InvocationResponse) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.active[handle.executionID] = nil
            guard state.active.isEmpty else { return [] }
            defer { state.idleWaiters.removeAll() }
            return state.idleWaiters
        }
        handle.answer(response)
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once nothing is waiting or running.
    func idle() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.active.isEmpty { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func evict(_ state: inout State) {
        while state.finished.count > maxEntries || state.finishedBytes > maxBytes, state.orderStart < state.order.count {
            let (id, stamp) = state.order[state.orderStart]
            state.orderStart += 1
            if let finished = state.finished[id], finished.stamp == stamp {
                state.finished[id] = nil
                state.finishedBytes -= finished.size
            }
        }
        // Compact the order list once most of it is consumed.
        if state.orderStart > 1024, state.orderStart * 2 > state.order.count {
            state.order.removeFirst(state.orderStart)
            state.orderStart = 0
        }
        // Entries touched again leave stale stamps behind; rebuild when they pile up.
        if state.order.count - state.orderStart > 4 * max(state.finished.count, 256) {
            let live = state.order[state.orderStart...].filter { state.finished[$0.id]?.stamp == $0.stamp }
            state.order = Array(live)
            state.orderStart = 0
        }
    }
}
