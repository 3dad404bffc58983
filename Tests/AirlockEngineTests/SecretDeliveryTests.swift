@testable import AirlockEngine
import AirlockPolicy
import AirlockTestSupport
import Foundation
import Testing

/// Secrets handed into real containers on both engines: through a tmpfs and the launcher, never on
/// the engine's command line, in its inspect output or its stored configuration; the output that
/// comes back redacted, the counts exact.
@Suite("Secrets in real containers", .serialized)
struct SecretDeliveryTests {
    static let declared = [
        SecretDeclaration(name: "TOKEN", delivery: .environment(name: "TEST_TOKEN")),
        SecretDeclaration(name: "KUBE", delivery: .file(path: "/run/secrets/kubeconfig", mode: 0o400)),
        SecretDeclaration(name: "SHARED", delivery: .file(path: "/etc/airlock-test/shared", mode: 0o444)),
    ]

    static func marker(_ label: String) -> String {
        "\(label)-\(UUID().uuidString.lowercased())-\(UInt64.random(in: 1...UInt64.max))"
    }

    static func spec(_ script: String, engine: CommandLineEngine, staged: SecretStaging.Staged?) -> ContainerRunSpec {
        var spec = EngineFixture.spec(script, engine: engine)
        spec.container.secrets = declared
        spec.secretLaunch = staged?.launch
        return spec
    }

    @Test("env and file secrets reach the tool whole; argv, inspect and the engine's files never hold them; output redacted, counts exact", arguments: EngineFixture.engineNames)
    func delivered(engineName: String) async throws {
        let began = Date()
        let engine = try await EngineFixture.engine(engineName)
        // A value with a newline, '=', quotes and a backslash: delivered whole, as the tool reads it.
        let token = Self.marker("token") + "\n='\"\\end"
        let kube = Self.marker("kube")
        let shared = Self.marker("shared")
        let values = SecretValues(["TOKEN": Array(token.utf8), "KUBE": Array(kube.utf8), "SHARED": Array(shared.utf8)])
        let id = UUID().uuidString.lowercased()
        let staged = try SecretStaging().stage(values, declared: Self.declared, executionID: id)
        defer { staged.files.release() }
        let directory = try #require(staged.files.directory)
        #expect(SecretStaging().isTmpfs(directory))
        let script = """
            echo "$TEST_TOKEN"; cat /run/secrets/kubeconfig; echo; cat /etc/airlock-test/shared; echo
            stat -c '%u:%g %a' /run/secrets/kubeconfig /etc/airlock-test/shared
            echo x > /run/secrets/kubeconfig 2>/dev/null || echo read-only
            sleep 4
            """
        var spec = Self.spec(script, engine: engine, staged: staged)
        spec.executionID = id
        let running = Task { try await ContainerRunner(engine: engine).run(spec, secrets: values) }
        // While it runs: the engine's view of the container, and every process's argv on the host.
        var inspected = ""
        var processes = ""
        for _ in 0..<40 {
            try await Task.sleep(for: .milliseconds(100))
            processes += HostProgram.output("/bin/ps", ["-eo", "args"])
            let view = HostProgram.output(engine.path, ["inspect", spec.containerName])
            if view.contains("\"Id\"") || view.contains("\"ID\"") { inspected += view }
        }
        let result = try await running.value
        let stdout = EngineFixture.text(result.stdout)
        #expect(result.exitCode == 0, "\(EngineFixture.text(result.stderr))")
        #expect(!inspected.isEmpty, "the container was never inspected while it ran")
        for value in [token, kube, shared] {
            #expect(!stdout.contains(value))
            #expect(!inspected.contains(value), "inspect shows a secret")
            #expect(!processes.contains(value), "ps shows a secret")
        }
        #expect(inspected.contains(SecretLaunch.environmentTarget) && !inspected.contains("TEST_TOKEN="), "\(inspected.prefix(300))")
        #expect(stdout == "[REDACTED:TOKEN]\n[REDACTED:KUBE]\n[REDACTED:SHARED]\n65534:65534 400\n65534:65534 444\nread-only\n", "\(stdout)")
        // The tool's own bytes are counted: the values, not their replacements.
        let written = token.utf8.count + 1 + kube.utf8.count + 1 + shared.utf8.count + 1 + "65534:65534 400\n65534:65534 444\nread-only\n".utf8.count
        #expect(result.stdout.totalBytes == Int64(written))
        staged.files.release()
        #expect(!FileManager.default.fileExists(atPath: directory))
        // The engines' stored configuration of the (removed) container and everything else they keep.
        let roots = ["/var/lib/containers", "/var/lib/docker", "/run/airlock", "/run/containers", "/run/docker", "/tmp"]
        let found = HostProgram.filesHolding([kube, shared, String(token.prefix(50))], under: roots, writtenSince: began)
        #expect(found.isEmpty, "secrets found on disk: \(found)")
    }

