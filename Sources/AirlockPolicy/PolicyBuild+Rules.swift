import Yams

/// Reading rules: every name a rule uses is checked against the tools' grammars.
extension PolicyBuild {
    mutating func rules(_ node: Node, effect: Rule.Effect, context: String, tools: [String: ToolPolicy]) -> [Rule] {
        let what = "\(effect.rawValue) rules of context '\(context)'"
        guard let list = reader.sequence(node, what) else { return [] }
        return list.compactMap { rule($0, effect: effect, context: context, tools: tools) }
    }

    mutating func rule(_ node: Node, effect: Rule.Effect, context: String, tools: [String: ToolPolicy]) -> Rule? {
        let errorsBefore = reader.errors.count
        // Name the rule by its id in errors, when it has one, even before the id is checked.
        let ruleWhat = node["id"]?.string.map { "rule '\($0)'" } ?? "an \(effect.rawValue) rule of context '\(context)'"
        guard let fields = reader.fields(node, ruleWhat, allowed: Self.ruleKeys, required: ["id", "reason", "tool"]) else { return nil }
        let id = fields["id"].flatMap { reader.nonEmptyString($0, "id of \(ruleWhat)") }
        let what = id.map { "rule '\($0)'" } ?? ruleWhat
        if let id, let idNode = fields["id"] {
            if id.hasPrefix("airlock.") {
                reader.error(.invalidValue, "rule ids starting with 'airlock.' are reserved for Airlock's own decisions", at: idNode)
            } else if let first = ruleIDs[id] {
                reader.error(.duplicate, "rule id '\(id)' is already used at \(first)", at: idNode)
            } else {
                ruleIDs[id] = reader.location(idNode)
            }
        }
        let reason = fields["reason"].flatMap { reader.nonEmptyString($0, "reason of \(what)") }

        var ruleTools: [ToolPolicy] = []
        if let node = fields["tool"], let items = reader.stringItems(node, "tool of \(what)") {
            for (name, item) in items {
                if let tool = tools[name] {
                    ruleTools.append(tool)
                } else {
                    reader.error(.unknownReference, "\(what) names unknown tool '\(name)' (known: \(tools.keys.sorted().joined(separator: ", ")))", at: item)
                }
            }
        }
        guard !ruleTools.isEmpty else { return nil }

        // The commands the rule can apply to, per tool: the names it uses must exist there.
        var subcommands: [SubcommandPattern]?
        var commandsByTool: [String: [CommandNode]] = [:]
        for tool in ruleTools {
            let commands = commandsOfTool[tool.name] ?? tool.grammar.allCommands
            commandsOfTool[tool.name] = commands
            commandsByTool[tool.name] = commands
        }
        if let node = fields["subcommand"], let items = reader.stringItems(node, "subcommand of \(what)") {
            var patterns: [SubcommandPattern] = []
            var matched: [String: [CommandNode]] = [:]
            for (text, item) in items {
                let pattern = SubcommandPattern(text)
                if pattern.segments.dropLast().contains("**") {
                    reader.error(.invalidValue, "'**' may only end a subcommand pattern, in \(what)", at: item)
                }
                for tool in ruleTools {
                    let hits = commandsByTool[tool.name]!.filter { pattern.matches($0.path) }
                    if hits.isEmpty {
                        reader.error(.unknownReference, "\(what) names subcommand '\(text)', which the \(tool.name) grammar (\(tool.grammarFile)) does not have", at: item)
                    }
                    matched[tool.name, default: []] += hits
                }
                patterns.append(pattern)
            }
            subcommands = patterns
            commandsByTool = matched
        }

        var conditions: [Condition] = []
        if let node = fields["options"] { conditions += optionConditions(node, what, ruleTools, commandsByTool) }
        if let node = fields["option_values"], let entries = reader.entries(node, "option_values of \(what)") {
            for (name, keyNode, value) in entries {
                if name != "*" {
                    checkOptionNames([(name, keyNode)], what, ruleTools, commandsByTool, needsValue: true)
                }
                conditions += quantified(value, "option_values '\(name)' of \(what)", allowCounts: false).map {
                    .optionValues(option: name == "*" ? nil : name, $0)
                }
            }
        }
        if let node = fields["positionals"] { conditions += positionalConditions(node, what) }
        if let node = fields["resource_types"] {
            conditions += quantified(node, "resource_types of \(what)", allowCounts: false).map { .resourceTypes($0) }
        }
        if let node = fields["paths"], let condition = pathCondition(node, what, ruleTools, commandsByTool) {
            conditions.append(condition)
        }
        guard reader.errors.count == errorsBefore, let id, let reason else { return nil }
        let rule = Rule(
            id: id, effect: effect, reason: reason, tools: Set(ruleTools.map(\.name)), subcommands: subcommands,
            conditions: conditions, context: context, location: reader.location(node))
        if let node = fields["examples"] { checkExamples(node, of: rule, what, ruleTools) }
        return reader.errors.count == errorsBefore ? rule : nil
    }

