@testable import AirlockPolicy
import Foundation
import Testing

/// The probe set, the structural diff and the decision diff of `airlock policy diff`.
@Suite("Policy diff")
struct PolicyDiffTests {
    static let shippedText: String = {
        do {
            return try String(contentsOfFile: TestSupport.defaultPolicyPath, encoding: .utf8)
        } catch {
            fatalError("cannot read the default policy: \(error)")
        }
    }()

    /// The shipped policy with one edit, loaded as the shipped one is (grammars from the repository).
    static func edited(_ old: String, _ new: String) throws -> Policy {
        try #require(shippedText.contains(old), "the shipped policy no longer has: \(old)")
        return try TestSupport.load(shippedText.replacingOccurrences(of: old, with: new))
    }

    /// git-no-force-push without force-with-lease, and without the examples that no longer hold.
    static let dropForceWithLease = (
        "options: {any: [force, force-with-lease, force-if-includes]}\n        reason: force push rewrites shared history\n"
            + "        examples:\n          match: [[git, push, -f], [git, push, --force-with-lease, origin, main], [git, push, --force-w, origin, main]]",
        "options: {any: [force, force-if-includes]}\n        reason: force push rewrites shared history\n"
            + "        examples:\n          match: [[git, push, -f]]"
    )

    /// A deny rule only the new policy has, for `kubectl get configmaps`: its value is in no
    /// pattern of the old policy, so only the new one's patterns bring it into the probe set.
    static let denyConfigmaps = (
        "      - id: kubectl-no-raw-api\n",
        """
              - id: kubectl-no-configmaps
                tool: kubectl
                subcommand: get
                positionals: {any: [configmaps]}
                reason: configmaps are not for this context
              - id: kubectl-no-raw-api

        """
    )

    // MARK: values drawn from patterns

    @Test(
        "a glob's sample fills each wildcard and matches the glob",
        arguments: [
            ("team-*", "team-x"), ("file://*", "file://x"), ("*/*/*", "x/x/x"), ("+*", "+x"), ("[a-c]?", "ax"),
            ("[!x]y", "yy"), ("[]a]", "]"), ("v\\*", "v*"), ("secret", "secret"),
        ])
    func globSample(glob: String, sample: String) {
        #expect(GlobSample.value(of: Glob(glob, ignoreCase: false)) == sample)
    }

    @Test(
        "a regular expression's sample is checked against it; shapes it cannot make give none",
        arguments: [
            ("team-[0-9]+", "team-0"), ("(prod|staging)-.*", "prod-"), ("a{3}b?", "aaa"), ("v\\d\\.\\d+", "v0.0"),
            ("(?:us|eu)-west-[12]", "us-west-1"), ("[^a-z]x", "0x"),
        ])
    func regexSample(source: String, sample: String) throws {
        #expect(RegexSample.value(of: try WholeRegex(source, ignoreCase: false)) == sample)
    }

    @Test("regular expressions the sampler cannot follow give no sample, never a wrong one", arguments: ["(?<name>x)", "\\bword", "\\p{L}+", "(?=a)a"])
    func regexWithoutSample(source: String) throws {
        #expect(RegexSample.value(of: try WholeRegex(source, ignoreCase: false)) == nil)
    }

    @Test("a pattern that ignores case is probed in upper case too, and one that splits values after a neutral piece")
    func patternSamples() throws {
        let pattern = ValuePattern(globs: [Glob("Secret*", ignoreCase: true)], regexes: [], split: [","], ignoreCase: true)
        #expect(ValueSamples.samples(of: pattern) == ["secretx", "SECRETX", "x,secretx"])
        let plain = ValuePattern(globs: [Glob("file://*", ignoreCase: false)], regexes: [])
        #expect(ValueSamples.samples(of: plain) == ["file://x"])
    }

    // MARK: the probe set

