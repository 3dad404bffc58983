import Foundation

/// The probes behind `airlock doctor`.
public enum EngineChecks {
    /// Why the runtime will not work here, or nil when it should.
    public static func runtimeProblem(
        _ runtime: String, engine: CommandLineEngine, cgroupRoot: String = "/sys/fs/cgroup",
        searchPath: String = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    ) -> String? {
        let name = (runtime as NSString).lastPathComponent
        if engine.kind == .podman, !runtime.hasPrefix("/"), name != "default",
            EngineResolver.executablePath(name, searchPath: searchPath) == nil
        {
            return "\(runtime) is not installed (apt-get install \(name == "runsc" ? "runsc" : name))"
        }
        if runtime.hasPrefix("/"), !FileManager.default.isExecutableFile(atPath: runtime) {
            return "\(runtime) does not exist or is not executable"
        }
        if name == "crun", !isUnifiedCgroup(root: cgroupRoot) {
            return "crun fails on hybrid or v1 cgroups (`cgroups in hybrid mode not supported`); set `runtime: runc` in the policy or pass --runtime runc"
        }
        return nil
    }

    /// cgroup v2 only: `cgroup.controllers` at the root of the hierarchy.
    public static func isUnifiedCgroup(root: String) -> Bool {
        FileManager.default.fileExists(atPath: root + "/cgroup.controllers")
    }

    public static func seccompSupported(_ engine: CommandLineEngine) async -> Bool {
        let format = engine.kind == .podman ? "{{.Host.Security.SECCOMPEnabled}}" : "{{json .SecurityOptions}}"
        guard let info = try? await CommandOutput.run(engine.path, ["info", "--format", format], timeout: .seconds(30)), info.status == 0 else {
            return false
        }
        return engine.kind == .podman ? info.stdout.contains("true") : info.stdout.contains("seccomp")
    }

    public static func imagePresent(_ image: String, engine: CommandLineEngine) async -> Bool {
        let inspect = try? await CommandOutput.run(engine.path, ["image", "inspect", "--format", "{{.Id}}", image], timeout: .seconds(30))
        return inspect?.status == 0
    }
}