    /// `examples: {match: [argv...], not_match: [argv...]}`: each argv (the tool first) is parsed
    /// with its tool's grammar and the rule is tried on it, as the judge would; an example that
    /// does not come out as written is an error at its location, so a rule and its intent cannot
    /// drift apart unnoticed.
    func checkExamples(_ node: Node, of rule: Rule, _ what: String, _ tools: [ToolPolicy]) {
        guard let fields = reader.fields(node, "examples of \(what)", allowed: ["match", "not_match"]) else { return }
        for (key, shouldMatch) in [("match", true), ("not_match", false)] {
            guard let listNode = fields[key], let examples = reader.sequence(listNode, "\(key) examples of \(what)") else { continue }
            for example in examples {
                guard case .sequence = example, let argv = reader.stringList(example, "each \(key) example of \(what)") else {
                    reader.error(.wrongType, "each \(key) example of \(what) must be an argv list such as [git, push, -f]", at: example)
                    continue
                }
                let shown = "[" + argv.joined(separator: ", ") + "]"
                guard let toolName = argv.first, let tool = tools.first(where: { $0.name == toolName }) else {
                    let names = tools.map(\.name).sorted().joined(separator: ", ")
                    reader.error(.invalidValue, "the \(key) example \(shown) of \(what) must start with the rule's tool (\(names))", at: example)
                    continue
                }
                switch tool.parser.parse(Array(argv.dropFirst())) {
                case let .failure(failure):
                    reader.error(.invalidValue, "the \(key) example \(shown) of \(what) does not parse: \(failure.message)", at: example)
                case let .success(parsed):
                    if rule.matches(parsed) != shouldMatch {
                        let outcome = shouldMatch ? "the rule does not match it" : "the rule matches it"
                        reader.error(.invalidValue, "the \(key) example \(shown) of \(what) fails: \(outcome)", at: example)
                    }
                }
            }
        }
    }

    mutating func optionConditions(_ node: Node, _ what: String, _ tools: [ToolPolicy], _ commands: [String: [CommandNode]]) -> [Condition] {
        guard let fields = reader.fields(node, "options of \(what)", allowed: ["any", "all", "none", "only"]) else { return [] }
        var conditions: [Condition] = []
        for key in ["any", "all", "none", "only"] {
            guard let value = fields[key], let items = reader.stringItems(value, "options.\(key) of \(what)") else { continue }
            checkOptionNames(items, what, tools, commands, needsValue: false)
            let names = items.map(\.0)
            switch key {
            case "any": conditions.append(.anyOption(names))
            case "all": conditions.append(.allOptions(names))
            case "none": conditions.append(.noOption(names))
            default: conditions.append(.onlyOptions(Set(names)))
            }
        }
        return conditions
    }

    /// Each name must be an option of every tool of the rule, at a command the rule applies to
    /// (the root's options count everywhere: they can be given before the subcommand).
    func checkOptionNames(_ items: [(String, Node)], _ what: String, _ tools: [ToolPolicy], _ commands: [String: [CommandNode]], needsValue: Bool) {
        for (name, item) in items {
            for tool in tools {
                let candidates = [tool.grammar.root] + (commands[tool.name] ?? [])
                let spec = candidates.lazy.compactMap { $0.options.spec(named: name) }.first
                guard let spec else {
                    let scope = commands[tool.name].map { nodes in
                        nodes.count == 1 ? "'\(([tool.name] + nodes[0].path).joined(separator: " "))'" : "the rule's subcommands"
                    } ?? tool.name
                    reader.error(.unknownReference, "\(what) names option '\(name)', which \(scope) does not have in \(tool.grammarFile)", at: item)
                    continue
                }
                if needsValue && spec.arity == .none {
                    reader.error(.invalidValue, "\(what) tests values of option '\(name)', which takes no value", at: item)
                }
            }
        }
    }

