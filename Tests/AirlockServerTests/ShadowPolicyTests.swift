import AirlockEvents
import Foundation
import Testing

extension WorkerSuite.ServeBinaryTests {
    /// The test policy with a candidate beside it: `ok` allowed by a rule of its own (`ok log`: the
    /// same outcome by another rule), `ok status` allowed (newly allowed), `echoin` denied (newly
    /// denied); everything else as live.
    static func shadowPolicy(workspace: String) -> String {
        TestPolicy.yaml(workspace: workspace).replacingOccurrences(
            of: "  - {id: run-log, tool: [ok, ",
            with: """
                  - {id: ok-log, tool: ok, subcommand: [log], reason: shadow}
                      - {id: ok-status, tool: ok, subcommand: [status], reason: shadow}
                      - {id: run-log, tool: [
                """
        ).replacingOccurrences(of: "    allow:\n", with: "    deny:\n      - {id: no-echoin, tool: echoin, reason: shadow}\n    allow:\n")
    }

    static func body(_ tool: String, _ subcommand: String, id: String) -> String {
        #"{"tool_name":"\#(tool)","subcommand":"\#(subcommand)","args":[],"tenant_id":"acme","security_context":"ro","execution_id":"\#(id)"}"#
    }

    @Test("--shadow-policy: the live policy decides; each disagreement is logged, recorded on its event and counted; SIGHUP reloads both")
    func shadow() async throws {
        let directory = NSTemporaryDirectory() + "airlock-shadow-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let shadowFile = directory + "/shadow.yaml"
        // The workspace is the served one's: the shadow's mount roots must name the same directory.
        let served = try Served(arguments: ["--shadow-policy", shadowFile], prepare: { workspace in
            try Self.shadowPolicy(workspace: workspace).write(toFile: shadowFile, atomically: true, encoding: .utf8)
        })
        try await served.ready()
        var counts = try await served.request("GET", "/v1/shadow").json
        let liveDigest = try await served.request("GET", "/readyz").json["policy_digest"] as? String
        #expect(counts["enabled"] as? Bool == true && counts["policy_digest"] as? String == liveDigest)
        let shadowDigest = try #require(counts["shadow_policy_digest"] as? String)
        #expect(shadowDigest != liveDigest && counts["agreements"] as? Int == 0 && counts["disagreements"] as? Int == 0)

        // What runs is the live policy's decision, each time.
        let ruleChanged = try await served.request("POST", "/v1/invocations", json: Self.body("ok", "log", id: "shadow-1"))
        #expect(ruleChanged.status == 200 && ruleChanged.json["exit_code"] as? Int == 0, "\(ruleChanged)")
        let newlyAllowed = try await served.request("POST", "/v1/invocations", json: Self.body("ok", "status", id: "shadow-2"))
        #expect(newlyAllowed.status == 403, "the shadow's allow decides nothing: \(newlyAllowed)")
        let newlyDenied = try await served.request("POST", "/v1/invocations", json: Self.body("echoin", "log", id: "shadow-3"))
        #expect(newlyDenied.status == 200 && newlyDenied.json["exit_code"] as? Int == 0, "the shadow's deny decides nothing: \(newlyDenied)")
        let agreed = try await served.request("POST", "/v1/invocations", json: Self.body("binary", "log", id: "shadow-4"))
        #expect(agreed.status == 200, "\(agreed)")
        let agreedDenial = try await served.request("POST", "/v1/invocations", json: Self.body("binary", "status", id: "shadow-5"))
        #expect(agreedDenial.status == 403, "\(agreedDenial)")

        // On the event: the shadow's decision, where it differs; nothing where both agree.
        func shadowFields(_ id: String, _ type: String) async throws -> [String: Any] {
            let event = try #require(try await served.events(id).first { $0.eventType == type }, "\(id) has no \(type)")
            let payload = try #require(try JSONSerialization.jsonObject(with: Data(event.payload.utf8)) as? [String: Any])
            return payload.filter { $0.key.hasPrefix("shadow_") }
        }
        let started1 = try await shadowFields("shadow-1", "CliToolInvocationStarted")
        #expect(started1["shadow_allowed"] as? Bool == true && started1["shadow_rule_id"] as? String == "ok-log")
        #expect(started1["shadow_policy_digest"] as? String == shadowDigest)
        let rejected2 = try await shadowFields("shadow-2", "CliToolSemanticRejected")
        #expect(rejected2["shadow_allowed"] as? Bool == true && rejected2["shadow_rule_id"] as? String == "ok-status", "\(rejected2)")
        let started3 = try await shadowFields("shadow-3", "CliToolInvocationStarted")
        #expect(started3["shadow_allowed"] as? Bool == false && started3["shadow_rule_id"] as? String == "no-echoin", "\(started3)")
        #expect(try await shadowFields("shadow-4", "CliToolInvocationStarted").isEmpty)
        #expect(try await shadowFields("shadow-5", "CliToolSemanticRejected").isEmpty)

        counts = try await served.request("GET", "/v1/shadow").json
        #expect(counts["agreements"] as? Int == 2 && counts["disagreements"] as? Int == 3, "\(counts)")
        #expect(counts["newly_allowed"] as? Int == 1 && counts["newly_denied"] as? Int == 1 && counts["rule_changed"] as? Int == 1, "\(counts)")
        // The log line names both decisions and rules, with the request.
        let line = try #require(served.stderr.split(separator: "\n").first { $0.contains("Shadow policy disagrees") && $0.contains("shadow-2") })
        for field in ["tenant_id=acme", "security_context=ro", "tool=ok", "allowed=false", "rule_id=airlock.", "shadow_allowed=true", "shadow_rule_id=ok-status"] {
            #expect(line.contains(field), "\(field) missing from: \(line)")
        }

        // SIGHUP: an invalid shadow is refused and the old one stays, counts and all.
        try "version: 1\ntools: {}\ncontexts: {}\nbogus: 1\n".write(toFile: shadowFile, atomically: true, encoding: .utf8)
        served.signal(SIGHUP)
        for _ in 0..<100 where !served.stderr.contains("Shadow policy reload rejected") { try await Task.sleep(for: .milliseconds(100)) }
        #expect(served.stderr.contains("Shadow policy reload rejected") && served.stderr.contains("bogus"), "\(served.stderr)")
        counts = try await served.request("GET", "/v1/shadow").json
        #expect(counts["shadow_policy_digest"] as? String == shadowDigest && counts["disagreements"] as? Int == 3)
        // A valid one replaces it; its counts start again.
        try TestPolicy.yaml(workspace: served.directory + "/workspace").write(toFile: shadowFile, atomically: true, encoding: .utf8)
        served.signal(SIGHUP)
        for _ in 0..<100 where !served.stderr.contains("Shadow policy reloaded") { try await Task.sleep(for: .milliseconds(100)) }
        counts = try await served.request("GET", "/v1/shadow").json
        #expect(counts["shadow_policy_digest"] as? String == liveDigest && counts["agreements"] as? Int == 0 && counts["disagreements"] as? Int == 0, "\(counts)")
        _ = try await served.request("POST", "/v1/invocations", json: Self.body("ok", "status", id: "shadow-6"))
        #expect(try await shadowFields("shadow-6", "CliToolSemanticRejected").isEmpty)
        counts = try await served.request("GET", "/v1/shadow").json
        #expect(counts["agreements"] as? Int == 1 && counts["disagreements"] as? Int == 0, "\(counts)")
        served.signal(SIGTERM)
        #expect(try await served.exit() == 0)
        try? FileManager.default.removeItem(atPath: directory)
    }

    @Test("--shadow-policy that does not load: the worker does not start, and says which file; without one, /v1/shadow says so")
    func shadowRefused() async throws {
        let invalid = try Served(arguments: ["--shadow-policy", "/nonexistent/shadow.yaml"])
        #expect(try await invalid.exit() == 2)
        #expect(invalid.stderr.contains("shadow policy:") && invalid.stderr.contains("/nonexistent/shadow.yaml"), "\(invalid.stderr)")
        let plain = try Served()
        try await plain.ready()
        let counts = try await plain.request("GET", "/v1/shadow").json
        #expect(counts["enabled"] as? Bool == false && counts["shadow_policy_digest"] == nil, "\(counts)")
        plain.signal(SIGTERM)
        #expect(try await plain.exit() == 0)
    }
}
