import Synchronization

/// One invocation from the moment its execution id is reserved to its answer: what DELETE and
/// shutdown use to stop it, and where every waiter gets the answer from.
final class InvocationHandle: Sendable {
    let executionID: String
    let tenantID: String
    /// Set when the caller streams the output.
    let relay: OutputRelay?

    private struct State {
        var cancelRequested = false
        var cancelWaiter: CheckedContinuation<Void, Never>?
        var answer: InvocationResponse?
        var answerWaiters: [CheckedContinuation<InvocationResponse, Never>] = []
    }

    private let state = Mutex(State())

    init(executionID: String, tenantID: String, relay: OutputRelay?) {
        self.executionID = executionID
        self.tenantID = tenantID
        self.relay = relay
    }

    /// Asks the run to stop: the container is killed and `Completed` recorded as cancelled.
    func requestCancel() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.cancelRequested = true
            defer { state.cancelWaiter = nil }
            return state.cancelWaiter
        }
        waiter?.resume()
    }

    var isCancelRequested: Bool { state.withLock { $0.cancelRequested } }

    /// Returns once a cancel was requested, or when the calling task is cancelled.
    func cancellation() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    // Checked under the lock that `onCancel` takes too, so no wake-up is lost.
                    if state.cancelRequested || Task.isCancelled { return true }
                    state.cancelWaiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.cancelWaiter = nil }
                return state.cancelWaiter
            }
            waiter?.resume()
        }
    }

    /// Sets the answer, once; later calls are ignored.
    func answer(_ response: InvocationResponse) {
        let waiters = state.withLock { state -> [CheckedContinuation<InvocationResponse, Never>] in
            guard state.answer == nil else { return [] }
            state.answer = response
            defer { state.answerWaiters.removeAll() }
            return state.answerWaiters
        }
        for waiter in waiters { waiter.resume(returning: response) }
    }

    /// Waits for the answer.
    func answered() async -> InvocationResponse {
        await withCheckedContinuation { continuation in
            let answer = state.withLock { state -> InvocationResponse? in
                if let answer = state.answer { return answer }
                state.answerWaiters.append(continuation)
                return nil
            }
            if let answer { continuation.resume(returning: answer) }
        }
    }
}
