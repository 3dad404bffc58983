import Foundation
import Synchronization

/// Reads one output pipe of the engine CLI to its end, on a thread of its own, in large blocking
/// reads: the fastest way to count and relay a tool's output (1 GiB goes through in one or two
/// seconds more than the engine alone needs).
///
/// A pipe whose writers never close (a lingering child of a killed CLI) is given up once `abandon`
/// has been called and its grace period has passed, so a run always ends.
final class PipeDrain: Sendable {
    let readEnd: Int32
    /// Handed to the engine CLI as its stdout or stderr.
    let writeEnd: Int32
    private let abandonAt = Mutex<ContinuousClock.Instant?>(nil)

    static let chunkSize = 1 << 20
    /// F_SETPIPE_SZ (Linux), which Swift's Glibc module does not export.
    static let setPipeSize: Int32 = 1031

    init() throws(EngineError) {
        var descriptors: [Int32] = [0, 0]
        // pipe2(O_CLOEXEC) is not visible from Swift's Glibc; a child spawned in the instant before
        // FD_CLOEXEC is set could inherit an end, which only delays EOF until `abandon` gives up.
        guard pipe(&descriptors) == 0 else {
            throw EngineError("cannot create a pipe for the tool's output: \(String(cString: strerror(errno)))")
        }
        readEnd = descriptors[0]
        writeEnd = descriptors[1]
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
        // Larger pipes mean fewer, larger reads; the kernel may refuse past pipe-max-size, and that is fine.
        _ = fcntl(readEnd, Self.setPipeSize, Int32(Self.chunkSize))
    }

    /// Stop waiting for the end of the pipe `after` from now (the CLI has exited or was killed).
    func abandon(after grace: Duration) {
        abandonAt.withLock { $0 = ContinuousClock.now + grace }
    }

    private var isAbandoned: Bool {
        abandonAt.withLock { deadline in deadline.map { ContinuousClock.now >= $0 } ?? false }
    }

    /// Reads to the end (or until abandoned), counting and keeping bytes, forwarding each chunk.
    func drain(_ stream: OutputStream, retention: Int, onOutput: ContainerRunner.OutputHandler?) async -> OutputCapture {
        await withCheckedContinuation { continuation in
            let thread = Thread { [self] in
                continuation.resume(returning: readAll(stream, retention: retention, onOutput: onOutput))
            }
            thread.name = "airlock-\(stream.rawValue)"
            thread.start()
        }
    }

    private func readAll(_ stream: OutputStream, retention: Int, onOutput: ContainerRunner.OutputHandler?) -> OutputCapture {
        var capture = OutputCapture(limit: retention)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        defer {
            buffer.deallocate()
            close(readEnd)
        }
        var poller = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&poller, 1, 250)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if ready == 0 {
                if isAbandoned { break }
                continue
            }
            let count = read(readEnd, buffer.baseAddress, Self.chunkSize)
            if count > 0 {
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                capture.append(chunk)
                onOutput?(stream, chunk)
            } else if count == 0 {
                break
            } else if errno != EINTR && errno != EAGAIN {
                break
            }
        }
        return capture
    }
}
