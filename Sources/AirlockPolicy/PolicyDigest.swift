import Crypto
import Yams

/// The digest of a policy: sha256 over the canonical form of the policy and its grammars.
///
/// Canonical: mappings with sorted keys, no comments, no formatting; so reformatting a file does not
/// change the digest, and any change of meaning does.
enum PolicyDigest {
    static func compute(policy: Node, grammars: [String: Node]) -> String {
        var text = "{\"grammars\":{"
        for (index, tool) in grammars.keys.sorted().enumerated() {
            if index > 0 { text += "," }
            text += quoted(tool) + ":"
            canonical(grammars[tool]!, into: &text)
        }
        text += "},\"policy\":"
        canonical(policy, into: &text)
        text += "}"
        let digest = SHA256.hash(data: Array(text.utf8))
        return "sha256:" + digest.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    static func canonical(_ node: Node, into text: inout String) {
        switch node {
        case let .scalar(scalar):
            text += quoted(scalar.string)
        case let .sequence(sequence):
            text += "["
            for (index, item) in sequence.enumerated() {
                if index > 0 { text += "," }
                canonical(item, into: &text)
            }
            text += "]"
        case let .mapping(mapping):
            text += "{"
            let pairs = mapping.map { (key: $0.key.scalar?.string ?? "", value: $0.value) }.sorted { $0.key < $1.key }
            for (index, pair) in pairs.enumerated() {
                if index > 0 { text += "," }
                text += quoted(pair.key) + ":"
                canonical(pair.value, into: &text)
            }
            text += "}"
        case .alias:
            text += "null"
        }
    }

    static func quoted(_ string: String) -> String {
        var result = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}
