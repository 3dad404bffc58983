import AirlockTestSupport
import Foundation
import Testing

/// `airlock run --secret`: values from a file or from the environment, never from the command line;
/// the tool gets them whole, the output that comes back is redacted, the trail counts the tool's bytes.
@Suite("airlock run --secret", .serialized)
struct RunSecretTests {
    static func policy(in directory: String) throws -> String {
        let root = CommandLineTests.repositoryRoot
        let policy = directory + "/policy.yaml"
        try """
            version: 1
            tools:
              dump:
                grammar: \(root)/policies/grammars/git.yaml
                image: airlock/test:1
                entrypoint: [/bin/sh, -c, "echo \\"env=$TEST_TOKEN\\"; echo \\"file=$(cat /run/secrets/kube)\\"; echo \\"$TEST_TOKEN\\" >&2"]
                seccomp: \(root)/policies/seccomp/hardened.json
                runtime: runc
                secrets:
                  TOKEN: {env: TEST_TOKEN}
                  KUBE: {file: /run/secrets/kube}
            contexts:
              ro:
                allow:
                  - {id: dump, tool: dump, subcommand: [log], reason: test}
            """.write(toFile: policy, atomically: true, encoding: .utf8)
        return policy
    }

    @Test("NAME=@FILE and NAME=env:VAR reach the tool; text and JSON output redacted; counts are the tool's", arguments: RunCommandTests.engines)
    func bothForms(engine: String) throws {
        let state = try EventsCommandTests.scratch()
        let policy = try Self.policy(in: state)
        let token = "tok-\(UUID().uuidString)"
        let kube = "kube-\(UUID().uuidString)"
        try kube.write(toFile: state + "/kube", atomically: true, encoding: .utf8)
        let base = ["run", "--state-dir", state, "--policy", policy, "--context", "ro", "--engine", engine, "--secret", "TOKEN=env:SECRET_FOR_TEST", "--secret", "KUBE=@\(state)/kube"]
        let text = try CommandLineTests.airlock(base + ["--", "dump", "log"], environment: ["SECRET_FOR_TEST": token])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout == "env=[REDACTED:TOKEN]\nfile=[REDACTED:KUBE]\n", "\(text.stdout)")
        #expect(text.stderr == "[REDACTED:TOKEN]\n")
        let json = try CommandLineTests.airlock(base + ["--format", "json", "--", "dump", "log"], environment: ["SECRET_FOR_TEST": token])
        #expect(json.status == 0, "\(json.stderr)")
        #expect(json.stdout.contains("env=[REDACTED:TOKEN]") && !json.stdout.contains(token) && !json.stdout.contains(kube))
        let completed = try EventsCommandTests.events(state, ["--type", "CliToolInvocationCompleted"])
        let payload = try #require(completed.first?["payload"] as? [String: Any])
        #expect(payload["stdout_bytes"] as? Int == "env=\(token)\nfile=\(kube)\n".utf8.count)
        #expect((payload["secrets"] as? [String: String]).map { Set($0.keys) } == ["TOKEN", "KUBE"])
        // Both runs fingerprint the same token the same way (the state directory's key).
        let started = try EventsCommandTests.events(state, ["--type", "CliToolInvocationStarted"]).compactMap { ($0["payload"] as? [String: Any])?["secrets"] as? [String: String] }
        #expect(started.count == 2 && started[0] == started[1])
        let all = try CommandLineTests.airlock(["events", "list", "--state-dir", state])
        #expect(!all.stdout.contains(token) && !all.stdout.contains(kube))
    }

    @Test("a value on the command line is a usage error that does not repeat it; a missing file or variable refuses", arguments: ["TOKEN=hunter2-literal", "hunter2-literal", "TOKEN=@", "TOKEN=env:"])
    func literalRefused(argument: String) throws {
        let state = try EventsCommandTests.scratch()
        let policy = try Self.policy(in: state)
        let run = try CommandLineTests.airlock(["run", "--state-dir", state, "--policy", policy, "--context", "ro", "--secret", argument, "--", "dump", "log"])
        #expect(run.status == 64, "\(run.stderr)")
        #expect(!run.stderr.contains("hunter2") && run.stderr.contains("--secret"), "\(run.stderr)")
    }

    @Test("an undeclared name or an unreadable source refuses before launch, naming the secret")
    func refusals() throws {
        let state = try EventsCommandTests.scratch()
        let policy = try Self.policy(in: state)
        let undeclared = try CommandLineTests.airlock(
            ["run", "--state-dir", state, "--policy", policy, "--context", "ro", "--secret", "OTHER=env:HOME", "--", "dump", "log"])
        #expect(undeclared.status == 2 && undeclared.stderr.contains("secret 'OTHER' is not declared"), "\(undeclared.stderr)")
        let missing = try CommandLineTests.airlock(
            ["run", "--state-dir", state, "--policy", policy, "--context", "ro", "--secret", "TOKEN=@/nonexistent/x", "--", "dump", "log"])
        #expect(missing.status == 2 && missing.stderr.contains("secret TOKEN"), "\(missing.stderr)")
        #expect(try EventsCommandTests.events(state, ["--type", "CliToolInvocationStarted"]).isEmpty)
    }
}
