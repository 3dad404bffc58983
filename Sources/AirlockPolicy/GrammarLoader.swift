import Yams

/// Reads a tool grammar file into a `ToolGrammar`, reporting every error with its location.
struct GrammarLoader {
    let reader: YAMLReader
    private var style: ToolGrammar.Style = .gnu
    private var globalOptionsAnywhere = false
    private var optionSets: [String: [OptionSpec]] = [:]
    private var rootOptions = OptionTable([])
    /// The root command's spellings, by index into `rootOptions.specs`.
    private var rootSpellings: [String: Int] = [:]

    init(file: String) {
        self.reader = YAMLReader(file: file)
    }

    /// The grammar, or nil when errors were recorded in `reader.errors`.
    mutating func load(_ text: String) -> (grammar: ToolGrammar?, document: Node?) {
        guard let document = reader.compose(text) else { return (nil, nil) }
        let grammarKeys = [
            "description", "style", "abbreviations", "global_options", "options_after_positionals", "option_sets",
            "anywhere_flags",
        ]
        guard
            let fields = reader.fields(
                document, "the grammar", allowed: grammarKeys + Self.commandKeys, required: ["style"])
        else { return (nil, document) }
        let description = fields["description"].flatMap { reader.string($0, "description") } ?? ""
        style = fields["style"].flatMap { reader.choice($0, "style", as: ToolGrammar.Style.self) } ?? .gnu
        let abbreviations =
            fields["abbreviations"].flatMap { reader.choice($0, "abbreviations", as: ToolGrammar.Abbreviations.self) }
            ?? ToolGrammar.Abbreviations.none
        if let node = fields["global_options"], let text = reader.string(node, "global_options") {
            switch text {
            case "anywhere": globalOptionsAnywhere = true
            case "before-subcommand": globalOptionsAnywhere = false
            default: reader.error(.invalidValue, "global_options must be 'anywhere' or 'before-subcommand'; found '\(text)'", at: node)
            }
        }
        let optionsAfterPositionals =
            fields["options_after_positionals"].flatMap { reader.bool($0, "options_after_positionals") } ?? true
        if let node = fields["option_sets"], let entries = reader.entries(node, "option_sets") {
            for (name, _, value) in entries {
                optionSets[name] = specs(value, "option set '\(name)'")
            }
        }
        var anywhereFlags: Set<String> = []
        if let node = fields["anywhere_flags"], let items = reader.stringItems(node, "anywhere_flags") {
            for (word, item) in items {
                if word.hasPrefix("-"), OptionSpec.isValidName(Substring(word.drop { $0 == "-" })) {
                    anywhereFlags.insert(word)
                } else {
                    reader.error(.invalidValue, "anywhere_flags lists exact words such as -no-color; found '\(word)'", at: item)
                }
            }
        }
        let root = command(fields, name: "", path: [], isRoot: true)
        guard reader.errors.isEmpty, let root else { return (nil, document) }
        let grammar = ToolGrammar(
            description: description, style: style, abbreviations: abbreviations,
            globalOptionsAnywhere: globalOptionsAnywhere, optionsAfterPositionals: optionsAfterPositionals,
            anywhereFlags: anywhereFlags, root: root)
        return (grammar, document)
    }

    static let commandKeys = ["options", "include", "subcommands", "aliases", "runnable", "number_option", "positionals"]

