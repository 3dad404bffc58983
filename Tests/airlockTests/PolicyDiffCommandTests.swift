import Foundation
import Testing

/// `airlock policy diff` as an operator and a CI step run it.
@Suite("airlock policy diff")
struct PolicyDiffCommandTests {
    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "airlock-policy-diff-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The shipped policy with git-no-force-push no longer refusing --force-with-lease (and
    /// without the inline example that would then fail).
    static func withoutForceWithLease() throws -> String {
        let path = try directory() + "/policy.yaml"
        try SandboxAttestationTests.shippedPolicy(
            at: path,
            replacing: """
                options: {any: [force, force-with-lease, force-if-includes]}
                        reason: force push rewrites shared history
                        examples:
                          match: [[git, push, -f], [git, push, --force-with-lease, origin, main], [git, push, --force-w, origin, main]]
                """,
            with: """
                options: {any: [force, force-if-includes]}
                        reason: force push rewrites shared history
                        examples:
                          match: [[git, push, -f]]
                """)
        return path
    }

    /// One flip of a known decision, seen by each of the four operators' tools with the same rules:
    /// the worker in shadow mode, replay of the trail it wrote, diff of the two policies, and the
    /// shipped test suite run against the candidate.
    @Test("test, replay, diff and shadow report the same flip with the same rule ids", arguments: EventsVerifyTests.Backend.allCases)
    func fourWaysAlike(backend: EventsVerifyTests.Backend) throws {
        let candidate = try Self.withoutForceWithLease()
        let trail = try EventsVerifyTests.trail(backend)
        let state = trail.state
        // No engine: the call is denied by the live policy, so nothing is launched.
        let worker = try FaultSuiteTests.startWorker([
            "--policy", CommandLineTests.repositoryRoot + "/policies/default.yaml", "--shadow-policy", candidate, "--state-dir", state,
            "--events", trail.events, "--engine", state + "/no-engine",
        ])
        defer {
            worker.terminate()
            worker.waitUntilExit()
        }
        let socket = state + "/airlock.sock"
        #expect(try FaultSuiteTests.waitUntil(60) { FileManager.default.fileExists(atPath: socket) })
        func curl(_ arguments: [String]) throws -> String {
            let call = Process()
            let out = Pipe()
            call.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            call.arguments = ["-s", "--unix-socket", socket] + arguments
            call.standardOutput = out
            try call.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            call.waitUntilExit()
            return text
        }
        let body = #"{"tool_name":"git","subcommand":"push","args":["--force-with-lease","origin","main"],"tenant_id":"default","security_context":"developer","execution_id":"four-ways-1"}"#
        let answer = try curl(["-d", body, "http://localhost/v1/invocations"])
        #expect(answer.contains(#""rule_id":"git-no-force-push""#), "the live policy decides: \(answer)")
        let shadow = try curl(["http://localhost/v1/shadow"])
        #expect(shadow.contains(#""newly_allowed":1"#), "\(shadow)")
        let events = try EventsCommandTests.events(state, ["--events", trail.events, "--execution-id", "four-ways-1"])
        let rejected = try #require(events.first { $0["event_type"] as? String == "CliToolSemanticRejected" }, "\(events)")
        let payload = try #require(rejected["payload"] as? [String: Any], "\(rejected)")
        #expect(payload["rule_id"] as? String == "git-no-force-push")
        #expect(payload["shadow_allowed"] as? Bool == true && payload["shadow_rule_id"] as? String == "git-sync", "\(payload)")

        let replay = try CommandLineTests.airlock(["policy", "replay", "--policy", candidate, "--state-dir", state, "--events", trail.events])
        #expect(replay.status == 1, "\(replay.stdout)\(replay.stderr)")
        #expect(replay.stdout.contains("git push --force-with-lease origin main: deny (git-no-force-push) -> allow (git-sync)"), "\(replay.stdout)")

        let diff = try CommandLineTests.airlock(["policy", "diff", "--tool", "git", "policies/default.yaml", candidate])
        #expect(diff.status == 1)
        #expect(diff.stdout.contains("git push --force-with-lease: deny (git-no-force-push) -> allow (git-sync)"), "\(diff.stdout)")

        let tested = try CommandLineTests.airlock(["policy", "test", "--policy", candidate, "policies/tests/git.yaml"])
        #expect(tested.status == 1)
        #expect(tested.stdout.contains("expected: deny (rule git-no-force-push)") && tested.stdout.contains("actual:   allow (rule git-sync)"), "\(tested.stdout)")
    }

