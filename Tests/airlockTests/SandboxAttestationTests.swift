import Foundation
import Testing

/// The canary on the real engines: each tool's sandbox is attested from inside, and a host whose
/// engine configuration widens it is caught: `doctor` fails, `airlock run` refuses with nothing
/// launched, and the worker is not ready. The downgrades are made for real, through the engines'
/// own configuration files, in the environment of the command under test only.
@Suite("Sandbox attestation", .serialized)
struct SandboxAttestationTests {
    static let engines = RunCommandTests.engines

    /// A fresh directory, and `AIRLOCK_STATE_DIR` inside it.
    static func directory() throws -> (path: String, environment: [String: String]) {
        let path = NSTemporaryDirectory() + "airlock-canary-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path + "/state", withIntermediateDirectories: true)
        return (path, ["AIRLOCK_STATE_DIR": path + "/state"])
    }

    /// A podman `containers.conf` that adds a writable volume of `host`, a variable and
    /// capabilities to every container: what a host's configuration can do without any error.
    /// (The variable and the capabilities are pinned away; the volume is caught.)
    static func widenedPodman(in directory: String) throws -> [String: String] {
        let host = directory + "/host"
        try FileManager.default.createDirectory(atPath: host, withIntermediateDirectories: true)
        chmod(host, 0o777)
        try """
            [containers]
            volumes = ["\(host):/data:rw"]
            env = ["INJECTED=1"]
            default_capabilities = ["CHOWN", "NET_RAW", "SYS_ADMIN", "SYS_PTRACE"]
            """.write(toFile: directory + "/containers.conf", atomically: true, encoding: .utf8)
        return ["CONTAINERS_CONF": directory + "/containers.conf"]
    }

    /// A docker client configuration whose proxies the CLI copies into every container, with a
    /// credential in the URL.
    static func widenedDocker(in directory: String) throws -> [String: String] {
        try FileManager.default.createDirectory(atPath: directory + "/docker", withIntermediateDirectories: true)
        try #"{"proxies": {"default": {"httpProxy": "http://user:s3cr3t-proxy-password@proxy.invalid:3128"}}}"#
            .write(toFile: directory + "/docker/config.json", atomically: true, encoding: .utf8)
        return ["DOCKER_CONFIG": directory + "/docker"]
    }

    static func widened(_ engine: String, in directory: String) throws -> [String: String] {
        engine == "podman" ? try widenedPodman(in: directory) : try widenedDocker(in: directory)
    }

    static let kubectl = ["--context", "readonly", "--", "kubectl", "version", "--client"]

