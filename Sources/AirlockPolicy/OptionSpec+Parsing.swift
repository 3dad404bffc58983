extension OptionSpec {
    /// Parses the man-page form of an option: `[name:] -f, --[no-]force`, `-n, --max-count <number>`,
    /// `-u, --untracked-files[=<mode>]`; see `docs/grammar-format.md`.
    ///
    /// - Returns: the option, or a message saying what is wrong with the text.
    static func parse(_ text: String, style: ToolGrammar.Style) -> Result<OptionSpec, SpecSyntaxError> {
        // Read as bytes: the shipped grammars hold some 2,000 specs, parsed at every start, and
        // Character-by-Character reading breaks graphemes on every step. Every byte the syntax
        // looks at is ASCII, so no multi-byte character is ever split.
        let bytes = Array(text.utf8)
        var rest = trimmingSpaces(bytes[...])
        var explicitName: String?
        if rest.first != UInt8(ascii: "-"), let colon = rest.firstIndex(of: UInt8(ascii: ":")) {
            let name = trimmingSpaces(rest[..<colon])
            guard isValidName(name) else { return .failure(SpecSyntaxError("invalid option name '\(string(name))'")) }
            explicitName = string(name)
            rest = trimmingSpaces(rest[(colon + 1)...])
        }
        var negatable = false
        var source = rest
        if range(of: negationMarker, in: source) != nil {
            guard style != .go else { return .failure(SpecSyntaxError("'[no-]' is not available in the go style")) }
            negatable = true
            source = removingNegationMarkers(source)
        }
        // The value marker starts at the first '<', '[' or '='.
        let markerStart = source.firstIndex { $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "=") }
        let spellingText = markerStart.map { source[..<$0] } ?? source
        var arity = Arity.none
        var placeholder: String?
        if let markerStart {
            var marker = trimmingSpaces(source[markerStart...])
            if marker.first == UInt8(ascii: "[") {
                guard marker.last == UInt8(ascii: "]") else { return .failure(SpecSyntaxError("'[' without a closing ']'")) }
                marker = marker.dropFirst().dropLast()
                arity = .optional
            } else {
                arity = .required
            }
            if marker.first == UInt8(ascii: "=") { marker = marker.dropFirst() }
            guard marker.count > 2, marker.first == UInt8(ascii: "<"), marker.last == UInt8(ascii: ">") else {
                return .failure(SpecSyntaxError("a value must be written <name>, [<name>] or [=<name>]; found '\(string(marker))'"))
            }
            placeholder = string(marker)
        }
        var shorts: [String] = []
        var longs: [String] = []
        for raw in spellingText.split(separator: UInt8(ascii: ",")) {
            let spelling = trimmingSpaces(raw)
            let dashes = spelling.prefix { $0 == UInt8(ascii: "-") }.count
            if style == .go {
                let body = spelling.dropFirst(dashes >= 2 ? 2 : 1)
                guard dashes >= 1, isValidName(body) else {
                    return .failure(SpecSyntaxError("invalid spelling '\(string(spelling))': the go style writes -name"))
                }
                longs.append(string(body))
            } else if dashes >= 2 {
                let body = spelling.dropFirst(2)
                guard isValidName(body) else { return .failure(SpecSyntaxError("invalid long option '\(string(spelling))'")) }
                longs.append(string(body))
            } else if dashes == 1, spelling.count == 2, let letter = spelling.last, letter < 128, letter != UInt8(ascii: "=") {
                shorts.append(string(spelling.dropFirst()))
            } else {
                return .failure(SpecSyntaxError("invalid spelling '\(string(spelling))': write -x or --long"))
            }
        }
        guard !shorts.isEmpty || !longs.isEmpty else {
            return .failure(SpecSyntaxError("no spelling: write at least one of -x or --long"))
        }
        if negatable && longs.isEmpty {
            return .failure(SpecSyntaxError("'[no-]' needs a long spelling"))
        }
        let name = explicitName ?? longs.first ?? shorts[0]
        let kind: ValueKind = placeholder.map(isPathPlaceholder) == true ? .path : .text
        return .success(
            OptionSpec(
                name: name, shorts: shorts, longs: longs, negatable: negatable, arity: arity, valueKind: kind,
                placeholder: placeholder))
    }

    private static let negationMarker = Array("[no-]".utf8)
    private static let negatedLong = Array("--[no-]".utf8)

    /// `--[no-]name` written as `--name`.
    private static func removingNegationMarkers(_ text: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var result: [UInt8] = []
        var rest = text
        while let found = range(of: negatedLong, in: rest) {
            result += rest[..<found.lowerBound]
            result += "--".utf8
            rest = rest[found.upperBound...]
        }
        return (result + rest)[...]
    }

    private static func range(of pattern: [UInt8], in text: ArraySlice<UInt8>) -> Range<Int>? {
        guard text.count >= pattern.count else { return nil }
        var start = text.startIndex
        while start <= text.endIndex - pattern.count {
            if text[start..<(start + pattern.count)].elementsEqual(pattern) { return start..<(start + pattern.count) }
            start += 1
        }
        return nil
    }

    private static func trimmingSpaces(_ text: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else {
            return text[text.endIndex...]
        }
        return text[first...last]
    }

    private static func string(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    static func isPathPlaceholder(_ placeholder: String) -> Bool {
        let inner = placeholder.dropFirst().dropLast().lowercased()
        if ["path", "file", "dir", "directory"].contains(inner) { return true }
        return ["-path", "-file", "-dir", "_path", "_file", "_dir"].contains { inner.hasSuffix($0) }
    }

    static func isValidName(_ name: Substring) -> Bool {
        isValidName(name.utf8)
    }

    static func isValidName(_ name: some Collection<UInt8>) -> Bool {
        guard let first = name.first, isAlphanumeric(first) else { return false }
        return name.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
    }

    /// The spec in the form it was written, for explain output and documentation.
    public var synopsis: String {
        let dash = "-"
        var spellings = shorts.map { dash + $0 }
        spellings += longs.map { (negatable ? "--[no-]" : "--") + $0 }
        var text = spellings.joined(separator: ", ")
        if let placeholder {
            text += arity == .optional ? "[=\(placeholder)]" : " \(placeholder)"
        }
        return text
    }
}

struct SpecSyntaxError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var result = self
        while result.first == " " || result.first == "\t" { result = result.dropFirst() }
        while result.last == " " || result.last == "\t" { result = result.dropLast() }
        return result
    }
}
