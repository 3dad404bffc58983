import AirlockEngine
import AirlockEvents
import AirlockInvocation
import AirlockPolicy
import AirlockSeccomp
import AirlockServer
import Foundation
import Logging
import Testing

/// Real tools doing real work, on both engines: `kubectl get pods` against a fake Kubernetes API
/// server and `git ls-remote` over HTTPS against a git server, each in the test internet behind a
/// bearer token. The shipped policy's own kubectl and git entries (their environment, their
/// secrets' declarations, their rules) run them, with only `egress` and the test's paths added: the
/// kubeconfig is handed in as a file secret, the git token as an environment secret that the
/// policy's credential helper answers git with. Without the secret, both are refused by the
/// server: the credential is what got them in.
@Suite("Real tools with egress and credentials", .serialized)
struct RealToolTests {
    static let port = 6443

    /// The fake services (Tests/Fixtures/fake-services.py) in the test internet, on the allowed
    /// name's address, with a bare repository to list.
    final class Services: @unchecked Sendable {  // the Process is only touched by the test
        let process = Process()
        let log: String
        let token = "airlock-test-token-" + UUID().uuidString.lowercased()

        init(_ internet: TestInternet) throws {
            let repositories = internet.directory + "/repositories"
            let work = internet.directory + "/work"
            try FileManager.default.createDirectory(atPath: repositories, withIntermediateDirectories: true)
            for arguments in [
                ["init", "-q", "--bare", "-b", "main", repositories + "/project.git"],
                ["init", "-q", "-b", "main", work],
                ["-C", work, "-c", "user.email=t@airlock.test", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "first"],
                ["-C", work, "push", "-q", repositories + "/project.git", "main"],
            ] {
                _ = try TestInternet.output(["/usr/bin/git"] + arguments)
            }
            log = internet.directory + "/services.log"
            let ready = internet.directory + "/services.ready"
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = [
                "netns", "exec", internet.namespace, "/usr/bin/python3", EgressFixture.repositoryRoot + "/Tests/Fixtures/fake-services.py",
                internet.directory + "/server.pem", internet.directory + "/server.key", internet.serverAddress, "\(RealToolTests.port)", token,
                repositories, log, ready,
            ]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let deadline = ContinuousClock.now + .seconds(10)
            while !FileManager.default.fileExists(atPath: ready) {
                guard process.isRunning, ContinuousClock.now < deadline else { throw TestInternetError("the fake services did not start") }
                usleep(20_000)
            }
        }

        /// Each request the services saw: method, path, whether it carried the token.
        var requests: [(path: String, authorized: Bool)] {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
                return ((object["path"] as? String) ?? "", (object["authorized"] as? Bool) ?? false)
            }
        }

