import AirlockEgress
import AirlockEngine
import AirlockPolicy
import Foundation
import Testing

/// End to end on the real engines: a tool in `airlock/tools:1` (Python's urllib is the client:
/// it honours HTTPS_PROXY as curl, git and kubectl do), launched by `ContainerRunner` with the
/// flags `RunArguments` builds for every tool (`--network none`, hardened seccomp, `--user
/// 65534:65534`, `--cap-drop ALL`, `--read-only`, ...), `airlock-egress` bound read-only as its
/// entrypoint, this invocation's proxy socket bound in, and the test CA. `AIRLOCK_TEST_ENGINES`
/// narrows the engines.
@Suite("Egress end to end in a hardened container", .serialized)
struct EgressContainerTests {
    static let engineNames: [String] = (ProcessInfo.processInfo.environment["AIRLOCK_TEST_ENGINES"] ?? "podman,docker")
        .split(separator: ",").map(String.init)

    static let proxyPort = 3128

    @Test("the allowed endpoint is reached through the proxy; a direct connection, DNS, UDP, ICMP, raw sockets and another name all fail", arguments: engineNames)
    func endToEnd(engineName: String) async throws {
        let engine = try await EngineResolver(explicit: engineName, environment: ProcessInfo.processInfo.environment).resolve()
        try await TestInternet.with { internet in
            let executionID = EgressFixture.executionID()
            let proxy = try await EgressProxy.start(
                allowList: EgressAllowList([EgressRule(host: internet.allowedName, ports: [443])]), executionID: executionID)
            let proxyURL = "http://127.0.0.1:\(Self.proxyPort)"
            let container = ContainerSpec(
                image: "airlock/tools:1",
                entrypoint: ["/airlock-egress", "\(Self.proxyPort)", "/airlock-egress.sock", "--", "/usr/bin/python3", "-c", Self.tool],
                timeoutSeconds: 60, network: "none", seccompProfile: EgressFixture.repositoryRoot + "/policies/seccomp/hardened.json",
                runtime: "runc", environment: ["HTTPS_PROXY": proxyURL, "HTTP_PROXY": proxyURL, "NO_PROXY": "", "HOME": "/tmp"],
                resources: ResourceLimits(), mountRoots: [])
            let spec = ContainerRunSpec(
                executionID: executionID, toolName: "egress-test", tenant: "tests", container: container,
                arguments: [
                    internet.allowedName, internet.forbiddenName, internet.serverAddress, internet.hostAddress, "100000",
                    // Not in /etc/hosts: podman copies the host's /etc/hosts into the container (even
                    // with --network none), so the test's own names are found there without any DNS.
                    "unlisted-\(internet.id).airlock.test",
                ],
                mounts: [
                    Mount(hostPath: try EgressFixture.forwarder(), containerPath: "/airlock-egress", writable: false),
                    Mount(hostPath: proxy.socketPath, containerPath: "/airlock-egress.sock", writable: false),
                    Mount(hostPath: internet.caPath, containerPath: "/airlock-ca.pem", writable: false),
                ])
            #expect(RunArguments.build(spec, for: engine.kind).contains("--network"))
            let result: RunResult
            do {
                result = try await ContainerRunner(engine: engine).run(spec)
            } catch {
                _ = await proxy.finish()
                throw error
            }
            let served = try await internet.serverConnections(atLeast: 1)
            let report = await proxy.finish()

            let stdout = String(decoding: result.stdout.keptHead + result.stdout.keptTail, as: UTF8.self)
            let stderr = String(decoding: result.stderr.keptHead + result.stderr.keptTail, as: UTF8.self)
            // The tool's own exit status and output come through the forwarder unchanged.
            #expect(result.outcome == .exited(3), "\(result.outcome) \(stderr)")
            #expect(result.stderr.totalBytes == 0, "\(stderr)")
            let outcomes = try JSONDecoder().decode([String: String].self, from: Data(stdout.utf8))
            #expect(outcomes["allowed"] == "ok 100000", "\(outcomes)")
            #expect(outcomes["forbidden"]?.contains("403") == true, "\(outcomes)")
            for check in ["direct", "dns-to-server", "dns-to-host", "udp"] {
                #expect(outcomes[check]?.contains("Network is unreachable") == true, "\(check): \(outcomes)")
            }
            #expect(outcomes["resolve"]?.hasPrefix("failed gaierror") == true, "\(outcomes)")
            #expect(outcomes["raw"]?.hasPrefix("failed PermissionError") == true, "\(outcomes)")
            #expect(outcomes["icmp"]?.hasPrefix("failed") == true, "\(outcomes)")
            try #require(served.count == 1, "\(served)")
            #expect(served[0].sni == internet.allowedName && served[0].path == "/bytes/100000")
            try #require(report.records.count == 2, "\(report.records)")
            let reached = report.records[0]
            #expect(reached.host == internet.allowedName && reached.port == 443 && reached.allowed, "\(reached)")
            // The tool's TLS close_notify may be relayed after the server stopped reading: counted here only.
            #expect(reached.bytesSent >= served[0].received && reached.bytesSent <= served[0].received + 64, "\(reached) \(served[0])")
            // The server's TLS close_notify may arrive after the tool closed: neither delivered nor counted.
            #expect(reached.bytesReceived <= served[0].sent && reached.bytesReceived >= served[0].sent - 64, "\(reached) \(served[0])")
            #expect(report.records[1] == EgressRecord(host: internet.forbiddenName, port: 443, allowed: false, reason: .notAllowed))
        }
    }

    /// The tool: every way out it can think of, each outcome printed; exits 3.
    static let tool = #"""
        import json, socket, ssl, sys, urllib.request
        allowed, forbidden, server, host, size, unlisted = sys.argv[1:7]
        context = ssl.create_default_context(cafile="/airlock-ca.pem")

        """# + EgressFixture.clientHelpers + #"""
        def icmp():
            ping = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
            ping.settimeout(2)
            ping.sendto(b"\x08\x00\x00\x00\x00\x01\x00\x01", (server, 0))
            return ping.recv(512)
        attempt("allowed", lambda: fetch("https://%s/bytes/%s" % (allowed, size)))
        attempt("forbidden", lambda: fetch("https://%s/" % forbidden))
        attempt("direct", lambda: socket.create_connection((server, 443), timeout=5).close())
        attempt("dns-to-server", lambda: udp(server, 53))
        attempt("dns-to-host", lambda: udp(host, 53))
        attempt("udp", lambda: udp(server, 443))
        attempt("resolve", lambda: socket.getaddrinfo(unlisted, 443))
        attempt("raw", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
        attempt("icmp", icmp)
        print(json.dumps(outcomes))
        sys.exit(3)
        """#
}
