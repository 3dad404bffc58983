import AirlockPolicy
import Foundation

/// Attests each tool's sandbox once per settings and engine, and remembers the outcome.
///
/// The canary costs a container run, as much as the tool's own: it runs again whenever what could
/// change its answer changes. The key is the canary's whole engine argv (every flag the tool's
/// settings give), the engine's path and version, the identity of the seccomp profile and the
/// probe, and the identity of every configuration file of the engine (`EngineConfiguration`): an
/// edited `containers.conf`, a restarted docker daemon or a new engine binary is another key, and
/// the canary runs again at the next invocation. With a directory (`airlock run`, one process per
/// call), attestations that held are kept there across processes. A sandbox that differs is never
/// kept: it is attested again, and refused again, at every invocation.
public actor SandboxAttestor {
    /// The probe; nil: found at the first attestation (`InContainerProgram.probe`).
    public let probePath: String?
    /// The egress forwarder; nil: found when a tool with egress is first attested.
    public let forwarderPath: String?
    /// Where attestations that held are kept across processes; nil: this process only.
    public let directory: String?
    private var attested: [String: SandboxAttestation] = [:]
    /// The latest attestation per tool name, for readiness.
    private var latest: [String: SandboxAttestation] = [:]
    /// Why the probe could not be found, if it could not: no tool can be attested.
    private var probeProblem: String?

    public init(probePath: String? = nil, forwarderPath: String? = nil, directory: String? = nil) {
        self.probePath = probePath
        self.forwarderPath = forwarderPath
        self.directory = directory
    }

    /// The attestation of this tool's settings on this engine: remembered, or the canary's now.
    public func attestation(
        tool: String, container: ContainerSpec, runtimeOverride: String? = nil, engine: any ContainerEngine
    ) async throws(EngineError) -> SandboxAttestation {
        let probe: String
        if let probePath {
            probe = probePath
        } else {
            do {
                probe = try InContainerProgram.probe.locate()
                probeProblem = nil
            } catch {
                probeProblem = error.description
                throw error
            }
        }
        let canary = SandboxCanary(engine: engine, probePath: probe, forwarderPath: container.egress == nil ? nil : try egressForwarder())
        let key = Self.key(canary: canary, container: container, runtimeOverride: runtimeOverride)
        if let known = attested[key] { return known }
        let fileKey = directory == nil ? nil : key
        if let fileKey, let digest = readKept(fileKey) {
            let kept = SandboxAttestation(tool: tool, checks: [], digest: digest)
            attested[key] = kept
            return kept
        }
        let attestation = try await canary.attest(tool: tool, container: container, runtimeOverride: runtimeOverride)
        latest[tool] = attestation
        if attestation.holds {
            attested[key] = attestation
            if let fileKey { keep(attestation.digest, as: fileKey) }
        }
        return attestation
    }

    /// The egress forwarder the canary and every tool with egress run: one binary for both, so
    /// what the canary attested is what the tool gets.
    ///
    /// - Throws: `EngineError` when it cannot be found.
    public nonisolated func egressForwarder() throws(EngineError) -> String {
        if let forwarderPath { return forwarderPath }
        return try InContainerProgram.egressForwarder.locate()
    }

    /// Attests every tool of the policy (worker start, SIGHUP, `airlock doctor`); never throws:
    /// each tool's outcome is in `problems` and in the result.
    @discardableResult
    public func attestAll(_ tools: [String: ContainerSpec], engine: any ContainerEngine) async -> [String: Result<SandboxAttestation, EngineError>] {
        var outcomes: [String: Result<SandboxAttestation, EngineError>] = [:]
        for (name, container) in tools.sorted(by: { $0.key < $1.key }) {
            do {
                outcomes[name] = .success(try await attestation(tool: name, container: container, engine: engine))
            } catch {
                outcomes[name] = .failure(error)
            }
        }
        return outcomes
    }

    /// Forgets every attestation of this process (SIGHUP: the policy may have changed, and the
    /// engine's configuration with it); the tools attested next run the canary again.
    public func forget() {
        attested = [:]
        latest = [:]
    }

    /// What makes the worker not ready: each tool whose sandbox was found other than the policy
    /// asks, with the differences, or a probe that cannot be found. A canary that could not run
    /// (the tool's image missing) leaves that tool refused at each call, as an unavailable tool,
    /// without making the others wait.
    public var problems: [String: String] {
        if let probeProblem { return ["probe": probeProblem] }
        return latest.filter { !$0.value.holds }.mapValues(\.differences)
    }

    static func key(canary: SandboxCanary, container: ContainerSpec, runtimeOverride: String?) -> String {
        // Names and labels aside: tools with the same settings share one attestation.
        var spec = canary.spec(tool: "-", container: container, runtimeOverride: runtimeOverride)
        spec.executionID = "canary"
        spec.owner = ContainerOwner(host: "-", pid: 0)
        let argv = RunArguments.build(spec, for: canary.engine.kind)
        let parts =
            [canary.engine.path, canary.engine.version] + argv
            + [EngineConfiguration.identity(of: container.seccompProfile), EngineConfiguration.identity(of: canary.probePath)]
            + (canary.forwarderPath.map { [EngineConfiguration.identity(of: $0)] } ?? [])
            + [EngineConfiguration.fingerprint(canary.engine)]
        return PolicyDigest.sha256(Array(parts.joined(separator: "\u{0}").utf8))
    }

    private func path(_ fileKey: String) -> String? {
        directory.map { $0 + "/" + fileKey.replacingOccurrences(of: "sha256:", with: "") }
    }

    private func readKept(_ fileKey: String) -> String? {
        guard let path = path(fileKey), let data = FileManager.default.contents(atPath: path) else { return nil }
        let digest = String(decoding: data, as: UTF8.self)
        return digest.hasPrefix("sha256:") && digest.utf8.count == 71 ? digest : nil
    }

    private func keep(_ digest: String, as fileKey: String) {
        guard let directory, let path = path(fileKey) else { return }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        // Written whole, then renamed: a reader never sees half a file.
        let temporary = path + ".\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(digest.utf8)) else { return }
        if rename(temporary, path) != 0 { unlink(temporary) }
    }
}

