/// The commands `airlock policy diff` has both policies judge, generated from their grammars and rules.
///
/// For every command path of every tool in either policy: the path alone; each of its options
/// alone (the tool's global options included, written before the path), with each value the
/// rules of either policy suggest for it; and each positional the rules suggest. A value only one
/// policy names is probed all the same, so a new pattern's own values are seen by both. Every
/// argv is judged in every context, with no tenant and with each tenant that may use the context.
///
/// Bounded: the number of argv grows with the grammars' options and the rules' patterns, not with
/// their combinations (no two options are probed together).
public struct ProbeSet: Sendable {
    /// One argv of a tool, and the command path it was generated for (how changes are grouped).
    public struct Command: Sendable, Hashable {
        public var tool: String
        /// Primary names, e.g. `["remote", "add"]`; empty for the tool itself.
        public var path: [String]
        /// The arguments after the tool's name.
        public var arguments: [String]

        public init(tool: String, path: [String], arguments: [String]) {
            self.tool = tool
            self.path = path
            self.arguments = arguments
        }
    }

    /// Where a command is judged: a context, and a tenant or none (an operator's dry run).
    public struct Placement: Sendable, Hashable {
        public var context: String
        public var tenant: String?

        public init(context: String, tenant: String?) {
            self.context = context
            self.tenant = tenant
        }
    }

    public var commands: [Command]
    public var placements: [Placement]

    /// How many requests the set makes: every command in every placement.
    public var count: Int { commands.count * placements.count }

    public var requests: some Sequence<(placement: Placement, command: Command)> {
        placements.lazy.flatMap { placement in commands.lazy.map { (placement, $0) } }
    }

    /// The value an option gets when no rule says anything about it.
    public static let neutralValue = "x"

    /// - Parameters:
    ///   - tools: the tools to probe; nil: every tool of either policy.
    ///   - contexts: the contexts to probe in; nil: every context of either policy.
    public init(_ policies: [Policy], tools: Set<String>? = nil, contexts: Set<String>? = nil) {
        let toolNames = Set(policies.flatMap(\.tools.keys)).filter { tools?.contains($0) ?? true }.sorted()
        commands = []
        for name in toolNames {
            let samples = ValueSamples(tool: name, policies: policies)
            var seen: Set<[String]> = []
            for policy in policies {
                guard let tool = policy.tools[name] else { continue }
                for command in Self.commands(of: tool.grammar, samples: samples) where seen.insert(command.arguments).inserted {
                    commands.append(Command(tool: name, path: command.path, arguments: command.arguments))
                }
            }
        }
        let contextNames = Set(policies.flatMap(\.contexts.keys)).filter { contexts?.contains($0) ?? true }.sorted()
        var tenantContexts: [String: Set<String>] = [:]
        for policy in policies {
            for tenant in policy.tenants.values { tenantContexts[tenant.name, default: []].formUnion(tenant.contexts) }
        }
        placements = contextNames.flatMap { context in
            [Placement(context: context, tenant: nil)]
                + tenantContexts.keys.sorted().filter { tenantContexts[$0]!.contains(context) }.map {
                    Placement(context: context, tenant: $0)
                }
        }
    }

    /// The argv of one grammar: per command, the path alone, each option alone with each of its
    /// sample values, and each sample positional. A command that cannot run without a subcommand
    /// gets only the path alone: anything more is refused for the same reason.
    static func commands(of grammar: ToolGrammar, samples: ValueSamples) -> [(path: [String], arguments: [String])] {
        var result: [(path: [String], arguments: [String])] = []
        for node in grammar.allCommands {
            result.append((node.path, node.path))
            guard node.runnable else { continue }
            let isRoot = node.path.isEmpty
            let own = node.options.specs
            let global = isRoot ? [] : grammar.root.options.specs.filter { spec in !own.contains { $0.name == spec.name } }
            for (spec, before) in own.map({ ($0, false) }) + global.map({ ($0, true) }) {
                for spelled in spellings(of: spec, style: grammar.style, values: samples.values(for: spec)) {
                    result.append((node.path, before ? spelled + node.path : node.path + spelled))
                }
            }
            for positional in samples.positionals(pathsToo: node.positionalKind == .path) {
                result.append((node.path, node.path + [positional]))
            }
            for type in samples.resourceTypes {
                for arguments in [[type], [ProbeSet.neutralValue, type], [type + "/" + ProbeSet.neutralValue]] {
                    result.append((node.path, node.path + arguments))
                }
            }
        }
        return result
    }

