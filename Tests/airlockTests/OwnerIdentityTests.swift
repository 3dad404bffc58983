import AirlockTestSupport
import Foundation
import Testing

/// Exactly one `Completed` per execution, whatever runs beside it: recovery takes an invocation
/// for abandoned only when its own installation can tell its owner is gone. A process in another
/// pid namespace, or another installation sharing the store, leaves a live invocation alone; a
/// reused pid does not hide a dead owner.
@Suite("Owner identity and recovery", .serialized)
struct OwnerIdentityTests {
    /// A quick allowed run: it reconciles before it launches.
    static func reconcilingRun(state: String, policy: String, extra: [String] = [], wrap: [String] = []) throws -> CommandLineTests.Run {
        let arguments = ["run", "--state-dir", state, "--policy", policy, "--context", "ro", "--engine", "podman", "--timeout", "1"] + extra
            + ["--", "sleeper", "log"]
        guard !wrap.isEmpty else { return try CommandLineTests.airlock(arguments) }
        // Through another program (unshare): it execs airlock with these arguments.
        return try CommandLineTests.airlock(Array(wrap.dropFirst()) + [CommandLineTests.binary.path] + arguments, executable: URL(fileURLWithPath: wrap[0]))
    }

    static func completedCount(_ state: String, _ executionID: String, extra: [String] = []) throws -> Int {
        try EventsCommandTests.events(state, extra + ["--execution-id", executionID, "--type", "CliToolInvocationCompleted"]).count
    }