    func positionalConditions(_ node: Node, _ what: String) -> [Condition] {
        var conditions = quantified(node, "positionals of \(what)", allowCounts: true).map { Condition.positionals($0) }
        if case let .mapping(mapping) = node {
            let minimum = mapping["min"].flatMap { reader.integer($0, "positionals.min of \(what)") }
            let maximum = mapping["max"].flatMap { reader.integer($0, "positionals.max of \(what)") }
            if minimum != nil || maximum != nil { conditions.append(.positionalCount(min: minimum, max: maximum)) }
        }
        return conditions
    }

    /// `{any|all|none: pattern}`; for positionals also `min`/`max`.
    func quantified(_ node: Node, _ what: String, allowCounts: Bool) -> [Quantified] {
        let keys = Quantified.Quantifier.allCases.map(\.rawValue) + (allowCounts ? ["min", "max"] : [])
        guard let fields = reader.fields(node, what, allowed: keys) else { return [] }
        if fields.values.isEmpty {
            reader.error(.missingKey, "\(what) needs one of: \(keys.joined(separator: ", "))", at: node)
        }
        return Quantified.Quantifier.allCases.compactMap { quantifier in
            guard let value = fields[quantifier.rawValue], let pattern = pattern(value, "\(what).\(quantifier.rawValue)") else { return nil }
            return Quantified(quantifier, pattern)
        }
    }

    /// A glob, a list of globs, or `{glob, regex, split, ignore_case}`.
    func pattern(_ node: Node, _ what: String) -> ValuePattern? {
        switch node {
        case .scalar, .sequence:
            guard let globs = reader.stringList(node, what) else { return nil }
            return ValuePattern(globs: globs.map { Glob($0, ignoreCase: false) }, regexes: [])
        default:
            guard let fields = reader.fields(node, what, allowed: ["glob", "regex", "split", "ignore_case"]) else { return nil }
            let ignoreCase = fields["ignore_case"].flatMap { reader.bool($0, "ignore_case of \(what)") } ?? false
            let globs = fields["glob"].flatMap { reader.stringList($0, "glob of \(what)") } ?? []
            var regexes: [WholeRegex] = []
            if let regexNode = fields["regex"], let items = reader.stringItems(regexNode, "regex of \(what)") {
                for (source, item) in items {
                    do {
                        regexes.append(try WholeRegex(source, ignoreCase: ignoreCase))
                    } catch {
                        reader.error(.invalidValue, "invalid regular expression '\(source)' in \(what): \(error)", at: item)
                    }
                }
            }
            if globs.isEmpty && fields["regex"] == nil {
                reader.error(.missingKey, "\(what) needs 'glob' or 'regex'", at: node)
            }
            let split = fields["split"].flatMap { reader.string($0, "split of \(what)") } ?? ""
            return ValuePattern(
                globs: globs.map { Glob($0, ignoreCase: ignoreCase) }, regexes: regexes, split: Set(split), ignoreCase: ignoreCase)
        }
    }

    func pathCondition(_ node: Node, _ what: String, _ tools: [ToolPolicy], _ commands: [String: [CommandNode]]) -> Condition? {
        guard let fields = reader.fields(node, "paths of \(what)", allowed: ["within", "outside", "options", "positionals"]) else { return nil }
        var options: Set<String>?
        if let node = fields["options"], let items = reader.stringItems(node, "paths.options of \(what)") {
            checkOptionNames(items, what, tools, commands, needsValue: true)
            options = Set(items.map(\.0))
        }
        // Naming options narrows the check to them; positionals count only when asked for then.
        let positionals = fields["positionals"].flatMap { reader.bool($0, "paths.positionals of \(what)") } ?? (options == nil)
        let scope = PathScope(options: options, positionals: positionals)
        func roots(_ node: Node, _ key: String) -> [String]? {
            guard let items = reader.stringItems(node, "paths.\(key) of \(what)") else { return nil }
            for (root, item) in items where !root.hasPrefix("/") || PathConfinement.resolve(root) != root {
                reader.error(.invalidValue, "paths.\(key) of \(what) must list normalized absolute directories; found '\(root)'", at: item)
            }
            return items.map(\.0)
        }
        switch (fields["within"], fields["outside"]) {
        case let (within?, nil): return roots(within, "within").map { .pathsWithin(roots: $0, scope: scope) }
        case let (nil, outside?): return roots(outside, "outside").map { .pathsOutside(roots: $0, scope: scope) }
        default:
            reader.error(.missingKey, "paths of \(what) needs exactly one of 'within' or 'outside'", at: node)
            return nil
        }
    }
}
