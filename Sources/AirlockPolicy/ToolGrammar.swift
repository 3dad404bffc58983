/// How a tool reads its argv: global options, nested subcommands and their options.
///
/// A grammar is an allow-list of syntax: anything it does not know fails to parse, and the judge
/// denies what it cannot parse.
public struct ToolGrammar: Sendable {
    /// How options are spelled; see `docs/grammar-format.md`.
    public enum Style: String, Sendable, Codable, CaseIterable {
        /// git: `-f`, bundles `-fd`, attached `-n5`, `--long[=value]`, `--long value`.
        case gnu
        /// kubectl, gh (spf13/pflag): as gnu, plus `-n=value` and `--flag=false` for booleans.
        case cobra
        /// aws (Python argparse): as gnu, but a value in the next argument never starts with `-`.
        case argparse
        /// terraform (Go's flag): `-name` or `--name`, long names only, `-flag=false` for booleans.
        case go

        var acceptsBooleanValues: Bool { self == .cobra || self == .go }
        var stripsEqualsAfterShort: Bool { self == .cobra }
    }

    /// Which long options may be abbreviated to a unique prefix, as the real tool allows.
    public enum Abbreviations: String, Sendable, Codable, CaseIterable {
        case none
        /// Options of subcommands, not the root's (git).
        case subcommands
        case all
    }

    public var description: String
    public var style: Style
    public var abbreviations: Abbreviations
    /// Whether the root's options are valid after a subcommand too (cobra's persistent flags, aws).
    public var globalOptionsAnywhere: Bool
    /// Whether options may follow positionals (false for Go's flag: the first positional ends them).
    public var optionsAfterPositionals: Bool
    /// Exact words the tool removes from anywhere in argv before it parses the rest
    /// (terraform's `-no-color`); the parser does the same and records them as global flags.
    public var anywhereFlags: Set<String>
    public var root: CommandNode

    public init(
        description: String, style: Style, abbreviations: Abbreviations, globalOptionsAnywhere: Bool,
        optionsAfterPositionals: Bool, anywhereFlags: Set<String> = [], root: CommandNode
    ) {
        self.description = description
        self.style = style
        self.abbreviations = abbreviations
        self.globalOptionsAnywhere = globalOptionsAnywhere
        self.optionsAfterPositionals = optionsAfterPositionals
        self.anywhereFlags = anywhereFlags
        self.root = root
    }

    /// The command at a path of primary names, if the grammar has it.
    public func command(at path: [String]) -> CommandNode? {
        var node = root
        for name in path {
            guard let child = node.subcommands[name] else { return nil }
            node = child
        }
        return node
    }

    /// Every command of the grammar, the root first, depth first.
    public var allCommands: [CommandNode] {
        var commands: [CommandNode] = []
        func visit(_ node: CommandNode) {
            commands.append(node)
            for name in node.subcommands.keys.sorted() { visit(node.subcommands[name]!) }
        }
        visit(root)
        return commands
    }
}

/// A command or subcommand of a tool.
/// A class: the parser walks nodes on every decision, and sharing them costs no copies.
public final class CommandNode: Sendable {
    /// `type-name`: kubectl's `TYPE[,TYPE...] [NAME...]` or `TYPE/NAME...`, where the first
    /// positional names resource types and the rest names objects of them.
    public enum PositionalKind: String, Sendable, Codable, CaseIterable {
        case text, path
        case typeName = "type-name"
    }

    /// Primary name; empty for the root.
    public let name: String
    /// Primary names from the root, e.g. `["remote", "add"]`.
    public let path: [String]
    public let aliases: [String]
    public let options: OptionTable
    /// Children by primary name.
    public let subcommands: [String: CommandNode]
    /// Alias or primary name to primary name.
    public let subcommandNames: [String: String]
    /// Whether the command may be run without naming a subcommand.
    public let runnable: Bool
    /// The option that `-<digits>` stands for (`git log -5`).
    public let numberOption: String?
    public let positionalKind: PositionalKind

    public init(
        name: String, path: [String], aliases: [String] = [], options: OptionTable,
        subcommands: [String: CommandNode] = [:], runnable: Bool, numberOption: String? = nil,
        positionalKind: PositionalKind = .text
    ) {
        self.name = name
        self.path = path
        self.aliases = aliases
        self.options = options
        self.subcommands = subcommands
        var names: [String: String] = [:]
        for (primary, child) in subcommands {
            names[primary] = primary
            for alias in child.aliases { names[alias] = primary }
        }
        self.subcommandNames = names
        self.runnable = runnable
        self.numberOption = numberOption
        self.positionalKind = positionalKind
    }