    /// The shipped policy written to `path` with one edit, its grammars and profile where they are.
    static func shippedPolicy(at path: String, replacing old: String, with new: String) throws {
        let root = CommandLineTests.repositoryRoot
        let text = try String(contentsOfFile: root + "/policies/default.yaml", encoding: .utf8)
        try #require(text.contains(old))
        try text.replacingOccurrences(of: "grammars/", with: root + "/policies/grammars/")
            .replacingOccurrences(of: "seccomp/hardened.json", with: root + "/policies/seccomp/hardened.json")
            .replacingOccurrences(of: old, with: new)
            .write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test("doctor attests every tool of the shipped policy and prints each setting", arguments: engines)
    func doctor(engine: String) throws {
        let run = try CommandLineTests.airlock(["doctor", "--engine", engine, "--sandbox"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        for tool in ["aws", "gh", "git", "kubectl"] {
            #expect(run.stdout.contains("ok   sandbox \(tool): attested (sha256:"), "\(run.stdout)")
            let program = "/usr/bin/\(tool)"
            #expect(run.stdout.contains("entrypoint \(program)"), "\(run.stdout)")
        }
        for setting in ["capabilities (effective)", "no_new_privs", "seccomp", "writable places", "memory limit", "environment"] {
            #expect(run.stdout.contains(setting))
        }
        // terraform's image is the operator's to build (Debian has no terraform): said plainly, no failure.
        #expect(run.stdout.contains("skip image airlock/terraform:1: not in \(engine); the operator provides it"), "\(run.stdout)")
        #expect(!run.stdout.contains("sandbox terraform"), "\(run.stdout)")
    }

    /// The operator's way to install terraform (images/terraform/Containerfile), with a stand-in
    /// binary: once the image exists, the canary attests it and terraform runs.
    @Test("an operator-provided image, once built from images/terraform, is attested and runs", arguments: engines)
    func operatorImage(engine: String) throws {
        let (directory, state) = try Self.directory()
        let root = CommandLineTests.repositoryRoot
        let context = directory + "/context"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: root + "/images/terraform/Containerfile", toPath: context + "/Containerfile")
        try "#!/bin/sh\necho \"Terraform v0.0.0-airlock-test\"\n".write(toFile: context + "/terraform", atomically: true, encoding: .utf8)
        chmod(context + "/terraform", 0o755)
        let tag = "airlock/terraform-test-\(UUID().uuidString.prefix(8).lowercased()):1"
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        build.arguments = [engine, "build", "-q", "-f", context + "/Containerfile", "-t", tag, context]
        build.standardOutput = FileHandle.nullDevice
        try build.run()
        build.waitUntilExit()
        try #require(build.terminationStatus == 0, "\(engine) build of images/terraform failed")
        defer {
            let remove = Process()
            remove.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            remove.arguments = [engine, "rmi", "-f", tag]
            remove.standardOutput = FileHandle.nullDevice
            remove.standardError = FileHandle.nullDevice
            try? remove.run()
            remove.waitUntilExit()
        }
        try Self.shippedPolicy(at: directory + "/policy.yaml", replacing: "image: airlock/terraform:1", with: "image: \(tag)")

        let doctor = try CommandLineTests.airlock(["doctor", "--engine", engine, "--policy", directory + "/policy.yaml"], environment: state)
        #expect(doctor.status == 0, "\(doctor.stdout)")
        #expect(doctor.stdout.contains("ok   sandbox terraform: attested"), "\(doctor.stdout)")
        let run = try CommandLineTests.airlock(
            ["run", "--engine", engine, "--policy", directory + "/policy.yaml", "--context", "readonly", "--", "terraform", "version"],
            environment: state)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("Terraform v0.0.0-airlock-test"), "\(run.stdout)")
    }

    /// A policy whose image lacks the tool's program: the canary finds it missing, so doctor fails
    /// naming it, and `airlock run` refuses before launching the tool (not exit 125 from the engine).
    @Test("an entrypoint missing from its image: doctor fails naming it, run refuses", arguments: engines)
    func missingEntrypoint(engine: String) throws {
        let (directory, state) = try Self.directory()
        try Self.shippedPolicy(at: directory + "/policy.yaml", replacing: "entrypoint: [/usr/bin/kubectl]", with: "entrypoint: [/usr/bin/kubectl-absent]")

        let doctor = try CommandLineTests.airlock(["doctor", "--engine", engine, "--policy", directory + "/policy.yaml"], environment: state)
        #expect(doctor.status == 1, "\(doctor.stdout)")
        #expect(doctor.stdout.contains("FAIL sandbox kubectl: entrypoint /usr/bin/kubectl-absent: expected executable, found missing"), "\(doctor.stdout)")
        #expect(doctor.stdout.contains("ok   sandbox git: attested"), "\(doctor.stdout)")

        let run = try CommandLineTests.airlock(
            ["run", "--engine", engine, "--policy", directory + "/policy.yaml", "--context", "readonly", "--", "kubectl", "version", "--client"],
            environment: state)
        #expect(run.status == 2, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.contains("entrypoint /usr/bin/kubectl-absent: expected executable, found missing"), "\(run.stderr)")
        #expect(run.stderr.contains("nothing was launched"), "\(run.stderr)")
    }

    @Test("a widening engine configuration: doctor fails naming the setting, run refuses and launches nothing", arguments: engines)
    func widened(engine: String) throws {
        let (directory, state) = try Self.directory()
        let widening = try Self.widened(engine, in: directory)
        let environment = state.merging(widening) { $1 }

        let doctor = try CommandLineTests.airlock(["doctor", "--engine", engine], environment: environment)
        #expect(doctor.status == 1, "\(doctor.stdout)")
        if engine == "podman" {
            #expect(doctor.stdout.contains("FAIL sandbox kubectl: writable places: expected /tmp noexec, found /data exec, /tmp noexec"), "\(doctor.stdout)")
            #expect(doctor.stdout.contains("other mounts: expected /run/secrets/kubeconfig, found /data, /run/secrets/kubeconfig"))
            #expect(!doctor.stdout.contains("capabilities") && !doctor.stdout.contains("INJECTED"), "pinned: \(doctor.stdout)")
        } else {
            #expect(doctor.stdout.contains("FAIL sandbox kubectl: environment:") && doctor.stdout.contains("HTTP_PROXY"), "\(doctor.stdout)")
        }
        #expect(!doctor.stdout.contains("s3cr3t") && !doctor.stderr.contains("s3cr3t"), "a variable's value is never printed")

        let run = try CommandLineTests.airlock(["run", "--engine", engine] + Self.kubectl, environment: environment)
        #expect(run.status == 2, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.contains("the sandbox of kubectl is not what the policy asks"), "\(run.stderr)")
        #expect(run.stderr.contains("nothing was launched"))
        #expect(!run.stdout.contains("Client Version"))
        let started = try CommandLineTests.airlock(["events", "list", "--type", "CliToolInvocationStarted"], environment: environment)
        #expect(started.status == 0 && started.stdout.isEmpty, "\(started.stdout)\(started.stderr)")
        if engine == "podman" {
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/host").isEmpty)
        }

        // The same call on the same host without the widening runs: the refusal was the canary's.
        let clean = try CommandLineTests.airlock(["run", "--engine", engine] + Self.kubectl, environment: state)
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(clean.stdout.contains("Client Version"))
    }

    /// `airlock run` keeps attestations that held in its state directory, keyed by the engine's
    /// configuration files too: widening the engine after a clean run is still caught.
    @Test("a kept attestation does not outlive a change of the engine's configuration", arguments: engines)
    func keptAttestation(engine: String) throws {
        let (directory, state) = try Self.directory()
        let first = try CommandLineTests.airlock(["run", "--engine", engine, "--format", "json"] + Self.kubectl, environment: state)
        #expect(first.status == 0, "\(first.stderr)")
        let kept = try FileManager.default.contentsOfDirectory(atPath: directory + "/state/sandbox")
        #expect(kept.count == 1)
        let second = try CommandLineTests.airlock(["run", "--engine", engine, "--format", "json"] + Self.kubectl, environment: state)
        #expect(second.status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/state/sandbox") == kept)

        let widening = try Self.widened(engine, in: directory)
        let refused = try CommandLineTests.airlock(["run", "--engine", engine] + Self.kubectl, environment: state.merging(widening) { $1 })
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("the sandbox of kubectl is not what the policy asks"))

        // Started records the attested sandbox's digest, the same one doctor prints.
        let events = try CommandLineTests.airlock(["events", "list", "--type", "CliToolInvocationStarted"], environment: state)
        let digests = events.stdout.split(separator: "\n").compactMap { line -> String? in
            let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return (event?["payload"] as? [String: Any])?["sandbox_digest"] as? String
        }
        #expect(digests.count == 2 && Set(digests).count == 1, "\(events.stdout)")
        let doctor = try CommandLineTests.airlock(["doctor", "--engine", engine], environment: state)
        #expect(doctor.stdout.contains("sandbox kubectl: attested (\(digests.first ?? "none"))"), "\(doctor.stdout)")
    }

