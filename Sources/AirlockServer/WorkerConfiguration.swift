import AirlockEngine
import AirlockInvocation
import Foundation

/// How `airlock serve` listens, whom it lets in, and its limits.
public struct WorkerConfiguration: Sendable {
    public var socketPath: String
    /// 0660 by default: the worker's user and group may connect (connecting needs write permission).
    public var socketMode: mode_t = 0o660
    /// An additional TCP listener on a loopback address. TCP has no peer credentials: every local
    /// process can connect, so it is opt-in.
    public var tcp: LoopbackAddress?
    public var allowList: PeerAllowList = .standard
    public var limits = AdmissionLimits()
    /// Connections the kernel holds for the worker to accept: a burst larger than this is refused
    /// before it could be answered 429 (Linux caps it at net.core.somaxconn).
    public var backlog = 1024
    /// Request bodies larger than this are refused with 413.
    public var maxBodyBytes = 1 << 20
    /// After SIGTERM/SIGINT, how long running invocations may still take before they are cancelled.
    public var grace: Duration = .seconds(10)
    /// How often the spool is delivered while it holds events.
    public var spoolInterval: Duration = .seconds(3)
    /// Output bytes kept per stream and invocation (head and tail); every byte is counted regardless.
    public var retentionBytes = 1 << 20
    /// Finished answers kept for repeated execution ids.
    public var rememberedResults = 1000
    public var rememberedBytes = 64 << 20
    /// The key of the secrets' fingerprints in events; `airlock serve` uses the state directory's.
    public var secretFingerprints = SecretFingerprints()
    /// Where secrets are written for the containers (a tmpfs).
    public var secretStaging = SecretStaging()
    /// Called once listening, with what to tell a user (curl examples).
    public var onListening: @Sendable ([ListeningAddress]) async -> Void = { _ in }

    public init(socketPath: String) {
        self.socketPath = socketPath
    }
}

/// Where the worker listens, once bound (the TCP port is the real one when 0 was asked for).
public enum ListeningAddress: Sendable, Equatable, CustomStringConvertible {
    case unixSocket(path: String)
    case tcp(host: String, port: Int)

    /// A command that calls the worker there.
    public func curl(_ path: String) -> String {
        switch self {
        case let .unixSocket(socket): "curl --unix-socket \(socket) http://localhost\(path)"
        case let .tcp(host, port): "curl http://\(host.contains(":") ? "[\(host)]" : host):\(port)\(path)"
        }
    }

    public var isUnixSocket: Bool {
        if case .unixSocket = self { true } else { false }
    }

    public var description: String {
        switch self {
        case let .unixSocket(path): "unix:\(path)"
        case let .tcp(host, port): "\(host):\(port)"
        }
    }
}
