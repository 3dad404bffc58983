/// A parsed JSON document that remembers where each value and key starts, for errors a person can
/// act on.
///
/// A parser of our own rather than Foundation's: it keeps numbers as written (a 64-bit argument
/// value such as 18446744073709551615 survives exactly), keeps keys in file order, reports
/// duplicate keys, and gives every value a line and column.
struct JSONNode: Sendable {
    enum Value: Sendable {
        case object([JSONMember])
        case array([JSONNode])
        case string(String)
        /// The number as written; the reader decides which numbers it accepts.
        case number(String)
        case bool(Bool)
        case null
    }

    var value: Value
    /// 1-based.
    var line: Int
    /// 1-based, in Unicode scalars.
    var column: Int

    /// How the value is described in an error: "a string", "a list", ...
    var kind: String {
        switch value {
        case .object: "an object"
        case .array: "a list"
        case .string: "a string"
        case .number: "a number"
        case .bool: "true or false"
        case .null: "null"
        }
    }
}

/// One `"key": value` of an object.
struct JSONMember: Sendable {
    var key: String
    var keyLine: Int
    var keyColumn: Int
    var value: JSONNode
}

/// Recursive-descent JSON parser (RFC 8259) over UTF-8 bytes; stops at the first syntax error,
/// since nothing after it can be read reliably.
struct JSONParser {
    struct SyntaxError: Error, Sendable {
        var message: String
        var line: Int
        var column: Int
    }

    /// Nesting deeper than this is refused rather than risking the stack on a hostile file.
    static let maximumDepth = 64

    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0
    /// The last column computed, and for which byte: columns are asked for in file order, so each
    /// is counted on from the one before, keeping a long single-line file linear.
    private var counted = (index: 0, column: 1)