    @Test("the same policy twice: exit 0, no change, the probe count")
    func identical() throws {
        let run = try CommandLineTests.airlock(["policy", "diff", "policies/default.yaml", "policies/default.yaml"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.hasPrefix("structure: no change\n"), "\(run.stdout)")
        let summary = try #require(run.stdout.split(separator: "\n").last.map(String.init))
        #expect(summary.hasPrefix("probed ") && summary.hasSuffix(" argv in 2 contexts: 0 decisions differ (0 newly allowed, 0 newly denied)"), "\(summary)")
    }

    @Test("a flipped decision: exit 1, the rule change, and the argv newly allowed with the rule before and after")
    func newlyAllowed() throws {
        let edited = try Self.withoutForceWithLease()
        let run = try CommandLineTests.airlock(["policy", "diff", "policies/default.yaml", edited])
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("  rule git-no-force-push: changed"), "\(run.stdout)")
        #expect(
            lines.contains("    conditions: options.any [force, force-if-includes, force-with-lease] -> options.any [force, force-if-includes]"))
        let heading = try #require(lines.firstIndex { $0.hasPrefix("newly allowed: ") }, "\(run.stdout)")
        #expect(lines[heading + 1] == "  developer  git push")
        #expect(lines.contains("    git push --force-with-lease: deny (git-no-force-push) -> allow (git-sync)  [no tenant, tenant default]"))
        #expect(!lines.contains { $0.hasPrefix("newly denied") })
        #expect(lines.last?.contains(" argv in 2 contexts: 4 decisions differ (4 newly allowed, 0 newly denied)") == true, "\(run.stdout)")

