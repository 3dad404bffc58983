import AirlockEngine
import Dispatch
import Synchronization

/// Carries a streaming invocation's output from the engine's pipe readers to the HTTP response.
///
/// The readers are threads of their own (`PipeDrain`), so when the caller reads slowly they block
/// here, the pipe fills and the tool waits: memory stays bounded by `limit`. A caller that stops
/// reading altogether for `stallLimit` is given up on (the rest is dropped; the run and its exact
/// counts are not affected), so a stuck client can never keep a run from ending.
final class OutputRelay: Sendable {
    struct Chunk: Sendable {
        var stream: OutputStream
        var bytes: [UInt8]
    }

    private struct State {
        var chunks: [Chunk] = []
        var head = 0
        var bufferedBytes = 0
        var finished = false
        var abandoned = false
        var droppedBytes: Int64 = 0
        var reader: CheckedContinuation<Chunk?, Never>?
        var blockedWriters: [DispatchSemaphore] = []
    }

    private let state = Mutex(State())
    let limit: Int
    let stallLimit: Duration

    init(limit: Int = 1 << 20, stallLimit: Duration = .seconds(30)) {
        self.limit = limit
        self.stallLimit = stallLimit
    }

    /// Bytes the caller did not get because it stopped reading.
    var droppedBytes: Int64 { state.withLock { $0.droppedBytes } }

    /// Called on a pipe reader's thread; blocks while the buffer is full.
    func push(_ stream: OutputStream, _ bytes: UnsafeRawBufferPointer) {
        let chunk = Chunk(stream: stream, bytes: Array(bytes))
        let began = ContinuousClock.now
        while true {
            enum Step {
                case delivered(CheckedContinuation<Chunk?, Never>?)
                case wait(DispatchSemaphore)
                case dropped
            }
            let step = state.withLock { state -> Step in
                if state.abandoned || state.finished {
                    state.droppedBytes += Int64(chunk.bytes.count)
                    return .dropped
                }
                if let reader = state.reader {
                    state.reader = nil
                    return .delivered(reader)
                }
                if state.bufferedBytes < limit {
                    state.chunks.append(chunk)
                    state.bufferedBytes += chunk.bytes.count
                    return .delivered(nil)
                }
                let semaphore = DispatchSemaphore(value: 0)
                state.blockedWriters.append(semaphore)
                return .wait(semaphore)
            }
            switch step {
            case let .delivered(reader):
                reader?.resume(returning: chunk)
                return
            case .dropped:
                return
            case let .wait(semaphore):
                if semaphore.wait(timeout: .now() + .milliseconds(250)) == .timedOut, ContinuousClock.now - began > stallLimit {
                    abandon()
                }
            }
        }
    }

    /// The next chunk, in the order written; nil once the run has ended and everything was read.
    func next() async -> Chunk? {
        await withCheckedContinuation { continuation in
            let (chunk, writers, ended) = state.withLock { state -> (Chunk?, [DispatchSemaphore], Bool) in
                if state.head < state.chunks.count {
                    let chunk = state.chunks[state.head]
                    state.head += 1
                    state.bufferedBytes -= chunk.bytes.count
                    if state.head == state.chunks.count {
                        state.chunks.removeAll(keepingCapacity: true)
                        state.head = 0
                    }
                    let writers = state.blockedWriters
                    state.blockedWriters.removeAll()
                    return (chunk, writers, false)
                }
                if state.finished || state.abandoned { return (nil, [], true) }
                state.reader = continuation
                return (nil, [], false)
            }
            for writer in writers { writer.signal() }
            if chunk != nil || ended { continuation.resume(returning: chunk) }
        }
    }

    /// The run has ended: the reader gets what is buffered, then nil.
    func finish() {
        let reader = state.withLock { state -> CheckedContinuation<Chunk?, Never>? in
            state.finished = true
            defer { state.reader = nil }
            return state.reader
        }
        reader?.resume(returning: nil)
    }

    /// The caller is gone or stuck: drop everything from now on and release blocked writers.
    func abandon() {
        let (reader, writers) = state.withLock { state -> (CheckedContinuation<Chunk?, Never>?, [DispatchSemaphore]) in
            state.abandoned = true
            state.droppedBytes += Int64(state.bufferedBytes)
            state.chunks.removeAll()
            state.head = 0
            state.bufferedBytes = 0
            defer {
                state.reader = nil
                state.blockedWriters.removeAll()
            }
            return (state.reader, state.blockedWriters)
        }
        reader?.resume(returning: nil)
        for writer in writers { writer.signal() }
    }
}
