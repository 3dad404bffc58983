/// Parses an argv the way the tool does, with its grammar.
///
/// Pure and allocation-light: it runs on every decision.
public struct ArgvParser: Sendable {
    public let tool: String
    public let grammar: ToolGrammar

    public init(tool: String, grammar: ToolGrammar) {
        self.tool = tool
        self.grammar = grammar
    }

    /// The parsed command, or why argv cannot be parsed.
    public func parse(_ argv: [String]) -> Result<ParsedCommand, ArgvParseFailure> {
        parseToNode(argv).map(\.command)
    }

    /// The parsed command with the grammar node it ended at (the judge indexes rules by node).
    func parseToNode(_ argv: [String]) -> Result<(command: ParsedCommand, node: CommandNode), ArgvParseFailure> {
        var state = State(parser: self, argv: argv)
        do {
            try state.run()
        } catch {
            return .failure(error)
        }
        let command = ParsedCommand(
            tool: tool, subcommandPath: state.node.path, options: state.options,
            positionals: state.positionals, positionalsArePaths: state.node.positionalKind == .path,
            positionalsAreTypeNames: state.node.positionalKind == .typeName)
        return .success((command, state.node))
    }

    private struct State {
        let parser: ArgvParser
        let argv: [String]
        var node: CommandNode
        var index = 0
        var options: [ParsedOption] = []
        var positionals: [String] = []
        var onlyPositionals = false

        init(parser: ArgvParser, argv: [String]) {
            self.parser = parser
            self.argv = argv
            self.node = parser.grammar.root
        }

        var grammar: ToolGrammar { parser.grammar }
        var atRoot: Bool { node.path.isEmpty }

        mutating func run() throws(ArgvParseFailure) {
            while index < argv.count {
                let token = argv[index]
                index += 1
                if !grammar.anywhereFlags.isEmpty, grammar.anywhereFlags.contains(token) {
                    recordAnywhereFlag(token)
                } else if onlyPositionals {
                    positionals.append(token)
                } else if token == "--" {
                    onlyPositionals = true
                } else if token.utf8.count > 1, token.utf8.first == UInt8(ascii: "-") {
                    try option(token)
                } else {
                    try positional(token)
                }
            }
            if !node.runnable {
                throw fail(
                    .missingSubcommand,
                    "\(describeCommand()) needs a subcommand (one of: \(node.subcommands.keys.sorted().joined(separator: ", ")))",
                    at: argv.count)
            }
        }

        mutating func positional(_ token: String) throws(ArgvParseFailure) {
            // A subcommand is the first positional after its parent.
            if !node.subcommands.isEmpty, positionals.isEmpty {
                if let child = node.child(named: token) {
                    node = child
                    return
                }
                // Even a runnable parent (`git remote`, `aws --version`) takes no other word here:
                // the tools reject it, and so does the judge.
                throw fail(.unknownSubcommand, "unknown subcommand '\(token)' of \(describeCommand())", at: index - 1)
            }
            positionals.append(token)
            if !grammar.optionsAfterPositionals { onlyPositionals = true }
        }

        // MARK: Options

        mutating func option(_ token: String) throws(ArgvParseFailure) {
            let utf8 = token.utf8
            if let numberOption = node.numberOption, utf8.dropFirst().allSatisfy({ $0 >= 48 && $0 <= 57 }) {
                guard let spec = visibleSpec(named: numberOption) else {
                    throw fail(.unknownOption, "unknown option '\(token)'", at: index - 1)
                }
                record(spec.spec, spelling: token, value: String(token.dropFirst()), negated: false, isGlobal: spec.isGlobal)
                return
            }
            let secondIsDash = utf8.dropFirst().first == UInt8(ascii: "-")
            switch grammar.style {
            case .go:
                try longOption(token, body: token.dropFirst(secondIsDash ? 2 : 1))
            case .gnu, .cobra, .argparse:
                if secondIsDash {
                    try longOption(token, body: token.dropFirst(2))
                } else {
                    try shortOptions(token)
                }
            }
        }