    /// The option as argv, once per value (none for a flag): the long spelling where there is
    /// one (`--name=value`, `-name=value` in the go style), else the short one (`-n value`).
    static func spellings(of spec: OptionSpec, style: ToolGrammar.Style, values: [String]) -> [[String]] {
        if let long = spec.longs.first {
            let spelled = (style == .go ? "-" : "--") + long
            switch spec.arity {
            case .none: return [[spelled]]
            case .required: return values.map { [spelled + "=" + $0] }
            case .optional: return [[spelled]] + values.map { [spelled + "=" + $0] }
            }
        }
        let spelled = "-" + spec.shorts[0]
        switch spec.arity {
        case .none: return [[spelled]]
        case .required: return values.map { [spelled, $0] }
        case .optional: return [[spelled]] + values.map { [spelled + $0] }
        }
    }
}

/// The values the rules of the policies suggest for one tool's options and positionals.
struct ValueSamples: Sendable {
    /// By option name; `*` for the patterns that test every option's values.
    var byOption: [String: [String]] = [:]
    var positionals: [String] = []
    /// Values a `resource_types` condition names: probed as the type, as a name after a neutral
    /// type, and in `TYPE/NAME` form.
    var resourceTypes: [String] = []
    /// Options a `paths:` rule names, whose values are probed as paths whatever the grammar says.
    var pathOptions: Set<String> = []
    /// A path inside each root the rules name, and one outside them all.
    var paths: [String] = []
    var positionalPathsTested = false

    init(tool: String, policies: [Policy]) {
        var roots: Set<String> = []
        for policy in policies {
            for context in policy.contexts.values {
                // A context lists its parents' rules too: each rule is read where it is defined.
                for rule in context.denyRules + context.allowRules where rule.context == context.name && rule.tools.contains(tool) {
                    for condition in rule.conditions {
                        switch condition {
                        case let .optionValues(option, quantified):
                            byOption[option ?? "*", default: []] += Self.samples(of: quantified.pattern)
                        case let .positionals(quantified):
                            positionals += Self.samples(of: quantified.pattern)
                        case let .resourceTypes(quantified):
                            resourceTypes += Self.samples(of: quantified.pattern)
                        case let .pathsWithin(ruleRoots, scope), let .pathsOutside(ruleRoots, scope):
                            roots.formUnion(ruleRoots)
                            pathOptions.formUnion(scope.options ?? [])
                            positionalPathsTested = positionalPathsTested || scope.positionals
                        default:
                            break
                        }
                    }
                }
            }
        }
        let inside = roots.sorted().map { $0 == "/" ? "/x" : $0 + "/x" }
        let outside = ["/etc/x", "/var/x", "/srv/x"].first { path in !roots.contains { PathConfinement.isWithin(path, roots: [$0]) } }
        paths = inside + (outside.map { [$0] } ?? [])
        byOption = byOption.mapValues(Self.unique)
        positionals = Self.unique(positionals)
        resourceTypes = Self.unique(resourceTypes)
    }

    /// The neutral value, then each value the rules suggest for the option, then paths when the
    /// option takes a path.
    func values(for spec: OptionSpec) -> [String] {
        var values = [ProbeSet.neutralValue] + (byOption[spec.name] ?? []) + (byOption["*"] ?? [])
        if spec.valueKind == .path || pathOptions.contains(spec.name) { values += paths }
        return Self.unique(values)
    }

    /// The neutral positional, each positional the rules suggest, and paths where they are paths.
    func positionals(pathsToo: Bool) -> [String] {
        Self.unique([ProbeSet.neutralValue] + positionals + (pathsToo && positionalPathsTested ? paths : []))
    }

    /// Values that match the pattern: one per glob and regular expression it can sample; in upper
    /// case too when it ignores case (a policy that stops ignoring case decides those differently);
    /// and each after a neutral piece when the pattern splits values (`x,secrets`).
    static func samples(of pattern: ValuePattern) -> [String] {
        let matched = pattern.globs.compactMap(GlobSample.value) + pattern.regexes.compactMap(RegexSample.value)
        var values: [String] = []
        for value in matched {
            values.append(value)
            if pattern.ignoreCase, value.uppercased() != value { values.append(value.uppercased()) }
            if let separator = pattern.split.sorted().first { values.append(ProbeSet.neutralValue + String(separator) + value) }
        }
        return values
    }

    static func unique(_ values: [String]) -> [String] {
        var seen: Set<String> = []
        return values.filter { seen.insert($0).inserted }
    }
}

/// A value a shell glob matches: each wildcard filled in with the neutral `x`.
enum GlobSample {
    /// `team-*` -> `team-x`, `file://*` -> `file://x`, `[a-c]?` -> `ax`; nil when the value made
    /// does not match after all (checked with the judge's own matcher).
    static func value(of glob: Glob) -> String? {
        let characters = Array(glob.pattern)
        var result = ""
        var index = 0
        while index < characters.count {
            let character = characters[index]
            index += 1
            switch character {
            case "*", "?":
                result.append("x")
            case "\\" where index < characters.count:
                result.append(characters[index])
                index += 1
            case "[":
                guard let close = closingBracket(characters, from: index) else {
                    result.append(character)
                    continue
                }
                result.append(member(of: Array(characters[index..<close])))
                index = close + 1
            default:
                result.append(character)
            }
        }
        return glob.matches(result) ? result : nil
    }

