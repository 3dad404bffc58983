import AirlockPolicy
import Foundation
import Testing

@Suite("Policy digests")
struct PolicyDigestTests {
    static let base = """
        version: 1
        tools:
          git: {grammar: grammars/git.yaml, image: "airlock/tools:1", entrypoint: [/usr/bin/git]}
        contexts:
          ro:
            allow:
              - {id: a, tool: git, subcommand: log, reason: r}
        """

    @Test("formatting and comments do not change the digest")
    func formattingInsensitive() throws {
        let reformatted = """
            # a comment
            contexts:
              ro:
                allow:
                  - id: a
                    reason: r
                    subcommand: log
                    tool: git
            tools:
              git:
                entrypoint:
                  - /usr/bin/git
                grammar: grammars/git.yaml
                image: airlock/tools:1
            version: 1
            """
        #expect(try TestSupport.load(Self.base).digest == TestSupport.load(reformatted).digest)
    }

    @Test("any change of meaning changes the digest")
    func contentSensitive() throws {
        let changed = Self.base.replacingOccurrences(of: "subcommand: log", with: "subcommand: show")
        #expect(try TestSupport.load(Self.base).digest != TestSupport.load(changed).digest)
    }

    @Test("a grammar change changes the digest")
    func grammarSensitive() throws {
        let grammarPath = TestSupport.repositoryRoot + "/policies/grammars/mini.yaml"
        let yaml = Self.base.replacingOccurrences(of: "grammars/git.yaml", with: "grammars/mini.yaml")
        let one = try TestSupport.load(yaml, files: [grammarPath: "style: gnu\nsubcommands:\n  log:\n    options: [\"--oneline\"]\n"])
        let two = try TestSupport.load(yaml, files: [grammarPath: "style: gnu\nsubcommands:\n  log:\n    options: [\"--oneline\", \"--output <path>\"]\n"])
        #expect(one.digest != two.digest)
    }

    /// Digests are recorded in every event, so operators compare them across releases: the same
    /// policy must keep its digest. Pinned from the canonical form as first released, escapes and
    /// non-ASCII text included.
    @Test("a policy's digest does not change between releases")
    func digestIsStable() throws {
        let grammarPath = TestSupport.repositoryRoot + "/policies/grammars/mini.yaml"
        let grammar = "style: gnu\nsubcommands:\n  log:\n    options: [\"-n, --max-count <number>\", \"--[no-]walk\"]\n  zeta: ~\n"
        let yaml = """
            version: 1
            tools:
              mini: {grammar: grammars/mini.yaml, image: "airlock/tools:1", entrypoint: [/usr/bin/git], environment: {Z: "1", A: "été"}}
            contexts:
              ro:
                allow:
                  - {id: a, tool: mini, subcommand: log, reason: "quote \\" backslash \\\\ tab \\t bell \\a newline \\n done ✓"}
            """
        let policy = try TestSupport.load(yaml, files: [grammarPath: grammar])
        #expect(policy.digest == "sha256:82ba050b003092c5e0099adc83bd86d7e36cfb86f40afbb677acb522ce6c4b6b")
    }

    @Test("every decision carries the digest")
    func decisionsCarryDigest() {
        let decision = TestSupport.judge.decide(JudgeRequest(tool: "git", argv: ["log"], securityContext: "readonly"))
        #expect(decision.policyDigest == TestSupport.defaultPolicy.digest)
        let denied = TestSupport.judge.decide(JudgeRequest(tool: "svn", argv: ["log"], securityContext: "readonly"))
        #expect(denied.policyDigest == TestSupport.defaultPolicy.digest)
    }
}
