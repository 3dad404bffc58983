import AirlockEngine
import AirlockEvents
import AirlockInvocation
import AirlockPolicy
import AirlockSeccomp
import AirlockServer
import Foundation
import Logging
import Testing

/// Egress through the real invocation pipeline, as the worker runs it, on the real engines: a
/// policy with `egress:`, the worker's proxy gateway, the canary, and `Completed.egress`.
/// `AIRLOCK_TEST_ENGINES` narrows the engines.
@Suite("Egress through the invocation pipeline", .serialized)
struct EgressPipelineTests {
    struct Fixture {
        var store: InMemoryEventStore
        var pipeline: InvocationPipeline
        var judge: Judge
        /// Where this fixture's proxies put their socket directories.
        var socketParent: String
        var staging: MountStaging
    }

    /// Tools in `airlock/tools:1` (Python is the client) on git's grammar (`TOOL log` is allowed);
    /// the script's arguments are in the entrypoint, `log` comes after them and is ignored.
    static func fixture(_ internet: TestInternet, engineName: String) async throws -> Fixture {
        let root = EgressFixture.repositoryRoot
        func tool(_ name: String, _ script: String, _ arguments: [String], timeout: String = "60s", egress: String) throws -> String {
            let entrypoint = String(decoding: try JSONEncoder().encode(["/usr/bin/python3", "-c", script] + arguments), as: UTF8.self)
            return """
                  \(name):
                    grammar: \(root)/policies/grammars/git.yaml
                    image: airlock/tools:1
                    entrypoint: \(entrypoint)
                    timeout: \(timeout)
                    seccomp: \(root)/policies/seccomp/hardened.json
                    runtime: runc
                    environment: {HOME: /tmp}
                    mounts: [{root: \(internet.directory)}]
                    egress:
                \(egress)

                """
        }
        let byName = "          - {host: \(internet.allowedName), ports: [443]}"
        let byCIDR = "          - {cidr: \(internet.cidrAddress)/32, ports: [443]}"
        let yaml =
            "version: 1\ntools:\n"
            + (try tool(
                "fetch", fetchScript,
                [internet.allowedName, internet.forbiddenName, internet.serverAddress, internet.hostAddress, internet.cidrAddress],
                egress: byName + "\n" + byCIDR))
            + (try tool("holder", holdScript, [internet.allowedName], timeout: "4s", egress: byName))
            + (try tool("holder-long", holdScript, [internet.allowedName], egress: byName))
            + (try tool("other", fetchOneScript, [internet.allowedName, internet.cidrAddress], egress: byCIDR))
            + """
            contexts:
              ro:
                allow:
                  - {id: run-log, tool: [fetch, holder, holder-long, other], subcommand: [log], reason: egress tests}
            tenants:
              acme: {contexts: [ro]}
            """
        let policy = try PolicyLoader { path in try String(contentsOfFile: path, encoding: .utf8) }.load(yaml: yaml, file: "egress-policy.yaml")
        let engine = try await EngineResolver(explicit: engineName, environment: ProcessInfo.processInfo.environment).resolve()
        let store = InMemoryEventStore()
        let spool = NSTemporaryDirectory() + "airlock-egress-spool-\(UUID().uuidString)"
        let trail = AuditTrail(store: store, spool: try EventSpool(directory: spool))
        // Earlier, dead test processes' parents, empty once their invocations closed everything.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/run/airlock-tests")) ?? [] where name.hasPrefix("egress-") {
            if let pid = pid_t(name.split(separator: "-").last ?? ""), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
                rmdir("/run/airlock-tests/" + name)
            }
        }
        let socketParent = "/run/airlock-tests/egress-\(getpid())"
        let staging = MountStaging(parent: "/run/airlock-tests/egress-mounts-\(getpid())")
        let pipeline = InvocationPipeline(
            engine: { engine }, trail: trail, sandbox: SandboxAttestor(forwarderPath: try EgressFixture.forwarder()), retentionBytes: 1 << 16,
            logger: Logger(label: "test"), mountStaging: staging, egress: EgressProxyGateway(parent: socketParent),
            loadProfile: { path throws(SeccompProfileError) in
                try SeccompProfile.load(path: path) { try Array(Data(contentsOf: URL(fileURLWithPath: $0))) }.reference
            })
        return Fixture(store: store, pipeline: pipeline, judge: Judge(policy: policy), socketParent: socketParent, staging: staging)
    }

    static func request(_ tool: String, _ internet: TestInternet) -> InvocationRequest {
        InvocationRequest(
            toolName: tool, rawArguments: [Array("log".utf8)], tenantID: "acme", securityContext: "ro",
            mounts: [MountRequest(hostPath: internet.caPath, containerPath: "/workspace/ca.pem", writable: false)])
    }

    /// The events of one execution, decoded.
    static func events(_ store: InMemoryEventStore, _ executionID: String) async throws -> [(type: String, payload: [String: Any])] {
        try await store.events(matching: EventQuery(executionID: executionID)).map { event in
            (event.eventType, try #require(try JSONSerialization.jsonObject(with: Data(event.payload.utf8)) as? [String: Any]))
        }
    }

    /// `Completed.egress` as records.
    static func egress(_ completed: [String: Any]) throws -> [EgressConnection] {
        let list = try #require(completed["egress"], "Completed has no egress: \(completed)")
        return try JSONDecoder().decode([EgressConnection].self, from: try JSONSerialization.data(withJSONObject: list))
    }

    /// What is left of the proxies: socket directories under the fixture's parent.
    static func leftovers(_ fixture: Fixture) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: fixture.socketParent)) ?? []
    }

    @Test("allowed name and port reached and counted; another name, port or address denied and recorded; direct, DNS and UDP fail", arguments: EgressContainerTests.engineNames)
    func reachedAndDenied(engineName: String) async throws {
        try await TestInternet.with { internet in
            let fixture = try await Self.fixture(internet, engineName: engineName)
            let request = Self.request("fetch", internet)
            let result = await fixture.pipeline.invoke(request, judge: fixture.judge)
            guard case let .finished(_, run, _) = result else {
                Issue.record("expected a finished invocation, got \(result)")
                return
            }
            let stdout = String(decoding: run.stdout.keptHead + run.stdout.keptTail, as: UTF8.self)
            let stderr = String(decoding: run.stderr.keptHead + run.stderr.keptTail, as: UTF8.self)
            #expect(run.outcome == .exited(0), "\(run.outcome) \(stderr)")
            let outcomes = try JSONDecoder().decode([String: String].self, from: Data(stdout.utf8))
            #expect(outcomes["allowed"] == "ok 5000", "\(outcomes)")
            #expect(outcomes["cidr"] == "ok 70", "\(outcomes)")
            for denied in ["other-port", "forbidden", "address"] {
                #expect(outcomes[denied]?.contains("403") == true, "\(denied): \(outcomes)")
            }
            for unreachable in ["direct", "dns", "udp"] {
                #expect(outcomes[unreachable]?.contains("Network is unreachable") == true, "\(unreachable): \(outcomes)")
            }

            let events = try await Self.events(fixture.store, request.executionID)
            #expect(events.map(\.type) == ["CliToolInvocationStarted", "CliToolInvocationCompleted"])
            // The canary attested the tool's sandbox with the forwarder, its mounts and variables.
            #expect((events[0].payload["sandbox_digest"] as? String)?.hasPrefix("sha256:") == true)
            let served = try await internet.serverConnections(atLeast: 2)
            let records = try Self.egress(events[1].payload)
            try #require(records.count == 5, "\(records)")
            let reached = records[0]
            #expect(reached.host == internet.allowedName && reached.port == 443 && reached.allowed && reached.reason == nil, "\(reached)")
            let servedAllowed = try #require(served.first { $0.sni == internet.allowedName })
            // As the server counted them, but for a TLS alert either side may send after the other stopped reading.
            #expect(reached.bytesSent >= Int64(servedAllowed.received) && reached.bytesSent <= Int64(servedAllowed.received) + 64, "\(reached) \(servedAllowed)")
            #expect(reached.bytesReceived <= Int64(servedAllowed.sent) && reached.bytesReceived >= Int64(servedAllowed.sent) - 64)
            #expect(records[1] == EgressConnection(host: internet.allowedName, port: 8443, bytesSent: 0, bytesReceived: 0, allowed: false, reason: "port_not_allowed"))
            #expect(records[2] == EgressConnection(host: internet.forbiddenName, port: 443, bytesSent: 0, bytesReceived: 0, allowed: false, reason: "not_allowed"))
            #expect(records[3] == EgressConnection(host: internet.serverAddress, port: 443, bytesSent: 0, bytesReceived: 0, allowed: false, reason: "not_allowed"))
            #expect(records[4].host == internet.cidrAddress && records[4].allowed && records[4].bytesReceived > 0, "\(records[4])")
            #expect(events[1].payload["egress_dropped"] == nil)
            #expect(Self.leftovers(fixture).isEmpty, "\(Self.leftovers(fixture))")
        }
    }

    @Test("the deadline and cancellation close the tool's connections and leave no socket or directory", arguments: EgressContainerTests.engineNames)
    func endings(engineName: String) async throws {
        try await TestInternet.with { internet in
            let fixture = try await Self.fixture(internet, engineName: engineName)
            for (tool, outcome) in [("holder", "timed_out"), ("holder-long", "cancelled")] {
                let request = Self.request(tool, internet)
                let running = Task { await fixture.pipeline.invoke(request, judge: fixture.judge) }
                if outcome == "cancelled" {
                    // The connection is open once the server has it; then the caller goes away.
                    try await Task.sleep(for: .seconds(6))
                    running.cancel()
                }
                let result = await running.value
                guard case .finished = result else {
                    Issue.record("\(tool): expected a finished invocation, got \(result)")
                    continue
                }
                let events = try await Self.events(fixture.store, request.executionID)
                let completed = try #require(events.last?.payload)
                #expect(completed["outcome"] as? String == outcome, "\(tool): \(completed)")
                let records = try Self.egress(completed)
                #expect(records.count == 1 && records[0].allowed && records[0].bytesSent > 0, "\(tool): \(records)")
                #expect(Self.leftovers(fixture).isEmpty, "\(tool): \(Self.leftovers(fixture))")
            }
            // The server saw both held connections end: closed by the proxy, not left open.
            let served = try await internet.serverConnections(atLeast: 2, timeout: .seconds(15))
            #expect(served.filter { $0.sni == internet.allowedName && $0.path == nil }.count == 2, "\(served)")
        }
    }

    @Test("two invocations at once each get their own proxy: one's allow-list never serves the other", arguments: EgressContainerTests.engineNames)
    func concurrent(engineName: String) async throws {
        try await TestInternet.with { internet in
            let fixture = try await Self.fixture(internet, engineName: engineName)
            // `holder-long` holds its allowed connection; meanwhile `other` (cidr only) asks for the
            // same name and is refused by its own proxy.
            let holding = Self.request("holder-long", internet)
            let other = Self.request("other", internet)
            let held = Task { await fixture.pipeline.invoke(holding, judge: fixture.judge) }
            // Until its proxy is open (after the canary, which a loaded host makes slow) and the
            // tool has had a moment to connect.
            var directories: [String] = []
            for _ in 0..<600 where directories.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                directories = Self.leftovers(fixture)
            }
            try await Task.sleep(for: .seconds(2))
            let result = await fixture.pipeline.invoke(other, judge: fixture.judge)
            held.cancel()
            _ = await held.value
            guard case let .finished(_, run, _) = result else {
                Issue.record("expected a finished invocation, got \(result)")
                return
            }
            let stdout = String(decoding: run.stdout.keptHead + run.stdout.keptTail, as: UTF8.self)
            let outcomes = try JSONDecoder().decode([String: String].self, from: Data(stdout.utf8))
            #expect(outcomes["name"]?.contains("403") == true, "\(outcomes)")
            #expect(outcomes["cidr"] == "ok 70", "\(outcomes)")
            let otherRecords = try Self.egress(try #require(try await Self.events(fixture.store, other.executionID).last?.payload))
            #expect(otherRecords.map(\.host) == [internet.allowedName, internet.cidrAddress], "\(otherRecords)")
            #expect(otherRecords.first?.reason == "not_allowed")
            let heldRecords = try Self.egress(try #require(try await Self.events(fixture.store, holding.executionID).last?.payload))
            #expect(heldRecords.map(\.host) == [internet.allowedName], "\(heldRecords)")
            // While it ran, the held invocation's socket was in a directory of its own, root's and 0700.
            #expect(directories.count == 1 && directories[0].hasSuffix("-" + holding.executionID), "\(directories)")
            #expect(Self.leftovers(fixture).isEmpty)
        }
    }

    @Test("a tool with egress is refused, with nothing launched or recorded, where no proxy can be opened")
    func refusedWithoutProxy() async throws {
        try await TestInternet.with { internet in
            var fixture = try await Self.fixture(internet, engineName: EgressContainerTests.engineNames[0])
            fixture.pipeline.egress = EgressProxyGateway(parent: "/tmp/airlock-egress-unsafe")
            let request = Self.request("fetch", internet)
            let result = await fixture.pipeline.invoke(request, judge: fixture.judge)
            guard case let .refused(_, refusal) = result else {
                Issue.record("expected a refusal, got \(result)")
                return
            }
            #expect(refusal.kind == .egress && refusal.message.contains("'/tmp' is unsafe"), "\(refusal)")
            fixture.pipeline.egress = nil
            let second = await fixture.pipeline.invoke(Self.request("fetch", internet), judge: fixture.judge)
            guard case let .refused(_, noProxy) = second else {
                Issue.record("expected a refusal, got \(second)")
                return
            }
            #expect(noProxy.kind == .egress && noProxy.message.contains("no egress proxy"), "\(noProxy)")
            #expect(try await fixture.store.events(matching: EventQuery(executionID: request.executionID)).isEmpty)
        }
    }

    /// Every way out: through the proxy (an allowed name, the same name on another port, another
    /// name, an address by name and by cidr), and around it. Prints the outcomes; exits 0.
    static let fetchScript = #"""
        import json, socket, ssl, sys, urllib.request
        allowed, forbidden, server, host, cidr = sys.argv[1:6]
        context = ssl.create_default_context(cafile="/workspace/ca.pem")

        """# + EgressFixture.clientHelpers + #"""
        attempt("allowed", lambda: fetch("https://%s/bytes/5000" % allowed))
        attempt("other-port", lambda: fetch("https://%s:8443/" % allowed))
        attempt("forbidden", lambda: fetch("https://%s/" % forbidden))
        attempt("address", lambda: fetch("https://%s/" % server))
        attempt("cidr", lambda: fetch("https://%s/bytes/70" % cidr))
        attempt("direct", lambda: socket.create_connection((server, 443), timeout=5).close())
        attempt("dns", lambda: udp(host, 53))
        attempt("udp", lambda: udp(server, 443))
        print(json.dumps(outcomes))
        """#

    /// An allowed name, then the cidr address: for a tool whose list has only the latter.
    static let fetchOneScript = #"""
        import json, ssl, sys, urllib.request
        name, cidr = sys.argv[1:3]
        context = ssl.create_default_context(cafile="/workspace/ca.pem")
        outcomes = {}
        for key, url in (("name", "https://%s/" % name), ("cidr", "https://%s/bytes/70" % cidr)):
            try:
                outcomes[key] = "ok " + str(len(urllib.request.urlopen(url, context=context, timeout=20).read()))
            except Exception as error:
                outcomes[key] = "failed %s: %s" % (type(error).__name__, error)
        print(json.dumps(outcomes))
        """#

    /// Opens a TLS connection to the allowed name through the proxy and holds it, asking nothing.
    static let holdScript = #"""
        import os, socket, ssl, sys, time
        name = sys.argv[1]
        proxy = socket.create_connection(("127.0.0.1", int(os.environ["HTTPS_PROXY"].rsplit(":", 1)[1])))
        proxy.sendall(b"CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n" % (name.encode(), name.encode()))
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += proxy.recv(1)
        tls = ssl.create_default_context(cafile="/workspace/ca.pem").wrap_socket(proxy, server_hostname=name)
        time.sleep(600)
        """#
}
