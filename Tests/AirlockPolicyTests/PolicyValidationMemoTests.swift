import AirlockPolicy
import Foundation
import Synchronization
import Testing

/// A memo kept in memory; `entries` shows what was remembered, and tests edit it as an attacker would.
final class MemoryMemo: Sendable {
    let entries = Mutex<[String: [UInt8]]>([:])

    func memo(build: String = "test-build") -> PolicyValidationMemo {
        PolicyValidationMemo(
            build: build, read: { name in self.entries.withLock { $0[name] } },
            write: { name, contents in self.entries.withLock { $0[name] = contents } })
    }

    var count: Int { entries.withLock { $0.count } }
}

/// Policy files in memory, changed between loads as an operator would edit them.
final class MemoryFiles: Sendable {
    let files: Mutex<[String: String]>

    init(_ files: [String: String]) {
        self.files = Mutex(files)
    }

    var loader: PolicyLoader {
        PolicyLoader { path in
            guard let text = self.files.withLock({ $0[path] }) else { throw CocoaError(.fileNoSuchFile) }
            return text
        }
    }

    func set(_ path: String, _ text: String) {
        files.withLock { $0[path] = text }
    }
}

@Suite("Scoped loads: a command asked about one tool builds only that tool")
struct PolicyValidationMemoTests {
    /// The whole default policy loaded once with a memo, so that the scoped loads below find its entry.
    static let memo: MemoryMemo = {
        let memo = MemoryMemo()
        _ = try? TestSupport.fileLoader.load(path: TestSupport.defaultPolicyPath, memo: memo.memo())
        return memo
    }()

    /// The default policy scoped to each of its tools.
    static let scoped: [String: Judge] = {
        var judges: [String: Judge] = [:]
        for tool in ["git", "kubectl", "gh", "terraform", "aws"] {
            guard let policy = try? TestSupport.fileLoader.load(path: TestSupport.defaultPolicyPath, scope: tool, memo: memo.memo()) else {
                continue
            }
            judges[tool] = Judge(policy: policy)
        }
        return judges
    }()

    @Test("the whole default policy is remembered once, and each tool's scoped load builds that tool alone")
    func scopedLoadsBuildOneTool() throws {
        #expect(Self.memo.count == 1)
        for tool in ["git", "kubectl", "gh", "terraform", "aws"] {
            let policy = try #require(Self.scoped[tool]?.policy, "\(tool) did not load scoped")
            #expect(policy.scope == tool)
            #expect(Array(policy.tools.keys) == [tool])
            #expect(policy.digest == TestSupport.defaultPolicy.digest)
        }
    }

    @Test("a scoped load decides every row of the judge table exactly as the whole policy does", arguments: JudgeTable.all)
    func sameDecision(_ row: JudgeCase) throws {
        let request = JudgeRequest(tool: row.argv[0], argv: Array(row.argv.dropFirst()), tenant: row.tenant, securityContext: row.context)
        // A tool the policy does not have is loaded whole (see below), and denied as unknown.
        let judge = try Self.scoped[row.argv[0]]
            ?? Judge(policy: TestSupport.fileLoader.load(path: TestSupport.defaultPolicyPath, scope: row.argv[0], memo: Self.memo.memo()))
        #expect(judge.decide(request) == TestSupport.judge.decide(request))
        #expect(judge.explain(request).decision == TestSupport.judge.decide(request))
    }

    // MARK: What an entry stands for

    static let policyPath = "/policies/policy.yaml"
    static let policyText = """
        version: 1
        tools:
          git: {grammar: git.yaml, image: "airlock/tools:1", entrypoint: [/usr/bin/git]}
          kubectl: {grammar: kubectl.yaml, image: "airlock/tools:1", entrypoint: [/usr/bin/kubectl]}
        contexts:
          ro:
            allow:
              - {id: git-log, tool: git, subcommand: log, reason: reading history}
              - {id: kubectl-get, tool: kubectl, subcommand: get, reason: reading cluster state}
            deny:
              - {id: no-force, tool: [git, kubectl], options: {any: [force]}, reason: forcing is never allowed}
        """

    static func files() throws -> MemoryFiles {
        MemoryFiles([
            policyPath: policyText,
            "/policies/git.yaml": try String(contentsOfFile: TestSupport.repositoryRoot + "/policies/grammars/git.yaml", encoding: .utf8),
            "/policies/kubectl.yaml": try String(contentsOfFile: TestSupport.repositoryRoot + "/policies/grammars/kubectl.yaml", encoding: .utf8),
        ])
    }