    /// The index of the `]` that closes a bracket expression whose content starts at `start` (a
    /// `]` first in it, or after `!`/`^`, is a member, as fnmatch reads it).
    private static func closingBracket(_ characters: [Character], from start: Int) -> Int? {
        var index = start
        if index < characters.count, characters[index] == "!" || characters[index] == "^" { index += 1 }
        if index < characters.count, characters[index] == "]" { index += 1 }
        return characters[index...].firstIndex(of: "]")
    }

    /// A character the bracket expression matches: its first member, or for a negated one the
    /// first of a few plain characters it leaves out.
    private static func member(of content: [Character]) -> Character {
        if let first = content.first, first == "!" || first == "^" {
            return BracketClass.outside(Array(content.dropFirst())) ?? "x"
        }
        return content.first ?? "x"
    }
}

/// The members of a bracket expression (`a-z0_`), for picking a character outside it.
enum BracketClass {
    /// Whether the character is a member: listed, or within a range `a-z`.
    static func contains(_ members: [Character], _ character: Character) -> Bool {
        var index = 0
        while index < members.count {
            if index + 2 < members.count, members[index + 1] == "-" {
                if members[index] <= character && character <= members[index + 2] { return true }
                index += 3
            } else {
                if members[index] == character { return true }
                index += 1
            }
        }
        return false
    }

    /// The first of a few plain characters that is not a member; nil when all are.
    static func outside(_ members: [Character]) -> Character? {
        ["x", "y", "z", "q", "0", "_"].first { !contains(members, $0) }
    }
}

/// A value a whole-value regular expression matches, for the simple shapes policies write:
/// literals and escapes, `.`, classes, groups and alternatives (the first taken), and the
/// quantifiers (the fewest repetitions, at least one for `+`). Anything else gives no sample,
/// rather than a wrong one: every value made is checked against the expression.
enum RegexSample {
    static func value(of regex: WholeRegex) -> String? {
        var characters = Array(regex.source)[...]
        guard let value = sequence(&characters, untilGroupEnd: false), characters.isEmpty, regex.matches(value) else { return nil }
        return value
    }

    /// Reads one alternative (up to `|`, `)` or the end), then skips the other alternatives.
    private static func sequence(_ characters: inout ArraySlice<Character>, untilGroupEnd: Bool) -> String? {
        var result = ""
        var lastPiece = ""
        while let character = characters.first {
            if character == ")" { return untilGroupEnd ? result : nil }
            if character == "|" {
                // The first alternative is the sample; the others are read past, and must be well formed.
                characters.removeFirst()
                guard sequence(&characters, untilGroupEnd: untilGroupEnd) != nil else { return nil }
                return result
            }
            characters.removeFirst()
            switch character {
            case "^", "$":
                lastPiece = ""
                continue
            case "*", "?":
                result.removeLast(lastPiece.count)
                lastPiece = ""
                skipLazy(&characters)
                continue
            case "+":
                lastPiece = ""
                skipLazy(&characters)
                continue
            case "{":
                guard let close = characters.firstIndex(of: "}"),
                    let minimum = Int(String(characters[..<close]).split(separator: ",", omittingEmptySubsequences: false).first ?? "")
                else { return nil }
                characters = characters[(close + 1)...]
                result.removeLast(lastPiece.count)
                result += String(repeating: lastPiece, count: minimum)
                lastPiece = ""
                skipLazy(&characters)
                continue
            case ".":
                lastPiece = "x"
            case "\\":
                guard let escaped = characters.popFirst() else { return nil }
                switch escaped {
                case "d": lastPiece = "0"
                case "w": lastPiece = "x"
                case "s": lastPiece = " "
                case _ where escaped.isLetter || escaped.isNumber: return nil
                default: lastPiece = String(escaped)
                }
            case "[":
                guard let close = characters.dropFirst().firstIndex(of: "]") else { return nil }
                let content = Array(characters[..<close])
                characters = characters[(close + 1)...]
                guard let first = content.first else { return nil }
                if content.contains("\\") {
                    return nil
                } else if first == "^" {
                    guard let pick = BracketClass.outside(Array(content.dropFirst())) else { return nil }
                    lastPiece = String(pick)
                } else {
                    lastPiece = String(first)
                }
            case "(":
                if characters.starts(with: ["?", ":"]) {
                    characters = characters.dropFirst(2)
                } else if characters.first == "?" {
                    return nil
                }
                guard let inner = sequence(&characters, untilGroupEnd: true), characters.popFirst() == ")" else { return nil }
                lastPiece = inner
            default:
                lastPiece = String(character)
            }
            result += lastPiece
        }
        return untilGroupEnd ? nil : result
    }

    private static func skipLazy(_ characters: inout ArraySlice<Character>) {
        if characters.first == "?" || characters.first == "+" { characters.removeFirst() }
    }
}
