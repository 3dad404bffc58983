/// The `host` of an egress rule: an exact name, or `*.suffix` for any name strictly below the
/// suffix (at any depth; never the suffix itself). Names compare without case and without a
/// trailing dot, as DNS does.
public struct EgressHostPattern: Sendable, Hashable, CustomStringConvertible {
    /// Lower case, no trailing dot, without the `*.`.
    public let name: String
    public let isWildcard: Bool

    /// - Throws: `EgressRuleError(.malformedHost)` saying what the text is instead of a name.
    public init(parsing text: String) throws(EgressRuleError) {
        func malformed(_ why: String) -> EgressRuleError {
            EgressRuleError(.malformedHost, "egress host '\(text)' \(why)")
        }
        if text.contains("://") { throw malformed("is a URL: give the host name only, without the scheme") }
        if text.contains("/") { throw malformed("has a path: give the host name only") }
        if text.hasPrefix("[") || EgressAddress(parsing: text) != nil {
            throw malformed("is an address: use cidr for addresses (cidr: \(text.filter { $0 != "[" && $0 != "]" }))")
        }
        if text.contains(":") { throw malformed("has a port: list ports under ports") }
        var rest = Substring(text)
        let isWildcard = rest.hasPrefix("*.")
        if isWildcard { rest = rest.dropFirst(2) }
        if rest.contains("*") { throw malformed("has a '*' other than as its whole first label ('*.example.com')") }
        guard let name = EgressName.normalized(rest) else {
            throw malformed("is not a host name (labels of letters, digits, '-' and '_', up to 63 bytes each, the last not a number)")
        }
        self.name = name
        self.isWildcard = isWildcard
    }

    /// `name` must already be normalized (`EgressName.normalized`).
    public func matches(_ normalizedName: String) -> Bool {
        if !isWildcard { return normalizedName == name }
        return normalizedName.hasSuffix("." + name)
    }

    public var description: String { isWildcard ? "*." + name : name }
}

/// Host names as the egress path accepts them: ASCII letters, digits, `-` and `_`, in labels of
/// 1 to 63 bytes, 253 bytes in all; compared in lower case and without a trailing dot.
///
/// A name whose last label is a number (`2130706433`, `127.1`, `0x7f.0x1`) is refused: the
/// system resolver reads such names as IPv4 addresses, which would let a name reach an address no
/// `cidr` allows.
public enum EgressName {
    public static func normalized<S: StringProtocol>(_ text: S) -> String? {
        var name = Substring(text)
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { return nil }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard (1...63).contains(label.utf8.count), label.utf8.first != UInt8(ascii: "-"), label.utf8.last != UInt8(ascii: "-"),
                label.utf8.allSatisfy({ isLetterOrDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
            else { return nil }
        }
        guard let last = labels.last, !isNumeric(last) else { return nil }
        return name.lowercased()
    }

    /// What the resolver's `inet_aton` would read as a number: decimal, octal or `0x` hex.
    static func isNumeric(_ label: Substring) -> Bool {
        let bytes = Array(label.utf8)
        if bytes.count > 2, bytes[0] == UInt8(ascii: "0"), bytes[1] | 0x20 == UInt8(ascii: "x") {
            return bytes.dropFirst(2).allSatisfy { isHexDigit($0) }
        }
        return bytes.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte | 0x20)
    }
}
