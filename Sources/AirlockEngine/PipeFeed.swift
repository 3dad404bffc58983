import Foundation

/// Writes the tool's standard input into a pipe of our own, on a thread of its own; the engine CLI
/// gets the read end.
///
/// Not swift-subprocess's own input: when the child stops reading before the input is written (it
/// exits, or closes stdin), its writer traps (`FileDescriptor … was not closed`,
/// swiftlang/swift-subprocess#367), and a caller's input must never bring the worker down. A tool
/// that stops reading simply gets no more; that is not an error.
final class PipeFeed: Sendable {
    /// Handed to the engine CLI as its stdin.
    let readEnd: Int32
    private let writeEnd: Int32
    private let giveUp = GiveUpTime()

    init() throws(EngineError) {
        (readEnd, writeEnd) = try EnginePipe.make(for: "the tool's input")
        // Our end only: a write that would block waits in poll, where `abandon` is seen.
        _ = fcntl(writeEnd, F_SETFL, fcntl(writeEnd, F_GETFL) | O_NONBLOCK)
    }

    /// Stop writing `after` from now (the CLI has exited or could not be started).
    func abandon(after grace: Duration) { giveUp.set(after: grace) }

    /// Writes `bytes` (until the reader stops reading, or the run gives up) and closes the pipe.
    func feed(_ bytes: [UInt8]) async {
        if bytes.isEmpty {
            close(writeEnd)
            return
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread { [self] in
                writeAll(bytes)
                continuation.resume()
            }
            thread.name = "airlock-stdin"
            thread.start()
        }
    }

    private func writeAll(_ bytes: [UInt8]) {
        // A reader that went away makes write() raise SIGPIPE, which by default ends the process.
        // Blocked in this thread, it stays pending here, unseen, and write() fails with EPIPE.
        var sigpipe = sigset_t()
        sigemptyset(&sigpipe)
        sigaddset(&sigpipe, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &sigpipe, nil)
        defer { close(writeEnd) }
        var poller = pollfd(fd: writeEnd, events: Int16(POLLOUT), revents: 0)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(writeEnd, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                    continue
                }
                switch errno {
                case EINTR: continue
                case EAGAIN:
                    if poll(&poller, 1, 250) == 0 && giveUp.hasPassed { return }
                default: return  // EPIPE: the tool reads no more
                }
            }
        }
    }
}
