import AirlockPolicy

/// Builds the engine's argv for one container: a pure function of the spec and the engine, so
/// the hardening it promises is unit-tested flag by flag.
///
/// Nothing from the caller reaches these flags except the judged arguments (after the image) and
/// mounts `MountResolver` accepted.
public enum RunArguments {
    public static let user = "65534:65534"
    public static let workdir = "/workspace"
    /// The tool's PATH when the policy sets none: never the engine's or the image's choice.
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    public static func build(_ spec: ContainerRunSpec, for engine: EngineKind) -> [String] {
        let spec = spec.launched
        let container = spec.container
        let limits = container.resources
        var argv = ["run", "--rm", "--name", spec.containerName]
        // Keep the tool's stdin attached only when there is input for it.
        if spec.stdin != nil { argv.append("--interactive") }
        argv += [
            "--label", "airlock.execution_id=\(spec.executionID)",
            "--label", "airlock.tool=\(spec.toolName)",
            "--label", "airlock.tenant=\(spec.tenant)",
            "--label", "airlock.owner=\(spec.owner)",
        ]
        argv += ["--network", container.network]
        argv += ["--read-only", "--cap-drop", "ALL"]
        argv += ["--security-opt", "no-new-privileges"]
        argv += ["--security-opt", "seccomp=\(container.seccompProfile)"]
        argv += ["--user", user]
        argv += ["--memory", "\(limits.memoryBytes)", "--memory-swap", "\(limits.memoryBytes)"]
        argv += ["--pids-limit", "\(limits.pids)"]
        argv += ["--cpus", cpus(limits.cpus)]
        argv += ["--ulimit", "nofile=\(limits.openFiles):\(limits.openFiles)"]
        argv += ["--ulimit", "nproc=\(limits.processes):\(limits.processes)"]
        argv += ["--tmpfs", "/tmp:rw,nosuid,nodev,noexec,size=\(limits.tmpfsBytes),mode=1777"]
        argv += ["--pull", "never"]
        argv += ["--workdir", workdir]
        argv += pinnedDefaults(for: engine)
        // Output goes to Airlock through the attached pipes only; no engine-side copy on disk.
        argv += ["--log-driver", "none"]
        if let runtime = spec.runtime {
            argv += ["--runtime", runtime]
            if runtime.hasSuffix("runsc"), engine == .podman {
                // gVisor: its own network stack off, and no cgroup setup it cannot do here. Without
                // oci-seccomp, runsc ignores the OCI seccomp profile: the policy's must apply.
                argv += ["--runtime-flag", "network=none", "--runtime-flag", "ignore-cgroups", "--runtime-flag", "oci-seccomp"]
            }
        }
        var environment = container.environment
        if environment["PATH"] == nil { environment["PATH"] = defaultPath }
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) {
            argv += ["--env", "\(name)=\(value)"]
        }
        for mount in spec.mounts {
            argv += ["--mount", "type=bind,source=\(mount.hostPath),target=\(mount.containerPath)\(mount.writable ? "" : ",readonly")"]
        }
        argv += ["--entrypoint", container.entrypoint[0]]
        argv.append(container.image)
        argv += container.entrypoint.dropFirst()
        argv += spec.arguments
        return argv
    }

    /// Flags that only restate what Airlock expects, so that an engine's configuration
    /// (`containers.conf`, `daemon.json`) cannot widen the sandbox behind the policy's back: no init
    /// process, a private IPC namespace without `/dev/shm` or a writable `/dev/mqueue` (no writable
    /// place beyond the policy's),
    /// a private cgroup namespace. Podman copies its own proxy variables into the container
    /// (`--http-proxy`), mounts writable, executable tmpfs on `/run` and `/var/tmp` under
    /// `--read-only` (`--read-only-tmpfs`), adds `containers.conf`'s `env` and the image's (only
    /// `--unsetenv-all` removes them) and may take the host's whole environment (`env_host`),
    /// share the host's pid or uts namespace (`pidns`, `utsns`), or run systemd mode; and it copies
    /// the host's `/etc/hosts` into every container, even without a network (`--no-hosts`).
    static func pinnedDefaults(for engine: EngineKind) -> [String] {
        // `--ipc none` still mounts a writable `/dev/mqueue`; a read-only tmpfs covers it.
        var argv = ["--init=false", "--ipc", "none", "--cgroupns", "private", "--tmpfs", "/dev/mqueue:ro,nosuid,nodev,noexec,size=4k"]
        if engine == .podman {
            argv += [
                "--http-proxy=false", "--read-only-tmpfs=false", "--unsetenv-all", "--env-host=false", "--systemd=false",
                "--pid", "private", "--uts", "private", "--no-hosts",
            ]
        }
        return argv
    }

    /// `1`, `0.5`: as short as exact.
    static func cpus(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
