import AirlockEgress
import AirlockEngine
import AirlockEvents
import AirlockInvocation
import AirlockPolicy

/// The worker's egress gateway: one `EgressProxy` per invocation, on the worker's event loops.
public struct EgressProxyGateway: EgressGateway {
    /// Where each proxy's root-only socket directory is made.
    public var parent: String

    public init(parent: String = EgressAttachment.defaultSocketParent) {
        self.parent = parent
    }

    public func open(allowList: EgressAllowList, executionID: String) async throws -> any EgressPath {
        try await EgressProxy.start(allowList: allowList, executionID: executionID, parent: parent)
    }
}

extension EgressProxy: EgressPath {
    public func close() async -> EgressLog {
        let report = await finish()
        return EgressLog(
            connections: report.records.map {
                EgressConnection(
                    host: $0.host, port: $0.port, bytesSent: Int64($0.bytesSent), bytesReceived: Int64($0.bytesReceived), allowed: $0.allowed,
                    reason: $0.reason?.rawValue)
            }, dropped: report.droppedRecords)
    }
}
