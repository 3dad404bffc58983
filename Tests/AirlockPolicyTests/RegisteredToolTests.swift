import AirlockPolicy
import Foundation
import Testing

/// Tools registered at run time: the policy's `registry` section, and how the judge decides for them.
@Suite("Registered tools")
struct RegisteredToolTests {
    static let yaml = """
        version: 1
        tools:
          git: {grammar: grammars/git.yaml, image: "airlock/tools:1", entrypoint: [/usr/bin/git]}
          kubectl: {grammar: grammars/kubectl.yaml, image: "airlock/tools:1", entrypoint: [/usr/bin/kubectl]}
        contexts:
          ro:
            deny:
              - {id: no-force, tool: git, subcommand: push, options: {any: [force]}, reason: force push rewrites history}
            allow:
              - {id: git-read, tool: git, subcommand: [log, status], reason: reading}
        tenants:
          acme: {contexts: [ro]}
          gitonly: {contexts: [ro], tools: [git]}
        registry:
          tools: [git, kubectl]
          images: ["airlock/*", "registry.local/team/*"]
          max_per_tenant: 4

        """

    static let policy = try! TestSupport.load(yaml)
    static let judge = Judge(policy: policy)

    static func decide(_ argv: [String], tenant: String = "acme", base: String = "git", allowed: [String], semantic: Bool) -> Decision {
        judge.decide(
            JudgeRequest(tool: "mygit", argv: argv, tenant: tenant, securityContext: "ro"),
            registered: RegisteredToolRules(name: "mygit", baseTool: base, allowedSubcommands: allowed, requireSemanticJudge: semantic))
    }

    @Test func registrySectionLoads() throws {
        let registry = try #require(Self.policy.registry)
        #expect(registry.baseTools == ["git", "kubectl"])
        #expect(registry.maxPerTenant == 4)
        #expect(!registry.allowUnjudged, "off unless the policy says so")
        #expect(registry.imageProblem("airlock/jq:1") == nil)
        #expect(registry.imageProblem("registry.local/team/tool@sha256:abc") == nil)
        #expect(registry.imageProblem("airlock/jq:latest")?.contains("pinned") == true)
        #expect(registry.imageProblem("airlock/jq")?.contains("pinned") == true)
        #expect(registry.imageProblem("docker.io/evil/tool:1")?.contains("not allowed by the policy's registry") == true)
        #expect(try TestSupport.load(Self.yaml.replacingOccurrences(of: "\nregistry:\n  tools: [git, kubectl]\n  images: [\"airlock/*\", \"registry.local/team/*\"]\n  max_per_tenant: 4\n", with: "\n")).registry == nil)
    }

    @Test func registrySectionErrorsSayWhere() {
        let bad = Self.yaml.replacingOccurrences(of: "tools: [git, kubectl]\n", with: "tools: [git, helm]\n")
            .replacingOccurrences(of: "max_per_tenant: 4", with: "max_per_tenant: 4\n  pull: always")
        #expect {
            try TestSupport.load(bad)
        } throws: { error in
            let messages = (error as? PolicyLoadError)?.errors.map(\.message) ?? []
            return messages.contains { $0.contains("registry names unknown tool 'helm'") } && messages.contains { $0.contains("pull") }
        }
    }

    @Test func allowedSubcommandsAllowWithoutTheSemanticJudge() {
        let decision = Self.decide(["show", "HEAD"], allowed: ["show", "remote"], semantic: false)
        #expect(decision.allowed)
        #expect(decision.ruleID == "airlock.registry-allowed")
        #expect(decision.tool == "mygit")
        #expect(Self.decide(["remote", "show", "origin"], allowed: ["remote"], semantic: false).allowed, "an entry allows the paths below it")
    }

    @Test func subcommandsOutsideTheListAreDenied() {
        let decision = Self.decide(["push", "origin"], allowed: ["log"], semantic: false)
        #expect(!decision.allowed)
        #expect(decision.ruleID == "airlock.registry-subcommand")
        #expect(decision.reason.contains("'push' is not among the allowed_subcommands of registered tool 'mygit'"))
        #expect(!Self.decide(["remote", "add", "x", "y"], allowed: ["remote show"], semantic: false).allowed)
    }

    @Test func denyRulesAlwaysApply() {
        let decision = Self.decide(["push", "--force", "origin"], allowed: ["push"], semantic: false)
        #expect(!decision.allowed)
        #expect(decision.ruleID == "no-force", "the policy's deny rule for the base tool beats the registered allow list")
        #expect(!Self.decide(["push", "--forc", "origin"], allowed: ["push"], semantic: false).allowed, "abbreviations are parsed, not matched")
    }

    @Test func theSemanticJudgeMustAllowWhenRequired() {
        #expect(Self.decide(["log"], allowed: ["log", "show"], semantic: true).ruleID == "git-read")
        let show = Self.decide(["show"], allowed: ["log", "show"], semantic: true)
        #expect(!show.allowed)
        #expect(show.ruleID == "airlock.default-deny")
    }

    @Test func parseFailuresAndTenantLimitsStillDeny() {
        #expect(Self.decide(["log", "--no-such-option"], allowed: ["log"], semantic: false).ruleID == "airlock.unknown-option")
        #expect(Self.decide(["get", "pods"], tenant: "gitonly", base: "kubectl", allowed: ["get"], semantic: false).ruleID == "airlock.tenant-tool")
        #expect(Self.decide(["get", "pods"], tenant: "acme", base: "kubectl", allowed: ["get"], semantic: false).allowed)
        #expect(Self.decide(["log"], tenant: "nobody", allowed: ["log"], semantic: false).ruleID == "airlock.unknown-tenant")
    }
}