    private mutating func command(_ fields: Fields, name: String, path: [String], isRoot: Bool) -> CommandNode? {
        // Only messages use it: made when one is.
        func what() -> String { isRoot ? "the root command" : "command '\(path.joined(separator: " "))'" }
        var specs: [(OptionSpec, Node)] = []
        if let node = fields["options"], let list = reader.sequence(node, "options of \(what())") {
            for item in list {
                if let spec = spec(item, "an option of \(what())") { specs.append((spec, item)) }
            }
        }
        if let node = fields["include"], let items = reader.stringItems(node, "include of \(what())") {
            for (setName, item) in items {
                guard let set = optionSets[setName] else {
                    let known = optionSets.keys.sorted().joined(separator: ", ")
                    reader.error(.unknownReference, "unknown option set '\(setName)' in \(what()) (known: \(known))", at: item)
                    continue
                }
                specs += set.map { ($0, item) }
            }
        }
        let spellings = checkSpellings(specs, in: what(), isRoot: isRoot)
        let table = OptionTable(specs.map(\.0))
        if isRoot {
            rootOptions = table
            rootSpellings = spellings
        }

        var children: [String: CommandNode] = [:]
        var takenNames: [String: String] = [:]
        if let node = fields["subcommands"], let entries = reader.entries(node, "subcommands of \(what())") {
            for (childName, keyNode, value) in entries {
                guard OptionSpec.isValidName(Substring(childName)) else {
                    reader.error(.invalidValue, "invalid subcommand name '\(childName)' in \(what())", at: keyNode)
                    continue
                }
                let childPath = path + [childName]
                let childWhat = "command '\(childPath.joined(separator: " "))'"
                let childFields: Fields?
                if case let .scalar(scalar) = value, ["", "~", "null"].contains(scalar.string) {
                    childFields = Fields(node: value, values: [:])  // `status:` with nothing: a leaf without options
                } else {
                    childFields = reader.fields(value, childWhat, allowed: Self.commandKeys + ["description"])
                }
                guard let childFields, let child = command(childFields, name: childName, path: childPath, isRoot: false)
                else { continue }
                for alias in [childName] + child.aliases {
                    if let other = takenNames[alias] {
                        reader.error(.duplicate, "'\(alias)' names both '\(other)' and '\(childName)' under \(what())", at: keyNode)
                    }
                    takenNames[alias] = childName
                }
                children[childName] = child
            }
        }
        let aliases = fields["aliases"].flatMap { reader.stringList($0, "aliases of \(what())") } ?? []
        let runnable = fields["runnable"].flatMap { reader.bool($0, "runnable of \(what())") } ?? children.isEmpty
        var numberOption: String?
        if let node = fields["number_option"], let option = reader.string(node, "number_option of \(what())") {
            let visible = table.spec(named: option) ?? (globalOptionsAnywhere ? rootOptions.spec(named: option) : nil)
            if let visible, visible.arity == .required {
                numberOption = option
            } else {
                reader.error(.unknownReference, "number_option '\(option)' of \(what()) must name an option of that command that takes a value", at: node)
            }
        }
        let positionals =
            fields["positionals"].flatMap { reader.choice($0, "positionals of \(what())", as: CommandNode.PositionalKind.self) }
            ?? .text
        return CommandNode(
            name: name, path: path, aliases: aliases, options: table, subcommands: children, runnable: runnable,
            numberOption: numberOption, positionalKind: positionals)
    }

    private func specs(_ node: Node, _ what: @autoclosure () -> String) -> [OptionSpec] {
        guard let list = reader.sequence(node, what()) else { return [] }
        return list.compactMap { spec($0, "an option of \(what())") }
    }

    private func spec(_ node: Node, _ what: @autoclosure () -> String) -> OptionSpec? {
        guard let text = reader.string(node, what()) else { return nil }
        switch OptionSpec.parse(text, style: style) {
        case let .success(spec): return spec
        case let .failure(error):
            reader.error(.invalidValue, "\(what()) '\(text)': \(error.message)", at: node)
            return nil
        }
    }

    /// A spelling or canonical name used twice where both are visible would make argv ambiguous.
    ///
    /// - Returns: each spelling of `specs` (`-x`, `--long`) with the index of its spec.
    private func checkSpellings(_ specs: [(OptionSpec, Node)], in what: @autoclosure () -> String, isRoot: Bool) -> [String: Int] {
        // Holders are kept by index, and messages made only for an error: not for every spelling,
        // and the global options are not copied into every command's table, at every start.
        let inheritsGlobals = !isRoot && globalOptionsAnywhere
        var names: [String: Int] = [:]
        var spellings: [String: Int] = [:]
        names.reserveCapacity(specs.count)
        spellings.reserveCapacity(specs.count * 2)
        for (index, (spec, node)) in specs.enumerated() {
            if let other = names.updateValue(index, forKey: spec.name) {
                reader.error(
                    .duplicate, "option name '\(spec.name)' is used twice in \(what()) ('\(specs[other].0.synopsis)' and '\(spec.synopsis)')",
                    at: node)
            }
            func claim(_ spelling: String) {
                if let other = spellings.updateValue(index, forKey: spelling) {
                    reader.error(.duplicate, "'\(spelling)' of option '\(spec.name)' is already option '\(specs[other].0.name)' in \(what())", at: node)
                } else if inheritsGlobals, let global = rootSpellings[spelling] {
                    reader.error(
                        .duplicate, "'\(spelling)' of option '\(spec.name)' is already the global option '\(rootOptions.specs[global].name)' in \(what())",
                        at: node)
                }
            }
            for short in spec.shorts { claim("-" + short) }
            for long in spec.longs { claim("--" + long) }
        }
        return spellings
    }
}