    /// The live sleeper's execution id and container, once started.
    static func started(_ state: String, extra: [String] = []) throws -> (id: String, container: String, owner: String) {
        let started = try EventsCommandTests.events(state, extra + ["--type", "CliToolInvocationStarted"])
        let payload = try #require(started.first?["payload"] as? [String: Any])
        return (try #require(payload["execution_id"] as? String), try #require(payload["container_name"] as? String), try #require(payload["owner"] as? String))
    }

    @Test("a run in another pid namespace, same state directory, leaves a live invocation alone")
    func otherPIDNamespace() throws {
        let directory = try EventsCommandTests.scratch()
        let state = directory + "/state"
        let policy = try EventsCommandTests.sleeperPolicy(directory: directory)
        let live = try EventsCommandTests.startSleeper(state: state, policy: policy)
        defer { if live.isRunning { kill(live.processIdentifier, SIGKILL) } }
        let (id, container, _) = try Self.started(state)
        // In a new pid namespace the live run's pid does not exist: the old check took it for dead.
        let other = try Self.reconcilingRun(state: state, policy: policy, wrap: ["/usr/bin/unshare", "--pid", "--fork", "--mount-proc"])
        #expect(other.status == 124, "\(other.stderr)")
        #expect(try Self.completedCount(state, id) == 0, "the live invocation was taken for abandoned")
        #expect(try EventsCommandTests.podman(["ps", "--filter", "name=^\(container)$", "--format", "{{.Names}}"]) == container)
        kill(live.processIdentifier, SIGTERM)
        live.waitUntilExit()
        #expect(try Self.completedCount(state, id) == 1)
    }

    @Test("a worker of another installation sharing the PostgreSQL store leaves a live invocation alone")
    func sharedStore() throws {
        let database = try PostgresTestCluster.shared().createDatabase()
        let location = database.hasPrefix("postgresql://") ? database : "postgresql:" + database
        let directory = try EventsCommandTests.scratch()
        let policy = try EventsCommandTests.sleeperPolicy(directory: directory)
        let first = directory + "/first"
        let live = try EventsCommandTests.startSleeper(state: first, policy: policy, environment: ["AIRLOCK_EVENTS": location])
        defer { if live.isRunning { kill(live.processIdentifier, SIGKILL) } }
        let (id, container, owner) = try Self.started(first, extra: ["--events", location])
        // As a second host of the same name would record it: a pid that does not run here. By
        // host and pid alone, the second installation took it for dead.
        var parts = owner.split(separator: ":").map(String.init)
        #expect(parts.count == 6, "\(owner)")
        parts[1] = "\(try DeadPID.make())"
        let elsewhere = parts.joined(separator: ":")
        _ = try PostgresTestCluster.shared().psql(
            database,
            """
            ALTER TABLE gateway_events DISABLE TRIGGER gateway_events_append_only;
            UPDATE gateway_events SET payload = jsonb_set(payload, '{owner}', to_jsonb('\(elsewhere)'::text)) WHERE payload->>'execution_id' = '\(id)';
            ALTER TABLE gateway_events ENABLE TRIGGER gateway_events_append_only;
            """)
        // The second installation's worker reconciles as soon as it has resolved its engine.
        let secondState = directory + "/second"
        let worker = try FaultSuiteTests.startWorker(["--policy", policy, "--state-dir", secondState, "--events", location, "--engine", "podman"])
        defer {
            kill(worker.processIdentifier, SIGTERM)
            worker.waitUntilExit()
        }
        #expect(try FaultSuiteTests.waitUntil(90) { try FaultSuiteTests.shell("curl -sf --unix-socket \(secondState)/airlock.sock http://localhost/readyz >/dev/null") == 0 })
        // Recovery runs before readiness; one more reconciling run of the second installation too.
        let second = try Self.reconcilingRun(state: secondState, policy: policy, extra: ["--events", location])
        #expect(second.status == 124, "\(second.stderr)")
        #expect(try Self.completedCount(first, id, extra: ["--events", location]) == 0, "another installation took a live invocation")
        #expect(try EventsCommandTests.podman(["ps", "--filter", "name=^\(container)$", "--format", "{{.Names}}"]) == container)
        kill(live.processIdentifier, SIGTERM)
        live.waitUntilExit()
        #expect(try Self.completedCount(first, id, extra: ["--events", location]) == 1)
    }

    /// A crashed run whose pid now names another process: the start time tells them apart.
    @Test("a dead owner whose pid was reused is still recognized as gone")
    func reusedPID() throws {
        let directory = try EventsCommandTests.scratch()
        let state = directory + "/state"
        let policy = try EventsCommandTests.sleeperPolicy(directory: directory)
        let crashing = try EventsCommandTests.startSleeper(state: state, policy: policy)
        let (id, container, owner) = try Self.started(state)
        kill(crashing.processIdentifier, SIGKILL)
        crashing.waitUntilExit()
        // Make the recorded owner's pid name a live process of the same installation: the
        // container's label and the Started event are forged to a live pid (this test's own),
        // keeping the crashed process's start time, as if the kernel had given its pid away.
        var parts = owner.split(separator: ":").map(String.init)
        #expect(parts.count == 6, "\(owner)")
        parts[1] = "\(getpid())"
        let forged = parts.joined(separator: ":")
        let database = state + "/events.sqlite"
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite.arguments = [
            database,
            "DROP TRIGGER gateway_events_no_update; UPDATE gateway_events SET payload = json_set(payload, '$.owner', '\(forged)') WHERE json_extract(payload, '$.execution_id') = '\(id)';",
        ]
        try sqlite.run()
        sqlite.waitUntilExit()
        #expect(sqlite.terminationStatus == 0)
        let next = try Self.reconcilingRun(state: state, policy: policy)
        #expect(next.status == 124, "\(next.stderr)")
        #expect(try Self.completedCount(state, id) == 1, "the dead owner hid behind a live pid")
        #expect(try EventsCommandTests.podman(["ps", "--all", "--filter", "name=^\(container)$", "--format", "{{.Names}}"]).isEmpty)
    }
}

/// A pid that runs no process: a child that has exited and been waited for.
enum DeadPID {
    static func make() throws -> Int32 {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        return child.processIdentifier
    }
}
