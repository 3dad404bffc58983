import AirlockEngine
import AirlockPolicy
import Testing

@Suite("The engine argv: hardened by default, built from the policy only")
struct RunArgumentsTests {
    static func spec(mounts: [Mount] = [], runtime: String? = nil) -> ContainerRunSpec {
        var limits = ResourceLimits()
        limits.memoryBytes = 256 << 20
        limits.pids = 64
        limits.cpus = 0.5
        limits.openFiles = 512
        limits.processes = 64
        limits.tmpfsBytes = 16 << 20
        let container = ContainerSpec(
            image: "airlock/tools:1", entrypoint: ["/usr/bin/git", "--no-pager"], timeoutSeconds: 30, network: "none",
            seccompProfile: "/etc/airlock/hardened.json", runtime: runtime, environment: ["HOME": "/tmp", "A": "1"],
            resources: limits, mountRoots: [])
        return ContainerRunSpec(
            executionID: "e1", toolName: "git", tenant: "acme", container: container, arguments: ["log", "--oneline", "--rm"],
            mounts: mounts, owner: ContainerOwner(host: "h", pid: 7))
    }

    /// The value after each occurrence of `flag`.
    static func values(_ argv: [String], _ flag: String) -> [String] {
        argv.indices.filter { argv[$0] == flag && $0 + 1 < argv.count }.map { argv[$0 + 1] }
    }

    @Test("every hardening default is passed", arguments: EngineKind.allCases)
    func hardening(engine: EngineKind) {
        let argv = RunArguments.build(Self.spec(), for: engine)
        #expect(argv.first == "run")
        for flag in ["--rm", "--read-only"] { #expect(argv.contains(flag), "\(flag)") }
        #expect(Self.values(argv, "--network") == ["none"])
        #expect(Self.values(argv, "--cap-drop") == ["ALL"])
        #expect(Self.values(argv, "--security-opt") == ["no-new-privileges", "seccomp=/etc/airlock/hardened.json"])
        #expect(Self.values(argv, "--user") == ["65534:65534"])
        #expect(Self.values(argv, "--memory") == ["\(256 << 20)"])
        #expect(Self.values(argv, "--memory-swap") == ["\(256 << 20)"])
        #expect(Self.values(argv, "--pids-limit") == ["64"])
        #expect(Self.values(argv, "--cpus") == ["0.5"])
        #expect(Self.values(argv, "--ulimit") == ["nofile=512:512", "nproc=64:64"])
        #expect(Self.values(argv, "--tmpfs") == ["/tmp:rw,nosuid,nodev,noexec,size=\(16 << 20),mode=1777", "/dev/mqueue:ro,nosuid,nodev,noexec,size=4k"])
        #expect(Self.values(argv, "--pull") == ["never"])
        #expect(Self.values(argv, "--workdir") == ["/workspace"])
        #expect(Self.values(argv, "--name") == ["airlock-e1"])
        #expect(
            Self.values(argv, "--label") == [
                "airlock.execution_id=e1", "airlock.tool=git", "airlock.tenant=acme", "airlock.owner=h:7",
            ])
        #expect(Self.values(argv, "--env") == ["A=1", "HOME=/tmp", "PATH=\(RunArguments.defaultPath)"])
        #expect(!argv.contains("--privileged"))
    }

    @Test("engine defaults a host's configuration could widen are pinned", arguments: EngineKind.allCases)
    func pinnedDefaults(engine: EngineKind) {
        let argv = RunArguments.build(Self.spec(), for: engine)
        #expect(argv.contains("--init=false"))
        #expect(Self.values(argv, "--ipc") == ["none"])
        #expect(Self.values(argv, "--cgroupns") == ["private"])
        let podmanOnly = ["--http-proxy=false", "--read-only-tmpfs=false", "--unsetenv-all", "--env-host=false", "--systemd=false", "--no-hosts"]
        for flag in podmanOnly { #expect(argv.contains(flag) == (engine == .podman), "\(flag)") }
        #expect(Self.values(argv, "--pid") == (engine == .podman ? ["private"] : []))
        #expect(Self.values(argv, "--uts") == (engine == .podman ? ["private"] : []))
        // All before the image: none of them can be taken for the tool's arguments.
        let image = argv.firstIndex(of: "airlock/tools:1")!
        #expect(argv.firstIndex(of: "--init=false")! < image)
    }

    @Test("the policy's PATH is kept; without one the tool gets Airlock's, not the engine's or the image's")
    func path() {
        var spec = Self.spec()
        spec.container.environment["PATH"] = "/opt/tool/bin"
        #expect(Self.values(RunArguments.build(spec, for: .docker), "--env").contains("PATH=/opt/tool/bin"))
        #expect(Self.values(RunArguments.build(spec, for: .docker), "--env").filter { $0.hasPrefix("PATH=") }.count == 1)
    }

    @Test("the caller's arguments come only after the image and entrypoint, never as engine flags")
    func callerArgumentsAfterImage() {
        let argv = RunArguments.build(Self.spec(), for: .podman)
        let image = argv.firstIndex(of: "airlock/tools:1")!
        #expect(Self.values(argv, "--entrypoint") == ["/usr/bin/git"])
        #expect(Array(argv[(image + 1)...]) == ["--no-pager", "log", "--oneline", "--rm"])
        #expect(argv[..<image].filter { $0 == "--rm" }.count == 1)
    }

    @Test("mounts are read-only unless allowed to write")
    func mounts() {
        let argv = RunArguments.build(
            Self.spec(mounts: [
                Mount(hostPath: "/srv/a", containerPath: "/workspace", writable: false),
                Mount(hostPath: "/srv/b", containerPath: "/workspace/out", writable: true),
            ]), for: .docker)
        #expect(
            Self.values(argv, "--mount") == [
                "type=bind,source=/srv/a,target=/workspace,readonly", "type=bind,source=/srv/b,target=/workspace/out",
            ])
    }

    @Test("stdin stays attached only when there is input for the tool")
    func interactiveOnlyWithInput() {
        #expect(!RunArguments.build(Self.spec(), for: .podman).contains("--interactive"))
        var spec = Self.spec()
        spec.stdin = Array("input".utf8)
        for engine in EngineKind.allCases {
            let argv = RunArguments.build(spec, for: engine)
            #expect(argv.contains("--interactive"))
            #expect(argv.firstIndex(of: "--interactive")! < argv.firstIndex(of: spec.container.image)!, "a flag of the engine, never of the tool")
        }
    }

    @Test("a runtime is passed; gVisor under podman gets its own flags")
    func runtime() {
        #expect(Self.values(RunArguments.build(Self.spec(runtime: "runc"), for: .podman), "--runtime") == ["runc"])
        #expect(!RunArguments.build(Self.spec(), for: .podman).contains("--runtime"))
        let gvisor = RunArguments.build(Self.spec(runtime: "/usr/bin/runsc"), for: .podman)
        #expect(Self.values(gvisor, "--runtime-flag") == ["network=none", "ignore-cgroups", "oci-seccomp"])
    }

    @Test("a caller may shorten the deadline, never lengthen it")
    func timeout() {
        var spec = Self.spec()
        spec.timeoutOverride = .seconds(2)
        #expect(spec.effectiveTimeout == .seconds(2))
        spec.timeoutOverride = .seconds(3600)
        #expect(spec.effectiveTimeout == .seconds(30))
    }
}