        mutating func longOption(_ token: String, body: Substring) throws(ArgvParseFailure) {
            let name: Substring
            var attached: Substring?
            if let equals = body.firstIndex(of: "=") {
                name = body[body.startIndex..<equals]
                attached = body[body.index(after: equals)...]
            } else {
                name = body
            }
            let spelled = token[token.startIndex..<name.endIndex]
            let (spec, negated, isGlobal) = try resolveLong(name, spelled: String(spelled))
            var isNegated = negated
            var value: String?
            switch spec.arity {
            case .none:
                if let attached {
                    guard grammar.style.acceptsBooleanValues, !negated, let truth = Self.boolean(attached) else {
                        throw fail(.unexpectedValue, "option '\(spelled)' takes no value", at: index - 1)
                    }
                    isNegated = !truth
                }
            case .required:
                if negated {
                    if attached != nil {
                        throw fail(.unexpectedValue, "option '\(spelled)' takes no value", at: index - 1)
                    }
                } else if let attached {
                    value = String(attached)
                } else {
                    value = try nextArgument(for: String(spelled))
                }
            case .optional:
                if negated, attached != nil {
                    throw fail(.unexpectedValue, "option '\(spelled)' takes no value", at: index - 1)
                }
                value = attached.map(String.init)
            }
            record(spec, spelling: String(spelled), value: value, negated: isNegated, isGlobal: isGlobal)
        }

        mutating func shortOptions(_ token: String) throws(ArgvParseFailure) {
            let bytes = Array(token.utf8.dropFirst())
            var position = 0
            while position < bytes.count {
                let letter = bytes[position]
                guard let (spec, isGlobal) = visibleShort(letter) else {
                    let shown = letter < 128 ? String(UnicodeScalar(letter)) : "\u{FFFD}"
                    let inBundle = bytes.count > 1 ? " in '\(token)'" : ""
                    throw fail(.unknownOption, "unknown option '-\(shown)'\(inBundle)", at: index - 1)
                }
                let spelling = "-" + String(UnicodeScalar(letter))
                var rest = bytes[(position + 1)...]
                if grammar.style.stripsEqualsAfterShort, rest.first == UInt8(ascii: "=") {
                    // pflag reads `-n=value` as the value `value`.
                    rest = rest.dropFirst()
                    if spec.arity == .none {
                        guard let truth = Self.boolean(Substring(decoding: rest, as: UTF8.self)) else {
                            throw fail(.unexpectedValue, "option '\(spelling)' takes no value", at: index - 1)
                        }
                        record(spec, spelling: spelling, value: nil, negated: !truth, isGlobal: isGlobal)
                        return
                    }
                    if spec.arity == .required, rest.isEmpty {
                        record(spec, spelling: spelling, value: "", negated: false, isGlobal: isGlobal)
                        return
                    }
                }
                switch spec.arity {
                case .none:
                    record(spec, spelling: spelling, value: nil, negated: false, isGlobal: isGlobal)
                    position += 1
                case .required:
                    let value = rest.isEmpty ? try nextArgument(for: spelling) : String(decoding: rest, as: UTF8.self)
                    record(spec, spelling: spelling, value: value, negated: false, isGlobal: isGlobal)
                    return
                case .optional:
                    let value = rest.isEmpty ? nil : String(decoding: rest, as: UTF8.self)
                    record(spec, spelling: spelling, value: value, negated: false, isGlobal: isGlobal)
                    return
                }
            }
        }

        mutating func nextArgument(for spelling: String) throws(ArgvParseFailure) -> String {
            // The tool removed its anywhere-words before parsing, so they are never a value.
            while index < argv.count, !grammar.anywhereFlags.isEmpty, grammar.anywhereFlags.contains(argv[index]) {
                recordAnywhereFlag(argv[index])
                index += 1
            }
            guard index < argv.count else {
                throw fail(.missingValue, "option '\(spelling)' needs a value", at: index - 1)
            }
            if grammar.style == .argparse, Self.looksLikeOption(argv[index]) {
                // argparse never takes an option-like word as a value; aws would read it as an option.
                throw fail(.missingValue, "option '\(spelling)' needs a value, not '\(argv[index])'", at: index - 1)
            }
            index += 1
            return argv[index - 1]
        }