/// The files and variables through which a host configures its engine's containers, and their
/// identities: what must be unchanged for a kept attestation to still stand.
public enum EngineConfiguration {
    /// Files and directories read by podman (containers.conf and its drop-ins, default mounts, OCI
    /// hooks) and by docker (the daemon's configuration and process, the CLI's configuration).
    static func paths(for engine: any ContainerEngine) -> [String] {
        let environment = ProcessInfo.processInfo.environment
        let home = environment["HOME"] ?? "/root"
        let config = environment["XDG_CONFIG_HOME"] ?? home + "/.config"
        switch engine.kind {
        case .podman:
            return [
                "/usr/share/containers/containers.conf", "/etc/containers/containers.conf", "/usr/share/containers/containers.conf.d",
                "/etc/containers/containers.conf.d", config + "/containers/containers.conf", config + "/containers/containers.conf.d",
                "/usr/share/containers/mounts.conf", "/etc/containers/mounts.conf", config + "/containers/mounts.conf",
                "/usr/share/containers/oci/hooks.d", "/etc/containers/oci/hooks.d", "/etc/containers/storage.conf",
            ] + (environment["CONTAINERS_CONF"].map { [$0] } ?? [])
        case .docker:
            return [
                "/etc/docker/daemon.json", "/var/run/docker.pid", "/run/docker.pid",
                (environment["DOCKER_CONFIG"] ?? home + "/.docker") + "/config.json",
            ]
        }
    }

    /// The engine binary's identity, each configuration path's (a directory's entries too), and
    /// the variables that choose which engine and configuration are used.
    public static func fingerprint(_ engine: any ContainerEngine) -> String {
        var lines = [identity(of: engine.path)]
        for path in paths(for: engine) {
            lines.append(identity(of: path))
            if let entries = try? FileManager.default.contentsOfDirectory(atPath: path) {
                lines += entries.sorted().map { identity(of: path + "/" + $0) }
            }
        }
        for (name, value) in EngineEnvironment.current.sorted(by: { $0.key < $1.key }) where name.hasPrefix("CONTAINER") || name.hasPrefix("DOCKER") {
            lines.append("\(name)=\(value)")
        }
        return lines.joined(separator: "\n")
    }

    /// `path dev:inode:size:mtime`, or `path absent`.
    static func identity(of path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return path + " absent" }
        return "\(path) \(info.st_dev):\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
    }
}