        func stop() {
            // SIGKILL: the test process blocks SIGTERM, and its children inherit the mask.
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    /// The shipped policy, its kubectl and git allowed to reach the services and nothing else.
    static func policy(_ internet: TestInternet) throws -> Policy {
        let root = EgressFixture.repositoryRoot
        var text = try String(contentsOfFile: root + "/policies/default.yaml", encoding: .utf8)
        func replace(_ old: String, _ new: String) throws {
            try #require(text.contains(old), "the shipped policy no longer has: \(old)")
            text = text.replacingOccurrences(of: old, with: new)
        }
        let egress = "    egress: [{host: \(internet.allowedName), ports: [\(port)]}]\n"
        try replace("    network: none       # fetch, pull and push need a network the operator names here\n", egress)
        try replace("      GIT_PAGER: cat\n", "      GIT_PAGER: cat\n      GIT_SSL_CAINFO: /workspace/ca.pem\n")
        try replace("      - root: /srv/airlock/workspaces\n", "      - root: \(internet.directory)\n")
        try replace("      - root: /srv/airlock/kube\n", "      - root: /srv/airlock/kube\n" + egress)
        try replace("grammars/", root + "/policies/grammars/")
        try replace("seccomp/hardened.json", root + "/policies/seccomp/hardened.json")
        return try PolicyLoader { path in try String(contentsOfFile: path, encoding: .utf8) }.load(yaml: text, file: root + "/policies/real-tools.yaml")
    }

    static func kubeconfig(_ internet: TestInternet, token: String) throws -> [UInt8] {
        let ca = try Data(contentsOf: URL(fileURLWithPath: internet.caPath)).base64EncodedString()
        return Array(
            """
            apiVersion: v1
            kind: Config
            clusters:
            - name: test
              cluster: {server: "https://\(internet.allowedName):\(port)", certificate-authority-data: \(ca)}
            users:
            - name: test
              user: {token: \(token)}
            contexts:
            - name: test
              context: {cluster: test, user: test, namespace: default}
            current-context: test

            """.utf8)
    }

    static func output(_ result: InvocationResult) throws -> (status: Int32?, stdout: String, stderr: String) {
        guard case let .finished(_, run, _) = result else { throw TestInternetError("not run: \(result)") }
        return (
            run.exitCode, String(decoding: run.stdout.keptHead + run.stdout.keptTail, as: UTF8.self),
            String(decoding: run.stderr.keptHead + run.stderr.keptTail, as: UTF8.self)
        )
    }

    @Test("kubectl get pods with a kubeconfig secret, git ls-remote with a token secret: reached through egress, refused without", arguments: EgressContainerTests.engineNames)
    func kubectlAndGit(engineName: String) async throws {
        try await TestInternet.with { internet in
            let services = try Services(internet)
            defer { services.stop() }
            let policy = try Self.policy(internet)
            let engine = try await EngineResolver(explicit: engineName, environment: ProcessInfo.processInfo.environment).resolve()
            let store = InMemoryEventStore()
            let trail = AuditTrail(store: store, spool: try EventSpool(directory: internet.directory + "/spool"))
            let pipeline = InvocationPipeline(
                engine: { engine }, trail: trail, sandbox: SandboxAttestor(forwarderPath: try EgressFixture.forwarder()), retentionBytes: 1 << 16,
                logger: Logger(label: "test"), mountStaging: MountStaging(parent: "/run/airlock-tests/real-tools-\(getpid())"),
                fingerprints: SecretFingerprints(), egress: EgressProxyGateway(parent: "/run/airlock-tests/real-tools-egress-\(getpid())"),
                loadProfile: { path throws(SeccompProfileError) in
                    try SeccompProfile.load(path: path) { try Array(Data(contentsOf: URL(fileURLWithPath: $0))) }.reference
                })
            let judge = Judge(policy: policy)
            func kubectl(_ secrets: SecretValues) async throws -> (status: Int32?, stdout: String, stderr: String) {
                let request = InvocationRequest(
                    toolName: "kubectl", rawArguments: ["get", "pods"].map { Array($0.utf8) }, tenantID: "default", securityContext: "readonly",
                    secrets: secrets)
                return try Self.output(await pipeline.invoke(request, judge: judge))
            }
            func git(_ secrets: SecretValues) async throws -> (status: Int32?, stdout: String, stderr: String) {
                let request = InvocationRequest(
                    toolName: "git", rawArguments: ["ls-remote", "https://\(internet.allowedName):\(Self.port)/project.git"].map { Array($0.utf8) },
                    tenantID: "default", securityContext: "developer",
                    mounts: [MountRequest(hostPath: internet.caPath, containerPath: "/workspace/ca.pem", writable: false)], secrets: secrets)
                return try Self.output(await pipeline.invoke(request, judge: judge))
            }

            let pods = try await kubectl(SecretValues(["KUBECONFIG_DATA": try Self.kubeconfig(internet, token: services.token)]))
            #expect(pods.status == 0, "\(pods)")
            #expect(pods.stdout.contains("web-1") && pods.stdout.contains("web-2") && pods.stdout.contains("Running"), "\(pods)")
            let refs = try await git(SecretValues(["GIT_TOKEN": Array(services.token.utf8)]))
            #expect(refs.status == 0, "\(refs)")
            #expect(refs.stdout.contains("refs/heads/main"), "\(refs)")
            let served = services.requests
            #expect(served.contains { $0.path.hasPrefix("/api/v1/namespaces/default/pods") && $0.authorized }, "\(served)")
            #expect(served.contains { $0.path.hasPrefix("/project.git/info/refs") && $0.authorized }, "\(served)")

            // Without the credential the same calls get in nowhere: the server refuses them.
            let wrong = try await kubectl(SecretValues(["KUBECONFIG_DATA": try Self.kubeconfig(internet, token: "not-the-token")]))
            // kubectl 1.20 says 401 so.
            #expect(wrong.status != 0 && wrong.stderr.contains("You must be logged in to the server"), "\(wrong)")
            let anonymous = try await git(SecretValues())
            #expect(anonymous.status != 0 && anonymous.stderr.contains("could not read Username"), "\(anonymous)")
            #expect(services.requests.filter { !$0.authorized }.count >= 2, "the refusals were the server's: \(services.requests)")

            // The events name the secrets and their fingerprints; the token is in none of them.
            let events = try await store.events(matching: EventQuery(limit: 1000))
            #expect(events.count == 8, "four Started, four Completed: \(events.map(\.eventType))")
            #expect(!events.contains { $0.payload.contains(services.token) })
            #expect(events.contains { $0.payload.contains(#""secrets":{"KUBECONFIG_DATA":"#) })
            #expect(events.contains { $0.payload.contains(#""secrets":{"GIT_TOKEN":"#) })
        }
    }
}