    private func errors(_ body: () throws(PolicyLoadError) -> Policy) -> [String] {
        do {
            _ = try body()
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test("a policy with an error anywhere is never remembered, and is rejected at every load, scoped or not")
    func brokenPolicyIsNeverRemembered() throws {
        let files = try Self.files()
        files.set("/policies/kubectl.yaml", "style: gnu\noptions: [\"--force\", \"--force\"]\n")
        let memo = MemoryMemo()
        for _ in 0..<3 {
            let found = errors { () throws(PolicyLoadError) in try files.loader.load(path: Self.policyPath, scope: "git", memo: memo.memo()) }
            #expect(found.contains { $0.contains("kubectl.yaml") && $0.contains("used twice") }, "\(found)")
        }
        #expect(memo.count == 0)
    }

    @Test("a byte changed in another tool's grammar is another entry: the next load is whole, and rejects it")
    func changedGrammarIsLoadedWhole() throws {
        let files = try Self.files()
        let memo = MemoryMemo()
        let whole = try files.loader.load(path: Self.policyPath, scope: "git", memo: memo.memo())
        #expect(whole.scope == nil)
        #expect(memo.count == 1)
        #expect(try files.loader.load(path: Self.policyPath, scope: "git", memo: memo.memo()).scope == "git")

        files.set("/policies/kubectl.yaml", "style: gnu\noptions: [\"--force\", \"--force\"]\n")
        let found = errors { () throws(PolicyLoadError) in try files.loader.load(path: Self.policyPath, scope: "git", memo: memo.memo()) }
        #expect(found.contains { $0.contains("kubectl.yaml") }, "\(found)")
    }

    @Test("a changed policy file, or another build of Airlock, is another entry: the next load is whole")
    func changedPolicyOrBuildIsLoadedWhole() throws {
        let files = try Self.files()
        let memo = MemoryMemo()
        _ = try files.loader.load(path: Self.policyPath, memo: memo.memo())
        #expect(try files.loader.load(path: Self.policyPath, scope: "kubectl", memo: memo.memo(build: "another-build")).scope == nil)
        files.set(Self.policyPath, Self.policyText + "\n# a comment\n")
        let reloaded = try files.loader.load(path: Self.policyPath, scope: "kubectl", memo: memo.memo())
        #expect(reloaded.scope == nil)
        #expect(try files.loader.load(path: Self.policyPath, scope: "kubectl", memo: memo.memo()).scope == "kubectl")
    }

    @Test("an edited entry changes no decision: a forged digest is only recorded; a malformed one is ignored")
    func editedEntry() throws {
        let files = try Self.files()
        let memo = MemoryMemo()
        let whole = try files.loader.load(path: Self.policyPath, memo: memo.memo())
        let name = try #require(memo.entries.withLock { $0.keys.first })
        let forged = "sha256:" + String(repeating: "0", count: 64)
        memo.entries.withLock { $0[name] = Array(forged.utf8) }

        let scoped = try files.loader.load(path: Self.policyPath, scope: "git", memo: memo.memo())
        #expect(scoped.scope == "git")
        #expect(scoped.digest == forged)
        for argv in [["log"], ["push", "--force"], ["push"], ["log", "--forc"], ["frobnicate"]] {
            let request = JudgeRequest(tool: "git", argv: argv, securityContext: "ro")
            var expected = Judge(policy: whole).decide(request)
            expected.policyDigest = forged
            #expect(Judge(policy: scoped).decide(request) == expected, "\(argv)")
        }

        for malformed in ["", "sha256:xyz", "sha256:" + String(repeating: "A", count: 64), forged + "\n"] {
            memo.entries.withLock { $0[name] = Array(malformed.utf8) }
            #expect(try files.loader.load(path: Self.policyPath, scope: "git", memo: memo.memo()).scope == nil, "\(malformed)")
        }
    }

    @Test("a tool the policy does not have is not scoped: the denial names the tools the policy has")
    func unknownToolIsNotScoped() throws {
        let files = try Self.files()
        let memo = MemoryMemo()
        _ = try files.loader.load(path: Self.policyPath, memo: memo.memo())
        let policy = try files.loader.load(path: Self.policyPath, scope: "terraform", memo: memo.memo())
        #expect(policy.scope == nil)
        let decision = Judge(policy: policy).decide(JudgeRequest(tool: "terraform", argv: ["plan"], securityContext: "ro"))
        #expect(decision.reason == "unknown tool 'terraform'; this policy has: git, kubectl")
    }
}
