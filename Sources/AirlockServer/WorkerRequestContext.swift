import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The request context of the worker's routes: the connection (for its peer credentials) and what
/// the handlers learn about the request, for its access log line.
public struct WorkerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    public let facts: RequestFacts

    public init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        channel = source.channel
        facts = RequestFacts()
    }
}

/// Filled in while a request is handled; read by the access log once the response is written.
public final class RequestFacts: Sendable {
    public struct Values: Sendable {
        public var tenantID: String?
        public var executionID: String?
        public var traceID: String?
        public var peer: PeerCredentials?
        /// The machine-readable code of an error answer.
        public var errorCode: String?
    }

    private let values = Mutex(Values())

    public init() {}

    public func update(_ change: (inout Values) -> Void) {
        values.withLock { change(&$0) }
    }

    public var current: Values { values.withLock { $0 } }
}