    private init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> JSONNode {
        var parser = JSONParser(bytes)
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw SyntaxError(message: "the file is not UTF-8 text", line: 0, column: 0)
        }
        parser.skipWhitespace()
        guard parser.index < bytes.count else { throw parser.error("the file is empty") }
        let root = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else {
            throw parser.error("unexpected \(parser.found) after the JSON value")
        }
        return root
    }

    // MARK: Values

    private mutating func value(depth: Int) throws(SyntaxError) -> JSONNode {
        let (line, column) = position
        guard let byte = peek else { throw error("expected a value, found the end of the file") }
        let value: JSONNode.Value
        switch byte {
        case UInt8(ascii: "{"): value = try object(depth: depth + 1)
        case UInt8(ascii: "["): value = try array(depth: depth + 1)
        case UInt8(ascii: "\""): value = .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): value = .number(try number())
        case UInt8(ascii: "t"): try literal("true"); value = .bool(true)
        case UInt8(ascii: "f"): try literal("false"); value = .bool(false)
        case UInt8(ascii: "n"): try literal("null"); value = .null
        default: throw error("expected a value, found \(found)")
        }
        return JSONNode(value: value, line: line, column: column)
    }

    private mutating func object(depth: Int) throws(SyntaxError) -> JSONNode.Value {
        guard depth <= Self.maximumDepth else { throw error("nesting deeper than \(Self.maximumDepth) levels") }
        index += 1
        var members: [JSONMember] = []
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            let (keyLine, keyColumn) = position
            guard peek == UInt8(ascii: "\"") else { throw error("expected a key in double quotes, found \(found)") }
            let key = try string()
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw error("expected ':' after the key \"\(key)\", found \(found)") }
            index += 1
            skipWhitespace()
            let value = try value(depth: depth)
            members.append(JSONMember(key: key, keyLine: keyLine, keyColumn: keyColumn, value: value))
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return .object(members)
            default: throw error("expected ',' or '}' after the value of \"\(key)\", found \(found)")
            }
        }
    }

    private mutating func array(depth: Int) throws(SyntaxError) -> JSONNode.Value {
        guard depth <= Self.maximumDepth else { throw error("nesting deeper than \(Self.maximumDepth) levels") }
        index += 1
        var items: [JSONNode] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth))
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(items)
            default: throw error("expected ',' or ']' after a list item, found \(found)")
            }
        }
    }

    private mutating func string() throws(SyntaxError) -> String {
        index += 1
        var text: [UInt8] = []
        while true {
            guard let byte = peek else { throw error("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: text, as: UTF8.self)
            case UInt8(ascii: "\\"):
                index += 1
                try escape(into: &text)
            case 0..<0x20:
                throw error("a control character must be escaped inside a string")
            default:
                text.append(byte)
                index += 1
            }
        }
    }

    /// `\n` and the like: the byte after the backslash, and the byte it stands for.
    private static let simpleEscapes: [UInt8: UInt8] = [
        UInt8(ascii: "\""): UInt8(ascii: "\""), UInt8(ascii: "\\"): UInt8(ascii: "\\"), UInt8(ascii: "/"): UInt8(ascii: "/"),
        UInt8(ascii: "b"): 0x08, UInt8(ascii: "f"): 0x0C, UInt8(ascii: "n"): 0x0A, UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09,
    ]

    private mutating func escape(into text: inout [UInt8]) throws(SyntaxError) {
        guard let byte = peek else { throw error("unterminated string") }
        if let replacement = Self.simpleEscapes[byte] {
            text.append(replacement)
            index += 1
            return
        }
        guard byte == UInt8(ascii: "u") else { throw error("invalid escape: a backslash followed by \(found)") }
        index += 1
        var scalar = try hexQuad()
        if (0xD800..<0xDC00).contains(scalar) {
            guard peek == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                throw error("a \\u escape of a high surrogate must be followed by its low surrogate")
            }
            index += 2
            let low = try hexQuad()
            guard (0xDC00..<0xE000).contains(low) else { throw error("invalid low surrogate in a \\u escape") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let unicode = Unicode.Scalar(scalar) else { throw error("a \\u escape names no Unicode scalar") }
        text.append(contentsOf: Array(String(Character(unicode)).utf8))
    }

    private mutating func hexQuad() throws(SyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek, let digit = Self.hexDigit(byte) else { throw error("expected four hex digits after \\u") }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    private static func hexDigit(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    private mutating func number() throws(SyntaxError) -> String {
        let start = index
        if peek == UInt8(ascii: "-") { index += 1 }
        if peek == UInt8(ascii: "0") {
            index += 1
        } else {
            guard digits() > 0 else { throw error("expected a digit, found \(found)") }
        }
        if peek == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw error("expected a digit after the decimal point, found \(found)") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw error("expected a digit in the exponent, found \(found)") }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// Consumes decimal digits; returns how many.
    private mutating func digits() -> Int {
        let start = index
        while let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { index += 1 }
        return index - start
    }

    private mutating func literal(_ word: String) throws(SyntaxError) {
        for expected in word.utf8 {
            guard peek == expected else { throw error("expected a value, found \(found)") }
            index += 1
        }
    }

    // MARK: Position

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = peek {
            switch byte {
            case UInt8(ascii: "\n"):
                index += 1
                line += 1
                lineStart = index
                counted = (index, 1)
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                index += 1
            default:
                return
            }
        }
    }

    /// Line and column of the current byte; columns count Unicode scalars, not bytes.
    private var position: (line: Int, column: Int) {
        mutating get {
            let end = min(index, bytes.count)
            if counted.index < lineStart || counted.index > end { counted = (lineStart, 1) }
            counted.column += bytes[counted.index..<end].count { $0 & 0xC0 != 0x80 }
            counted.index = end
            return (line, counted.column)
        }
    }

    /// The current character, quoted, for an error message.
    private var found: String {
        guard index < bytes.count else { return "the end of the file" }
        var end = index + 1
        while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
        return "'" + String(decoding: bytes[index..<end], as: UTF8.self) + "'"
    }

    private mutating func error(_ message: String) -> SyntaxError {
        let (line, column) = position
        return SyntaxError(message: message, line: line, column: column)
    }
}
