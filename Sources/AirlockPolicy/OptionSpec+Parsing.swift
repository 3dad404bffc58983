extension OptionSpec {
    /// Parses the man-page form of an option: `[name:] -f, --[no-]force`, `-n, --max-count <number>`,
    /// `-u, --untracked-files[=<mode>]`; see `docs/grammar-format.md`.
    ///
    /// - Returns: the option, or a message saying what is wrong with the text.
    static func parse(_ text: String, style: ToolGrammar.Style) -> Result<OptionSpec, SpecSyntaxError> {
        var rest = Substring(text).trimmingSpaces()
        var explicitName: String?
        if let colon = rest.firstIndex(of: ":"), !rest.hasPrefix("-") {
            let name = rest[..<colon].trimmingSpaces()
            guard isValidName(name) else { return .failure(SpecSyntaxError("invalid option name '\(name)'")) }
            explicitName = String(name)
            rest = rest[rest.index(after: colon)...].trimmingSpaces()
        }
        var negatable = false
        var source = String(rest)
        if source.contains("[no-]") {
            guard style != .go else { return .failure(SpecSyntaxError("'[no-]' is not available in the go style")) }
            negatable = true
            source = source.replacingAll("--[no-]", with: "--")
        }
        // The value marker starts at the first '<', '[' or '='.
        let markerStart = source.firstIndex { $0 == "<" || $0 == "[" || $0 == "=" }
        let spellingText = markerStart.map { source[..<$0] } ?? Substring(source)
        var arity = Arity.none
        var placeholder: String?
        if let markerStart {
            var marker = source[markerStart...].trimmingSpaces()
            if marker.hasPrefix("[") {
                guard marker.hasSuffix("]") else { return .failure(SpecSyntaxError("'[' without a closing ']'")) }
                marker = marker.dropFirst().dropLast()
                arity = .optional
            } else {
                arity = .required
            }
            if marker.hasPrefix("=") { marker = marker.dropFirst() }
            guard marker.hasPrefix("<"), marker.hasSuffix(">"), marker.count > 2 else {
                return .failure(SpecSyntaxError("a value must be written <name>, [<name>] or [=<name>]; found '\(marker)'"))
            }
            placeholder = String(marker)
        }
        var shorts: [String] = []
        var longs: [String] = []
        for raw in spellingText.split(separator: ",") {
            let spelling = raw.trimmingSpaces()
            if style == .go {
                let body = spelling.hasPrefix("--") ? spelling.dropFirst(2) : spelling.dropFirst()
                guard spelling.hasPrefix("-"), isValidName(body) else {
                    return .failure(SpecSyntaxError("invalid spelling '\(spelling)': the go style writes -name"))
                }
                longs.append(String(body))
            } else if spelling.hasPrefix("--") {
                let body = spelling.dropFirst(2)
                guard isValidName(body) else { return .failure(SpecSyntaxError("invalid long option '\(spelling)'")) }
                longs.append(String(body))
            } else if spelling.hasPrefix("-"), spelling.count == 2, let letter = spelling.utf8.last,
                letter < 128, letter != UInt8(ascii: "-"), letter != UInt8(ascii: "=")
            {
                shorts.append(String(spelling.dropFirst()))
            } else {
                return .failure(SpecSyntaxError("invalid spelling '\(spelling)': write -x or --long"))
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

    static func isPathPlaceholder(_ placeholder: String) -> Bool {
        let inner = placeholder.dropFirst().dropLast().lowercased()
        if ["path", "file", "dir", "directory"].contains(inner) { return true }
        return ["-path", "-file", "-dir", "_path", "_file", "_dir"].contains { inner.hasSuffix($0) }
    }

    static func isValidName(_ name: Substring) -> Bool {
        guard let first = name.utf8.first, isAlphanumeric(first) else { return false }
        return name.utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
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

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
