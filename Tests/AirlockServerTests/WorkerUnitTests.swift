import AirlockEngine
import AirlockInvocation
import AirlockPolicy
import AirlockSeccomp
import AirlockServer
import Foundation
import Logging
import Synchronization
import Testing

/// The worker's pure parts, without a socket.
@Suite("worker parts") struct WorkerUnitTests {
    @Test("an invocation body: subcommand words, defaults, mounts")
    func body() throws {
        let body = try InvocationBody.decode(
            Array(
                #"{"tool_name":"git","subcommand":"remote  show","args":["origin"],"tenant_id":"acme","security_context":"ro","mounts":[{"host_path":"/srv/r","mount_path":"/workspace"},{"host_path":"/srv/o","mount_path":"/workspace/o","read_only":false}],"timeout_ms":2500,"trace_id":"t-1","stdin":""}"#
                    .utf8))
        #expect(body.argv == ["remote", "show", "origin"])
        #expect(body.mounts == [MountRequest(hostPath: "/srv/r", containerPath: "/workspace", writable: false), MountRequest(hostPath: "/srv/o", containerPath: "/workspace/o", writable: true)])
        #expect(body.timeoutMilliseconds == 2500 && body.traceID == "t-1" && body.executionID == nil)
        let request = body.invocationRequest(executionID: "x-1", traceID: body.traceID)
        #expect(request.arguments == ["remote", "show", "origin"] && request.timeout == .milliseconds(2500) && request.tenantID == "acme")
        let empty = try InvocationBody.decode(Array(#"{"tool_name":"git","subcommand":"","tenant_id":"a","security_context":"ro"}"#.utf8))
        #expect(empty.argv.isEmpty)
    }

    @Test("the judge body: ours with a tenant, the gateway's without")
    func judgeBody() throws {
        let gateway = try JudgeBody.decode(Array(#"{"tool_name":"git","subcommand":"push","args":["-f"],"security_context":"developer"}"#.utf8))
        #expect(gateway == .gateway(toolName: "git", argv: ["push", "-f"], securityContext: "developer"))
        guard case .invocation = try JudgeBody.decode(Array(#"{"tool_name":"git","subcommand":"log","tenant_id":"a","security_context":"ro"}"#.utf8)) else {
            Issue.record("a body with tenant_id is ours")
            return
        }
        do {
            _ = try JudgeBody.decode(Array(#"{"tool_name":"git","security_context":"ro","execution_id":"x"}"#.utf8))
            Issue.record("the gateway format has no execution_id")
        } catch {
            #expect(error.field == "execution_id" && error.message.contains("tenant_id"))
        }
    }

    static func record(_ capture: OutputCapture) -> [String: JSONValue] {
        InvocationResponse.record(
            decision: Decision(
                allowed: true, ruleID: "r", reason: "", tool: "t", requestedSubcommand: "", securityContext: "c", tenant: nil, policyDigest: "d",
                parsedCommand: nil),
            run: RunResult(
                executionID: "e", containerName: "c", image: "i", outcome: .exited(0), stdout: capture, stderr: OutputCapture(limit: 0),
                durationMilliseconds: 1, oomKilled: false, exitCode: 0),
            seccompDigest: "s")
    }

    @Test(
        "output as text when it is UTF-8, else base64",
        arguments: [
            (Array("héllo wörld\n".utf8), "héllo wörld\n", false),
            ([0xff, 0xfe], "//4=", true),
            ([], "", false),
        ] as [([UInt8], String, Bool)])
    func outputText(bytes: [UInt8], expected: String, base64: Bool) {
        var capture = OutputCapture(limit: 64)
        capture.append(bytes)
        let record = Self.record(capture)
        #expect(record["stdout"] == .string(expected))
        #expect(record["stdout_encoding"] == (base64 ? .string("base64") : nil))
        #expect(record["stdout_bytes"] == .integer(Int64(bytes.count)))
    }

    @Test("truncated output: head, marker, tail; a multi-byte character cut at a seam is not half-kept")
    func truncation() {
        var capture = OutputCapture(limit: 8)
        capture.append(Array("abcé".utf8) + Array(repeating: UInt8(ascii: "x"), count: 100) + Array("éxyz".utf8))
        // Head keeps "abc" plus the first byte of "é"; tail keeps the last byte of "é" and "xyz".
        let record = Self.record(capture)
        guard case let .string(text)? = record["stdout"] else {
            Issue.record("no text")
            return
        }
        #expect(text.hasPrefix("abc\n[… ") && text.hasSuffix(" bytes dropped …]\nxyz"), "\(text)")
        #expect(record["stdout_truncated"] == .bool(true) && record["stdout_bytes"] == .integer(Int64(capture.totalBytes)))
    }

    @Test(
        "loopback addresses only",
        arguments: [
            ("127.0.0.1:8787", "127.0.0.1", 8787), ("127.1.2.3:0", "127.1.2.3", 0), ("[::1]:9000", "::1", 9000), ("localhost:80", "127.0.0.1", 80),
        ] as [(String, String, Int)])
    func loopback(text: String, host: String, port: Int) throws {
        let address = try LoopbackAddress(parsing: text)
        #expect(address.host == host && address.port == port)
    }

    @Test("non-loopback or malformed listen addresses are refused", arguments: ["0.0.0.0:80", "10.0.0.1:80", "[::]:80", "example.com:80", "127.0.0.1", "127.0.0.1:99999", "[::1]80"])
    func notLoopback(text: String) {
        #expect(throws: ListenError.self) { try LoopbackAddress(parsing: text) }
    }

    @Test("admission: global and per-tenant limits, a bounded queue, fairness across tenants, close")
    func admission() async throws {
        let control = AdmissionControl(limits: AdmissionLimits(maxConcurrent: 2, maxPerTenant: 1, maxQueued: 2))
        try await control.admit(id: "a1", tenant: "a")
        try await control.admit(id: "b1", tenant: "b")
        #expect(control.counts == (2, 0))
        async let a2: Void = control.admit(id: "a2", tenant: "a")
        async let c1: Void = control.admit(id: "c1", tenant: "c")
        while control.counts.queued < 2 { try await Task.sleep(for: .milliseconds(5)) }
        await #expect(throws: AdmissionRefusal.queueFull) { try await control.admit(id: "x", tenant: "x") }
        // b's slot frees: a is still at its own limit, so c goes first.
        control.release(tenant: "b")
        try await c1
        #expect(control.counts == (2, 1))
        control.release(tenant: "a")
        try await a2
        #expect(control.counts == (2, 0))
        control.close()
        await #expect(throws: AdmissionRefusal.shuttingDown) { try await control.admit(id: "y", tenant: "y") }
    }

    @Test("JSON log lines: the envelope, numbers as numbers, levels as the platform names them")
    func jsonLog() throws {
        let lines = Mutex<[String]>([])
        let logger = Logger(label: "t") { _ in WorkerLogHandler(format: .json, level: .debug, sink: { line in lines.withLock { $0.append(line) } }) }
        logger.warning("request", metadata: ["method": "GET /healthz", "code": "200", "duration_ms": "3", "tenant_id": "acme"])
        let line = try #require(lines.withLock { $0.first })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["service"] as? String == "airlock" && object["level"] as? String == "warn" && object["msg"] as? String == "request")
        #expect(object["code"] as? Int == 200 && object["duration_ms"] as? Int == 3 && object["tenant_id"] as? String == "acme")
        #expect((object["ts"] as? String)?.hasSuffix("Z") == true)
        #expect(!line.contains("\n"))
        #expect(WorkerLogHandler.level(fromEnvironment: ["AIRLOCK_LOG": "debug"]) == .debug)
        #expect(WorkerLogHandler.level(fromEnvironment: ["AIRLOCK_LOG": "warn"]) == .warning)
        #expect(WorkerLogHandler.level(fromEnvironment: [:]) == .info)
    }
}

/// A profile is compiled once while its file is unchanged, and again once it changes.
@Test func seccompProfilesAreCachedUntilTheFileChanges() throws {
    let path = NSTemporaryDirectory() + "airlock-cache-\(UUID().uuidString).json"
    let allowAll = #"{"defaultAction": "SCMP_ACT_ALLOW"}"#
    try allowAll.write(toFile: path, atomically: false, encoding: .utf8)
    let loads = Mutex(0)
    let cache = SeccompProfileCache { path throws(SeccompProfileError) in
        loads.withLock { $0 += 1 }
        return try SeccompProfile.load(path: path) { try Array(Data(contentsOf: URL(fileURLWithPath: $0))) }.reference
    }
    let first = try cache.profile(path)
    #expect(try cache.profile(path) == first)
    #expect(loads.withLock { $0 } == 1)
    try #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#
        .write(toFile: path, atomically: true, encoding: .utf8)
    #expect(try cache.profile(path).digest != first.digest, "a changed file is loaded again")
    #expect(loads.withLock { $0 } == 2)
    try "{".write(toFile: path, atomically: true, encoding: .utf8)
    #expect(throws: SeccompProfileError.self) { try cache.profile(path) }
}
