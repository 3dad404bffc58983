/// Replaces each secret's value in a stream of output with `[REDACTED:NAME]`, also when a value
/// arrives split across two or more reads: the end of a chunk that could be the start of a value is
/// held back until the next chunk shows whether it is one, or until the stream ends.
///
/// Only what is returned or streamed goes through it; the byte counts of the audit trail are the
/// tool's own, counted before.
public struct SecretRedactor: Sendable {
    struct Secret: Sendable {
        var name: String
        var value: [UInt8]
        var replacement: [UInt8]
    }

    /// Longest first, so that of two values starting at the same byte the longer one is replaced.
    let secrets: [Secret]
    /// Whether any value starts with this byte: most bytes of an output are passed on with one lookup.
    let starts: [Bool]
    /// Bytes held back at the end of the last chunk: a proper prefix of some value.
    private var held: [UInt8] = []

    /// `values`: a secret's name and value; empty values are ignored (they would match everywhere).
    public init(_ values: [(name: String, value: [UInt8])]) {
        secrets = values.filter { !$0.value.isEmpty }
            .map { Secret(name: $0.name, value: $0.value, replacement: Array("[REDACTED:\($0.name)]".utf8)) }
            .sorted { $0.value.count > $1.value.count }
        var starts = [Bool](repeating: false, count: 256)
        for secret in secrets { starts[Int(secret.value[0])] = true }
        self.starts = starts
    }

    public var isEmpty: Bool { secrets.isEmpty }

    /// The bytes of `chunk` that can be passed on now, redacted.
    public mutating func redact(_ chunk: some Collection<UInt8>) -> [UInt8] {
        if secrets.isEmpty { return Array(chunk) }
        held.append(contentsOf: chunk)
        let buffer = held
        held = []
        return scan(buffer, final: false)
    }

    /// The bytes held back, at the end of the stream: no value can complete any more.
    public mutating func finish() -> [UInt8] {
        let buffer = held
        held = []
        return scan(buffer, final: true)
    }

    private mutating func scan(_ buffer: [UInt8], final: Bool) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(buffer.count)
        var copiedUpTo = 0
        var index = 0
        while index < buffer.count {
            guard starts[Int(buffer[index])] else {
                index += 1
                continue
            }
            // First whether the rest may be the start of a value the next chunk completes: a
            // shorter value matching here now could be the head of a longer one.
            if !final, secrets.contains(where: { Self.isProperPrefix(buffer[index...], of: $0.value) }) {
                output.append(contentsOf: buffer[copiedUpTo..<index])
                held = Array(buffer[index...])
                return output
            }
            if let secret = secrets.first(where: { Self.matches($0.value, in: buffer, at: index) }) {
                output.append(contentsOf: buffer[copiedUpTo..<index])
                output.append(contentsOf: secret.replacement)
                index += secret.value.count
                copiedUpTo = index
                continue
            }
            index += 1
        }
        output.append(contentsOf: buffer[copiedUpTo...])
        return output
    }

    static func matches(_ value: [UInt8], in buffer: [UInt8], at index: Int) -> Bool {
        guard buffer.count - index >= value.count else { return false }
        return buffer[index..<(index + value.count)].elementsEqual(value)
    }

    static func isProperPrefix(_ rest: ArraySlice<UInt8>, of value: [UInt8]) -> Bool {
        rest.count < value.count && value.starts(with: rest)
    }
}