        /// A word the tool drops wherever it is, before parsing the rest (terraform's `-no-color`).
        mutating func recordAnywhereFlag(_ token: String) {
            options.append(ParsedOption(name: String(token.drop { $0 == "-" }), spelling: token, isGlobal: true))
        }

        mutating func record(_ spec: OptionSpec, spelling: String, value: String?, negated: Bool, isGlobal: Bool) {
            options.append(
                ParsedOption(
                    name: spec.name, spelling: spelling, value: value, negated: negated, isGlobal: isGlobal,
                    valueIsPath: spec.valueKind == .path))
        }

        // MARK: Lookup

        /// The tables valid here, nearest first, each with whether it is the root's.
        var visibleTables: [(table: OptionTable, isGlobal: Bool)] {
            if atRoot { return [(node.options, true)] }
            if grammar.globalOptionsAnywhere { return [(node.options, false), (grammar.root.options, true)] }
            return [(node.options, false)]
        }

        func visibleShort(_ letter: UInt8) -> (OptionSpec, Bool)? {
            for (table, isGlobal) in visibleTables {
                if let spec = table.short(letter) { return (spec, isGlobal) }
            }
            return nil
        }

        func visibleSpec(named name: String) -> (spec: OptionSpec, isGlobal: Bool)? {
            for (table, isGlobal) in visibleTables {
                if let spec = table.spec(named: name) { return (spec, isGlobal) }
            }
            return nil
        }

        func resolveLong(_ name: Substring, spelled: String) throws(ArgvParseFailure) -> (OptionSpec, Bool, Bool) {
            let tables = visibleTables
            for (table, isGlobal) in tables {
                if let (spec, negated) = table.long(exactly: name) { return (spec, negated, isGlobal) }
            }
            var candidates: [(spelling: String, spec: OptionSpec, negated: Bool, isGlobal: Bool)] = []
            if !name.isEmpty {
                for (table, isGlobal) in tables where mayAbbreviate(isGlobal: isGlobal) {
                    for match in table.longs(withPrefix: name) {
                        candidates.append((match.spelling, match.spec, match.negated, isGlobal))
                    }
                }
            }
            // Several spellings of one option (its positive form only can prefix-match both) are one match.
            var distinct: [(spelling: String, spec: OptionSpec, negated: Bool, isGlobal: Bool)] = []
            for candidate in candidates
            where !distinct.contains(where: { $0.spec == candidate.spec && $0.negated == candidate.negated }) {
                distinct.append(candidate)
            }
            if distinct.count == 1 {
                return (distinct[0].spec, distinct[0].negated, distinct[0].isGlobal)
            }
            if distinct.count > 1 {
                let dashes = grammar.style == .go ? "-" : "--"
                let names = distinct.map { dashes + $0.spelling }.joined(separator: ", ")
                throw fail(.ambiguousOption, "ambiguous option '\(spelled)' could be any of: \(names)", at: index - 1)
            }
            throw fail(.unknownOption, "unknown option '\(spelled)' for \(describeCommand())", at: index - 1)
        }

        func mayAbbreviate(isGlobal: Bool) -> Bool {
            switch grammar.abbreviations {
            case .none: false
            case .all: true
            case .subcommands: !isGlobal
            }
        }

        func describeCommand() -> String {
            ([parser.tool] + node.path).joined(separator: " ")
        }

        func fail(_ kind: ArgvParseFailure.Kind, _ message: String, at argumentIndex: Int) -> ArgvParseFailure {
            ArgvParseFailure(kind: kind, message: message, subcommandPath: node.path, argumentIndex: argumentIndex)
        }

        /// argparse's test: starts with `-`, and is not a negative number.
        static func looksLikeOption(_ word: String) -> Bool {
            guard word.hasPrefix("-"), word.count > 1 else { return false }
            return Double(word) == nil
        }

        /// Go's strconv.ParseBool, which both pflag and Go's flag use.
        static func boolean(_ text: Substring) -> Bool? {
            switch text {
            case "1", "t", "T", "true", "TRUE", "True": true
            case "0", "f", "F", "false", "FALSE", "False": false
            default: nil
            }
        }
    }
}
