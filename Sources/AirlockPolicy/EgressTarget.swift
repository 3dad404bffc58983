/// Where a tool asked to connect, from the authority of its `CONNECT` line: `name:port`,
/// `192.0.2.1:port` or `[2001:db8::1]:port`.
public struct EgressTarget: Sendable, Hashable, CustomStringConvertible {
    public enum Host: Sendable, Hashable, CustomStringConvertible {
        /// Normalized (`EgressName.normalized`): lower case, no trailing dot.
        case name(String)
        /// A literal address, as written: never the result of resolving a name.
        case address(EgressAddress)

        public var description: String {
            switch self {
            case let .name(name): name
            case let .address(address): address.description
            }
        }
    }

    public var host: Host
    public var port: Int

    public init(host: Host, port: Int) {
        self.host = host
        self.port = port
    }

    /// Nil for anything else: no port, a port outside 1..65535, an IPv6 address without brackets,
    /// a zone, a name the resolver would read as a number, anything that is not a host name.
    public init?(authority: String) {
        guard let colon = authority.lastIndex(of: ":") else { return nil }
        let hostText = authority[..<colon]
        let portText = authority[authority.index(after: colon)...]
        guard (1...5).contains(portText.utf8.count), portText.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let port = Int(portText), (1...65535).contains(port)
        else { return nil }
        if hostText.hasPrefix("[") {
            guard hostText.hasSuffix("]"), let address = EgressAddress(parsing: hostText.dropFirst().dropLast()), address.isIPv6 else {
                return nil
            }
            self.init(host: .address(address), port: port)
        } else if let address = EgressAddress(parsing: hostText) {
            // An IPv6 address must be bracketed; only IPv4 parses here without them.
            guard !address.isIPv6 else { return nil }
            self.init(host: .address(address), port: port)
        } else if let name = EgressName.normalized(hostText) {
            self.init(host: .name(name), port: port)
        } else {
            return nil
        }
    }

    /// Whether a TLS ClientHello's server name fits this target: for a name, the same name (no
    /// name, or another, is refused: the endpoint would serve whatever the tool asks for); for a
    /// literal address, anything, since clients send no name for an address.
    public func acceptsServerName(_ serverName: String?) -> Bool {
        switch host {
        case let .name(name): serverName.flatMap { EgressName.normalized($0) } == name
        case .address: true
        }
    }

    public var description: String {
        switch host {
        case .name: "\(host):\(port)"
        case let .address(address): address.isIPv6 ? "[\(address)]:\(port)" : "\(address):\(port)"
        }
    }
}
