import AirlockEvents
import AirlockServer
import Foundation
import Synchronization
import Testing

extension WorkerSuite {
    /// Every endpoint over the real socket, with real podman and the real SQLite store.
    @Suite("the API") struct APITests {
        @Test("healthz, readyz, and a run that is recorded Started then Completed")
        func invocation() async throws {
            let worker = try await TestWorker.start()
            let health = try await worker.request("GET", "/healthz")
            #expect(health.status == 200 && health.json["status"] as? String == "ok")
            let ready = try await worker.request("GET", "/readyz")
            #expect(ready.status == 200, "\(ready)")
            #expect(ready.json["ready"] as? Bool == true)
            #expect((ready.json["policy_digest"] as? String)?.hasPrefix("sha256:") == true)

            let answer = try await worker.invoke("ok", id: "api-ok-1", headers: ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])
            #expect(answer.status == 200, "\(answer)")
            let record = answer.json
            #expect(record["execution_id"] as? String == "api-ok-1")
            #expect(record["exit_code"] as? Int == 0)
            #expect(record["stdout"] as? String == "hello\n")
            #expect(record["stderr"] as? String == "oops\n")
            #expect(record["stdout_bytes"] as? Int == 6 && record["stderr_bytes"] as? Int == 5)
            #expect(record["outcome"] as? String == "exited" && record["cancelled"] as? Bool == false)
            #expect(record["rule_id"] as? String == "run-log")
            #expect((record["policy_digest"] as? String)?.hasPrefix("sha256:") == true)
            #expect((record["seccomp_profile_digest"] as? String)?.hasPrefix("sha256:") == true)
            #expect(try await worker.eventTypes("api-ok-1") == ["CliToolInvocationStarted", "CliToolInvocationCompleted"])
            let started = try #require(try await worker.events("api-ok-1").first)
            #expect(started.field("trace_id") == "0af7651916cd43dd8448eb211c80319c", "trace id from traceparent")
            try await worker.stop()
            // The access line is written once the response is; the worker has stopped, so it is there.
            #expect(worker.logs.all.contains { $0.contains(#""method":"POST /v1/invocations""#) && $0.contains(#""execution_id":"api-ok-1""#) })
            #expect(!worker.logs.all.contains { $0.contains("hello") || $0.contains("oops") }, "output never reaches the logs")
        }

