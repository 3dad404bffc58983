/// An argv as the tool itself will read it: what the judge decides on.
public struct ParsedCommand: Sendable, Hashable, Codable {
    public var tool: String
    /// Primary names of the subcommands, e.g. `["remote", "add"]`; aliases resolved.
    public var subcommandPath: [String]
    /// Every option in argv order, with its canonical name.
    public var options: [ParsedOption]
    /// Arguments that are neither subcommand names nor options or their values.
    public var positionals: [String]
    /// Whether the positionals are filesystem paths, per the grammar.
    public var positionalsArePaths: Bool
    /// Whether the positionals are kubectl's `TYPE NAME...` form, per the grammar.
    public var positionalsAreTypeNames: Bool

    public init(
        tool: String, subcommandPath: [String], options: [ParsedOption], positionals: [String],
        positionalsArePaths: Bool, positionalsAreTypeNames: Bool = false
    ) {
        self.positionalsAreTypeNames = positionalsAreTypeNames
        self.tool = tool
        self.subcommandPath = subcommandPath
        self.options = options
        self.positionals = positionals
        self.positionalsArePaths = positionalsArePaths
    }

    /// The resource types the command names: in the `TYPE NAME...` form, the first positional
    /// (unless it is `TYPE/NAME`) and the type of each `TYPE/NAME`; `kubectl get pods secrets` names
    /// the pod `secrets`, not the type. Where the grammar does not mark that form, every positional
    /// counts, and the type of each `TYPE/NAME` too, so a rule about types errs toward matching.
    public var resourceTypes: [String] {
        var types: [String] = []
        for (index, positional) in positionals.enumerated() {
            if let slash = positional.firstIndex(of: "/") {
                types.append(String(positional[..<slash]))
                if !positionalsAreTypeNames { types.append(positional) }
            } else if index == 0 || !positionalsAreTypeNames {
                types.append(positional)
            }
        }
        return types
    }

    /// The subcommand path as a person writes it: `remote add`.
    public var subcommand: String { subcommandPath.joined(separator: " ") }

    /// Whether the option is in effect: given, and its last occurrence is not a negation
    /// (`--no-force`, `-check=false`). The tools we model all let the last occurrence win.
    public func isPresent(_ name: String) -> Bool {
        var index = options.endIndex
        while index > options.startIndex {
            index -= 1
            if options[index].name == name { return !options[index].negated }
        }
        return false
    }

    /// Every value given to the option, in argv order (negations carry none).
    public func values(of name: String) -> [String] {
        options.compactMap { $0.name == name && !$0.negated ? $0.value : nil }
    }
}

/// One option as given in argv.
public struct ParsedOption: Sendable, Hashable, Codable {
    /// The canonical name from the grammar.
    public var name: String
    /// As written: `--forc`, `-f` (one letter of the bundle `-fu`), `--no-verify`.
    public var spelling: String
    public var value: String?
    /// `--no-force`, `-check=false`.
    public var negated: Bool
    /// Whether the option belongs to the tool's root (a global option).
    public var isGlobal: Bool
    /// Whether the value is a filesystem path, per the grammar.
    public var valueIsPath: Bool

    public init(
        name: String, spelling: String, value: String? = nil, negated: Bool = false, isGlobal: Bool = false,
        valueIsPath: Bool = false
    ) {
        self.name = name
        self.spelling = spelling
        self.value = value
        self.negated = negated
        self.isGlobal = isGlobal
        self.valueIsPath = valueIsPath
    }
}

/// Why an argv could not be parsed. The judge denies it with this reason.
public struct ArgvParseFailure: Error, Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case unknownSubcommand = "unknown-subcommand"
        case missingSubcommand = "missing-subcommand"
        case unknownOption = "unknown-option"
        case ambiguousOption = "ambiguous-option"
        case missingValue = "missing-value"
        case unexpectedValue = "unexpected-value"
    }

    public var kind: Kind
    public var message: String
    /// The subcommand path understood before the failure.
    public var subcommandPath: [String]
    /// Index into argv of the argument that failed.
    public var argumentIndex: Int

    public init(kind: Kind, message: String, subcommandPath: [String], argumentIndex: Int) {
        self.kind = kind
        self.message = message
        self.subcommandPath = subcommandPath
        self.argumentIndex = argumentIndex
    }
}
