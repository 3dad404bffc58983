@testable import AirlockPolicy
import Testing

/// Writes a parsed command back as argv in a randomly chosen, equivalent spelling: options
/// permuted (same-name occurrences keep their order: the last one wins), `--opt=value` or
/// `--opt value`, short flags bundled or not, long options abbreviated where the tool accepts it.
struct EquivalentSpelling {
    let grammar: ToolGrammar
    var random: SeededGenerator

    mutating func render(_ command: ParsedCommand) -> [String]? {
        guard let node = grammar.command(at: command.subcommandPath) else { return nil }
        // Spell each option in the scope it will be read in.
        var globalGroups: [[String]] = []
        var ownGroups: [(tokens: [String], name: String)] = []
        var globalNames: [String] = []
        for option in command.options {
            let afterSubcommand = !option.isGlobal || (grammar.globalOptionsAnywhere && !node.path.isEmpty && Bool.random(using: &random))
            let table = option.isGlobal ? grammar.root.options : node.options
            guard let spec = table.spec(named: option.name) else { return nil }
            let visible: [(OptionTable, Bool)] =
                afterSubcommand && !node.path.isEmpty
                ? (grammar.globalOptionsAnywhere ? [(node.options, false), (grammar.root.options, true)] : [(node.options, false)])
                : [(grammar.root.options, true)]
            guard let tokens = spell(option, spec, visible: visible) else { return nil }
            if afterSubcommand || node.path.isEmpty {
                ownGroups.append((tokens, option.name))
            } else {
                globalGroups.append(tokens)
                globalNames.append(option.name)
            }
        }
        let orderedOwn = permuted(ownGroups)
        let orderedGlobal = permuted(zip(globalGroups, globalNames).map { ($0, $1) })
        var path: [String] = []
        var current = grammar.root
        for name in command.subcommandPath {
            let child = current.subcommands[name]!
            path.append(([name] + child.aliases).randomElement(using: &random)!)
            current = child
        }
        var positionals = command.positionals
        let needsTerminator = positionals.contains { ($0.hasPrefix("-") && $0 != "-") || node.subcommandNames[$0] != nil }
        var argv = bundled(orderedGlobal) + path
        if needsTerminator || !grammar.optionsAfterPositionals || Bool.random(using: &random) {
            argv += bundled(orderedOwn)
            if needsTerminator { argv.append("--") }
            argv += positionals
        } else {
            // Interleave: some options after the positionals, as git, pflag and argparse allow.
            let split = Int.random(in: 0...orderedOwn.count, using: &random)
            argv += bundled(Array(orderedOwn[..<split]))
            if !positionals.isEmpty { argv.append(positionals.removeFirst()) }
            argv += bundled(Array(orderedOwn[split...]))
            argv += positionals
        }
        return argv
    }

    /// Shuffles option groups, keeping same-name occurrences in their original order.
    private mutating func permuted(_ groups: [(tokens: [String], name: String)]) -> [[String]] {
        var slots = groups.map(\.name)
        slots.shuffle(using: &random)
        var queues: [String: [[String]]] = [:]
        for group in groups { queues[group.name, default: []].append(group.tokens) }
        return slots.map { name in queues[name]!.removeFirst() }
    }

    /// Joins runs of single short flags (`-f`, `-u`) into bundles (`-fu`), sometimes.
    private mutating func bundled(_ groups: [[String]]) -> [String] {
        var result: [String] = []
        var bundle = ""
        func flush() {
            if !bundle.isEmpty { result.append("-" + bundle) }
            bundle = ""
        }
        for group in groups {
            if grammar.style != .go, group.count == 1, let token = group.first, token.count == 2, token.hasPrefix("-"),
                token != "--", Bool.random(using: &random)
            {
                bundle += token.dropFirst()
            } else {
                flush()
                result += group
            }
        }
        flush()
        return result
    }

    private mutating func spell(_ option: ParsedOption, _ spec: OptionSpec, visible: [(OptionTable, Bool)]) -> [String]? {
        let dashes = grammar.style == .go ? (Bool.random(using: &random) ? "-" : "--") : "--"
        if option.negated {
            if let long = spec.longs.randomElement(using: &random), spec.negatable {
                return [dashes + abbreviated("no-" + long, spec, negated: true, visible: visible)]
            }
            guard grammar.style.acceptsBooleanValues, let long = spec.longs.first else { return nil }
            return [dashes + long + "=false"]
        }
        let useShort = !spec.shorts.isEmpty && (spec.longs.isEmpty || Bool.random(using: &random))
        let short = spec.shorts.first.map { "-" + $0 }
        let long = spec.longs.randomElement(using: &random).map { dashes + abbreviated($0, spec, negated: false, visible: visible) }
        switch spec.arity {
        case .none:
            if grammar.style.acceptsBooleanValues, !useShort, let long, Bool.random(using: &random) { return [long + "=true"] }
            return [useShort ? short! : long!]
        case .required:
            let value = option.value ?? ""
            if useShort, let short {
                if value.isEmpty || Bool.random(using: &random) { return [short, value] }
                return [short + value]
            }
            guard let long else { return nil }
            return Bool.random(using: &random) ? [long + "=" + value] : [long, value]
        case .optional:
            guard let value = option.value else { return [useShort ? short! : long!] }
            if useShort, let short, !value.isEmpty { return [short + value] }
            guard let long else { return nil }
            return [long + "=" + value]
        }
    }

