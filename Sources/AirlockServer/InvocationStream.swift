import Hummingbird
import NIOCore
import Synchronization

/// The NDJSON answer of a streaming invocation (`Accept: application/x-ndjson`): output chunks as
/// they arrive, then `{"summary": {...}}` with the same record a plain request gets.
///
/// The status is decided once the run shows itself: a denial or a refusal before launch ends the
/// invocation before any output, and is answered as a plain JSON error (403, 422, 503); a run that
/// writes output, or ends having written none, is a 200 stream.
enum InvocationStream {
    static let contentType = "application/x-ndjson"

    /// A writer making no progress this long (the caller stopped reading) is closed.
    static let writeStallLimit: Duration = .seconds(30)

    static func response(_ handle: InvocationHandle, relay: OutputRelay, channel: any Channel) async -> Response {
        guard let first = await relay.next() else {
            let answer = await handle.answered()
            guard answer.isRunRecord else { return JSONResponse.make(status: answer.status, body: answer.body) }
            return Response(
                status: .ok, headers: [.contentType: contentType],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: OutputLineEncoder.summary(answer.body))))
        }
        return Response(
            status: .ok, headers: [.contentType: contentType],
            body: ResponseBody { writer in
                let progress = Progress()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // Closes the connection when a write has been stuck too long, so the write fails
                    // instead of holding the connection (and shutdown) forever.
                    group.addTask {
                        while true {
                            try await Task.sleep(for: .seconds(1))
                            if progress.idle > writeStallLimit {
                                channel.close(promise: nil)
                                return
                            }
                        }
                    }
                    var encoder = OutputLineEncoder()
                    var chunk: OutputRelay.Chunk? = first
                    do {
                        while let current = chunk {
                            if let line = encoder.line(current.stream, current.bytes) {
                                try await writer.write(ByteBuffer(bytes: line))
                            }
                            progress.touch()
                            chunk = await relay.next()
                        }
                        for line in encoder.flush() { try await writer.write(ByteBuffer(bytes: line)) }
                        var record = await handle.answered().body
                        progress.touch()
                        let dropped = relay.droppedBytes
                        if dropped > 0, case var .object(members) = record {
                            members["stream_dropped_bytes"] = .integer(dropped)
                            record = .object(members)
                        }
                        try await writer.write(ByteBuffer(bytes: OutputLineEncoder.summary(record)))
                        try await writer.finish(nil)
                    } catch {
                        // The caller is gone: the run goes on to its end (its answer is kept for a retry).
                        relay.abandon()
                        group.cancelAll()
                        throw error
                    }
                    group.cancelAll()
                }
            })
    }
}

/// When the stream last moved.
private final class Progress: Sendable {
    private let last = Mutex(ContinuousClock.now)
    func touch() { last.withLock { $0 = .now } }
    var idle: Duration { ContinuousClock.now - last.withLock { $0 } }
}

extension InvocationResponse {
    /// The tool ran (200) or the engine failed to run it (502): a run record, not an error.
    var isRunRecord: Bool { status == .ok || status == .badGateway }
}
