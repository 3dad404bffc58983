import AirlockEvents
import AirlockServer
import Foundation
import Testing

extension WorkerSuite {
    /// `/v1/cli-tools`: a tenant registers, sees and invokes its own tools and the global ones; every
    /// cross-tenant attempt fails, and nothing replaces a global tool.
    @Suite("the tool registry") struct ToolRegistryTests {
        static func registration(
            _ name: String = "myok", tenant: String = "acme", image: String = "airlock/test:1", grammar: String = "ok",
            subcommands: String = #"["log"]"#, semantic: Bool = true, timeout: Int = 30, extra: String = ""
        ) -> String {
            #"{"name":"\#(name)","tenant_id":"\#(tenant)","docker_image":"\#(image)","grammar":"\#(grammar)","allowed_subcommands":\#(subcommands),"require_semantic_judge":\#(semantic),"default_timeout_seconds":\#(timeout),"description":"echoes"\#(extra)}"#
        }

        @Test("register, list, show, invoke and remove; CliToolRegistered recorded")
        func lifecycle() async throws {
            let worker = try await TestWorker.start()
            let created = try await worker.request("POST", "/v1/cli-tools", json: Self.registration())
            #expect(created.status == 201, "\(created)")
            #expect(created.json["scope"] as? String == "tenant" && created.json["tenant_id"] as? String == "acme")
            let registered = try await worker.store.events(matching: EventQuery(types: [.cliToolRegistered]))
            #expect(registered.count == 1)
            #expect(registered.first?.field("name") == "myok" && registered.first?.field("docker_image") == "airlock/test:1")
            // What `policy replay` needs to judge the tool's calls again: its base tool, subcommands and mode.
            let payload = try #require(try JSONSerialization.jsonObject(with: Data((registered.first?.payload ?? "").utf8)) as? [String: Any])
            #expect(payload["grammar"] as? String == "ok" && payload["allowed_subcommands"] as? [String] == ["log"], "\(payload)")
            #expect(payload["require_semantic_judge"] as? Bool == true, "\(payload)")

            let list = try await worker.request("GET", "/v1/cli-tools", headers: ["X-Airlock-Tenant": "acme"])
            let names = (list.json["tools"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(names.contains("myok") && names.contains("ok"), "own and global tools: \(names)")
            let shown = try await worker.request("GET", "/v1/cli-tools/myok?tenant_id=acme")
            #expect(shown.status == 200 && shown.json["grammar"] as? String == "ok")

            let ran = try await worker.invoke("myok", id: "registry-run-1")
            #expect(ran.status == 200, "\(ran)")
            #expect(ran.json["stdout"] as? String == "hello\n")
            #expect(ran.json["rule_id"] as? String == "run-log", "the context's allow rule for the base tool decided")
            let started = try #require(try await worker.events("registry-run-1").first)
            #expect(started.field("tool_name") == "myok" && started.field("docker_image") == "airlock/test:1")

            let outside = try await worker.request(
                "POST", "/v1/invocations",
                json: #"{"tool_name":"myok","subcommand":"status","args":[],"tenant_id":"acme","security_context":"ro"}"#)
            #expect(outside.status == 403 && outside.json["rule_id"] as? String == "airlock.registry-subcommand", "\(outside)")
            let judged = try await worker.request(
                "POST", "/v1/judge", json: #"{"tool_name":"myok","subcommand":"log","args":[],"tenant_id":"acme","security_context":"ro"}"#)
            #expect(judged.json["allowed"] as? Bool == true, "\(judged)")
            // Listing a subcommand does not get around the context: its allow rules still decide.
            #expect(try await worker.request("POST", "/v1/cli-tools", json: Self.registration("wide", subcommands: #"["log", "status"]"#)).status == 201)
            let wide = try await worker.request(
                "POST", "/v1/invocations",
                json: #"{"tool_name":"wide","subcommand":"status","args":[],"tenant_id":"acme","security_context":"ro"}"#)
            #expect(wide.status == 403 && wide.json["rule_id"] as? String == "airlock.default-deny", "\(wide)")

            let removed = try await worker.request("DELETE", "/v1/cli-tools/myok", headers: ["X-Airlock-Tenant": "acme"])
            #expect(removed.status == 200)
            #expect(try await worker.invoke("myok").status == 404, "gone once removed")
            try await worker.stop()
        }

        /// `airlock policy replay` over a trail the worker wrote: a registered tool's calls are judged
        /// again with the registration the trail recorded, not today's registry.
        @Test("policy replay judges a registered tool's calls with its recorded registration", .enabled(if: AirlockBinary.exists))
        func replay() async throws {
            let worker = try await TestWorker.start()
            #expect(try await worker.request("POST", "/v1/cli-tools", json: Self.registration()).status == 201)
            #expect(try await worker.invoke("myok", id: "registry-replay-1").status == 200)
            let outside = try await worker.request(
                "POST", "/v1/invocations",
                json: #"{"tool_name":"myok","subcommand":"status","args":[],"tenant_id":"acme","security_context":"ro","execution_id":"registry-replay-2"}"#)
            #expect(outside.status == 403)
            // Removed since: the trail still says what it was.
            #expect(try await worker.request("DELETE", "/v1/cli-tools/myok", headers: ["X-Airlock-Tenant": "acme"]).status == 200)
            try await worker.stop()

            func replay(_ policy: String) throws -> (status: Int32, stdout: String) {
                let process = Process()
                let out = Pipe()
                process.executableURL = URL(fileURLWithPath: AirlockBinary.path)
                process.arguments = ["policy", "replay", "--policy", policy, "--state-dir", worker.directory, "--format", "json"]
                process.standardOutput = out
                process.standardError = FileHandle.nullDevice
                try process.run()
                let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                return (process.terminationStatus, text)
            }
            let same = try replay(worker.policyFile)
            #expect(same.status == 0, "\(same.stdout)")
            let summary = (try JSONSerialization.jsonObject(with: Data(same.stdout.utf8)) as? [String: Any])?["summary"] as? [String: Any]
            #expect(summary?["replayed"] as? Int == 2 && summary?["unchanged"] as? Int == 2 && summary?["not_replayable"] as? Int == 0, "\(same.stdout)")

            // The base tool no longer allowed in the context: the registered tool's call is newly denied.
            let narrower = worker.directory + "/narrower.yaml"
            let text = try String(contentsOfFile: worker.policyFile, encoding: .utf8)
            try #require(text.contains("tool: [ok, "))
            try text.replacingOccurrences(of: "tool: [ok, ", with: "tool: [").write(toFile: narrower, atomically: true, encoding: .utf8)
            let flipped = try replay(narrower)
            #expect(flipped.status == 1, "\(flipped.stdout)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(flipped.stdout.utf8)) as? [String: Any])
            let changes = try #require(object["changes"] as? [[String: Any]])
            #expect(changes.count == 1, "\(changes)")
            #expect(changes.first?["execution_id"] as? String == "registry-replay-1" && changes.first?["tool_name"] as? String == "myok", "\(changes)")
            #expect((changes.first?["candidate"] as? [String: Any])?["allowed"] as? Bool == false, "\(changes)")
        }

        @Test("tenant isolation: another tenant cannot see, invoke, remove or shadow a tenant's tool")
        func isolation() async throws {
            let worker = try await TestWorker.start()
            #expect(try await worker.request("POST", "/v1/cli-tools", json: Self.registration()).status == 201)
            let list = try await worker.request("GET", "/v1/cli-tools?tenant_id=globex")
            #expect(!(list.json["tools"] as? [[String: Any]] ?? []).contains { $0["name"] as? String == "myok" })
            #expect(try await worker.request("GET", "/v1/cli-tools/myok", headers: ["X-Airlock-Tenant": "globex"]).status == 404)
            let invoked = try await worker.invoke("myok", tenant: "globex")
            #expect(invoked.status == 404 && (invoked.json["error"] as? [String: Any])?["field"] as? String == "tool_name")
            #expect(try await worker.request("DELETE", "/v1/cli-tools/myok", headers: ["X-Airlock-Tenant": "globex"]).status == 404)
            let judged = try await worker.request(
                "POST", "/v1/judge", json: #"{"tool_name":"myok","subcommand":"log","args":[],"tenant_id":"globex","security_context":"ro"}"#)
            #expect(judged.status == 404, "\(judged)")
            // globex's own tool of the same name is its own; acme's is untouched.
            #expect(try await worker.request("POST", "/v1/cli-tools", json: Self.registration(tenant: "globex", grammar: "sleeper")).status == 201)
            let acmes = try await worker.request("GET", "/v1/cli-tools/myok", headers: ["X-Airlock-Tenant": "acme"])
            #expect(acmes.json["grammar"] as? String == "ok")
            let header = try await worker.request("GET", "/v1/cli-tools/myok?tenant_id=acme", headers: ["X-Airlock-Tenant": "globex"])
            #expect(header.status == 400, "header and parameter naming different tenants are refused")
            try await worker.stop()
        }

        @Test(
            "bad registrations are refused with the field and why",
            arguments: [
                (registration("ok"), 409, "global_tool", "name"),
                (registration(image: "airlock/test:latest"), 400, "invalid_request", "docker_image"),
                (registration(image: "docker.io/evil/tool:1"), 400, "invalid_request", "docker_image"),
                (registration(grammar: "binary"), 400, "invalid_request", "grammar"),
                (registration(subcommands: #"["frobnicate"]"#), 400, "invalid_request", "allowed_subcommands[0]"),
                (registration(subcommands: "[]"), 400, "invalid_request", "allowed_subcommands"),
                // A registered tool may only shorten its base tool's timeout (60 s here).
                (registration(timeout: 61), 400, "invalid_request", "default_timeout_seconds"),
                (registration("bad name"), 400, "invalid_request", "name"),
                (registration(tenant: "nobody"), 404, "not_found", "tenant_id"),
                (registration(extra: #","pull":"always""#), 400, "invalid_request", "pull"),
                (registration(extra: #","entrypoint":["/bin/sh"]"#), 400, "invalid_request", "entrypoint"),
                // Registering around the context's allow rules needs the policy's registry.allow_unjudged.
                (registration(semantic: false), 403, "judge_required", "require_semantic_judge"),
                // Egress only within the base tool's, and `ok` has none.
                (registration(extra: #","egress":[{"host":"a.example","ports":[443]}]"#), 400, "invalid_request", "egress"),
                (registration(extra: #","egress":[{"host":"a.example","ports":[0]}]"#), 400, "invalid_request", "egress[0]"),
                (registration(extra: #","egress":[{"host":"a.example","ports":[443],"proto":"udp"}]"#), 400, "invalid_request", "egress[0].proto"),
            ])
        func refusals(body: String, status: Int, code: String, field: String) async throws {
            let worker = try await TestWorker.start()
            let answer = try await worker.request("POST", "/v1/cli-tools", json: body)
            let error = answer.json["error"] as? [String: Any]
            #expect(answer.status == status, "\(answer)")
            #expect(error?["code"] as? String == code, "\(answer)")
            #expect(error?["field"] as? String == field, "\(answer)")
            #expect(try await worker.store.events(matching: EventQuery(types: [.cliToolRegistered])).isEmpty)
            try await worker.stop()
        }

        @Test("no replacing, a per-tenant limit, and global tools cannot be removed")
        func limits() async throws {
            let worker = try await TestWorker.start()
            #expect(try await worker.request("POST", "/v1/cli-tools", json: Self.registration()).status == 201)
            let again = try await worker.request("POST", "/v1/cli-tools", json: Self.registration(image: "airlock/tools:1"))
            #expect(again.status == 409 && (again.json["error"] as? [String: Any])?["code"] as? String == "already_registered")
            #expect(try await worker.request("POST", "/v1/cli-tools", json: Self.registration("two")).status == 201)
            #expect(try await worker.request("POST", "/v1/cli-tools", json: Self.registration("three")).status == 201)
            let fourth = try await worker.request("POST", "/v1/cli-tools", json: Self.registration("four"))
            #expect(fourth.status == 409 && (fourth.json["error"] as? [String: Any])?["code"] as? String == "registry_limit")
            let global = try await worker.request("DELETE", "/v1/cli-tools/ok", headers: ["X-Airlock-Tenant": "acme"])
            #expect(global.status == 403)
            #expect(try await worker.request("GET", "/v1/cli-tools/myok?tenant_id=acme").json["docker_image"] as? String == "airlock/test:1")
            try await worker.stop()
        }
    }
}
