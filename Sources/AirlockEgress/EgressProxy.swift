import AirlockEngine
import AirlockPolicy
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One invocation's egress proxy: the only way its tool reaches anything.
///
/// The tool's container keeps `--network none`; its entrypoint, `airlock-egress`, relays each TCP
/// connection the tool makes to 127.0.0.1 to this proxy's Unix socket, bound into that one
/// container. The proxy reads an HTTP `CONNECT host:port`, decides it against the allow-list,
/// resolves the name itself (the container has no resolver, so DNS cannot carry anything out),
/// connects, answers 200, checks that the TLS ClientHello names the same server, and relays both
/// ways, counting bytes. Every attempt, allowed or not, is recorded.
///
/// Lifetime: `start` before the container launches, `finish()` once it has ended, however it
/// ended: the listener and every connection are closed, the socket and its directory removed, and
/// the records returned. One socket per invocation, in a directory of its own that only root can
/// enter: no other invocation, and no other user of the host, can use it.
///
/// Built on SwiftNIO (its HTTP/1 decoder, its resolver and Happy Eyeballs connect, NIOTLS's
/// ClientHello parser), the event loops Airlock's worker already runs.
public final class EgressProxy: Sendable {
    public static let defaultParent = EgressAttachment.defaultSocketParent
    public static let socketName = "proxy.sock"

    public struct Configuration: Sendable {
        /// Tool connections open at once; more are refused (`too_many_connections`).
        public var maxConnections = 256
        public var connectTimeout = TimeAmount.seconds(10)
        /// Records kept; further attempts are only counted.
        public var recordCapacity = 1_000

        public init() {}
    }

    /// The socket to bind into the container (the engine's `--mount` source).
    public let socketPath: String
    public let configuration: Configuration
    private let directory: ExecutionDirectory
    private let ledger: EgressLedger
    private let state = Mutex(State())

    private struct State {
        var server: (any Channel)?
        var channels: [ObjectIdentifier: any Channel] = [:]
        var toolConnections = 0
        var finishing = false
    }

    private init(socketPath: String, directory: ExecutionDirectory, configuration: Configuration) {
        self.socketPath = socketPath
        self.directory = directory
        self.configuration = configuration
        self.ledger = EgressLedger(capacity: configuration.recordCapacity)
    }

    /// Listens on `<parent>/<pid>-<executionID>/proxy.sock`.
    ///
    /// - Throws: `EgressError` when a directory on the way is not root's, is writable by others or
    ///   is a symlink, the execution id cannot name a directory, or the socket cannot be bound;
    ///   nothing is left behind then.
    public static func start(
        allowList: EgressAllowList, executionID: String, parent: String = defaultParent, configuration: Configuration = Configuration(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(EgressError) -> EgressProxy {
        var parent = parent
        while parent.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
        let socketPath = parent + "/\(getpid())-\(executionID)/" + socketName
        guard socketPath.utf8.count < 108 else {
            throw EgressError(.malformed, "egress socket path '\(socketPath)' is longer than a Unix socket path may be (107 bytes)")
        }
        let directory: ExecutionDirectory
        do {
            directory = try ExecutionDirectory.create(parent: parent, executionID: executionID, purpose: purpose)
        } catch {
            throw EgressError(error.code == .malformed ? .malformed : .unsafeDirectory, error.message)
        }
        let proxy = EgressProxy(socketPath: socketPath, directory: directory, configuration: configuration)
        do {
            let server = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.backlog, value: 256)
                .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { channel in proxy.initialize(tool: channel, allowList: allowList) }
                .bind(unixDomainSocketPath: socketPath)
                .get()
            proxy.state.withLock { $0.server = server }
            try openSocket(socketPath)
        } catch {
            _ = await proxy.finish()
            if let error = error as? EgressError { throw error }
            throw EgressError(.listen, "cannot listen on egress socket '\(socketPath)'", cause: "\(error)")
        }
        return proxy
    }

    /// Closes the listener and every connection, removes the socket and its directory, and
    /// returns what was recorded. Safe to call more than once.
    public func finish() async -> EgressReport {
        let (server, channels) = state.withLock { state in
            state.finishing = true
            return (state.server, Array(state.channels.values))
        }
        if let server { try? await server.close() }
        for channel in channels { channel.close(promise: nil) }
        for channel in channels { try? await channel.closeFuture.get() }
        directory.remove()
        return ledger.report
    }

    /// Removes the socket directories of processes that died without finishing their proxies.
    /// Returns the paths removed.
    @discardableResult
    public static func removeAbandoned(parent: String = defaultParent) -> [String] {
        EgressAttachment.removeAbandoned(parent: parent)
    }

    static let purpose = ExecutionDirectory.Purpose(directory: "egress socket directory", use: "for egress sockets", content: "an egress socket")

    /// The socket, made reachable by the container's user (65534, through the bind mount, which
    /// does not pass through the root-only directories above it), and checked to be the socket
    /// just bound.
    private static func openSocket(_ socket: String) throws(EgressError) {
        guard chmod(socket, 0o666) == 0 else {
            throw EgressError(.listen, "cannot make egress socket '\(socket)' reachable", cause: String(cString: strerror(errno)))
        }
        var status = stat()
        guard lstat(socket, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK, status.st_uid == geteuid() else {
            throw EgressError(.listen, "egress socket '\(socket)' is not the socket the proxy bound")
        }
    }

    /// A tool's new connection: refused beyond the limit or once finishing, else given the CONNECT pipeline.
    private func initialize(tool channel: any Channel, allowList: EgressAllowList) -> EventLoopFuture<Void> {
        let admitted = state.withLock { state in
            guard !state.finishing, state.toolConnections < configuration.maxConnections else { return false }
            state.toolConnections += 1
            state.channels[ObjectIdentifier(channel)] = channel
            return true
        }
        guard admitted else {
            if !state.withLock({ $0.finishing }) {
                _ = ledger.open(host: "", port: 0, allowed: false, reason: .tooManyConnections)
            }
            channel.close(promise: nil)
            return channel.eventLoop.makeSucceededVoidFuture()
        }
        channel.closeFuture.whenComplete { _ in
            self.state.withLock { state in
                state.toolConnections -= 1
                state.channels[ObjectIdentifier(channel)] = nil
            }
        }
        return channel.eventLoop.makeCompletedFuture {
            let decoder = ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes))
            let encoder = HTTPResponseEncoder()
            let handler = EgressConnectHandler(allowList: allowList, ledger: ledger, proxy: self, decoder: decoder, encoder: encoder)
            try channel.pipeline.syncOperations.addHandlers([decoder, encoder, handler])
        }
    }

    /// An endpoint connection, tracked so that `finish()` closes it; false once finishing.
    func adopt(endpoint channel: any Channel) -> Bool {
        let adopted = state.withLock { state in
            guard !state.finishing else { return false }
            state.channels[ObjectIdentifier(channel)] = channel
            return true
        }
        if adopted {
            channel.closeFuture.whenComplete { _ in
                self.state.withLock { $0.channels[ObjectIdentifier(channel)] = nil }
            }
        }
        return adopted
    }
}