    /// A unique prefix of `spelling` when the scope accepts abbreviations, chosen at random.
    private mutating func abbreviated(_ spelling: String, _ spec: OptionSpec, negated: Bool, visible: [(OptionTable, Bool)]) -> String {
        let abbreviable = visible.filter { table, isGlobal in
            switch grammar.abbreviations {
            case .none: false
            case .all: true
            case .subcommands: !isGlobal
            }
        }
        guard !abbreviable.isEmpty else { return spelling }
        var valid: [String] = []
        for length in 1...spelling.count {
            let prefix = Substring(spelling.prefix(length))
            if let exact = visible.lazy.compactMap({ $0.0.long(exactly: prefix) }).first {
                if exact.spec == spec && exact.negated == negated { valid.append(String(prefix)) }
                continue
            }
            var matches: [(OptionSpec, Bool)] = []
            for (table, _) in abbreviable {
                for match in table.longs(withPrefix: prefix) where !matches.contains(where: { $0.0 == match.spec && $0.1 == match.negated }) {
                    matches.append((match.spec, match.negated))
                }
            }
            if matches.count == 1, matches[0].0 == spec, matches[0].1 == negated { valid.append(String(prefix)) }
        }
        return valid.randomElement(using: &random) ?? spelling
    }
}

@Suite("Decisions do not depend on spelling")
struct JudgePropertyTests {
    static let bases: [(context: String, command: String)] = [
        ("readonly", "git --no-pager log --oneline -n 5 --graph --author=alice -- src"),
        ("readonly", "git -C sub status -s -b -uno"),
        ("readonly", "git grep -n -i -e foo --and -e bar"),
        ("readonly", "git log --output=/tmp/x --stat"),
        ("readonly", "git -c x=y log -p"),
        ("readonly", "git diff --ext-diff --stat -M"),
        ("readonly", "git branch -a -v --contains HEAD"),
        ("readonly", "git branch -d -f topic"),
        ("readonly", "git -C /etc log --since=yesterday"),
        ("developer", "git push -f -u origin main"),
        ("developer", "git push --force-with-lease=main -q -u origin main"),
        ("developer", "git push -u -q --tags origin main"),
        ("developer", "git push --no-force --force origin main"),
        ("developer", "git push --force --no-force -v origin main"),
        ("developer", "git push --mirror -v origin"),
        ("developer", "git push --delete -q origin topic"),
        ("developer", "git commit -a -s -m msg --no-verify"),
        ("developer", "git rebase -x make -q main"),
        ("developer", "git fetch --upload-pack=/bin/sh -p origin"),
        ("readonly", "kubectl get pods -n default -o wide -A -l app=web"),
        ("readonly", "kubectl get secrets -n default -o yaml"),
        ("readonly", "kubectl get pods --kubeconfig /tmp/k -n x"),
        ("readonly", "kubectl logs web -c app -f --tail 10"),
        ("readonly", "kubectl get --raw /api -v 9"),
        ("readonly", "gh pr list -R owner/repo -L 5 --state open"),
        ("readonly", "gh pr view 1 -w --comments"),
        ("readonly", "terraform -chdir=infra plan -out=/tmp/p -var-file=x.tfvars -lock=false"),
        ("readonly", "terraform fmt -check -recursive -diff"),
        ("readonly", "terraform fmt -check -write"),
        ("readonly", "terraform plan -out=plan -destroy"),
        ("readonly", "aws ec2 describe-instances --region us-east-1 --output json --filters Name=x,Values=y"),
        ("readonly", "aws s3 ls s3://b --recursive --endpoint-url http://e"),
        ("readonly", "aws s3 ls --profile p --summarize"),
    ]

    @Test("respelling a command never changes its decision", arguments: bases.indices)
    func respelling(index: Int) throws {
        let (context, command) = Self.bases[index]
        let argv = command.split(separator: " ").map(String.init)
        let tool = argv[0]
        let original = TestSupport.judge.decide(JudgeRequest(tool: tool, argv: Array(argv.dropFirst()), securityContext: context))
        let parsed = try #require(original.parsedCommand, "the base command must parse: \(original.reason)")
        var spelling = EquivalentSpelling(grammar: TestSupport.grammar(tool), random: SeededGenerator(seed: UInt64(index + 1)))
        var rendered = 0
        for _ in 0..<40 {
            guard let variant = spelling.render(parsed) else { continue }
            rendered += 1
            let decision = TestSupport.judge.decide(JudgeRequest(tool: tool, argv: variant, securityContext: context))
            let same = decision.allowed == original.allowed && decision.ruleID == original.ruleID
            #expect(same, "\(tool) \(variant.joined(separator: " ")) -> \(decision.ruleID) (\(decision.reason)); original \(original.ruleID)")
            #expect(decision.parsedCommand.map(Self.meaning) == Self.meaning(parsed), "\(variant)")
        }
        #expect(rendered >= 20, "the spelling generator must produce variants for \(command)")
    }

    /// What a parse means, independent of spelling and order among different options.
    static func meaning(_ command: ParsedCommand) -> [String] {
        var byName: [String: [String]] = [:]
        for option in command.options {
            byName[option.name, default: []].append((option.negated ? "!" : "") + (option.value ?? ""))
        }
        return [command.subcommandPath.joined(separator: " ")] + byName.keys.sorted().map { "\($0)=\(byName[$0]!)" }
            + ["positionals: \(command.positionals)"]
    }
}
