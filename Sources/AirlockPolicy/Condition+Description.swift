/// Canonical descriptions of what a rule tests, as the policy file writes it.
///
/// `airlock policy diff` compares rules by these descriptions and shows them, so they must be
/// canonical: lists whose order does not change what is tested (option names, globs, regular
/// expressions, roots, split characters) are sorted, and a value that holds anything but plain
/// characters is quoted as JSON, so that two different conditions never describe alike.
extension Condition: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .anyOption(names): "options.any \(Canonical.list(names))"
        case let .allOptions(names): "options.all \(Canonical.list(names))"
        case let .noOption(names): "options.none \(Canonical.list(names))"
        case let .onlyOptions(names): "options.only \(Canonical.list(Array(names)))"
        case let .optionValues(option, quantified): "option_values.\(Canonical.item(option ?? "*")).\(quantified)"
        case let .positionals(quantified): "positionals.\(quantified)"
        case let .resourceTypes(quantified): "resource_types.\(quantified)"
        case let .positionalCount(min, max):
            "positionals.count [\(min.map(String.init) ?? "0")..\(max.map(String.init) ?? "any")]"
        case let .pathsWithin(roots, scope): "paths.within \(Canonical.list(roots)) \(scope)"
        case let .pathsOutside(roots, scope): "paths.outside \(Canonical.list(roots)) \(scope)"
        }
    }
}

extension Quantified: CustomStringConvertible {
    /// `any {glob: [...]}`.
    public var description: String { "\(quantifier.rawValue) \(pattern)" }
}

extension ValuePattern: CustomStringConvertible {
    /// `{glob: [a, b], regex: [...], split: ",", ignore_case: true}`, keys without a value left out.
    public var description: String {
        var fields: [String] = []
        if !globs.isEmpty { fields.append("glob: \(Canonical.list(globs.map(\.pattern)))") }
        if !regexes.isEmpty { fields.append("regex: \(Canonical.list(regexes.map(\.source)))") }
        if !split.isEmpty { fields.append("split: \(Canonical.quoted(String(split.sorted())))") }
        if ignoreCase { fields.append("ignore_case: true") }
        return "{" + fields.joined(separator: ", ") + "}"
    }
}

extension PathScope: CustomStringConvertible {
    /// Which arguments count: `options [C, git-dir]` or `path options`, and `positionals` when they do.
    public var description: String {
        let optionsPart = options.map { "options \(Canonical.list(Array($0)))" } ?? "path options"
        return positionals ? "(\(optionsPart), positionals)" : "(\(optionsPart))"
    }
}

/// Sorted lists and quoted items, for descriptions that compare equal exactly when what they
/// describe does.
enum Canonical {
    /// `[a, b]`, sorted.
    static func list(_ items: [String]) -> String {
        "[" + items.sorted().map(item).joined(separator: ", ") + "]"
    }

    /// `[a, b]`, in the given order: for lists whose order matters (an entrypoint).
    static func sequence(_ items: [String]) -> String {
        "[" + items.map(item).joined(separator: ", ") + "]"
    }

    /// The item as it is when every character of it is plain (so it cannot be read as a
    /// separator, bracket or quote), otherwise quoted as a JSON string.
    static func item(_ text: String) -> String {
        let plain = !text.isEmpty && text.unicodeScalars.allSatisfy { scalar in
            scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "._/*+:@=-~?!%^&".unicodeScalars.contains(scalar)
        }
        return plain ? text : quoted(text)
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\u00XX`.
    static func quoted(_ text: String) -> String {
        var bytes: [UInt8] = []
        PolicyDigest.quote(text, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
