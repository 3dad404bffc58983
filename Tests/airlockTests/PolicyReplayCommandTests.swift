import Foundation
import Testing

/// `airlock policy replay` on trails written by real `airlock run`s, on SQLite and PostgreSQL.
@Suite("airlock policy replay")
struct PolicyReplayCommandTests {
    typealias Backend = EventsVerifyTests.Backend

    /// The shipped policy with force pushes allowed in developer (git-no-force-push only keeps
    /// --force-if-includes): a change that flips known decisions.
    static func permissivePolicy() throws -> String {
        let path = try EventsCommandTests.scratch() + "/permissive.yaml"
        try SandboxAttestationTests.shippedPolicy(
            at: path, replacing: "options: {any: [force, force-with-lease, force-if-includes]}", with: "options: {any: [force-if-includes]}")
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(
            of: "match: [[git, push, -f], [git, push, --force-with-lease, origin, main], [git, push, --force-w, origin, main]]",
            with: "match: [[git, push, --force-if-includes]]")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func run(_ trail: EventsVerifyTests.Trail, _ arguments: [String]) throws -> CommandLineTests.Run {
        try CommandLineTests.airlock(
            ["run", "--state-dir", trail.state, "--events", trail.events] + arguments)
    }

    static func replay(_ trail: EventsVerifyTests.Trail, _ arguments: [String]) throws -> CommandLineTests.Run {
        try CommandLineTests.airlock(["policy", "replay", "--state-dir", trail.state, "--events", trail.events] + arguments)
    }

    @Test("replay under the same policy changes nothing; under a permissive one the force pushes are newly allowed", arguments: Backend.allCases)
    func flips(backend: Backend) throws {
        let trail = try EventsVerifyTests.trail(backend)
        #expect(try Self.run(trail, ["--context", "developer", "--", "git", "push", "--force", "origin", "main"]).status == 3)
        #expect(try Self.run(trail, ["--context", "developer", "--", "git", "push", "--force-w", "origin", "main"]).status == 3)
        #expect(try Self.run(trail, ["--context", "readonly", "--", "kubectl", "get", "secrets"]).status == 3)
        let allowed = try Self.run(trail, ["--context", "readonly", "--", "kubectl", "version", "--client"])
        #expect(allowed.status == 0, "\(allowed.stderr)")

        let same = try Self.replay(trail, ["--policy", "policies/default.yaml"])
        #expect(same.status == 0, "\(same.stdout)\(same.stderr)")
        #expect(same.stdout.contains("unchanged 4, newly allowed 0, newly denied 0, rule changed 0, not replayable 0"), "\(same.stdout)")

        let permissive = try Self.permissivePolicy()
        let flipped = try Self.replay(trail, ["--policy", permissive])
        #expect(flipped.status == 1, "\(flipped.stdout)\(flipped.stderr)")
        #expect(flipped.stdout.contains("unchanged 2, newly allowed 2, newly denied 0"), "\(flipped.stdout)")
        #expect(flipped.stdout.contains("newly allowed: git push in developer"))
        #expect(flipped.stdout.contains("git push --force origin main: deny (git-no-force-push) -> allow (git-sync)"), "\(flipped.stdout)")

        let json = try Self.replay(trail, ["--policy", permissive, "--format", "json", "--tool", "git"])
        #expect(json.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let summary = try #require(object["summary"] as? [String: Any])
        #expect(summary["replayed"] as? Int == 2 && summary["newly_allowed"] as? Int == 2, "\(summary)")
        let changes = try #require(object["changes"] as? [[String: Any]])
        #expect(changes.count == 2)
        #expect((changes.first?["recorded"] as? [String: Any])?["rule_id"] as? String == "git-no-force-push")
        #expect((changes.first?["candidate"] as? [String: Any])?["rule_id"] as? String == "git-sync")
        #expect(changes.first?["args"] as? [String] == ["push", "--force", "origin", "main"])

        // The same flip, seen by policy test on the shipped suite, with the same rule ids.
        let tested = try CommandLineTests.airlock(["policy", "test", "--policy", permissive, "policies/tests/git.yaml"])
        #expect(tested.status == 1)
        #expect(tested.stdout.contains("expected: deny (rule git-no-force-push)") && tested.stdout.contains("actual:   allow (rule git-sync)"), "\(tested.stdout)")
    }

    @Test("a foreign or damaged row is counted as not replayable, never a crash or a silent pass", arguments: Backend.allCases)
    func foreignRows(backend: Backend) throws {
        let trail = try EventsVerifyTests.trail(backend)
        #expect(try Self.run(trail, ["--context", "readonly", "--", "kubectl", "get", "secrets"]).status == 3)
        // Another writer's rows in gateway_events: one of our types without args, one of its own type.
        let payload = #"{"event_id":"foreign-1","execution_id":"x-1","tool_name":"git","security_context":"readonly"}"#
        let insert: String =
            switch backend {
            case .sqlite:
                "INSERT INTO gateway_events (event_type, created_at, payload) VALUES ('CliToolSemanticRejected', '2026-12-07 00:00:00.000', '\(payload)'), ('ToolCallStarted', '2026-12-07 00:00:00.000', '{}');"
            case .postgres:
                "INSERT INTO gateway_events (event_type, payload) VALUES ('CliToolSemanticRejected', '\(payload)'::jsonb), ('ToolCallStarted', '{}'::jsonb);"
            }
        let inserted = try trail.sql(insert)
        try #require(inserted.status == 0, "\(inserted.output)")
        let replay = try Self.replay(trail, ["--policy", "policies/default.yaml"])
        #expect(replay.status == 0, "\(replay.stdout)\(replay.stderr)")
        #expect(replay.stdout.contains("unchanged 1, newly allowed 0, newly denied 0, rule changed 0, not replayable 1"), "\(replay.stdout)")
        #expect(replay.stdout.contains("not replayable (no args recorded): 1"))
    }

    @Test("errors: a candidate that does not load, or no store there, exit 2; a bad --until, 64")
    func errors() throws {
        let trail = try EventsVerifyTests.trail(.sqlite)
        let noStore = try Self.replay(trail, ["--policy", "policies/default.yaml"])
        #expect(noStore.status == 2 && noStore.stderr.contains("no event store at"), "\(noStore.stderr)")
        #expect(try Self.run(trail, ["--context", "readonly", "--", "kubectl", "get", "secrets"]).status == 3)
        let broken = try EventsCommandTests.scratch() + "/broken.yaml"
        try "version: 1\ntools: {}\ncontexts: {ro: {alow: []}}\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let bad = try Self.replay(trail, ["--policy", broken])
        #expect(bad.status == 2 && bad.stderr.contains("broken.yaml:3:"), "\(bad.stderr)")
        let usage = try Self.replay(trail, ["--policy", "policies/default.yaml", "--until", "yesterday"])
        #expect(usage.status == 64, "\(usage.stderr)")
    }
}
