import AirlockEngine
import AirlockEvents
import AirlockInvocation
import AirlockPolicy
import AirlockSeccomp
import AirlockServer
import AirlockTestSupport
import Foundation
import Logging
import Testing

/// The invocation pipeline on real podman: every way an invocation can end leaves its events, and
/// nothing is launched without its `Started` committed first.
@Suite(.serialized) struct InvocationPipelineTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// Tools that behave as each ending needs, in the static busybox test image. They borrow git's
    /// grammar (`TOOL log` is allowed); `sh -c SCRIPT` ignores the arguments after the script.
    static func policy(workspace: String) throws -> Policy {
        func tool(_ name: String, _ script: String, image: String = "airlock/test:1", timeout: String = "30s", memory: String = "256m") -> String {
            """
              \(name):
                grammar: \(root)/policies/grammars/git.yaml
                image: \(image)
                entrypoint: [/bin/sh, -c, "\(script)"]
                timeout: \(timeout)
                seccomp: \(root)/policies/seccomp/hardened.json
                runtime: runc
                limits: {memory: \(memory), pids: 64, cpus: 1, nofile: 256, nproc: 64, tmpfs: 16m}
                mounts: [{root: \(workspace), writable: true}]

            """
        }
        let yaml =
            "version: 1\ntools:\n"
            + tool("ok", "echo hello; echo oops >&2")
            + tool("fail", "exit 3")
            + tool("sleeper", "sleep 600", timeout: "2s")
            + tool("hog", "dd if=/dev/zero of=/dev/null bs=256M count=1", memory: "32m")
            + tool("missing", "true", image: "airlock/no-such-image:1")
            + tool("vanished", "true", image: VanishingImage.pipeline.name)
            + tool("marker", "touch /workspace/launched")
            + """
            contexts:
              ro:
                allow:
                  - {id: run-log, tool: [ok, fail, sleeper, hog, missing, vanished, marker], subcommand: [log], reason: test tools}
            tenants:
              acme: {contexts: [ro]}
            """
        return try PolicyLoader { path in try String(contentsOfFile: path, encoding: .utf8) }.load(yaml: yaml, file: "test-policy.yaml")
    }

    struct Fixture {
        var workspace: String
        /// Where this fixture's host mounts are staged (root's, under /run).
        var staging: MountStaging
        var store: InMemoryEventStore
        var trail: AuditTrail
        var pipeline: InvocationPipeline
        var judge: Judge
    }

    static func fixture() async throws -> Fixture {
        let workspace = NSTemporaryDirectory() + "airlock-pipeline-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
        chmod(workspace, 0o777)  // the tool runs as nobody
        let engine = try await EngineResolver(explicit: "podman").resolve()
        let store = InMemoryEventStore()
        let trail = AuditTrail(store: store, spool: try EventSpool(directory: workspace + "/.spool"))
        // Earlier, dead test processes' staging parents, empty once their runs released everything.
        // Only ours: other suites stage under /run/airlock-tests at the same time.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/run/airlock-tests")) ?? [] where name.hasPrefix("pipeline-") {
            if let pid = pid_t(name.dropFirst("pipeline-".count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
                rmdir("/run/airlock-tests/" + name)
            }
        }
        let staging = MountStaging(parent: "/run/airlock-tests/pipeline-\(getpid())")
        let pipeline = InvocationPipeline(
            engine: { engine }, trail: trail, sandbox: SandboxAttestor(), retentionBytes: 4096, logger: Logger(label: "test"), mountStaging: staging,
            loadProfile: { path throws(SeccompProfileError) in
                try SeccompProfile.load(path: path) { try Array(Data(contentsOf: URL(fileURLWithPath: $0))) }.reference
            })
        return Fixture(
            workspace: workspace, staging: staging, store: store, trail: trail, pipeline: pipeline,
            judge: Judge(policy: try policy(workspace: workspace)))
    }

    /// Attests the `vanished` tool's sandbox with its image there (a first run), then removes the
    /// image: the next launch fails in the engine, after `Started`.
    static func attestThenRemoveImage(_ fixture: Fixture) async throws {
        try VanishingImage.pipeline.tag()
        let first = await fixture.pipeline.invoke(request("vanished"), judge: fixture.judge)
        try VanishingImage.pipeline.remove()
        guard case .finished = first else { throw EngineError("the vanished tool did not run with its image there: \(first)") }
    }

    /// What is left staged: directories under the fixture's staging parent, and mounts below it.
    static func leftovers(_ fixture: Fixture) throws -> [String] {
        let parent = fixture.staging.parent
        let entries = FileManager.default.fileExists(atPath: parent) ? try FileManager.default.contentsOfDirectory(atPath: parent) : []
        return entries.map { parent + "/" + $0 } + (try MountTable.mountPoints(under: parent))
    }

    static func request(_ tool: String, workspace: String? = nil) -> InvocationRequest {
        InvocationRequest(
            toolName: tool, rawArguments: [Array("log".utf8)], tenantID: "acme", securityContext: "ro",
            mounts: workspace.map { [MountRequest(hostPath: $0, containerPath: "/workspace", writable: true)] } ?? [])
    }

    static func payloads(_ store: InMemoryEventStore, _ executionID: String) async throws -> [(String, [String: Any])] {
        try await store.events(matching: EventQuery(executionID: executionID)).map { event in
            (event.eventType, try #require(try JSONSerialization.jsonObject(with: Data(event.payload.utf8)) as? [String: Any]))
        }
    }

    @Test(
        "every ending is recorded: Started, then Completed with the outcome",
        arguments: [
            ("ok", "exited", 0, false, false),
            ("fail", "exited", 3, false, false),
            ("sleeper", "timed_out", nil, true, false),
            ("hog", "exited", 137, false, true),
            ("vanished", "engine_failure", 125, false, false),
        ] as [(String, String, Int?, Bool, Bool)])
    func endings(tool: String, outcome: String, exitCode: Int?, timedOut: Bool, oomKilled: Bool) async throws {
        let fixture = try await Self.fixture()
        if tool == "vanished" { try await Self.attestThenRemoveImage(fixture) }
        let request = Self.request(tool)
        let result = await fixture.pipeline.invoke(request, judge: fixture.judge)
        guard case let .finished(decision, run, digest) = result else {
            Issue.record("expected a finished invocation, got \(result)")
            return
        }
        #expect(decision.ruleID == "run-log")
        let events = try await Self.payloads(fixture.store, request.executionID)
        #expect(events.map(\.0) == ["CliToolInvocationStarted", "CliToolInvocationCompleted"])
        let started = events[0].1
        #expect(started["tool_name"] as? String == tool)
        #expect(started["tenant_id"] as? String == "acme")
        #expect(started["args"] as? [String] == ["log"])
        #expect((started["command"] as? [String])?.first == "/bin/sh")
        #expect(started["seccomp_profile_digest"] as? String == digest)
        #expect(started["policy_digest"] as? String == decision.policyDigest)
        #expect((started["engine"] as? String)?.hasPrefix("podman ") == true)
        let completed = events[1].1
        #expect(completed["outcome"] as? String == outcome)
        if let exitCode { #expect(completed["exit_code"] as? Int == exitCode) }
        #expect(completed["timed_out"] as? Bool == timedOut)
        #expect(completed["oom_killed"] as? Bool == oomKilled)
        #expect(completed["stdout_bytes"] as? Int == Int(run.stdout.totalBytes))
        #expect(completed["stderr_bytes"] as? Int == Int(run.stderr.totalBytes))
        if tool == "ok" {
            #expect(completed["stdout_bytes"] as? Int == 6)
            #expect(completed["stderr_bytes"] as? Int == 5)
        }
        if tool == "vanished" { #expect((completed["engine_error"] as? String)?.contains("not in podman's local store") == true, "\(completed)") }
        #expect((started["sandbox_digest"] as? String)?.hasPrefix("sha256:") == true)
    }

    /// A probe that reports root stands for any engine that dropped a setting: the pipeline refuses
    /// before `Started`, so nothing is launched and nothing is recorded as started.
    @Test("a sandbox other than the policy asks is refused before Started; nothing is launched")
    func sandboxDiffers() async throws {
        var fixture = try await Self.fixture()
        let probe = fixture.workspace + "/lying-probe"
        try "#!/bin/sh\nprintf 'probe=1\\nuid=0\\neuid=0\\ngid=0\\ngroups=0\\n'\n".write(toFile: probe, atomically: true, encoding: .utf8)
        chmod(probe, 0o755)
        fixture.pipeline.sandbox = SandboxAttestor(probePath: probe)
        let request = Self.request("marker", workspace: fixture.workspace)
        let result = await fixture.pipeline.invoke(request, judge: fixture.judge)
        guard case let .refused(_, refusal) = result else {
            Issue.record("expected a refusal, got \(result)")
            return
        }
        #expect(refusal.kind == .sandbox)
        #expect(refusal.message.contains("user: expected uid=65534 euid=65534 gid=65534 groups=65534, found uid=0"), "\(refusal.message)")
        #expect(try await fixture.store.events(matching: EventQuery(executionID: request.executionID)).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fixture.workspace + "/launched"))
        #expect(await fixture.pipeline.sandbox.problems["marker"]?.contains("user:") == true)
    }

    @Test("cancellation kills the container and records Completed as cancelled")
    func cancellation() async throws {
        let fixture = try await Self.fixture()
        let request = Self.request("sleeper")
        let running = Task { await fixture.pipeline.invoke(request, judge: fixture.judge) }
        // Once launched (the sandbox attested, Started committed).
        while try await fixture.store.events(matching: EventQuery(executionID: request.executionID)).isEmpty {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(500))
        running.cancel()
        let result = await running.value
        guard case let .finished(_, run, _) = result else {
            Issue.record("expected a finished invocation, got \(result)")
            return
        }
        #expect(run.outcome == .cancelled)
        let events = try await Self.payloads(fixture.store, request.executionID)
        #expect(events.map(\.0) == ["CliToolInvocationStarted", "CliToolInvocationCompleted"])
        #expect(events.last?.1["cancelled"] as? Bool == true)
        let listing = Process()
        listing.executableURL = URL(fileURLWithPath: "/usr/bin/podman")
        listing.arguments = ["ps", "--all", "--filter", "name=^airlock-\(request.executionID)$", "--format", "{{.Names}}"]
        let output = Pipe()
        listing.standardOutput = output
        try listing.run()
        listing.waitUntilExit()
        #expect(output.fileHandleForReading.readDataToEndOfFile().isEmpty, "no container left")
    }

    @Test("a denial is recorded as CliToolSemanticRejected with the rule and reason; nothing runs")
    func denial() async throws {
        let fixture = try await Self.fixture()
        var request = Self.request("ok")
        request.rawArguments = [Array("push".utf8), Array("--force".utf8)]
        let result = await fixture.pipeline.invoke(request, judge: fixture.judge)
        guard case let .denied(decision) = result else {
            Issue.record("expected a denial, got \(result)")
            return
        }
        let events = try await Self.payloads(fixture.store, request.executionID)
        #expect(events.map(\.0) == ["CliToolSemanticRejected"])
        #expect(events[0].1["rule_id"] as? String == decision.ruleID)
        #expect(events[0].1["rejection_reason"] as? String == decision.reason)
        #expect(events[0].1["requested_subcommand"] as? String == "push")
        #expect(events[0].1["security_context"] as? String == "ro")
    }

    @Test("no Started, no launch: when the store cannot take the Started event, the tool never runs")
    func storeDownRefusesLaunch() async throws {
        let fixture = try await Self.fixture()
        fixture.store.fail(with: "disk gone")
        let request = Self.request("marker", workspace: fixture.workspace)
        let result = await fixture.pipeline.invoke(request, judge: fixture.judge)
        guard case let .refused(_, refusal) = result else {
            Issue.record("expected a refusal, got \(result)")
            return
        }
        #expect(refusal.kind == .auditStore)
        #expect(refusal.message.contains("not launched") && refusal.message.contains("disk gone"), "\(refusal.message)")
        #expect(!FileManager.default.fileExists(atPath: fixture.workspace + "/launched"), "the tool ran without its Started event")
        #expect(try Self.leftovers(fixture).isEmpty, "a refusal after staging released the mount")
        fixture.store.fail(with: nil)
        #expect(try await fixture.store.events(matching: EventQuery()).isEmpty)
        // The same request with the store back runs (the marker proves the check above can fail).
        let again = await fixture.pipeline.invoke(Self.request("marker", workspace: fixture.workspace), judge: fixture.judge)
        if case let .finished(_, run, _) = again { #expect(run.exitCode == 0, "\(String(decoding: run.stderr.keptHead, as: UTF8.self))") }
        #expect(FileManager.default.fileExists(atPath: fixture.workspace + "/launched"))
        #expect(try Self.leftovers(fixture).isEmpty)
    }

    @Test(
        "host mounts are staged for the run and released on every ending",
        arguments: [("marker", "exited"), ("sleeper", "timed_out"), ("vanished", "engine_failure"), ("sleeper", "cancelled")])
    func stagedMountsReleased(tool: String, outcome: String) async throws {
        let fixture = try await Self.fixture()
        if tool == "vanished" { try await Self.attestThenRemoveImage(fixture) }
        let request = Self.request(tool, workspace: fixture.workspace)
        let running = Task { await fixture.pipeline.invoke(request, judge: fixture.judge) }
        if outcome == "cancelled" {
            // Cancelled while the container runs, its mount staged.
            while try await fixture.store.events(matching: EventQuery(executionID: request.executionID)).isEmpty {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try !Self.leftovers(fixture).isEmpty, "the mount is staged while the tool runs")
            try await Task.sleep(for: .milliseconds(500))
            running.cancel()
        }
        let result = await running.value
        guard case .finished = result else {
            Issue.record("expected a finished invocation, got \(result)")
            return
        }
        let events = try await Self.payloads(fixture.store, request.executionID)
        #expect(events.map(\.0) == ["CliToolInvocationStarted", "CliToolInvocationCompleted"])
        #expect(events.last?.1["outcome"] as? String == outcome)
        if tool == "marker" { #expect(FileManager.default.fileExists(atPath: fixture.workspace + "/launched"), "the mount was writable") }
        #expect(try Self.leftovers(fixture).isEmpty)
    }

    @Test("a mount through a symlink is refused before Started: nothing recorded, nothing launched, nothing staged")
    func symlinkMountRefused() async throws {
        let fixture = try await Self.fixture()
        try FileManager.default.createDirectory(atPath: fixture.workspace + "/real", withIntermediateDirectories: true)
        chmod(fixture.workspace + "/real", 0o777)
        try FileManager.default.createSymbolicLink(atPath: fixture.workspace + "/link", withDestinationPath: "real")
        let request = Self.request("marker", workspace: fixture.workspace + "/link")
        let result = await fixture.pipeline.invoke(request, judge: fixture.judge)
        guard case let .refused(decision, refusal) = result else {
            Issue.record("expected a refusal, got \(result)")
            return
        }
        #expect(decision?.allowed == true)
        #expect(refusal.kind == .mount)
        #expect(refusal.message.contains("'\(fixture.workspace)/link' passes through a symlink"), "\(refusal.message)")
        #expect(try await fixture.store.events(matching: EventQuery(executionID: request.executionID)).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fixture.workspace + "/real/launched"))
        #expect(try Self.leftovers(fixture).isEmpty)
        // Through its real path the same mount runs (so the checks above can fail).
        let direct = await fixture.pipeline.invoke(Self.request("marker", workspace: fixture.workspace + "/real"), judge: fixture.judge)
        guard case .finished = direct else {
            Issue.record("expected a finished invocation, got \(direct)")
            return
        }
        #expect(FileManager.default.fileExists(atPath: fixture.workspace + "/real/launched"))
        #expect(try Self.leftovers(fixture).isEmpty)
    }

    @Test("when the store fails after launch, Completed goes to the spool and is delivered once it is back")
    func storeFailsAfterLaunch() async throws {
        let fixture = try await Self.fixture()
        let request = Self.request("fail")
        // The store fails once Started is in; the container takes a podman start (over 100 ms)
        // before Completed is due, which must then not be lost.
        let store = fixture.store
        let running = Task { await fixture.pipeline.invoke(request, judge: fixture.judge) }
        while try await store.events(matching: EventQuery(executionID: request.executionID)).isEmpty {
            try await Task.sleep(for: .milliseconds(5))
        }
        store.fail(with: "server restarting")
        _ = await running.value
        #expect(fixture.trail.spool.pending().records.map(\.type) == [.cliToolInvocationCompleted])
        store.fail(with: nil)
        #expect(await fixture.trail.deliverSpool().delivered == 1)
        let events = try await Self.payloads(store, request.executionID)
        #expect(events.map(\.0) == ["CliToolInvocationStarted", "CliToolInvocationCompleted"])
        #expect(events[1].1["exit_code"] as? Int == 3)
    }
}
