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

extension EgressAllowList {
    /// The rules of this list that `base` does not allow whole: a destination or a port no rule of
    /// `base` covers. Empty: this list is within `base` (a registered tool's within its base tool's).
    public func rules(beyond base: EgressAllowList) -> [EgressRule] {
        rules.filter { rule in
            !rule.ports.allSatisfy { port in base.rules.contains { $0.ports.contains(port) && $0.covers(rule.destination) } }
        }
    }
}

extension EgressRule {
    /// Whether every destination `other` names is one this rule names too.
    func covers(_ other: Destination) -> Bool {
        switch (destination, other) {
        case let (.host(pattern), .host(narrower)):
            // `*.a.example` is within `*.example` (every name below a.example is below example);
            // an exact name is within whatever matches it.
            narrower.isWildcard ? pattern.isWildcard && (pattern.name == narrower.name || pattern.matches(narrower.name)) : pattern.matches(narrower.name)
        case let (.cidr(range), .cidr(narrower)):
            narrower.network.isIPv6 == range.network.isIPv6 && narrower.prefixLength >= range.prefixLength && range.contains(narrower.network)
        default:
            false
        }
    }
}

/// In a stored registered tool: `{"host": ..., "ports": [...]}` or `{"cidr": ..., "ports": [...]}`,
/// as the policy writes it; read back through the same checks.
extension EgressRule: Codable {
    enum CodingKeys: String, CodingKey {
        case host, cidr, ports
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self = try EgressRule.parse(
            host: try container.decodeIfPresent(String.self, forKey: .host), cidr: try container.decodeIfPresent(String.self, forKey: .cidr),
            ports: try container.decode([Int].self, forKey: .ports))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch destination {
        case let .host(pattern): try container.encode(pattern.description, forKey: .host)
        case let .cidr(range): try container.encode(range.description, forKey: .cidr)
        }
        try container.encode(ports, forKey: .ports)
    }
}

extension EgressAllowList: Codable {
    public init(from decoder: any Decoder) throws {
        try self.init(try [EgressRule](from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try rules.encode(to: encoder)
    }
}
