import AirlockEngine
import Foundation
import Testing

@Suite("Resolving the container CLI")
struct EngineResolverTests {
    /// A directory holding fake `podman` and `docker` executables (never run: locate only).
    static func binDirectory(_ names: [String]) throws -> String {
        let directory = NSTemporaryDirectory() + "airlock-bin-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in names {
            _ = FileManager.default.createFile(atPath: "\(directory)/\(name)", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        }
        return directory
    }

    @Test("order: explicit, then AIRLOCK_CONTAINER_CLI, then podman, then docker on PATH")
    func order() throws {
        let both = try Self.binDirectory(["podman", "docker"])
        let onlyDocker = try Self.binDirectory(["docker"])
        #expect(try EngineResolver(explicit: nil, environment: ["PATH": both]).locate().kind == .podman)
        #expect(try EngineResolver(explicit: nil, environment: ["PATH": onlyDocker]).locate().kind == .docker)
        #expect(try EngineResolver(explicit: nil, environment: ["PATH": both, "AIRLOCK_CONTAINER_CLI": "docker"]).locate().kind == .docker)
        #expect(try EngineResolver(explicit: "docker", environment: ["PATH": both, "AIRLOCK_CONTAINER_CLI": "podman"]).locate().kind == .docker)
        #expect(try EngineResolver(explicit: "\(onlyDocker)/docker", environment: ["PATH": both]).locate().path == "\(onlyDocker)/docker")
    }

    @Test("by default the resolver reads this process's AIRLOCK_CONTAINER_CLI and PATH")
    func processEnvironment() throws {
        // Read only: setenv while other tests spawn engines would race with their reads of environ.
        let environment = ProcessInfo.processInfo.environment
        let resolver = EngineResolver()
        #expect(resolver.environment["PATH"] == environment["PATH"])
        #expect(resolver.environment["AIRLOCK_CONTAINER_CLI"] == environment["AIRLOCK_CONTAINER_CLI"])
    }

    @Test("no engine: the error says what was tried and how to fix it")
    func missing() throws {
        let empty = try Self.binDirectory([])
        #expect {
            _ = try EngineResolver(explicit: nil, environment: ["PATH": empty]).locate()
        } throws: { error in
            let text = "\(error)"
            return text.contains("podman (from PATH): not found") && text.contains("docker (from PATH): not found")
                && text.contains("apt-get install podman")
        }
        #expect {
            _ = try EngineResolver(explicit: "/nonexistent/podman", environment: ["PATH": empty]).locate()
        } throws: { error in
            "\(error)".contains("/nonexistent/podman (from --engine): not found")
        }
        let other = try Self.binDirectory(["nerdctl"])
        #expect(throws: EngineError.self) { try EngineResolver(explicit: "\(other)/nerdctl", environment: [:]).locate() }
    }
}

@Suite("airlock doctor's runtime check")
struct RuntimeCheckTests {
    @Test("crun on hybrid cgroups is reported with the fix; on cgroup v2 it is fine")
    func crunOnHybridCgroups() throws {
        let bin = try EngineResolverTests.binDirectory(["crun", "runc"])
        let hybrid = NSTemporaryDirectory() + "airlock-cgroup-\(UUID().uuidString)"
        let unified = NSTemporaryDirectory() + "airlock-cgroup-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: hybrid, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: unified, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: unified + "/cgroup.controllers", contents: Data())
        let podman = CommandLineEngine(kind: .podman, path: "/usr/bin/podman", version: "4.3.1")
        let problem = EngineChecks.runtimeProblem("crun", engine: podman, cgroupRoot: hybrid, searchPath: bin)
        #expect(problem?.contains("crun fails on hybrid or v1 cgroups") == true)
        #expect(problem?.contains("runtime: runc") == true)
        #expect(EngineChecks.runtimeProblem("crun", engine: podman, cgroupRoot: unified, searchPath: bin) == nil)
        #expect(EngineChecks.runtimeProblem("runc", engine: podman, cgroupRoot: hybrid, searchPath: bin) == nil)
        #expect(EngineChecks.runtimeProblem("runsc", engine: podman, cgroupRoot: hybrid, searchPath: bin)?.contains("not installed") == true)
    }
}