    /// The worker attests every tool at start; a widened engine makes it not ready, and `/readyz`
    /// names the tool and the setting.
    @Test("the worker on a widened engine is not ready, and says which setting differs", arguments: engines)
    func workerReadiness(engine: String) async throws {
        let (directory, state) = try Self.directory()
        let widening = try Self.widened(engine, in: directory)
        let socket = directory + "/airlock.sock"
        let worker = try FaultSuiteTests.startWorker(
            ["--socket", socket], environment: state.merging(widening) { $1 }.merging(["AIRLOCK_CONTAINER_CLI": engine]) { $1 })
        defer {
            worker.terminate()
            worker.waitUntilExit()
        }
        var answer = ""
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(500))
            let curl = Process()
            let out = Pipe()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            curl.arguments = ["-s", "--unix-socket", socket, "http://localhost/readyz"]
            curl.standardOutput = out
            curl.standardError = FileHandle.nullDevice
            try curl.run()
            answer = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            curl.waitUntilExit()
            if answer.contains("sandbox kubectl") { break }
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any], "\(answer)")
        #expect(json["ready"] as? Bool == false)
        let notReady = (json["not_ready"] as? [String]) ?? []
        let expected = engine == "podman" ? "other mounts: expected /run/secrets/kubeconfig, found /data, /run/secrets/kubeconfig" : "HTTP_PROXY"
        #expect(notReady.contains { $0.hasPrefix("sandbox kubectl:") && $0.contains(expected) }, "\(notReady)")
        #expect(!answer.contains("s3cr3t"))
    }

    /// A second docker daemon, its own socket and storage, whose `daemon.json` widens every
    /// default Airlock pins: an init process, the host's cgroup namespace, a shareable IPC
    /// namespace with a 256 MiB `/dev/shm`, no-new-privileges off, 65536 open files. The pins hold:
    /// the canary attests the policy's sandbox, and every escape is refused.
    @Test(
        "a docker daemon started with widening defaults: the pins hold, the canary attests, every escape is refused",
        .enabled(if: geteuid() == 0, "starts a docker daemon"))
    func widenedDockerDaemon() async throws {
        // Short: a Unix socket's path has room for 107 bytes.
        let directory = "/tmp/adk-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try #"{"init": true, "default-cgroupns-mode": "host", "default-ipc-mode": "shareable", "no-new-privileges": false, "default-shm-size": "256M", "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 65536, "Soft": 65536}}}"#
            .write(toFile: directory + "/daemon.json", atomically: true, encoding: .utf8)
        let socket = directory + "/docker.sock"
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/usr/sbin/dockerd")
        daemon.arguments = [
            "--config-file", directory + "/daemon.json", "--host", "unix://" + socket, "--data-root", directory + "/data", "--exec-root",
            directory + "/exec", "--pidfile", directory + "/docker.pid", "--bridge", "none", "--iptables=false", "--storage-driver", "vfs",
        ]
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        defer {
            daemon.terminate()
            daemon.waitUntilExit()
            _ = try? FaultSuiteTests.shell("umount -R \(directory)/exec 2>/dev/null; umount -R \(directory)/data 2>/dev/null; true")
        }
        let environment = ["DOCKER_HOST": "unix://" + socket]
        var up = false
        for _ in 0..<120 where !up {
            try await Task.sleep(for: .milliseconds(250))
            up = try FaultSuiteTests.shell("DOCKER_HOST=unix://\(socket) docker info >/dev/null 2>&1") == 0
        }
        #expect(up, "the second docker daemon did not come up")
        // The test image, from the machine's own daemon.
        #expect(try FaultSuiteTests.shell("docker save airlock/test:1 | DOCKER_HOST=unix://\(socket) docker load >/dev/null") == 0)

        // The escape probe, through airlock run, on that daemon.
        let probes = directory + "/bin"
        try FileManager.default.createDirectory(atPath: probes, withIntermediateDirectories: true)
        #expect(try FaultSuiteTests.shell("gcc -static -O2 -o \(probes)/syscall-probe \(CommandLineTests.repositoryRoot)/Tests/Fixtures/syscall-probe.c") == 0)
        chmod(directory, 0o755)
        let policy = directory + "/policy.yaml"
        try """
            version: 1
            tools:
              probe:
                grammar: \(CommandLineTests.repositoryRoot)/policies/grammars/git.yaml
                image: airlock/test:1
                entrypoint: [/bin/sh, -c, "/workspace/bin/syscall-probe all; ls /dev/shm 2>/dev/null && echo shm-present; cat /proc/1/comm"]
                timeout: 60s
                seccomp: \(CommandLineTests.repositoryRoot)/policies/seccomp/hardened.json
                runtime: runc
                mounts: [{root: \(probes)}]
            contexts:
              ro:
                allow:
                  - {id: probe-log, tool: probe, subcommand: [log], reason: test}
            """.write(toFile: policy, atomically: true, encoding: .utf8)
        let (_, state) = try Self.directory()
        let run = try CommandLineTests.airlock(
            ["run", "--policy", policy, "--context", "ro", "--engine", "docker", "--mount", "\(probes):/workspace/bin", "--", "probe", "log"],
            environment: state.merging(environment) { $1 })
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.contains(": refused (") }.count == 36, "\(lines)")
        #expect(!lines.contains { $0.contains("NOT refused") })
        #expect(!lines.contains("shm-present"))
        #expect(lines.last == "cat", "the tool is pid 1: no init process was added (\(lines.last ?? ""))")
    }

    /// `curl` over a Unix socket: the status and the body.
    static func call(_ socket: String, _ path: String, body: String? = nil) throws -> (status: Int, body: String) {
        let process = Process()
        let out = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-w", "\n%{http_code}", "--unix-socket", socket] + (body.map { ["-d", $0] } ?? []) + ["http://localhost" + path]
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    /// The engine's configuration changes under a running worker: the next call attests again and
    /// is refused; after SIGHUP every tool is attested again and the worker is not ready.
    @Test("a running worker notices its engine's configuration change: the next call is refused, after SIGHUP it is not ready")
    func workerNoticesChange() async throws {
        let (directory, state) = try Self.directory()
        let configuration = directory + "/containers.conf"
        try "[containers]\n".write(toFile: configuration, atomically: true, encoding: .utf8)
        let socket = directory + "/airlock.sock"
        let worker = try FaultSuiteTests.startWorker(
            ["--socket", socket], environment: state.merging(["CONTAINERS_CONF": configuration, "AIRLOCK_CONTAINER_CLI": "podman"]) { $1 })
        defer {
            worker.terminate()
            worker.waitUntilExit()
        }
        #expect(try FaultSuiteTests.waitUntil(90) { try Self.call(socket, "/readyz").status == 200 }, "the worker on a clean engine did not become ready")
        let invocation = #"{"tool_name":"kubectl","subcommand":"version","args":["--client"],"tenant_id":"default","security_context":"readonly"}"#
        let before = try Self.call(socket, "/v1/invocations", body: invocation)
        #expect(before.status == 200, "\(before.body)")

        _ = try Self.widenedPodman(in: directory)  // rewrites the same file, widened
        let after = try Self.call(socket, "/v1/invocations", body: invocation)
        #expect(after.status == 503, "\(after.body)")
        #expect(after.body.contains("sandbox_not_attested") && after.body.contains("found /data"), "\(after.body)")

        kill(worker.processIdentifier, SIGHUP)
        var ready = ""
        _ = try FaultSuiteTests.waitUntil(90) {
            ready = try Self.call(socket, "/readyz").body
            return ready.contains("sandbox git")
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(ready.utf8)) as? [String: Any], "\(ready)")
        #expect(json["ready"] as? Bool == false)
        #expect(((json["not_ready"] as? [String]) ?? []).contains { $0.hasPrefix("sandbox git: writable places") }, "\(ready)")
    }
}
