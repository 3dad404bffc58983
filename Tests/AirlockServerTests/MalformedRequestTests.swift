import AirlockServer
import Foundation
import Testing

extension WorkerSuite {
    /// Bad input is answered with the field and why; nothing is launched or recorded, and the worker
    /// goes on serving.
    @Suite("malformed requests") struct MalformedRequestTests {
        struct Case: Sendable, CustomStringConvertible {
            var name: String
            var body: String
            var status: Int
            /// `body`: the body as a whole.
            var field: String
            var description: String { name }
        }

        static let valid = #""tool_name":"marker","subcommand":"log","tenant_id":"acme","security_context":"ro""#

        static let cases: [Case] = [
            Case(name: "not JSON", body: "{tool_name: marker}", status: 400, field: "body"),
            Case(name: "empty body", body: "", status: 400, field: "body"),
            Case(name: "an array", body: "[1, 2]", status: 400, field: "body"),
            Case(name: "truncated", body: #"{"tool_name":"marker""#, status: 400, field: "body"),
            Case(name: "unknown field", body: "{\(valid),\"image\":\"evil:1\"}", status: 400, field: "image"),
            // An empty key is named `""`, never with an empty string (found by schemathesis).
            Case(name: "an empty key", body: "{\(valid),\"\":1}", status: 400, field: "\"\""),
            Case(name: "an empty key in a mount", body: "{\(valid),\"mounts\":[{\"\":1}]}", status: 400, field: "mounts[0].\"\""),
            Case(name: "missing tool_name", body: #"{"subcommand":"log","tenant_id":"acme","security_context":"ro"}"#, status: 400, field: "tool_name"),
            Case(name: "missing tenant_id", body: #"{"tool_name":"marker","subcommand":"log","security_context":"ro"}"#, status: 400, field: "tenant_id"),
            Case(name: "missing security_context", body: #"{"tool_name":"marker","subcommand":"log","tenant_id":"acme"}"#, status: 400, field: "security_context"),
            Case(name: "missing subcommand", body: #"{"tool_name":"marker","tenant_id":"acme","security_context":"ro"}"#, status: 400, field: "subcommand"),
            Case(name: "empty tool_name", body: #"{"tool_name":"","subcommand":"log","tenant_id":"acme","security_context":"ro"}"#, status: 400, field: "tool_name"),
            Case(name: "tool_name a number", body: #"{"tool_name":7,"subcommand":"log","tenant_id":"acme","security_context":"ro"}"#, status: 400, field: "tool_name"),
            Case(name: "args a string", body: "{\(valid),\"args\":\"--force\"}", status: 400, field: "args"),
            Case(name: "args with a number", body: "{\(valid),\"args\":[\"a\",2]}", status: 400, field: "args[1]"),
            Case(name: "NUL in an argument", body: "{\(valid),\"args\":[\"a\\u0000b\"]}", status: 400, field: "args[0]"),
            Case(name: "NUL in the subcommand", body: #"{"tool_name":"marker","subcommand":"l\u0000og","tenant_id":"acme","security_context":"ro"}"#, status: 400, field: "subcommand"),
            Case(name: "NUL in the tenant", body: #"{"tool_name":"marker","subcommand":"log","tenant_id":"ac\u0000me","security_context":"ro"}"#, status: 400, field: "tenant_id"),
            Case(name: "timeout_ms a string", body: "{\(valid),\"timeout_ms\":\"10\"}", status: 400, field: "timeout_ms"),
            Case(name: "timeout_ms fractional", body: "{\(valid),\"timeout_ms\":1.5}", status: 400, field: "timeout_ms"),
            Case(name: "timeout_ms zero", body: "{\(valid),\"timeout_ms\":0}", status: 400, field: "timeout_ms"),
            Case(name: "execution_id with a slash", body: "{\(valid),\"execution_id\":\"../x\"}", status: 400, field: "execution_id"),
            Case(name: "execution_id too long", body: "{\(valid),\"execution_id\":\"\(String(repeating: "a", count: 129))\"}", status: 400, field: "execution_id"),
            Case(name: "trace_id with a space", body: "{\(valid),\"trace_id\":\"a b\"}", status: 400, field: "trace_id"),
            Case(name: "mounts an object", body: "{\(valid),\"mounts\":{}}", status: 400, field: "mounts"),
            Case(name: "mount without host_path", body: "{\(valid),\"mounts\":[{\"mount_path\":\"/workspace\"}]}", status: 400, field: "mounts[0].host_path"),
            Case(name: "mount with an unknown key", body: "{\(valid),\"mounts\":[{\"host_path\":\"/tmp\",\"mount_path\":\"/workspace\",\"rw\":true}]}", status: 400, field: "mounts[0].rw"),
            Case(name: "read_only a string", body: "{\(valid),\"mounts\":[{\"host_path\":\"/tmp\",\"mount_path\":\"/workspace\",\"read_only\":\"no\"}]}", status: 400, field: "mounts[0].read_only"),
            Case(name: "stdin not base64", body: "{\(valid),\"stdin\":\"x!\",\"stdin_encoding\":\"base64\"}", status: 400, field: "stdin"),
            Case(name: "stdin encoding unknown", body: "{\(valid),\"stdin\":\"x\",\"stdin_encoding\":\"hex\"}", status: 400, field: "stdin_encoding"),
            Case(name: "stdin encoding alone", body: "{\(valid),\"stdin_encoding\":\"base64\"}", status: 400, field: "stdin_encoding"),
            Case(name: "unknown tenant", body: #"{"tool_name":"marker","subcommand":"log","tenant_id":"initech","security_context":"ro"}"#, status: 404, field: "tenant_id"),
            Case(name: "unknown tool", body: #"{"tool_name":"rm","subcommand":"log","tenant_id":"acme","security_context":"ro"}"#, status: 404, field: "tool_name"),
            Case(name: "unknown context", body: #"{"tool_name":"marker","subcommand":"log","tenant_id":"acme","security_context":"root"}"#, status: 404, field: "security_context"),
            Case(name: "over the body limit", body: "{\(valid),\"args\":[\"\(String(repeating: "x", count: 70_000))\"]}", status: 413, field: "body"),
        ]

        @Test("each bad request is answered with its status and field, and nothing runs")
        func table() async throws {
            let worker = try await TestWorker.start { $0.maxBodyBytes = 64 * 1024 }
            for item in Self.cases {
                let answer = try await worker.request("POST", "/v1/invocations", json: item.body)
                #expect(answer.status == item.status, "\(item): \(answer)")
                #expect(answer.error["field"] as? String == item.field, "\(item): \(answer)")
                #expect((answer.error["message"] as? String)?.isEmpty == false, "\(item)")
                #expect((answer.error["code"] as? String)?.isEmpty == false, "\(item)")
            }
            #expect(try await worker.events().isEmpty, "nothing recorded")
            #expect(!FileManager.default.fileExists(atPath: worker.workspace + "/launched"), "nothing launched")
            // Still serving, and the same tool runs when asked properly.
            let fine = try await worker.invoke(
                "marker", extra: #","mounts":[{"host_path":"\#(worker.workspace)","mount_path":"/workspace","read_only":false}]"#)
            #expect(fine.status == 200, "\(fine)")
            #expect(FileManager.default.fileExists(atPath: worker.workspace + "/launched"))
            try await worker.stop()
        }

        @Test("a body past the limit without Content-Length is 413 too; unknown routes are JSON 404s, a route's other methods 405")
        func chunkedAndRoutes() async throws {
            let worker = try await TestWorker.start { $0.maxBodyBytes = 1024 }
            let chunked = try await HTTPClient.request(
                socket: worker.socket, method: "POST", path: "/v1/judge", body: Data(String(repeating: " ", count: 4096).utf8),
                headers: ["Transfer-Encoding": "chunked"])
            #expect(chunked.status == 413, "\(chunked)")
            let route = try await worker.request("GET", "/v1/nothing")
            #expect(route.status == 404 && route.error["code"] as? String == "no_such_route")
            // A served path asked with another method is 405 naming the methods it takes (found by schemathesis).
            let method = try await worker.request("PUT", "/v1/invocations", json: "{}")
            #expect(method.status == 405 && method.error["code"] as? String == "method_not_allowed", "\(method)")
            #expect(method.headers["allow"] == "POST", "\(method.headers)")
            let tools = try await worker.request("TRACE", "/v1/cli-tools")
            #expect(tools.status == 405 && tools.headers["allow"] == "GET, POST", "\(tools) \(tools.headers)")
            let execution = try await worker.request("GET", "/v1/invocations/some-id")
            #expect(execution.status == 405 && execution.headers["allow"] == "DELETE", "\(execution) \(execution.headers)")
            for path in ["/v1/events?=x&tenant_id=acme", "/v1/cli-tools?=1&tenant_id=acme"] {
                let empty = try await worker.request("GET", path)
                #expect(empty.status == 400 && empty.error["field"] as? String == "\"\"", "\(path): \(empty)")
            }
            let deeper = try await worker.request("DELETE", "/v1/invocations/some-id/more")
            #expect(deeper.status == 404 && deeper.error["code"] as? String == "no_such_route", "\(deeper)")
            let badID = try await worker.request("DELETE", "/v1/invocations/a%20b")
            #expect(badID.status == 400 && badID.error["field"] as? String == "execution_id", "\(badID)")
            let judge = try await worker.request("POST", "/v1/judge", json: #"{"tool_name":"ok","subcommand":"log","security_context":"ro","mounts":[]}"#)
            #expect(judge.status == 400 && judge.error["field"] as? String == "mounts", "\(judge)")
            try await worker.stop()
        }
    }
}