    @Test("the probe set of the shipped policy: every command, each option alone with the rules' values, globals before the path")
    func shippedProbeSet() throws {
        let policy = TestSupport.defaultPolicy
        let probes = ProbeSet([policy])
        let argv = Set(probes.commands.map { [$0.tool] + $0.arguments })
        for expected in [
            ["git", "push"], ["git", "push", "--force-with-lease"], ["git", "push", "--force-with-lease=x"], ["git", "push", "x"],
            ["git", "push", "+x"], ["git", "push", ":x"],  // the push rules' refspec globs
            ["git", "-C", "/etc/x", "log"], ["git", "-C", "/workspace/x", "log"], ["git", "-C", "x", "log"],  // a global option's paths
            ["kubectl", "get", "secrets"], ["kubectl", "get", "SECRETS"], ["kubectl", "get", "x,secrets"],  // ignore_case, split
            ["gh", "pr", "list", "--repo=x/x/x"],  // an option's value pattern
            ["aws", "--endpoint-url=fileb://x", "s3", "ls"],  // the patterns for every option's value, a global option
            ["terraform", "plan", "-out=/tmp/x"], ["terraform", "plan", "-out=/etc/x"],  // go style, path roots
        ] {
            #expect(argv.contains(expected), "\(expected)")
        }
        // Each tool, each command of its grammar.
        for (name, tool) in policy.tools {
            let paths = Set(probes.commands.filter { $0.tool == name }.map(\.path))
            #expect(paths == Set(tool.grammar.allCommands.map(\.path)), "\(name)")
            // A command that needs a subcommand is refused whatever follows: probed alone.
            for node in tool.grammar.allCommands where !node.runnable {
                #expect(probes.commands.filter { $0.tool == name && $0.path == node.path }.map(\.arguments) == [node.path])
            }
        }
        // Every context, with no tenant and with each tenant that may use it.
        #expect(
            probes.placements == [
                .init(context: "developer", tenant: nil), .init(context: "developer", tenant: "default"),
                .init(context: "readonly", tenant: nil), .init(context: "readonly", tenant: "default"),
                .init(context: "readonly", tenant: "observer"),
            ])
        #expect(probes.count == probes.commands.count * 5)
        #expect(argv.count == probes.commands.count, "no argv is probed twice")
    }

    @Test("a value only the new policy names is probed; --tool and --context narrow the set")
    func probeSetScope() throws {
        let old = TestSupport.defaultPolicy
        let new = try Self.edited(Self.denyConfigmaps.0, Self.denyConfigmaps.1)
        let configmaps = ProbeSet.Command(tool: "kubectl", path: ["get"], arguments: ["get", "configmaps"])
        #expect(!ProbeSet([old]).commands.contains(configmaps))
        #expect(ProbeSet([old, new]).commands.contains(configmaps))

        let narrowed = ProbeSet([old, new], tools: ["kubectl"], contexts: ["developer"])
        #expect(Set(narrowed.commands.map(\.tool)) == ["kubectl"])
        #expect(Set(narrowed.placements.map(\.context)) == ["developer"])
    }

    // MARK: the structural diff

    @Test("conditions describe canonically: order does not count, values do, and quoting keeps them apart")
    func conditionDescriptions() throws {
        #expect(Condition.anyOption(["force", "force-with-lease"]).description == "options.any [force, force-with-lease]")
        #expect(Condition.anyOption(["force-with-lease", "force"]).description == Condition.anyOption(["force", "force-with-lease"]).description)
        #expect(Condition.anyOption(["force"]).description != Condition.allOptions(["force"]).description)
        #expect(Condition.anyOption(["a, b"]).description != Condition.anyOption(["a", "b"]).description)
        let secrets = ValuePattern(globs: [Glob("Secret", ignoreCase: true)], regexes: [], split: [","], ignoreCase: true)
        #expect(Condition.positionals(Quantified(.any, secrets)).description == #"positionals.any {glob: [secret], split: ",", ignore_case: true}"#)
        let caseSensitive = ValuePattern(globs: [Glob("secret", ignoreCase: false)], regexes: [], split: [","])
        #expect(Condition.positionals(Quantified(.any, caseSensitive)).description != Condition.positionals(Quantified(.any, secrets)).description)
        #expect(
            Condition.optionValues(option: nil, Quantified(.none, caseSensitive)).description
                == #"option_values.*.none {glob: [secret], split: ","}"#)
        #expect(Condition.positionalCount(min: nil, max: 0).description == "positionals.count [0..0]")
        let scope = PathScope(options: ["git-dir", "C"], positionals: false)
        #expect(Condition.pathsOutside(roots: ["/workspace"], scope: scope).description == "paths.outside [/workspace] (options [C, git-dir])")
        #expect(
            Condition.pathsWithin(roots: ["/workspace"], scope: scope).description
                != Condition.pathsOutside(roots: ["/workspace"], scope: scope).description)
    }

    @Test("the same policy: no structural change")
    func structuralIdentical() {
        #expect(PolicyDiff.structural(TestSupport.defaultPolicy, TestSupport.defaultPolicy).isEmpty)
    }

    @Test("a rule's changed condition is reported by id, with the condition before and after")
    func structuralRule() throws {
        let new = try Self.edited(Self.dropForceWithLease.0, Self.dropForceWithLease.1)
        let diff = PolicyDiff.structural(TestSupport.defaultPolicy, new)
        #expect(
            diff.rules == [
                EntryChange(
                    name: "git-no-force-push", kind: .changed,
                    fields: [
                        FieldChange(
                            field: "conditions", before: "options.any [force, force-if-includes, force-with-lease]",
                            after: "options.any [force, force-if-includes]")
                    ])
            ])
        #expect(diff.tools.isEmpty && diff.contexts.isEmpty && diff.tenants.isEmpty && diff.policy.isEmpty)
    }

    @Test("tools, contexts, tenants and rules added, removed or changed, with what changed")
    func structuralEntries() throws {
        var text = Self.shippedText
        for (old, new) in [
            ("image: airlock/tools:1\n    entrypoint: [/usr/bin/kubectl]", "image: airlock/tools:2\n    entrypoint: [/usr/bin/kubectl]"),
            ("limits: {memory: 1g, pids: 256", "limits: {memory: 2g, pids: 256"),
            ("      - root: /srv/airlock/kube\n", "      - root: /srv/airlock/kube\n        writable: true\n"),
            ("      NO_COLOR: \"1\"\n", ""),
            ("        reason: fetching and pushing without force keeps shared history intact",
             "        reason: fetching and pushing keep shared history"),
            ("      - id: gh-no-browser", "      - id: gh-no-web"),
            ("  observer:\n    description: a tenant that may only look\n    contexts: [readonly]\n    tools: [git, kubectl]\n", ""),
            ("  max_per_tenant: 16", "  max_per_tenant: 8"),
        ] {
            try #require(text.contains(old), "\(old)")
            text = text.replacingOccurrences(of: old, with: new)
        }
        text += "\n  ci:\n    contexts: [developer]\n"
        let new = try TestSupport.load(text)
        let old = TestSupport.defaultPolicy
        let digests = [old.tools["git"]!.container.seccompProfile: "sha256:aa"]
        let diff = PolicyDiff.structural(old, new) { path in digests[path] }

        #expect(diff.policy == [FieldChange(field: "registry.max_per_tenant", before: "16", after: "8")])
        #expect(
            diff.tenants == [
                EntryChange(name: "ci", kind: .added, fields: []), EntryChange(name: "observer", kind: .removed, fields: []),
            ])
        #expect(diff.contexts.isEmpty)
        let tools = Dictionary(uniqueKeysWithValues: diff.tools.map { ($0.name, $0) })
        #expect(tools["kubectl"]?.fields == [
            FieldChange(field: "image", before: "airlock/tools:1", after: "airlock/tools:2"),
            FieldChange(field: "mounts./srv/airlock/kube", before: "read-only", after: "writable"),
        ])
        #expect(tools["terraform"]?.fields == [FieldChange(field: "limits.memory", before: "1g", after: "2g")])
        #expect(tools["gh"]?.fields == [FieldChange(field: "environment.NO_COLOR", before: "1", after: nil)])
        #expect(tools["aws"] == nil)
        #expect(diff.rules.map(\.name) == ["gh-no-browser", "gh-no-web", "git-sync"])
        #expect(diff.rules.map(\.kind) == [.removed, .added, .changed])
        #expect(diff.rules.last?.fields.map(\.field) == ["reason"])
    }

    @Test("a seccomp profile's content and a grammar's options are compared too")
    func structuralProfileAndGrammar() throws {
        let policy = TestSupport.defaultPolicy
        let path = policy.tools["git"]!.container.seccompProfile
        let diff = PolicyDiff.structural(policy, policy) { $0 == path ? "sha256:\(UUID())" : nil }
        #expect(diff.tools.map(\.name) == ["aws", "gh", "git", "kubectl", "terraform"], "one profile, every tool uses it")
        #expect(diff.tools.allSatisfy { $0.fields.map(\.field) == ["seccomp"] })

        // A grammar without `push --force-if-includes`.
        let grammar = try String(contentsOfFile: TestSupport.repositoryRoot + "/policies/grammars/git.yaml", encoding: .utf8)
        let line = "      - \"--[no-]force-if-includes\"\n"
        try #require(grammar.contains(line))
        let withoutOption = grammar.replacingOccurrences(of: line, with: "")
        var policyText = Self.shippedText.replacingOccurrences(of: "force-with-lease, force-if-includes]", with: "force-with-lease]")
        policyText = policyText.replacingOccurrences(of: "grammar: grammars/git.yaml", with: "grammar: git-edited.yaml")
        let edited = try TestSupport.load(policyText, files: [TestSupport.repositoryRoot + "/policies/git-edited.yaml": withoutOption])
        let git = try #require(PolicyDiff.structural(policy, edited).tools.first { $0.name == "git" })
        #expect(git.fields == [FieldChange(field: "option 'git push' force-if-includes", before: "--[no-]force-if-includes", after: nil)])
    }

    // MARK: the decision diff

    @Test("the same policy twice: every probe decided alike")
    func decisionsIdentical() throws {
        let diff = try PolicyDiff.decisions(TestSupport.defaultPolicy, TestSupport.defaultPolicy)
        #expect(diff.changes.isEmpty && diff.differ == 0)
        #expect(diff.probed == ProbeSet([TestSupport.defaultPolicy]).count && diff.probed > 10_000)
        #expect(diff.contexts == ["developer", "readonly"])
    }

    @Test("dropping force-with-lease from git-no-force-push: its pushes are newly allowed in developer, by git-sync")
    func decisionsForcePush() throws {
        let new = try Self.edited(Self.dropForceWithLease.0, Self.dropForceWithLease.1)
        let diff = try PolicyDiff.decisions(TestSupport.defaultPolicy, new)
        let change = try #require(diff.newlyAllowed.first { $0.argv == ["git", "push", "--force-with-lease"] && $0.placement.tenant == nil })
        #expect(change.placement.context == "developer" && change.command.path == ["push"])
        #expect(!change.before.allowed && change.before.ruleID == "git-no-force-push")
        #expect(change.after.allowed && change.after.ruleID == "git-sync")
        // Only force-with-lease pushes flip, only in developer, with and without its tenant.
        #expect(diff.changes.allSatisfy { $0.kind == .newlyAllowed && $0.placement.context == "developer" })
        #expect(diff.changes.allSatisfy { $0.argv.contains { $0.hasPrefix("--force-with-lease") } })
        #expect(Set(diff.changes.map(\.placement.tenant)) == [nil, "default"])
        #expect(diff.differ == diff.changes.count)
    }

    @Test("a deny rule for kubectl get configmaps: newly denied in readonly and developer, the new rule deciding")
    func decisionsConfigmaps() throws {
        let new = try Self.edited(Self.denyConfigmaps.0, Self.denyConfigmaps.1)
        let diff = try PolicyDiff.decisions(TestSupport.defaultPolicy, new, tool: "kubectl")
        #expect(diff.newlyAllowed.isEmpty && diff.ruleChanged.isEmpty)
        let denied = diff.newlyDenied.filter { $0.argv == ["kubectl", "get", "configmaps"] && $0.placement.tenant == nil }
        #expect(denied.map(\.placement.context).sorted() == ["developer", "readonly"])
        #expect(denied.allSatisfy { $0.before.ruleID == "kubectl-inspect" && $0.after.ruleID == "kubectl-no-configmaps" })
        #expect(Set(diff.changes.map(\.argv)) == [["kubectl", "get", "configmaps"]])
    }

    @Test("a rule renamed: the same outcomes by another rule, listed but not counted as differing")
    func decisionsRuleRenamed() throws {
        let new = try Self.edited("      - id: git-sync\n", "      - id: git-push-and-fetch\n")
        let diff = try PolicyDiff.decisions(TestSupport.defaultPolicy, new)
        #expect(diff.differ == 0 && !diff.changes.isEmpty)
        #expect(diff.changes.allSatisfy { $0.kind == .ruleChanged && $0.before.allowed && $0.after.allowed })
        #expect(Set(diff.changes.map(\.before.ruleID)) == ["git-sync"] && Set(diff.changes.map(\.after.ruleID)) == ["git-push-and-fetch"])
        #expect(Set(diff.changes.map { $0.command.path }) == [["fetch"], ["pull"], ["push"], ["ls-remote"]])
    }

    @Test("the flip diff reports is the one the shipped test suite fails on, with the same rule ids")
    func sameFlipAsPolicyTest() throws {
        let new = try Self.edited(Self.dropForceWithLease.0, Self.dropForceWithLease.1)
        let suite = try PolicyTestSuite.parse(
            String(contentsOfFile: TestSupport.repositoryRoot + "/policies/tests/git.yaml", encoding: .utf8), file: "git.yaml")
        var run = PolicyTestRun()
        try run.run(suite, judge: Judge(policy: new))
        let failure = try #require(run.failures.first { $0.testCase.argv == ["git", "push", "--force-with-lease"] })
        #expect(failure.testCase.context == "developer" && failure.testCase.rule == "git-no-force-push")
        #expect(failure.decision.allowed && failure.decision.ruleID == "git-sync")

        let diff = try PolicyDiff.decisions(TestSupport.defaultPolicy, new, context: "developer", tool: "git")
        let change = try #require(diff.changes.first { $0.argv == failure.testCase.argv && $0.placement.tenant == failure.testCase.tenant })
        #expect(change.before.ruleID == failure.testCase.rule && change.after.ruleID == failure.decision.ruleID)
        #expect(change.kind == .newlyAllowed)
    }

    @Test("a context or tool in neither policy is an error naming it")
    func unknownScope() {
        let policy = TestSupport.defaultPolicy
        #expect(throws: PolicyDiffError.self) { try PolicyDiff.decisions(policy, policy, context: "developr") }
        do {
            _ = try PolicyDiff.decisions(policy, policy, tool: "helm")
            Issue.record("an unknown tool was probed")
        } catch {
            #expect(error.message == "unknown tool 'helm': neither policy has it (tools: aws, gh, git, kubectl, terraform)")
        }
    }
}
