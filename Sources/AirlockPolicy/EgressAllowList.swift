/// A tool's egress rules, as one list: a destination is allowed when a rule names its host and
/// lists its port. There is no deny rule and no default other than deny.
public struct EgressAllowList: Sendable, Hashable {
    public let rules: [EgressRule]

    /// - Throws: `EgressRuleError(.emptyList)`: an `egress` key with no rule is a mistake, not a
    ///   way to say "no network" (leaving the key out says that).
    public init(_ rules: [EgressRule]) throws(EgressRuleError) {
        guard !rules.isEmpty else {
            throw EgressRuleError(.emptyList, "egress lists no rule; leave egress out for no network at all")
        }
        self.rules = rules
    }

    public func decide(_ target: EgressTarget) -> EgressVerdict {
        var hostListed = false
        for rule in rules where rule.matches(target.host) {
            if rule.ports.contains(target.port) { return .allowed }
            hostListed = true
        }
        return .denied(hostListed ? .portNotAllowed : .notAllowed)
    }
}

public enum EgressVerdict: Sendable, Hashable {
    case allowed
    case denied(EgressDenialReason)
}

/// Why a connection attempt did not go through, as recorded in `Completed.egress`.
public enum EgressDenialReason: String, Sendable, Hashable, Codable, CaseIterable {
    /// No rule names the host (or, for an address, no cidr holds it).
    case notAllowed = "not_allowed"
    /// A rule names the host, but none lists the port.
    case portNotAllowed = "port_not_allowed"
    /// The TLS ClientHello named another server, or none, than the CONNECT line.
    case sniMismatch = "sni_mismatch"
    case resolveFailed = "resolve_failed"
    case connectFailed = "connect_failed"
    /// Not an HTTP CONNECT to `host:port` the proxy can read.
    case malformedRequest = "malformed_request"
    /// More connections open at once than one invocation may hold.
    case tooManyConnections = "too_many_connections"
}
