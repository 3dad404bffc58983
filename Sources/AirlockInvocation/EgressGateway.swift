import AirlockEvents
import AirlockPolicy

/// Opens one invocation's egress path: the way out for a tool whose policy lists `egress`.
///
/// The pipeline does not build the proxy itself: the worker gives it the SwiftNIO proxy of
/// `AirlockEgress`, which the `airlock` executable does not link (`airlock run` of a tool with
/// egress hands the run to `airlock-worker run`, see docs/architecture.md). Without a gateway, a
/// tool with egress is refused, never run with more network or none.
public protocol EgressGateway: Sendable {
    /// Listens for this invocation only, on a socket of its own.
    ///
    /// - Throws: why it could not (an unsafe directory, a socket that cannot be bound); nothing is
    ///   left behind then.
    func open(allowList: EgressAllowList, executionID: String) async throws -> any EgressPath
}

/// One invocation's open egress path, from before `Started` until its container has ended.
public protocol EgressPath: Sendable {
    /// The socket the engine binds into the container.
    var socketPath: String { get }
    /// Closes the listener and every connection, removes the socket and its directory, and returns
    /// what was recorded. Safe to call more than once.
    func close() async -> EgressLog
}

/// What one invocation's egress path recorded.
public struct EgressLog: Sendable, Hashable {
    /// Every attempt kept, allowed or not, in order.
    public var connections: [EgressConnection]
    /// Attempts beyond those kept: counted only.
    public var dropped: Int

    public init(connections: [EgressConnection], dropped: Int) {
        self.connections = connections
        self.dropped = dropped
    }
}
