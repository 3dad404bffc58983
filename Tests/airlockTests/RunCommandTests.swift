import AirlockTestSupport
import Foundation
import Testing

/// `airlock run` end to end: the built binary, a real engine, the real tools image.
@Suite("airlock run", .serialized)
struct RunCommandTests {
    static let engines = (ProcessInfo.processInfo.environment["AIRLOCK_TEST_ENGINES"] ?? "podman,docker").split(separator: ",").map(String.init)

    /// A policy whose git may mount repositories from a fresh directory, and a repository in it.
    struct Fixture {
        var directory: String
        var policy: String
        var repository: String { directory + "/repo" }
    }

    static func fixture(seccomp: String? = nil) throws -> Fixture {
        let root = CommandLineTests.repositoryRoot
        let directory = NSTemporaryDirectory() + "airlock-run-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/repo", withIntermediateDirectories: true)
        for command in [
            ["init", "-q", "-b", "main"], ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "first commit"],
        ] {
            let git = Process()
            git.executableURL = URL(fileURLWithPath: "/usr/bin/git")
            git.arguments = ["-C", directory + "/repo"] + command
            try git.run()
            git.waitUntilExit()
            #expect(git.terminationStatus == 0)
        }
        let policy = directory + "/policy.yaml"
        try """
            version: 1
            tools:
              git:
                grammar: \(root)/policies/grammars/git.yaml
                image: airlock/tools:1
                entrypoint: [/usr/bin/git]
                timeout: 30s
                seccomp: \(seccomp ?? root + "/policies/seccomp/hardened.json")
                runtime: runc
                environment: {HOME: /tmp, GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: safe.directory, GIT_CONFIG_VALUE_0: "*"}
                mounts: [{root: \(directory)}]
            contexts:
              ro:
                allow:
                  - {id: inspect, tool: git, subcommand: [log, status, show], reason: reading changes nothing}
            tenants:
              default: {contexts: [ro]}
            """.write(toFile: policy, atomically: true, encoding: .utf8)
        return Fixture(directory: directory, policy: policy)
    }

    @Test("text: the tool's output and exit status are ours", arguments: engines)
    func text(engine: String) throws {
        let fixture = try Self.fixture()
        let run = try CommandLineTests.airlock([
            "run", "--policy", fixture.policy, "--context", "ro", "--engine", engine, "--mount", "\(fixture.repository):/workspace",
            "--", "git", "log", "--oneline",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("first commit"))
        let failing = try CommandLineTests.airlock([
            "run", "--policy", fixture.policy, "--context", "ro", "--engine", engine, "--mount", "\(fixture.repository):/workspace",
            "--", "git", "show", "no-such-revision",
        ])
        #expect(failing.status == 128, "\(failing.stderr)")
        #expect(failing.stderr.contains("no-such-revision"))
    }

    /// A policy with one tool, `seq log`, that runs `script` in the busybox test image.
    static func seqPolicy(in directory: String, script: String) throws -> String {
        let policy = directory + "/policy.yaml"
        try """
            version: 1
            tools:
              seq:
                grammar: \(CommandLineTests.repositoryRoot)/policies/grammars/git.yaml
                image: airlock/test:1
                entrypoint: [/bin/sh, -c, "\(script)"]
                seccomp: \(CommandLineTests.repositoryRoot)/policies/seccomp/hardened.json
                runtime: runc
            contexts:
              ro:
                allow:
                  - {id: seq, tool: seq, subcommand: [log], reason: test}
            """.write(toFile: policy, atomically: true, encoding: .utf8)
        return policy
    }

    /// Runs airlock with these arguments under /bin/sh, its stdout redirected as `stdout` says
    /// (`> file`, `| head -c 10 > /dev/null`); returns airlock's own exit status.
    static func airlockShell(_ arguments: [String], stdout: String) throws -> Int32 {
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/bash")
        shell.arguments = ["-c", "\"$0\" \"$@\" 2>/dev/null \(stdout); exit ${PIPESTATUS[0]}", CommandLineTests.binary.path] + arguments
        try shell.run()
        shell.waitUntilExit()
        return shell.terminationStatus
    }

    /// `airlock run … | head`: our reader goes away early. We are not killed by SIGPIPE; the tool's
    /// output is drained and counted to its end, and its end is recorded.
    @Test("a reader that goes away: the run still ends normally and is recorded, every byte counted", arguments: engines)
    func readerGoesAway(engine: String) throws {
        let state = try EventsCommandTests.scratch()
        let policy = try Self.seqPolicy(in: state, script: "seq 1 1000000")
        let arguments = ["run", "--state-dir", state, "--policy", policy, "--context", "ro", "--engine", engine, "--", "seq", "log"]
        #expect(try Self.airlockShell(arguments, stdout: "| head -c 10 > /dev/null") == 0, "airlock's own exit status, not 141 (SIGPIPE)")
        let completed = try EventsCommandTests.events(state, ["--type", "CliToolInvocationCompleted"])
        let payload = try #require(completed.first?["payload"] as? [String: Any])
        #expect(payload["exit_code"] as? Int == 0)
        let written: Int = (1...1_000_000).reduce(0) { total, n in total + String(n).utf8.count + 1 }
        #expect(payload["stdout_bytes"] as? Int == written)
    }

    /// Text mode hands the output on without keeping it (spliced in the kernel where the
    /// destination allows): every byte arrives, in order, and every byte is counted in the trail.
    @Test("text: large output reaches a pipe and a file byte for byte, and is counted exactly", arguments: engines)
    func textRelaysExactly(engine: String) throws {
        let state = try EventsCommandTests.scratch()
        let policy = try Self.seqPolicy(in: state, script: "seq 1 400000; seq 1 1000 >&2")
        let expected = (1...400_000).map { "\($0)\n" }.joined()
        let arguments = ["run", "--state-dir", state, "--policy", policy, "--context", "ro", "--engine", engine, "--", "seq", "log"]

        let piped = try CommandLineTests.airlock(arguments)
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(piped.stdout.utf8.count == expected.utf8.count)
        #expect((piped.stdout == expected) as Bool, "stdout through a pipe is the tool's, byte for byte")
        #expect(piped.stderr == (1...1000).map { "\($0)\n" }.joined())

        // A regular file as stdout (`> out`), and one opened for appending (`>> out`: splice refuses
        // O_APPEND files, so that takes the read-and-write path).
        let file = state + "/out.txt"
        #expect(try Self.airlockShell(arguments, stdout: "> \(file)") == 0)
        #expect((try String(contentsOfFile: file, encoding: .utf8) == expected) as Bool, "stdout into a file is the tool's, byte for byte")
        let appended = state + "/appended.txt"
        try "before\n".write(toFile: appended, atomically: true, encoding: .utf8)
        #expect(try Self.airlockShell(arguments, stdout: ">> \(appended)") == 0)
        #expect((try String(contentsOfFile: appended, encoding: .utf8) == "before\n" + expected) as Bool, "appended byte for byte")

        let completed = try EventsCommandTests.events(state, ["--type", "CliToolInvocationCompleted"])
        #expect(completed.count == 3)
        for record in completed {
            let payload = try #require(record["payload"] as? [String: Any])
            #expect(payload["stdout_bytes"] as? Int == expected.utf8.count)
            #expect(payload["stderr_bytes"] as? Int == (1...1000).map { "\($0)\n" }.joined().utf8.count)
        }
    }

    @Test("json: one record with the decision, counts and digests", arguments: engines)
    func json(engine: String) throws {
        let fixture = try Self.fixture()
        let run = try CommandLineTests.airlock([
            "run", "--policy", fixture.policy, "--context", "ro", "--engine", engine, "--format", "json",
            "--mount", "\(fixture.repository):/workspace", "--", "git", "log", "--format=%s",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let record = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect((record["execution_id"] as? String)?.count == 36)
        #expect(record["exit_code"] as? Int == 0)
        #expect(record["stdout_bytes"] as? Int == "first commit\n".utf8.count)
        #expect(record["stderr_bytes"] as? Int == 0)
        #expect(record["stdout_truncated"] as? Bool == false)
        #expect(record["timed_out"] as? Bool == false)
        #expect(record["oom_killed"] as? Bool == false)
        #expect(record["image"] as? String == "airlock/tools:1")
        #expect((record["seccomp_profile_digest"] as? String)?.hasPrefix("sha256:") == true)
        #expect((record["duration_ms"] as? Int ?? -1) >= 0)
        #expect(record["stdout"] as? String == "first commit\n")
        let decision = try #require(record["decision"] as? [String: Any])
        #expect(decision["rule_id"] as? String == "inspect")
        #expect(decision["allowed"] as? Bool == true)
    }

    /// `--events postgresql:…`: the command exits as soon as the invocation's end is committed,
    /// without closing its store first; both events must be in PostgreSQL when it has returned.
    @Test("--events postgresql: Started and Completed are committed when airlock run returns")
    func postgresEvents() throws {
        let database = try PostgresTestCluster.shared().createDatabase()
        let location = database.hasPrefix("postgresql://") ? database : "postgresql:" + database
        let fixture = try Self.fixture()
        let state = try EventsCommandTests.scratch()
        let run = try CommandLineTests.airlock([
            "run", "--events", location, "--state-dir", state, "--policy", fixture.policy, "--context", "ro",
            "--engine", try #require(Self.engines.first), "--format", "json",
            "--mount", "\(fixture.repository):/workspace", "--", "git", "log", "--format=%s",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let record = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let id = try #require(record["execution_id"] as? String)
        let rows = try PostgresTestCluster.shared().psql(
            database, "SELECT event_type, payload->>'stdout_bytes' FROM gateway_events WHERE payload->>'execution_id' = '\(id)' ORDER BY id")
        #expect(rows.split(separator: "\n") == ["CliToolInvocationStarted|", "CliToolInvocationCompleted|\("first commit\n".utf8.count)"])
        let spooled = ((try? FileManager.default.contentsOfDirectory(atPath: state + "/spool")) ?? []).filter { $0.hasSuffix(".json") }
        #expect(spooled.isEmpty, "nothing spooled: \(spooled)")
    }

    /// One variable for both executables' log level.
    @Test("AIRLOCK_LOG sets airlock's log level; by default it says only what goes wrong")
    func logLevel() throws {
        let fixture = try Self.fixture()
        let arguments = ["run", "--policy", fixture.policy, "--context", "ro", "--mount", "\(fixture.repository):/workspace", "--", "git", "status"]
        let quiet = try CommandLineTests.airlock(arguments)
        #expect(quiet.status == 0, "\(quiet.stderr)")
        #expect(!quiet.stderr.contains("Container CLI resolved"), "\(quiet.stderr)")
        let told = try CommandLineTests.airlock(arguments, environment: ["AIRLOCK_LOG": "info"])
        #expect(told.status == 0)
        #expect(told.stderr.contains("Container CLI resolved binary="), "\(told.stderr)")
        #expect(told.stderr.contains("Invocation completed"))
    }

    @Test("denied: the reason on stderr, exit 3, nothing launched")
    func denied() throws {
        let fixture = try Self.fixture()
        let run = try CommandLineTests.airlock([
            "run", "--policy", fixture.policy, "--context", "ro", "--engine", "/nonexistent/podman", "--", "git", "push", "--force",
        ])
        #expect(run.status == 3)
        #expect(run.stderr.contains("denied by airlock.default-deny"))
        // The engine named does not exist: a denial never gets as far as resolving it.
        #expect(!run.stderr.contains("nonexistent"))
    }

    @Test(
        "refused before launch: mounts outside the roots, a broken seccomp profile, no engine",
        arguments: [
            (["--mount", "/etc:/workspace"], "outside the tool's mount roots"),
            (["--mount", "REPO/../..:/workspace"], "outside the tool's mount roots"),
            (["--mount", "REPO:/etc"], "must be /workspace or a path below it"),
            (["--engine", "/nonexistent/podman"], "/nonexistent/podman (from --engine): not found"),
        ])
    func refused(extra: [String], message: String) throws {
        let fixture = try Self.fixture()
        let arguments = extra.map { $0.replacingOccurrences(of: "REPO", with: fixture.repository) }
        let run = try CommandLineTests.airlock(["run", "--policy", fixture.policy, "--context", "ro"] + arguments + ["--", "git", "status"])
        #expect(run.status == 2)
        #expect(run.stderr.contains(message), "\(run.stderr)")
        #expect(run.stderr.contains("nothing was launched"))
    }

    @Test("a broken seccomp profile is refused before launch, naming the entry")
    func brokenSeccomp() throws {
        let profile = NSTemporaryDirectory() + "airlock-profile-\(UUID().uuidString).json"
        try """
            {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "no_such_syscall"], "action": "SCMP_ACT_ALLOW"}]}
            """.write(toFile: profile, atomically: true, encoding: .utf8)
        let fixture = try Self.fixture(seccomp: profile)
        let run = try CommandLineTests.airlock(["run", "--policy", fixture.policy, "--context", "ro", "--", "git", "status"])
        #expect(run.status == 2)
        #expect(run.stderr.contains("no_such_syscall"), "\(run.stderr)")
        #expect(run.stderr.contains("nothing was launched"))
    }

    @Test("bad usage is refused with what was wrong", arguments: [
        (["--timeout", "0"], "--timeout must be a positive number of seconds"),
        (["--retain=-1"], "--retain cannot be negative"),
        ([], "Name the command after '--'"),
    ])
    func badUsage(extra: [String], message: String) throws {
        let fixture = try Self.fixture()
        let command = extra.isEmpty ? [] : ["--", "git", "status"]
        let run = try CommandLineTests.airlock(["run", "--policy", fixture.policy, "--context", "ro"] + extra + command)
        #expect(run.status == 64)
        #expect(run.stderr.contains(message), "\(run.stderr)")
    }
}