    func child(named token: String) -> CommandNode? {
        guard let primary = subcommandNames[token] else { return nil }
        return subcommands[primary]
    }
}

/// One option of a command, with every spelling of it.
public struct OptionSpec: Sendable, Hashable, Codable {
    public enum Arity: String, Sendable, Hashable, Codable {
        /// A flag: no value.
        case none
        /// A value, attached (`--o=v`, `-ov`) or in the next argument.
        case required
        /// A value only when attached (`--o=v`, `-ov`); `-o v` is the flag and a positional.
        case optional
    }

    public enum ValueKind: String, Sendable, Hashable, Codable { case text, path }

    /// The canonical name rules use.
    public var name: String
    /// Short letters, without the dash.
    public var shorts: [String]
    /// Long names, without dashes (one dash in `go` style).
    public var longs: [String]
    /// Whether `--no-<long>` is accepted and negates the option.
    public var negatable: Bool
    public var arity: Arity
    public var valueKind: ValueKind
    /// The placeholder as written in the grammar (`<path>`), for help and explain output.
    public var placeholder: String?

    public init(
        name: String, shorts: [String], longs: [String], negatable: Bool = false, arity: Arity = .none,
        valueKind: ValueKind = .text, placeholder: String? = nil
    ) {
        self.name = name
        self.shorts = shorts
        self.longs = longs
        self.negatable = negatable
        self.arity = arity
        self.valueKind = valueKind
        self.placeholder = placeholder
    }
}

/// The options of one command, indexed for the parser.
public struct OptionTable: Sendable {
    struct LongEntry: Sendable {
        var index: Int
        var negated: Bool
    }

    public private(set) var specs: [OptionSpec]
    /// ASCII short letter to index into `specs`; -1 where none.
    private var shortIndex: [Int]
    private var longIndex: [String: LongEntry]
    /// Every accepted long spelling (negated forms included), sorted, for prefix search.
    private var sortedLongs: [String]

    public init(_ specs: [OptionSpec]) {
        self.specs = specs
        self.shortIndex = Array(repeating: -1, count: 128)
        // Sized up front: the default policy builds some 1,200 tables, and growing each index
        // step by step was a quarter of their cost.
        self.longIndex = Dictionary(minimumCapacity: specs.reduce(0) { $0 + $1.longs.count * ($1.negatable ? 2 : 1) })
        for (index, spec) in specs.enumerated() {
            for short in spec.shorts {
                if let byte = short.utf8.first, short.utf8.count == 1, byte < 128 { shortIndex[Int(byte)] = index }
            }
            for long in spec.longs {
                longIndex[long] = LongEntry(index: index, negated: false)
                if spec.negatable { longIndex["no-" + long] = LongEntry(index: index, negated: true) }
            }
        }
        self.sortedLongs = longIndex.keys.sorted()
    }

    public var isEmpty: Bool { specs.isEmpty }

    func short(_ byte: UInt8) -> OptionSpec? {
        guard byte < 128 else { return nil }
        let index = shortIndex[Int(byte)]
        return index >= 0 ? specs[index] : nil
    }

    func long(exactly name: Substring) -> (spec: OptionSpec, negated: Bool)? {
        guard let entry = longIndex[String(name)] else { return nil }
        return (specs[entry.index], entry.negated)
    }

    /// Every long spelling that starts with `prefix`, each with its option.
    func longs(withPrefix prefix: Substring) -> [(spelling: String, spec: OptionSpec, negated: Bool)] {
        // Binary search for the first spelling >= prefix, then walk while it still matches.
        var low = 0
        var high = sortedLongs.count
        while low < high {
            let mid = (low + high) / 2
            if sortedLongs[mid] < prefix { low = mid + 1 } else { high = mid }
        }
        var result: [(String, OptionSpec, Bool)] = []
        while low < sortedLongs.count, sortedLongs[low].hasPrefix(prefix) {
            let entry = longIndex[sortedLongs[low]]!
            result.append((sortedLongs[low], specs[entry.index], entry.negated))
            low += 1
        }
        return result
    }

    /// The option with this canonical name.
    public func spec(named name: String) -> OptionSpec? {
        specs.first { $0.name == name }
    }
}
