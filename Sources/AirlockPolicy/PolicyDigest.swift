import Crypto
import Yams

/// The digest of a policy: sha256 over the canonical form of the policy and its grammars.
///
/// Canonical: mappings with sorted keys, no comments, no formatting; so reformatting a file does not
/// change the digest, and any change of meaning does.
public enum PolicyDigest {
    /// - Parameter grammars: each tool's grammar, in its canonical form (`canonical(_:)`).
    static func compute(policy: Node, grammars: [String: [UInt8]]) -> String {
        // Built as bytes: the shipped grammars make some 100 KB of canonical text at every start,
        // which String appends would build scalar by scalar.
        var text: [UInt8] = []
        text.reserveCapacity(1 << 17)
        text += "{\"grammars\":{".utf8
        for (index, tool) in grammars.keys.sorted().enumerated() {
            if index > 0 { text.append(UInt8(ascii: ",")) }
            quote(tool, into: &text)
            text.append(UInt8(ascii: ":"))
            text += grammars[tool]!
        }
        text += "},\"policy\":".utf8
        canonical(policy, into: &text)
        text.append(UInt8(ascii: "}"))
        return "sha256:" + hex(SHA256.hash(data: text))
    }

    /// `sha256:` and the lower-case hex of the bytes' sha256: how Airlock names a digest everywhere.
    public static func sha256(_ bytes: [UInt8]) -> String {
        "sha256:" + hex(SHA256.hash(data: bytes))
    }

    /// A sha256 in lower-case hex, two digits a byte: the one spelling of a digest (policies,
    /// profiles, sandboxes, the audit chain, secrets' fingerprints).
    public static func hex(_ digest: some Sequence<UInt8>) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64)
        for byte in digest {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The canonical form of one document.
    static func canonical(_ node: Node) -> [UInt8] {
        var text: [UInt8] = []
        canonical(node, into: &text)
        return text
    }

    static func canonical(_ node: Node, into text: inout [UInt8]) {
        switch node {
        case let .scalar(scalar):
            quote(scalar.string, into: &text)
        case let .sequence(sequence):
            text.append(UInt8(ascii: "["))
            for (index, item) in sequence.enumerated() {
                if index > 0 { text.append(UInt8(ascii: ",")) }
                canonical(item, into: &text)
            }
            text.append(UInt8(ascii: "]"))
        case let .mapping(mapping):
            text.append(UInt8(ascii: "{"))
            let pairs = mapping.map { (key: $0.key.scalar?.string ?? "", value: $0.value) }.sorted { $0.key < $1.key }
            for (index, pair) in pairs.enumerated() {
                if index > 0 { text.append(UInt8(ascii: ",")) }
                quote(pair.key, into: &text)
                text.append(UInt8(ascii: ":"))
                canonical(pair.value, into: &text)
            }
            text.append(UInt8(ascii: "}"))
        case .alias:
            text += "null".utf8
        }
    }

    /// A JSON string: `"`, `\` and newline escaped by name, other control characters as `\u00XX`
    /// (lower-case hex), everything else as its UTF-8 bytes.
    ///
    /// The one JSON string escaper in Airlock; everything else goes through `JSONEncoder`. This one
    /// is part of the digest's definition: `JSONEncoder` writes a tab as `\t`, this form `\u0009`,
    /// and a digest recorded in the audit trail must stay the digest of the same policy
    /// (`PolicyDigestTests` pins one).
    static func quote(_ string: String, into text: inout [UInt8]) {
        text.append(UInt8(ascii: "\""))
        // Nearly every string needs no escape, and is copied whole.
        let copied = string.utf8.withContiguousStorageIfAvailable { bytes in
            guard !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            text.append(contentsOf: bytes)
            return true
        }
        if copied == true {
            text.append(UInt8(ascii: "\""))
            return
        }
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): text += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): text += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\n"): text += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case ..<0x20: text += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hexDigit(byte >> 4), hexDigit(byte & 15)]
            default: text.append(byte)
            }
        }
        text.append(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}
