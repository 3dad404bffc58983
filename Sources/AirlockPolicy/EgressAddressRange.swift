#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address, as its bytes (4 or 16). Only the strict textual forms are read
/// (`inet_pton`): no octal or hex parts, no shortened IPv4, no zone.
public struct EgressAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?<S: StringProtocol>(parsing text: S) {
        let text = String(text)
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    public var isIPv6: Bool { bytes.count == 16 }

    /// The canonical text (`inet_ntop`): what a connection to it is recorded and dialled as.
    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = isIPv6 ? AF_INET6 : AF_INET
        _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The `cidr` of an egress rule: `10.20.0.0/16`, `2001:db8::/32`, or a single address. An IPv4
/// range holds IPv4 addresses only and an IPv6 range IPv6 ones (an IPv4-mapped IPv6 address is
/// not in an IPv4 range).
public struct EgressAddressRange: Sendable, Hashable, CustomStringConvertible {
    public let network: EgressAddress
    public let prefixLength: Int

    /// - Throws: `EgressRuleError(.malformedCIDR)`: not an address, a prefix out of range, or bits
    ///   set below the prefix (`10.20.1.0/16` is refused, naming `10.20.0.0/16`: a typo there would
    ///   silently allow more or other addresses than meant).
    public init(parsing text: String) throws(EgressRuleError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = EgressAddress(parsing: parts[0]) else {
            throw EgressRuleError(.malformedCIDR, "egress cidr '\(text)': '\(parts[0])' is not an IPv4 or IPv6 address")
        }
        let bits = address.bytes.count * 8
        var prefix = bits
        if parts.count == 2 {
            guard let value = Int(parts[1]), parts[1].utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                (0...bits).contains(value)
            else {
                throw EgressRuleError(.malformedCIDR, "egress cidr '\(text)': the prefix length must be 0..\(bits)")
            }
            prefix = value
        }
        let masked = Self.mask(address.bytes, prefix)
        guard masked == address.bytes else {
            let network = EgressAddress(bytes: masked)
            throw EgressRuleError(
                .malformedCIDR, "egress cidr '\(text)' has bits set beyond its /\(prefix) prefix; the range is \(network)/\(prefix)")
        }
        self.network = address
        self.prefixLength = prefix
    }

    public func contains(_ address: EgressAddress) -> Bool {
        address.bytes.count == network.bytes.count && Self.mask(address.bytes, prefixLength) == network.bytes
    }

    public var description: String { "\(network)/\(prefixLength)" }

    static func mask(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let keep = max(0, min(8, prefix - index * 8))
            return keep == 0 ? 0 : byte & ~UInt8(0xFF >> keep)
        }
    }
}

extension EgressAddress {
    init(bytes: [UInt8]) { self.bytes = bytes }
}