        // --context narrows the probes to one context: nothing differs in readonly.
        let readonly = try CommandLineTests.airlock(["policy", "diff", "--context", "readonly", "policies/default.yaml", edited])
        #expect(readonly.status == 0, "\(readonly.stdout)")
        #expect(readonly.stdout.contains(" argv in 1 context: 0 decisions differ"), "\(readonly.stdout)")
    }

    @Test("newly allowed before newly denied; a rule renamed alone changes no outcome: exit 0, counted apart")
    func orderAndRuleChanges() throws {
        let edited = try Self.withoutForceWithLease()
        let text = try String(contentsOfFile: edited, encoding: .utf8)
        try text.replacingOccurrences(of: "      - id: kubectl-no-raw-api\n", with: """
                  - id: kubectl-no-configmaps
                    tool: kubectl
                    subcommand: get
                    positionals: {any: [configmaps]}
                    reason: configmaps are not for this context
                  - id: kubectl-no-raw-api

            """).write(toFile: edited, atomically: true, encoding: .utf8)
        let both = try CommandLineTests.airlock(["policy", "diff", "policies/default.yaml", edited])
        #expect(both.status == 1, "\(both.stdout)\(both.stderr)")
        let lines = both.stdout.split(separator: "\n").map(String.init)
        let allowed = try #require(lines.firstIndex(of: "newly allowed: 4"), "\(both.stdout)")
        let denied = try #require(lines.firstIndex(of: "newly denied: 5"), "\(both.stdout)")
        #expect(allowed < denied)
        #expect(Array(lines[(denied + 1)...].prefix(4)) == [
            "  developer  kubectl get",
            "    kubectl get configmaps: allow (kubectl-inspect) -> deny (kubectl-no-configmaps)  [no tenant, tenant default]",
            "  readonly  kubectl get",
            "    kubectl get configmaps: allow (kubectl-inspect) -> deny (kubectl-no-configmaps)  [no tenant, tenant default, tenant observer]",
        ])

        let renamed = try Self.directory() + "/renamed.yaml"
        try SandboxAttestationTests.shippedPolicy(at: renamed, replacing: "      - id: git-sync\n", with: "      - id: git-push-and-fetch\n")
        let run = try CommandLineTests.airlock(["policy", "diff", "policies/default.yaml", renamed])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("  rule git-push-and-fetch: added\n  rule git-sync: removed\n"), "\(run.stdout)")
        #expect(run.stdout.contains("same outcome, another rule: "))
        #expect(run.stdout.contains("  developer  git push: allow (git-sync) -> allow (git-push-and-fetch): "), "\(run.stdout)")
        #expect(run.stdout.contains(": 0 decisions differ (0 newly allowed, 0 newly denied); "), "\(run.stdout)")
    }

    @Test("--format json: structural, decisions and summary, each decision with both rules")
    func json() throws {
        let edited = try Self.withoutForceWithLease()
        let run = try CommandLineTests.airlock(["policy", "diff", "--format", "json", "--tool", "git", "policies/default.yaml", edited])
        #expect(run.status == 1, "\(run.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["structural", "decisions", "summary"])
        let structural = try #require(object["structural"] as? [String: Any])
        #expect(Set(structural.keys) == ["policy", "tools", "contexts", "tenants", "rules"])
        let rules = try #require(structural["rules"] as? [[String: Any]])
        #expect(rules.map { $0["name"] as? String } == ["git-no-force-push"] && rules.first?["change"] as? String == "changed")
        let summary = try #require(object["summary"] as? [String: Any])
        #expect(summary["differ"] as? Int == 4 && summary["newly_allowed"] as? Int == 4 && summary["rule_changed"] as? Int == 0)
        #expect((summary["probed"] as? Int ?? 0) > 0 && summary["contexts"] as? Int == 2)
        let decisions = try #require(object["decisions"] as? [[String: Any]])
        #expect(decisions.count == 4)
        let first = try #require(decisions.first { ($0["argv"] as? [String]) == ["git", "push", "--force-with-lease"] && $0["tenant"] == nil })
        #expect(first["change"] as? String == "newly_allowed" && first["context"] as? String == "developer")
        #expect(first["tool"] as? String == "git" && first["subcommand"] as? String == "push")
        let before = try #require(first["before"] as? [String: Any])
        let after = try #require(first["after"] as? [String: Any])
        #expect(before["allowed"] as? Bool == false && before["rule_id"] as? String == "git-no-force-push")
        #expect(after["allowed"] as? Bool == true && after["rule_id"] as? String == "git-sync")
    }

    @Test("errors: a policy that does not load, every error located, exit 2; an unknown context or tool, exit 2; bad usage, 64")
    func errors() throws {
        let directory = try Self.directory()
        let broken = directory + "/broken.yaml"
        try SandboxAttestationTests.shippedPolicy(at: broken, replacing: "    timeout: 60s\n    network: none", with: "    timeout: 60s\n    netwrk: none")
        let run = try CommandLineTests.airlock(["policy", "diff", broken, "policies/default.yaml"])
        #expect(run.status == 2, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.isEmpty)
        let located = try #require(run.stderr.split(separator: "\n").first { $0.hasPrefix("\(broken):") })
        #expect(located.contains(": error: ") && located.contains("netwrk"), "\(run.stderr)")
        #expect(run.stderr.contains("\(broken): the policy does not load (1 error)"), "\(run.stderr)")

        let context = try CommandLineTests.airlock(["policy", "diff", "--context", "developr", "policies/default.yaml", "policies/default.yaml"])
        #expect(context.status == 2)
        #expect(context.stderr.contains("unknown context 'developr': neither policy has it (contexts: developer, readonly)"), "\(context.stderr)")
        let tool = try CommandLineTests.airlock(["policy", "diff", "--tool", "helm", "policies/default.yaml", "policies/default.yaml"])
        #expect(tool.status == 2)
        #expect(tool.stderr.contains("unknown tool 'helm'"), "\(tool.stderr)")

        let missing = try CommandLineTests.airlock(["policy", "diff", "policies/default.yaml"])
        #expect(missing.status == 64, "\(missing.stderr)")
        #expect(missing.stderr.contains("Missing expected argument '<new>'"), "\(missing.stderr)")
        let format = try CommandLineTests.airlock(["policy", "diff", "--format", "yaml", "policies/default.yaml", "policies/default.yaml"])
        #expect(format.status == 64)
    }
}
