import Foundation

/// Encodes a flat object (strings, integers, booleans, dates, nulls, arrays of those) as JSON text
/// in the audit trail's conventions, exactly as `EventJSON`'s `JSONEncoder` would: snake_case keys,
/// sorted; RFC 3339 dates; slashes unescaped.
///
/// Every invocation encodes two payloads. `JSONEncoder` spends about 35 µs on one when warm and far
/// more on the first of a process (an `airlock run` is always that). Written by hand because it is
/// that hot and that narrow; a value of another shape (a nested object) throws `NotFlat`, and
/// `EventJSON.encode` falls back to `JSONEncoder`.
struct FlatJSONEncoder {
    struct NotFlat: Error {}

    static func encode(_ value: some Encodable) throws -> String {
        let object = ObjectEncoder()
        try value.encode(to: object)
        guard let fields = object.fields else { throw NotFlat() }
        var text = "{"
        for (index, field) in fields.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { text += "," }
            appendString(field.key, to: &text)
            text += ":"
            text += field.value
        }
        return text + "}"
    }

    /// `string` as a JSON string literal.
    static func quoted(_ string: String) -> String {
        var text = ""
        appendString(string, to: &text)
        return text
    }

    /// JSON string syntax as `JSONEncoder` writes it with `.withoutEscapingSlashes`.
    static func appendString(_ string: String, to text: inout String) {
        // Escapes concern ASCII bytes only; most strings have none and go in whole.
        if string.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            text += "\""
            text += string
            text += "\""
            return
        }
        text += "\""
        var plainStart = string.unicodeScalars.startIndex
        let scalars = string.unicodeScalars
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let scalar = scalars[index]
            let escaped: String?
            switch scalar {
            case "\"": escaped = "\\\""
            case "\\": escaped = "\\\\"
            case "\n": escaped = "\\n"
            case "\r": escaped = "\\r"
            case "\t": escaped = "\\t"
            case "\u{08}": escaped = "\\b"
            case "\u{0C}": escaped = "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    escaped = "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    escaped = nil
                }
            }
            if let escaped {
                text.unicodeScalars.append(contentsOf: scalars[plainStart..<index])
                text += escaped
                plainStart = scalars.index(after: index)
            }
            index = scalars.index(after: index)
        }
        text.unicodeScalars.append(contentsOf: scalars[plainStart..<scalars.endIndex])
        text += "\""
    }

    /// `executionId` -> `execution_id`, by `JSONEncoder.KeyEncodingStrategy.convertToSnakeCase`'s
    /// rule: a word starts at an uppercase letter, and a run of uppercase letters is one word except
    /// for its last letter when a lowercase letter follows (`URLValue` -> `url_value`).
    static func snakeCase(_ key: String) -> String {
        // The usual key, lowercase ASCII words in camelCase: byte by byte.
        let bytes = Array(key.utf8)
        if bytes.allSatisfy({ (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || isUpper($0) }),
            !bytes.indices.contains(where: { $0 > 0 && isUpper(bytes[$0]) && isUpper(bytes[$0 - 1]) })
        {
            var result: [UInt8] = []
            result.reserveCapacity(bytes.count + 4)
            for (index, byte) in bytes.enumerated() {
                if isUpper(byte) {
                    if index > 0 { result.append(UInt8(ascii: "_")) }
                    result.append(byte + 32)
                } else {
                    result.append(byte)
                }
            }
            return String(decoding: result, as: UTF8.self)
        }
        let characters = Array(key)
        guard !characters.isEmpty else { return key }
        var words: [String] = []
        var current = ""
        for (index, character) in characters.enumerated() {
            let isUpper = character.isUppercase
            if isUpper, !current.isEmpty {
                let previousUpper = characters[index - 1].isUppercase
                let nextLower = index + 1 < characters.count && characters[index + 1].isLowercase
                if !previousUpper || nextLower {
                    words.append(current)
                    current = ""
                }
            }
            current.append(character)
        }
        words.append(current)
        return words.map { $0.lowercased() }.joined(separator: "_")
    }

    private static func isUpper(_ byte: UInt8) -> Bool { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) }

    /// The top level: a keyed container, once.
    final class ObjectEncoder: Encoder {
        var codingPath: [any CodingKey] = []
        var userInfo: [CodingUserInfoKey: Any] = [:]
        /// Encoded field texts by snake_case key; nil once something not flat was seen.
        var fields: [String: String]? = [:]

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            KeyedEncodingContainer(FieldContainer<Key>(object: self))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            fields = nil
            return ValueEncoder().unkeyedContainer()
        }

        func singleValueContainer() -> any SingleValueEncodingContainer {
            fields = nil
            return ValueEncoder()
        }
    }

    struct FieldContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let object: ObjectEncoder
        var codingPath: [any CodingKey] { [] }

        private func set(_ text: String, _ key: Key) { object.fields?[FlatJSONEncoder.snakeCase(key.stringValue)] = text }

        mutating func encodeNil(forKey key: Key) throws { set("null", key) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { set(value ? "true" : "false", key) }
        mutating func encode(_ value: String, forKey key: Key) throws { set(FlatJSONEncoder.quoted(value), key) }
        mutating func encode(_ value: Int, forKey key: Key) throws { set(String(value), key) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { set(String(value), key) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { set(String(value), key) }
        mutating func encode(_ value: some Encodable, forKey key: Key) throws {
            let encoder = ValueEncoder()
            try encoder.encodeValue(value)
            guard let text = encoder.text else { throw NotFlat() }
            set(text, key)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            object.fields = nil
            return ObjectEncoder().container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            object.fields = nil
            return ValueEncoder().unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder {
            object.fields = nil
            return ObjectEncoder()
        }

        mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder() }
    }

    /// One value: a scalar, a date, or an array of scalars. `text` stays nil for anything else.
    final class ValueEncoder: Encoder, SingleValueEncodingContainer {
        var codingPath: [any CodingKey] = []
        var userInfo: [CodingUserInfoKey: Any] = [:]
        var text: String?

        func encodeValue(_ value: some Encodable) throws {
            if let date = value as? Date {
                text = FlatJSONEncoder.quoted(Timestamp.rfc3339(date))
            } else if let strings = value as? [String] {
                var array = "["
                for (index, string) in strings.enumerated() {
                    if index > 0 { array += "," }
                    FlatJSONEncoder.appendString(string, to: &array)
                }
                text = array + "]"
            } else {
                try value.encode(to: self)
            }
        }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            text = nil
            return ObjectEncoder().container(keyedBy: type)
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            text = nil
            return Unflattenable()
        }

        func singleValueContainer() -> any SingleValueEncodingContainer { self }

        func encodeNil() throws { text = "null" }
        func encode(_ value: Bool) throws { text = value ? "true" : "false" }
        func encode(_ value: String) throws { text = FlatJSONEncoder.quoted(value) }
        func encode(_ value: Int) throws { text = String(value) }
        func encode(_ value: Int32) throws { text = String(value) }
        func encode(_ value: Int64) throws { text = String(value) }
        func encode(_ value: some Encodable) throws { try encodeValue(value) }
        // Floating point and the remaining integer widths never occur in an audit payload: not flat here.
        func encode(_ value: Double) throws { throw NotFlat() }
        func encode(_ value: Float) throws { throw NotFlat() }
        func encode(_ value: Int8) throws { throw NotFlat() }
        func encode(_ value: Int16) throws { throw NotFlat() }
        func encode(_ value: UInt) throws { throw NotFlat() }
        func encode(_ value: UInt8) throws { throw NotFlat() }
        func encode(_ value: UInt16) throws { throw NotFlat() }
        func encode(_ value: UInt32) throws { throw NotFlat() }
        func encode(_ value: UInt64) throws { throw NotFlat() }
    }

    /// Arrays of anything but strings are not flat: every call throws.
    struct Unflattenable: UnkeyedEncodingContainer {
        var codingPath: [any CodingKey] { [] }
        var count: Int { 0 }
        mutating func encodeNil() throws { throw NotFlat() }
        mutating func encode(_ value: some Encodable) throws { throw NotFlat() }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            ObjectEncoder().container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { self }
        mutating func superEncoder() -> any Encoder { ObjectEncoder() }
    }
}
