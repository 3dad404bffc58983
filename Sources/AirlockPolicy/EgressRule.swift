/// One entry of a tool's `egress` list: a destination the tool may reach through Airlock's egress
/// proxy, and on which ports.
///
/// ```yaml
/// egress:
///   - host: kube.internal.example   # exact name, or "*.example.com"
///     ports: [6443]
///   - cidr: 10.20.0.0/16            # literal addresses only, as the tool writes them
///     ports: [443]
/// ```
///
/// A `host` rule matches names only and a `cidr` rule literal addresses only: a name is never
/// matched by resolving it against a `cidr`, so what a DNS answer says cannot widen the list.
public struct EgressRule: Sendable, Hashable, CustomStringConvertible {
    public enum Destination: Sendable, Hashable {
        case host(EgressHostPattern)
        case cidr(EgressAddressRange)
    }

    public var destination: Destination
    /// Sorted, without duplicates, each in 1...65535, never empty.
    public var ports: [Int]

    /// A `host` rule.
    ///
    /// - Throws: `EgressRuleError` when the host is not a name (a URL, a path, a port, an address,
    ///   a misplaced wildcard) or a port is out of range or missing.
    public init(host: String, ports: [Int]) throws(EgressRuleError) {
        self.destination = .host(try EgressHostPattern(parsing: host))
        self.ports = try Self.validPorts(ports)
    }

    /// A `cidr` rule: `10.20.0.0/16`, `2001:db8::/32`, or one address (`/32` or `/128` implied).
    ///
    /// - Throws: `EgressRuleError` for a malformed range, one with bits set below its prefix, or a
    ///   port out of range or missing.
    public init(cidr: String, ports: [Int]) throws(EgressRuleError) {
        self.destination = .cidr(try EgressAddressRange(parsing: cidr))
        self.ports = try Self.validPorts(ports)
    }

    /// The rule as a policy entry gives it: exactly one of `host` and `cidr`, and `ports`.
    public static func parse(host: String?, cidr: String?, ports: [Int]) throws(EgressRuleError) -> EgressRule {
        switch (host, cidr) {
        case let (host?, nil): try EgressRule(host: host, ports: ports)
        case let (nil, cidr?): try EgressRule(cidr: cidr, ports: ports)
        case (.some, .some): throw EgressRuleError(.ambiguousDestination, "an egress rule has either host or cidr, not both")
        case (nil, nil): throw EgressRuleError(.missingDestination, "an egress rule needs host (a name or *.suffix) or cidr (an address range)")
        }
    }

    /// Whether the rule names this destination, whatever the port.
    public func matches(_ host: EgressTarget.Host) -> Bool {
        switch (destination, host) {
        case let (.host(pattern), .name(name)): pattern.matches(name)
        case let (.cidr(range), .address(address)): range.contains(address)
        default: false
        }
    }

    public var description: String {
        switch destination {
        case let .host(pattern): "host \(pattern) ports \(ports)"
        case let .cidr(range): "cidr \(range) ports \(ports)"
        }
    }

    static func validPorts(_ ports: [Int]) throws(EgressRuleError) -> [Int] {
        guard !ports.isEmpty else { throw EgressRuleError(.emptyPorts, "an egress rule needs at least one port in ports") }
        if let bad = ports.first(where: { !(1...65535).contains($0) }) {
            throw EgressRuleError(.portOutOfRange, "port \(bad) is outside 1..65535")
        }
        return Array(Set(ports)).sorted()
    }
}

/// What is wrong with an egress rule or list, for the policy loader to place at a file, line and column.
public struct EgressRuleError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case emptyList = "empty-list"
        case emptyPorts = "empty-ports"
        case portOutOfRange = "port-out-of-range"
        case malformedHost = "malformed-host"
        case malformedCIDR = "malformed-cidr"
        case ambiguousDestination = "ambiguous-destination"
        case missingDestination = "missing-destination"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
