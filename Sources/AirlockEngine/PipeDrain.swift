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
    private let giveUp = GiveUpTime()

    static let chunkSize = 1 << 20
    /// Past this many bytes a stream counts as bulk, and short transfers wait `gatherMicroseconds`
    /// for more (at 1 GiB/s that is 512 KiB, half of our pipe).
    static let bulkThreshold: Int64 = 1 << 20
    static let gatherMicroseconds: UInt32 = 500
    init() throws(EngineError) {
        (readEnd, writeEnd) = try EnginePipe.make(for: "the tool's output")
        // Larger pipes mean fewer, larger reads; the kernel may refuse past pipe-max-size, and that is fine.
        EnginePipe.enlarge(readEnd, to: Self.chunkSize)
    }

    /// Stop waiting for the end of the pipe `after` from now (the CLI has exited or was killed).
    func abandon(after grace: Duration) { giveUp.set(after: grace) }

    private var isAbandoned: Bool { giveUp.hasPassed }

    /// Reads to the end (or until abandoned), counting and keeping bytes, forwarding each chunk.
    /// With a `redactor`, what is kept and forwarded is redacted; what is counted is what the tool wrote.
    func drain(_ stream: OutputStream, retention: Int, forwarding: OutputForwarding?, redactor: SecretRedactor? = nil) async -> OutputCapture {
        await withCheckedContinuation { continuation in
            let thread = Thread { [self] in
                continuation.resume(returning: readAll(stream, retention: retention, forwarding: forwarding, redactor: redactor))
            }
            thread.name = "airlock-\(stream.rawValue)"
            thread.start()
        }
    }

    private func readAll(_ stream: OutputStream, retention: Int, forwarding: OutputForwarding?, redactor: SecretRedactor?) -> OutputCapture {
        // With secrets, every chunk goes through the redactor before it is kept or forwarded (never
        // spliced past it), and the end it holds back for a value split across reads is released
        // when the stream ends. What is counted is what the tool wrote.
        var redactor = redactor.flatMap { $0.isEmpty ? nil : $0 }
        var capture = OutputCapture(limit: retention)
        var handler: ContainerRunner.OutputHandler?
        var descriptor: Int32?
        switch forwarding {
        case let .handler(body): handler = body
        case let .descriptors(stdout, stderr): descriptor = stream == .stdout ? stdout : stderr
        case nil: break
        }
        // Nothing to keep: the bytes can go pipe to descriptor inside the kernel, never copied through us.
        var spliceTarget = retention == 0 && redactor == nil ? descriptor : nil
        func pass(_ bytes: UnsafeRawBufferPointer) {
            capture.keep(bytes)
            handler?(stream, bytes)
            // A reader that went away ends the forwarding, never the draining and counting.
            if let target = descriptor, !Self.write(bytes, to: target) { descriptor = nil }
        }
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
            if let target = spliceTarget {
                let moved = Splice.move(from: readEnd, to: target, count: Self.chunkSize)
                if moved > 0 {
                    capture.countForwarded(moved)
                    // A bulk stream arrives in the engine's small writes (8 KiB from podman): once one
                    // is under way, let a few gather, so that we and the reader after us move them in
                    // one call each instead of one per write. Small outputs are not delayed.
                    if capture.totalBytes > Self.bulkThreshold && moved < Self.chunkSize / 16 { usleep(Self.gatherMicroseconds) }
                    continue
                }
                if moved == 0 { break }
                if errno == EINTR || errno == EAGAIN { continue }
                // A terminal, a file opened for appending, a closed reader: read and write from here on
                // (splice moves nothing when it fails, so no byte is lost or counted twice).
                spliceTarget = nil
                continue
            }
            let count = read(readEnd, buffer.baseAddress, Self.chunkSize)
            if count > 0 {
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                capture.count(count)
                if redactor != nil {
                    redactor!.redact(chunk).withUnsafeBytes(pass)
                } else {
                    pass(chunk)
                }
            } else if count == 0 {
                break
            } else if errno != EINTR && errno != EAGAIN {
                break
            }
        }
        redactor?.finish().withUnsafeBytes(pass)
        return capture
    }

    /// Writes all of `bytes`; false when the descriptor takes no more (its reader went away).
    static func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = Foundation.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }
}

/// Where a tool's output goes as it arrives, besides being counted (and kept, up to the retention).
public enum OutputForwarding: Sendable {
    /// Each chunk is handed to a closure (the socket worker streams it to its caller).
    case handler(ContainerRunner.OutputHandler)
    /// Written to these descriptors (`airlock run` in text mode). When nothing is kept, the bytes are
    /// spliced from the engine's pipe in the kernel, without passing through our memory.
    case descriptors(stdout: Int32, stderr: Int32)
}

/// splice(2), which Swift's Glibc module does not export (it is behind _GNU_SOURCE): looked up in
/// the C library once.
enum Splice {
    private typealias Function = @convention(c) (Int32, UnsafeMutablePointer<Int64>?, Int32, UnsafeMutablePointer<Int64>?, Int, UInt32) -> Int
    private static let function: Function? = dlsym(nil, "splice").map { unsafeBitCast($0, to: Function.self) }

    /// Moves up to `count` bytes from the pipe `source` to `target`: the count moved, 0 at the end of
    /// the pipe, -1 with errno set (ENOSYS where the C library has no splice).
    static func move(from source: Int32, to target: Int32, count: Int) -> Int {
        guard let function else {
            errno = ENOSYS
            return -1
        }
        let spliceMove: UInt32 = 1  // SPLICE_F_MOVE: a hint to move pages rather than copy them
        return function(source, nil, target, nil, count, spliceMove)
    }
}

/// The pipes between us and the engine CLI.
public enum EnginePipe {
    /// F_SETPIPE_SZ (Linux), which Swift's Glibc module does not export.
    static let setPipeSize: Int32 = 1031

    /// Asks for a pipe of `bytes`: fewer, larger reads and wake-ups. The kernel may refuse past
    /// pipe-max-size, or for what is not a pipe, and that is fine.
    public static func enlarge(_ descriptor: Int32, to bytes: Int) {
        _ = fcntl(descriptor, setPipeSize, Int32(bytes))
    }

    /// A pipe, both ends close-on-exec. pipe2(O_CLOEXEC) is not visible from Swift's Glibc; a child
    /// spawned in the instant before FD_CLOEXEC is set could inherit an end, which only delays the
    /// end of the stream until the run gives up on it.
    static func make(for purpose: String) throws(EngineError) -> (read: Int32, write: Int32) {
        var descriptors: [Int32] = [0, 0]
        guard pipe(&descriptors) == 0 else {
            throw EngineError("cannot create a pipe for \(purpose): \(String(cString: strerror(errno)))")
        }
        _ = fcntl(descriptors[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(descriptors[1], F_SETFD, FD_CLOEXEC)
        return (descriptors[0], descriptors[1])
    }
}

/// When a pipe's thread stops waiting for the other end: unset until the run has ended.
final class GiveUpTime: Sendable {
    private let instant = Mutex<ContinuousClock.Instant?>(nil)

    func set(after grace: Duration) {
        instant.withLock { $0 = ContinuousClock.now + grace }
    }

    var hasPassed: Bool {
        instant.withLock { deadline in deadline.map { ContinuousClock.now >= $0 } ?? false }
    }
}

