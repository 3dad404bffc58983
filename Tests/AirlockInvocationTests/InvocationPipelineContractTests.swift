import AirlockEngine
import AirlockEvents
import AirlockInvocation
import AirlockPolicy
import AirlockSeccomp
import Foundation
import Logging
import Synchronization
import Testing

/// The pipeline's contract (DESIGN.md, "The invocation pipeline") against an engine in memory: no
/// `Started`, no launch; every `Started` has exactly one `Completed`, whatever the ending. The same
/// endings on real podman are in `AirlockServerTests/InvocationPipelineTests`.
@Suite struct InvocationPipelineContractTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// One tool with git's grammar: `tool log` is allowed, anything else denied by default.
    static let policy: Policy = {
        let yaml = """
            version: 1
            tools:
              tool:
                grammar: \(root)/policies/grammars/git.yaml
                image: airlock/test:1
                entrypoint: [/bin/tool]
                timeout: 30s
                seccomp: \(root)/policies/seccomp/hardened.json
                limits: {memory: 256m, pids: 64, cpus: 1, nofile: 256, nproc: 64, tmpfs: 16m}
            contexts:
              ro:
                allow:
                  - {id: run-log, tool: [tool], subcommand: [log], reason: reading is fine}
            tenants:
              acme: {contexts: [ro]}
            """
        return try! PolicyLoader { path in try String(contentsOfFile: path, encoding: .utf8) }.load(yaml: yaml, file: "contract-policy.yaml")
    }()

    struct Fixture {
        var engine: InMemoryContainerEngine
        var store: InMemoryEventStore
        var trail: AuditTrail
        var pipeline: InvocationPipeline
        /// How many times the pipeline asked for the engine.
        var engineRequests: Counter
    }

    final class Counter: Sendable {
        private let count = Mutex(0)
        func add() { count.withLock { $0 += 1 } }
        var value: Int { count.withLock { $0 } }
    }

    /// `engine`: the in-memory engine, or nil for none to be had (the source throws).
    static func fixture(
        _ script: InMemoryContainerEngine.Script, probeReport: @escaping @Sendable (ContainerSpec) -> [String] = InMemoryContainerEngine.reportThatHolds,
        engineAvailable: Bool = true, atLaunch: @escaping @Sendable (InMemoryEventStore, ContainerRunSpec) async -> Void = { _, _ in }
    ) throws -> (Fixture, Judge) {
        let store = InMemoryEventStore()
        let engine = InMemoryContainerEngine(script, probeReport: probeReport, atLaunch: { await atLaunch(store, $0) })
        let spool = NSTemporaryDirectory() + "airlock-contract-\(UUID().uuidString)/spool"
        let trail = AuditTrail(store: store, spool: try EventSpool(directory: spool), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let requests = Counter()
        let fixture = Fixture(
            engine: engine, store: store, trail: trail,
            pipeline: InvocationPipeline(
                engine: { () async throws(EngineError) -> any ContainerEngine in
                    requests.add()
                    guard engineAvailable else { throw EngineError("no container engine found; tried: podman (from PATH): not found") }
                    return engine
                },
                trail: trail, sandbox: SandboxAttestor(probePath: "/in-memory/airlock-probe"), retentionBytes: 4096, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
                loadProfile: { path throws(SeccompProfileError) in
                    try SeccompProfile.load(path: path) { try Array(Data(contentsOf: URL(fileURLWithPath: $0))) }.reference
                }),
            engineRequests: requests)
        return (fixture, Judge(policy: policy))
    }

    static func request(_ arguments: [String] = ["log"], timeout: Duration? = nil) -> InvocationRequest {
        InvocationRequest(
            toolName: "tool", rawArguments: arguments.map { Array($0.utf8) }, tenantID: "acme", securityContext: "ro", timeout: timeout)
    }

    static func events(_ store: InMemoryEventStore, _ executionID: String) async throws -> [(type: String, payload: [String: Any])] {
        try await store.events(matching: EventQuery(executionID: executionID)).map { event in
            (event.eventType, try #require(try JSONSerialization.jsonObject(with: Data(event.payload.utf8)) as? [String: Any]))
        }
    }

    static let started = "CliToolInvocationStarted"
    static let completed = "CliToolInvocationCompleted"

    @Test("a denial records CliToolSemanticRejected; no engine is asked for, nothing is launched, no Started")
    func denial() async throws {
        let (fixture, judge) = try Self.fixture(.exits(0))
        let request = Self.request(["push", "--force"])
        let result = await fixture.pipeline.invoke(request, judge: judge)
        guard case let .denied(decision) = result else {
            Issue.record("expected a denial, got \(result)")
            return
        }
        let events = try await Self.events(fixture.store, request.executionID)
        #expect(events.map(\.type) == ["CliToolSemanticRejected"])
        #expect(events.first?.payload["rule_id"] as? String == decision.ruleID)
        #expect(events.first?.payload["requested_subcommand"] as? String == "push")
        #expect(fixture.engineRequests.value == 0)
        #expect(fixture.engine.calls.isEmpty, "not even the canary runs for a denial")
    }

    @Test(
        "every ending of a launched tool: Started before the launch, then exactly one Completed with exact byte counts",
        arguments: [
            (.exits(0, stdout: Array("hello\n".utf8), stderr: Array("oops\n".utf8)), "exited", 0, 6, 5),
            // More than the retention (4096) and than a pipe holds: counted, not kept.
            (.exits(3, stdout: [UInt8](repeating: 0x61, count: 300_000), stderr: [UInt8](repeating: 0x62, count: 70_001)), "exited", 3, 300_000, 70_001),
            // 137 without a deadline or a cancellation: the memory limit.
            (.exits(137), "exited", 137, 0, 0),
            (.exits(125, stderr: Array("Error: airlock/test:1: image not known\n".utf8)), "engine_failure", 125, 0, 39),
            (.failsToLaunch("could not run /in-memory/podman: exec format error"), "engine_failure", 127, 0, 0),
        ] as [(InMemoryContainerEngine.Script, String, Int, Int, Int)])
    func endings(script: InMemoryContainerEngine.Script, outcome: String, exitCode: Int, stdoutBytes: Int, stderrBytes: Int) async throws {
        // What the store holds for this execution when the tool's launch begins.
        let atLaunch = Mutex<[String]?>(nil)
        let (fixture, judge) = try Self.fixture(script, atLaunch: { store, spec in
            let types = (try? await store.events(matching: EventQuery(executionID: spec.executionID)).map(\.eventType)) ?? ["unreadable"]
            atLaunch.withLock { $0 = types }
        })
        let request = Self.request()
        let result = await fixture.pipeline.invoke(request, judge: judge)
        guard case let .finished(decision, run, digest) = result else {
            Issue.record("expected a finished invocation, got \(result)")
            return
        }
        #expect(atLaunch.withLock { $0 } == [Self.started], "no Started, no launch")
        #expect(fixture.engine.toolLaunches == [request.executionID])
        let events = try await Self.events(fixture.store, request.executionID)
        #expect(events.map(\.type) == [Self.started, Self.completed])
        let started = try #require(events.first?.payload)
        #expect(started["rule_id"] as? String == decision.ruleID)
        #expect(started["seccomp_profile_digest"] as? String == digest)
        #expect(started["engine"] as? String == "podman 0.0-in-memory")
        #expect((started["sandbox_digest"] as? String)?.hasPrefix("sha256:") == true)
        let completed = try #require(events.last?.payload)
        #expect(completed["outcome"] as? String == outcome)
        #expect(completed["exit_code"] as? Int == exitCode)
        #expect(completed["stdout_bytes"] as? Int == stdoutBytes)
        #expect(completed["stderr_bytes"] as? Int == stderrBytes)
        #expect(completed["stdout_truncated"] as? Bool == (stdoutBytes > 4096))
        #expect(completed["oom_killed"] as? Bool == (exitCode == 137))
        #expect(run.stdout.totalBytes == Int64(stdoutBytes) && run.stderr.totalBytes == Int64(stderrBytes))
        switch script {
        case let .failsToLaunch(message): #expect(completed["engine_error"] as? String == message)
        case .exits(125, _, _): #expect((completed["engine_error"] as? String)?.contains("images/build") == true, "\(completed)")
        default: #expect(completed["engine_error"] == nil)
        }
        // A tool that ended on its own is not killed; the engine removes it (`--rm`).
        #expect(!fixture.engine.calls.contains { if case .kill = $0 { true } else { false } })
    }

    @Test("the deadline kills the container by name and removes it; Completed records the timeout and the output so far")
    func deadline() async throws {
        let (fixture, judge) = try Self.fixture(.hangs(stdout: Array("partial\n".utf8)))
        let request = Self.request(timeout: .milliseconds(100))
        let result = await fixture.pipeline.invoke(request, judge: judge)
        guard case let .finished(_, run, _) = result else {
            Issue.record("expected a finished invocation, got \(result)")
            return
        }
        #expect(run.outcome == .timedOut)
        #expect(run.durationMilliseconds >= 100)
        let name = "airlock-\(request.executionID)"
        let calls = fixture.engine.calls.filter { $0 != .launch(executionID: request.executionID) && $0.isAbout(name) }
        #expect(calls.first == .kill(name))
        #expect(calls.last == .remove(name), "no container is left behind: \(calls)")
        let events = try await Self.events(fixture.store, request.executionID)
        #expect(events.map(\.type) == [Self.started, Self.completed])
        #expect(events[0].payload["timeout_ms"] as? Int == 100, "a caller may shorten the policy's 30 s")
        #expect(events[1].payload["outcome"] as? String == "timed_out")
        #expect(events[1].payload["timed_out"] as? Bool == true)
        #expect(events[1].payload["stdout_bytes"] as? Int == 8)
    }

    @Test("cancellation mid-run kills the container and removes it; Completed records the cancellation")
    func cancellation() async throws {
        let (fixture, judge) = try Self.fixture(.hangs())
        let request = Self.request()
        let name = "airlock-\(request.executionID)"
        let running = Task { await fixture.pipeline.invoke(request, judge: judge) }
        try await fixture.engine.waitUntilRunning(name)
        running.cancel()
        let result = await running.value
        guard case let .finished(_, run, _) = result else {
            Issue.record("expected a finished invocation, got \(result)")
            return
        }
        #expect(run.outcome == .cancelled)
        let calls = fixture.engine.calls.filter { $0.isAbout(name) }
        #expect(calls.first == .kill(name))
        #expect(calls.last == .remove(name), "no container is left behind: \(calls)")
        let events = try await Self.events(fixture.store, request.executionID)
        #expect(events.map(\.type) == [Self.started, Self.completed])
        #expect(events[1].payload["outcome"] as? String == "cancelled")
        #expect(events[1].payload["cancelled"] as? Bool == true)
    }

    @Test("no Started, no launch: a store that cannot take Started refuses the invocation, and nothing is spooled in its place")
    func storeDownBeforeStarted() async throws {
        let (fixture, judge) = try Self.fixture(.exits(0))
        fixture.store.fail(with: "disk gone")
        let request = Self.request()
        let result = await fixture.pipeline.invoke(request, judge: judge)
        guard case let .refused(decision, refusal) = result else {
            Issue.record("expected a refusal, got \(result)")
            return
        }
        #expect(decision?.allowed == true)
        #expect(refusal.kind == .auditStore)
        #expect(refusal.message.contains("not launched") && refusal.message.contains("disk gone"), "\(refusal.message)")
        #expect(fixture.engine.toolLaunches.isEmpty)
        #expect(fixture.trail.spool.pending().records.isEmpty)
        fixture.store.fail(with: nil)
        #expect(try await Self.events(fixture.store, request.executionID).isEmpty)
    }

    @Test("a store that fails after Started: Completed goes to the spool and reaches the store once it is back")
    func storeDownAfterStarted() async throws {
        let (fixture, judge) = try Self.fixture(.exits(3), atLaunch: { store, _ in store.fail(with: "server restarting") })
        let request = Self.request()
        let result = await fixture.pipeline.invoke(request, judge: judge)
        guard case .finished = result else {
            Issue.record("expected a finished invocation, got \(result)")
            return
        }
        #expect(fixture.trail.spool.pending().records.map(\.type) == [.cliToolInvocationCompleted])
        fixture.store.fail(with: nil)
        #expect(await fixture.trail.deliverSpool().delivered == 1)
        let events = try await Self.events(fixture.store, request.executionID)
        #expect(events.map(\.type) == [Self.started, Self.completed])
        #expect(events[1].payload["exit_code"] as? Int == 3)
    }

    @Test("a sandbox other than the policy asks is refused before Started: only the canary ran")
    func sandboxDiffers() async throws {
        let asRoot: @Sendable (ContainerSpec) -> [String] = { container in
            InMemoryContainerEngine.reportThatHolds(container).map { $0.hasPrefix("uid=") ? "uid=0" : $0 }
        }
        let (fixture, judge) = try Self.fixture(.exits(0), probeReport: asRoot)
        let request = Self.request()
        let result = await fixture.pipeline.invoke(request, judge: judge)
        guard case let .refused(_, refusal) = result else {
            Issue.record("expected a refusal, got \(result)")
            return
        }
        #expect(refusal.kind == .sandbox)
        #expect(refusal.message.contains("user: expected uid=65534 euid=65534 gid=65534 groups=65534, found uid=0 "), "\(refusal.message)")
        #expect(fixture.engine.calls.count == 1, "the canary, and nothing else: \(fixture.engine.calls)")
        #expect(fixture.engine.toolLaunches.isEmpty)
        #expect(try await Self.events(fixture.store, request.executionID).isEmpty)
    }

    @Test("no engine to be had: refused before Started, nothing recorded")
    func engineUnavailable() async throws {
        let (fixture, judge) = try Self.fixture(.exits(0), engineAvailable: false)
        let request = Self.request()
        let result = await fixture.pipeline.invoke(request, judge: judge)
        guard case let .refused(_, refusal) = result else {
            Issue.record("expected a refusal, got \(result)")
            return
        }
        #expect(refusal.kind == .engine)
        #expect(refusal.message.contains("no container engine found"), "\(refusal.message)")
        #expect(fixture.engine.calls.isEmpty)
        #expect(try await Self.events(fixture.store, request.executionID).isEmpty)
    }
}

extension InMemoryContainerEngine.Call {
    /// A kill, force stop or removal of this container.
    func isAbout(_ name: String) -> Bool {
        switch self {
        case let .kill(other), let .forceStop(other), let .remove(other): other == name
        case .launch: false
        }
    }
}