        @Test("a denial is 403 with rule, reason and digest, recorded as CliToolSemanticRejected; nothing runs")
        func denial() async throws {
            let worker = try await TestWorker.start()
            let answer = try await worker.request(
                "POST", "/v1/invocations",
                json: #"{"execution_id":"api-deny-1","tool_name":"marker","subcommand":"push","args":["--force"],"tenant_id":"acme","security_context":"ro"}"#)
            #expect(answer.status == 403, "\(answer)")
            #expect(answer.json["allowed"] as? Bool == false)
            #expect(answer.json["rule_id"] as? String == "airlock.default-deny")
            #expect(answer.json["requested_subcommand"] as? String == "push")
            #expect(answer.json["reason"] as? String != nil && answer.json["policy_digest"] as? String != nil)
            #expect(try await worker.eventTypes("api-deny-1") == ["CliToolSemanticRejected"])
            #expect(!FileManager.default.fileExists(atPath: worker.workspace + "/launched"))
            try await worker.stop()
        }

        @Test("subcommand words and args are what the judge sees")
        func subcommandWords() async throws {
            let worker = try await TestWorker.start()
            // "remote show" is two words: git's `remote show` subcommand, which the test policy does not allow.
            let answer = try await worker.request(
                "POST", "/v1/judge", json: #"{"tool_name":"ok","subcommand":"remote show","args":["origin"],"tenant_id":"acme","security_context":"ro"}"#)
            #expect(answer.status == 200)
            #expect(answer.json["requested_subcommand"] as? String == "remote show")
            #expect(answer.json["allowed"] as? Bool == false)
            try await worker.stop()
        }

        @Test("judge: our format and the gateway's; nothing launched, nothing recorded")
        func judge() async throws {
            let worker = try await TestWorker.start()
            let ours = try await worker.request("POST", "/v1/judge", json: TestWorker.body("marker"))
            #expect(ours.status == 200, "\(ours)")
            #expect(ours.json["allowed"] as? Bool == true && ours.json["rule_id"] as? String == "run-log")
            #expect(ours.json["security_context"] as? String == "ro" && ours.json["requested_subcommand"] as? String == "log")
            #expect(ours.json["policy_digest"] as? String != nil)
            let gateway = try await worker.request(
                "POST", "/v1/judge", json: #"{"tool_name":"marker","subcommand":"push","args":["--force"],"security_context":"ro"}"#)
            #expect(gateway.status == 200)
            #expect(gateway.json["allowed"] as? Bool == false && (gateway.json["reason"] as? String)?.isEmpty == false)
            let unknownTool = try await worker.request("POST", "/v1/judge", json: #"{"tool_name":"nope","subcommand":"","args":[],"security_context":"ro"}"#)
            #expect(unknownTool.status == 200 && unknownTool.json["rule_id"] as? String == "airlock.unknown-tool")
            let unknownTenant = try await worker.request("POST", "/v1/judge", json: TestWorker.body("marker", tenant: "initech"))
            #expect(unknownTenant.status == 404 && unknownTenant.error["field"] as? String == "tenant_id")
            #expect(try await worker.events().isEmpty)
            #expect(!FileManager.default.fileExists(atPath: worker.workspace + "/launched"))
            try await worker.stop()
        }

        @Test("unknown tenant, tool and security context are 404 naming the field")
        func notFound() async throws {
            let worker = try await TestWorker.start()
            let cases = [
                (#"{"tool_name":"ok","subcommand":"log","tenant_id":"initech","security_context":"ro"}"#, "tenant_id"),
                (#"{"tool_name":"nope","subcommand":"log","tenant_id":"acme","security_context":"ro"}"#, "tool_name"),
                (#"{"tool_name":"ok","subcommand":"log","tenant_id":"acme","security_context":"admin"}"#, "security_context"),
            ]
            for (body, field) in cases {
                let answer = try await worker.request("POST", "/v1/invocations", json: body)
                #expect(answer.status == 404, "\(answer)")
                #expect(answer.error["field"] as? String == field)
            }
            #expect(try await worker.events().isEmpty)
            try await worker.stop()
        }

        @Test("output that is not UTF-8 is base64; output past the retention is truncated with exact counts")
        func outputEncoding() async throws {
            let worker = try await TestWorker.start()
            let binary = try await worker.invoke("binary")
            #expect(binary.json["stdout"] as? String == Data([0xff, 0xfe]).base64EncodedString(), "\(binary)")
            #expect(binary.json["stdout_encoding"] as? String == "base64")
            #expect(binary.json["stdout_bytes"] as? Int == 2)
            let big = try await worker.invoke("big")
            #expect(big.status == 200)
            #expect(big.json["stdout_bytes"] as? Int == 3_000_000)
            #expect(big.json["stdout_truncated"] as? Bool == true)
            let text = try #require(big.json["stdout"] as? String)
            // 3,000,000 bytes of "abcdefghij\n" end in the middle of a line: "abc".
            #expect(text.hasPrefix("abcdefghij\n") && text.contains("bytes dropped") && text.hasSuffix("\nabc"))
            #expect(text.utf8.count < 4200)
            try await worker.stop()
        }

        @Test("timeout_ms shortens the deadline: 200 with timed_out")
        func deadline() async throws {
            let worker = try await TestWorker.start()
            let answer = try await worker.invoke("sleeper", extra: #","timeout_ms":1500"#)
            #expect(answer.status == 200, "\(answer)")
            #expect(answer.json["timed_out"] as? Bool == true && answer.json["outcome"] as? String == "timed_out")
            try await worker.stop()
        }

        /// The sandbox was attested with the image there; it is gone at the launch.
        @Test("engine failure is 502 with the record and its error")
        func engineFailure() async throws {
            try VanishingImage.worker.tag()
            let worker = try await TestWorker.start()
            try VanishingImage.worker.remove()
            let answer = try await worker.invoke("vanished", id: "api-vanished-1")
            #expect(answer.status == 502, "\(answer)")
            #expect(answer.json["outcome"] as? String == "engine_failure")
            #expect((answer.json["error"] as? String)?.contains("not in podman's local store") == true, "\(answer)")
            #expect(try await worker.eventTypes("api-vanished-1") == ["CliToolInvocationStarted", "CliToolInvocationCompleted"])
            try await worker.stop()
        }

        /// Without its image the canary cannot attest the tool's sandbox: nothing is launched or
        /// recorded as started, and the other tools stay available (the worker stays ready).
        @Test("a tool whose image is missing is refused before launch, 503, nothing recorded")
        func missingImage() async throws {
            let worker = try await TestWorker.start()
            let answer = try await worker.invoke("missing", id: "api-missing-1")
            #expect(answer.status == 503, "\(answer)")
            #expect(answer.error["code"] as? String == "sandbox_not_attested")
            #expect((answer.error["message"] as? String)?.contains("images/build") == true, "\(answer)")
            #expect(try await worker.eventTypes("api-missing-1").isEmpty)
            #expect(try await worker.request("GET", "/readyz").status == 200)
            #expect(try await worker.invoke("ok").status == 200)
            try await worker.stop()
        }

        @Test("mounts: inside the roots they work; outside, 422 and nothing launched")
        func mounts() async throws {
            let worker = try await TestWorker.start()
            let inside = try await worker.invoke(
                "marker", extra: #","mounts":[{"host_path":"\#(worker.workspace)","mount_path":"/workspace","read_only":false}]"#)
            #expect(inside.status == 200 && inside.json["exit_code"] as? Int == 0, "\(inside)")
            #expect(FileManager.default.fileExists(atPath: worker.workspace + "/launched"))
            let outside = try await worker.invoke("marker", id: "api-mount-out", extra: #","mounts":[{"host_path":"/etc","mount_path":"/workspace"}]"#)
            #expect(outside.status == 422, "\(outside)")
            #expect(outside.error["code"] as? String == "mount_refused")
            #expect((outside.error["message"] as? String)?.contains("outside the tool's mount roots") == true)
            #expect(try await worker.eventTypes("api-mount-out").isEmpty)
            // read_only defaults to true: a read-only mount cannot be written.
            try? FileManager.default.removeItem(atPath: worker.workspace + "/launched")
            let readOnly = try await worker.invoke("marker", extra: #","mounts":[{"host_path":"\#(worker.workspace)","mount_path":"/workspace"}]"#)
            #expect(readOnly.status == 200 && readOnly.json["exit_code"] as? Int != 0, "\(readOnly)")
            #expect(!FileManager.default.fileExists(atPath: worker.workspace + "/launched"))
            try await worker.stop()
        }

        @Test("the audit store down: 503, nothing launched; readyz says why")
        func storeDown() async throws {
            let store = InMemoryEventStore()
            let worker = try await TestWorker.start(store: store)
            store.fail(with: "disk gone")
            let answer = try await worker.invoke(
                "marker", extra: #","mounts":[{"host_path":"\#(worker.workspace)","mount_path":"/workspace","read_only":false}]"#)
            #expect(answer.status == 503, "\(answer)")
            #expect(answer.error["code"] as? String == "audit_store_unavailable")
            #expect(!FileManager.default.fileExists(atPath: worker.workspace + "/launched"))
            let ready = try await worker.request("GET", "/readyz")
            #expect(ready.status == 503)
            #expect((ready.json["not_ready"] as? [String])?.contains { $0.contains("store: disk gone") } == true)
            let events = try await worker.request("GET", "/v1/events?tenant_id=acme")
            #expect(events.status == 503)
            store.fail(with: nil)
            try await worker.stop()
        }

        @Test("stdin reaches the tool, exactly; bounded; absent means end of input")
        func stdin() async throws {
            try VanishingImage.worker.tag()
            let worker = try await TestWorker.start()
            try VanishingImage.worker.remove()
            let text = try await worker.invoke("echoin", extra: #","stdin":"line one\nline two\n""#)
            #expect(text.status == 200, "\(text)")
            #expect(text.json["stdout"] as? String == "line one\nline two\n")
            let binary = try await worker.invoke("echoin", extra: #","stdin":"/wAB/g==","stdin_encoding":"base64""#)
            #expect(binary.json["stdout"] as? String == "/wAB/g==" && binary.json["stdout_encoding"] as? String == "base64", "\(binary)")
            let big = String(repeating: "0123456789abcdef", count: 20_000)  // 320,000 bytes: more than a pipe holds
            let large = try await worker.invoke("echoin", extra: #","stdin":"\#(big)""#)
            #expect(large.json["stdout_bytes"] as? Int == big.utf8.count, "\(large.status)")
            let none = try await worker.invoke("echoin")
            #expect(none.status == 200 && none.json["stdout_bytes"] as? Int == 0, "no stdin: the tool sees end of input, it does not hang")
            // Input the tool never reads (it exits first; the engine fails before starting it): the
            // rest is dropped, and the worker lives on (a write to the closed pipe used to kill it).
            let unread = try await worker.invoke("ok", extra: #","stdin":"\#(big)""#)
            #expect(unread.status == 200 && unread.json["exit_code"] as? Int == 0, "\(unread)")
            let failed = try await worker.invoke("vanished", extra: #","stdin":"\#(big)""#)
            #expect(failed.json["outcome"] as? String == "engine_failure", "\(failed)")
            #expect(try await worker.request("GET", "/readyz").status == 200)
            let tooMuch = String(repeating: "x", count: InvocationBody.maximumStdinBytes + 1)
            let refused = try await worker.invoke("echoin", id: "stdin-too-much", extra: #","stdin":"\#(tooMuch)""#)
            #expect(refused.status == 400 && refused.error["field"] as? String == "stdin")
            #expect(try await worker.eventTypes("stdin-too-much").isEmpty, "nothing launched, nothing recorded")
            try await worker.stop()
        }

        @Test("events: a tenant sees only its own, with a cursor, types and limits")
        func events() async throws {
            let worker = try await TestWorker.start()
            _ = try await worker.invoke("ok", id: "ev-acme-1")
            _ = try await worker.invoke("ok", id: "ev-globex-1", tenant: "globex")
            _ = try await worker.request(
                "POST", "/v1/invocations", json: #"{"execution_id":"ev-acme-2","tool_name":"ok","subcommand":"push","tenant_id":"acme","security_context":"ro"}"#)
            let acme = try await worker.request("GET", "/v1/events", headers: ["X-Airlock-Tenant": "acme"])
            #expect(acme.status == 200, "\(acme)")
            let items = try #require(acme.json["events"] as? [[String: Any]])
            #expect(items.count == 3)
            #expect(items.allSatisfy { ($0["payload"] as? [String: Any])?["tenant_id"] as? String == "acme" })
            #expect(items.map { $0["event_type"] as? String } == ["CliToolInvocationStarted", "CliToolInvocationCompleted", "CliToolSemanticRejected"])
            #expect(items.allSatisfy { ($0["created_at"] as? String)?.hasSuffix("Z") == true && $0["id"] is Int })
            let lastID = try #require(items.last?["id"] as? Int)
            #expect(acme.json["next_after_id"] as? Int == lastID)
            let globex = try await worker.request("GET", "/v1/events?tenant_id=globex")
            #expect((globex.json["events"] as? [[String: Any]])?.count == 2)
            let page = try await worker.request("GET", "/v1/events?tenant_id=acme&limit=1&type=CliToolInvocationCompleted")
            let pageItems = try #require(page.json["events"] as? [[String: Any]])
            #expect(pageItems.count == 1 && pageItems[0]["event_type"] as? String == "CliToolInvocationCompleted")
            let after = try await worker.request("GET", "/v1/events?tenant_id=acme&after_id=\(lastID)")
            #expect((after.json["events"] as? [Any])?.isEmpty == true && after.json["next_after_id"] as? Int == lastID)
            let byExecution = try await worker.request("GET", "/v1/events?tenant_id=globex&execution_id=ev-acme-1")
            #expect((byExecution.json["events"] as? [Any])?.isEmpty == true, "another tenant's execution is invisible")
            for (query, field, status) in [
                ("", "tenant_id", 400), ("?tenant_id=initech", "tenant_id", 404), ("?tenant_id=acme&limit=1001", "limit", 400),
                ("?tenant_id=acme&limit=0", "limit", 400), ("?tenant_id=acme&after_id=-1", "after_id", 400), ("?tenant_id=acme&type=Nope", "type", 400),
                ("?tenant_id=acme&colour=red", "colour", 400),
            ] {
                let answer = try await worker.request("GET", "/v1/events" + query)
                #expect(answer.status == status && answer.error["field"] as? String == field, "\(query): \(answer)")
            }
            try await worker.stop()
        }

        @Test("streaming: NDJSON chunks as they are written, then the summary")
        func streaming() async throws {
            let worker = try await TestWorker.start()
            let began = ContinuousClock.now
            let lines = Mutex<[(Duration, String)]>([])
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            process.arguments = [
                "-s", "-N", "--unix-socket", worker.socket, "-H", "Accept: application/x-ndjson", "--data-binary",
                TestWorker.body("chatty", id: "stream-1"), "http://localhost/v1/invocations",
            ]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            // Reads line by line off the cooperative pool, noting when each line came.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    var pending = Data()
                    while true {
                        let data = output.fileHandleForReading.availableData
                        if data.isEmpty { break }
                        pending.append(data)
                        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                            let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                            pending = Data(pending[(newline + 1)...])
                            lines.withLock { $0.append((ContinuousClock.now - began, line)) }
                        }
                    }
                    continuation.resume()
                }
            }
            process.waitUntilExit()
            let received = lines.withLock { $0 }
            let objects: [[String: Any]] = received.map { line in
                ((try? JSONSerialization.jsonObject(with: Data(line.1.utf8))) as? [String: Any]) ?? [:]
            }
            let data = objects.compactMap { $0["data"] as? String }
            #expect(data.joined() == "one\ntwo\nthree\n", "\(received)")
            #expect(objects.dropLast().allSatisfy { $0["stream"] as? String == "stdout" })
            let summary: [String: Any] = try #require(objects.last?["summary"] as? [String: Any])
            #expect(summary["execution_id"] as? String == "stream-1" && summary["stdout_bytes"] as? Int == 14 && summary["exit_code"] as? Int == 0)
            // "one" arrives about two seconds before the summary: it was streamed, not buffered.
            let spread = received.last!.0 - received.first!.0
            #expect(spread > .milliseconds(1500), "\(spread)")
            // A denial is answered as without streaming.
            let denied = try await worker.request(
                "POST", "/v1/invocations", json: #"{"tool_name":"ok","subcommand":"push","tenant_id":"acme","security_context":"ro"}"#,
                headers: ["Accept": "application/x-ndjson"])
            #expect(denied.status == 403 && denied.headers["content-type"] == "application/json")
            try await worker.stop()
        }

        @Test("DELETE cancels a running invocation: its final record, Completed as cancelled, no container left")
        func cancel() async throws {
            let worker = try await TestWorker.start()
            async let running = worker.invoke("sleeper", id: "cancel-1")
            while try await worker.eventTypes("cancel-1").isEmpty { try await Task.sleep(for: .milliseconds(100)) }
            try await Task.sleep(for: .milliseconds(500))
            let cancelled = try await worker.request("DELETE", "/v1/invocations/cancel-1")
            #expect(cancelled.status == 200, "\(cancelled)")
            #expect(cancelled.json["cancelled"] as? Bool == true && cancelled.json["outcome"] as? String == "cancelled")
            let original = try await running
            #expect(original.status == 200 && original.json["cancelled"] as? Bool == true)
            let events = try await worker.events("cancel-1")
            #expect(events.map(\.eventType) == ["CliToolInvocationStarted", "CliToolInvocationCompleted"])
            #expect(events.last?.field("outcome") == "cancelled")
            #expect(try await leftoverContainers(["cancel-1"]).isEmpty)
            // Finished: answered with its record; unknown: 404.
            let again = try await worker.request("DELETE", "/v1/invocations/cancel-1")
            #expect(again.status == 200 && again.json["execution_id"] as? String == "cancel-1")
            let unknown = try await worker.request("DELETE", "/v1/invocations/never-was")
            #expect(unknown.status == 404 && unknown.error["field"] as? String == "execution_id")
            try await worker.stop()
        }

        @Test("an execution id runs once: running 409, finished replayed, known only to the store 409 with its event ids")
        func idempotency() async throws {
            let directory = NSTemporaryDirectory() + "airlock-serve-\(UUID().uuidString.prefix(8))"
            let worker = try await TestWorker.start(directory: directory)
            async let first = worker.invoke("short", id: "idem-1")
            while try await worker.eventTypes("idem-1").isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            let duplicate = try await worker.invoke("short", id: "idem-1")
            #expect(duplicate.status == 409 && duplicate.error["code"] as? String == "already_running", "\(duplicate)")
            let firstAnswer = try await first
            #expect(firstAnswer.status == 200)
            let replay = try await worker.invoke("short", id: "idem-1")
            #expect(replay.status == 200 && replay.body == firstAnswer.body, "the same answer, byte for byte")
            #expect(try await worker.eventTypes("idem-1").count == 2, "it ran once")
            try await worker.stop()

            // A new process over the same store: the answer is gone from memory, the events are not.
            let restarted = try await TestWorker.start(directory: directory)
            let afterRestart = try await restarted.invoke("short", id: "idem-1")
            #expect(afterRestart.status == 409 && afterRestart.error["code"] as? String == "already_ran", "\(afterRestart)")
            #expect((afterRestart.json["event_ids"] as? [Int])?.count == 2)
            #expect(try await restarted.eventTypes("idem-1").count == 2, "still once")
            try await restarted.stop()
        }
    }
}