    @Test("the launcher is the tool: pid 1, its exit status, nothing of its own on stdout or stderr", arguments: EngineFixture.engineNames)
    func launcherPassesThrough(engineName: String) async throws {
        let engine = try await EngineFixture.engine(engineName)
        let isTheTool = "test $$ = 1 && test \"$(head -c 7 /proc/1/cmdline)\" = /bin/sh || exit 9"
        for (script, status) in [("exit 7", Int32(7)), (isTheTool, 0), ("true", 0)] {
            let id = UUID().uuidString.lowercased()
            let staged = try SecretStaging().stage(SecretValues(["TOKEN": Array("v".utf8)]), declared: Self.declared, executionID: id)
            defer { staged.files.release() }
            var spec = Self.spec(script, engine: engine, staged: staged)
            spec.executionID = id
            let result = try await ContainerRunner(engine: engine).run(spec)
            #expect(result.exitCode == status, "\(script): \(EngineFixture.text(result.stderr))")
            #expect(result.stdout.totalBytes == 0 && result.stderr.totalBytes == 0, "\(script)")
        }
    }

    @Test("the canary attests a tool with secrets (their mount points expected) and still finds an extra mount", arguments: EngineFixture.engineNames)
    func canary(engineName: String) async throws {
        let engine = try await EngineFixture.engine(engineName)
        var container = EngineFixture.spec("true", engine: engine).container
        container.secrets = Self.declared
        let canary = SandboxCanary(engine: engine, probePath: try InContainerProgram.probe.locate())
        let attestation = try await canary.attest(tool: "test", container: container)
        #expect(attestation.holds, "\(attestation.differences)")
        // The same canary with one more mount than the policy's secrets: a widened sandbox.
        var widened = canary.spec(tool: "test", container: container)
        widened.mounts.append(Mount(hostPath: canary.probePath, containerPath: "/run/extra", writable: false))
        let result = try await ContainerRunner(engine: engine).run(widened)
        let report = try SandboxReport(parsing: EngineFixture.text(result.stdout))
        let checks = SandboxExpectation.checks(for: container, report: report)
        #expect(checks.first { $0.setting == "other mounts" }?.holds == false)
        #expect(checks.filter { !$0.holds }.map(\.setting) == ["other mounts"])
    }

    @Test("a name the tool does not declare, or a NUL in an environment value, is refused and nothing is written")
    func refusals() throws {
        let id = UUID().uuidString.lowercased()
        #expect(throws: SecretError.self) {
            try SecretStaging().stage(SecretValues(["OTHER": [1]]), declared: Self.declared, executionID: id)
        }
        do {
            _ = try SecretStaging().stage(SecretValues(["OTHER": Array("hunter2-value".utf8)]), declared: Self.declared, executionID: id)
        } catch {
            #expect(error.code == .undeclared && error.message.contains("'OTHER'") && !error.message.contains("hunter2"))
        }
        do {
            _ = try SecretStaging().stage(SecretValues(["TOKEN": Array("a\u{0}b".utf8)]), declared: Self.declared, executionID: id)
        } catch {
            #expect(error.code == .malformed)
        }
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: SecretStaging.defaultParent)) ?? []
        #expect(!leftovers.contains { $0.hasSuffix(id) })
    }
}
