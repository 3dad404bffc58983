import Foundation

/// Finds the container CLI: an explicit setting, then `AIRLOCK_CONTAINER_CLI`, then `podman` on
/// PATH, then `docker`. A name is looked up on PATH; a path is used as given.
public struct EngineResolver: Sendable {
    public static let environmentVariable = "AIRLOCK_CONTAINER_CLI"

    public var explicit: String?
    public var environment: [String: String]

    /// `environment`: the variables it reads (AIRLOCK_CONTAINER_CLI, PATH); by default this process's.
    public init(explicit: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.explicit = explicit
        self.environment = environment
    }

    /// The candidates in order, each with where the choice came from.
    var candidates: [(name: String, source: String)] {
        if let explicit, !explicit.isEmpty { return [(explicit, "--engine")] }
        if let fromEnvironment = environment[Self.environmentVariable], !fromEnvironment.isEmpty {
            return [(fromEnvironment, Self.environmentVariable)]
        }
        return [("podman", "PATH"), ("docker", "PATH")]
    }

    /// The binary to use: its path and its kind, without running it.
    public func locate() throws(EngineError) -> (path: String, kind: EngineKind) {
        var tried: [String] = []
        for (name, source) in candidates {
            guard let path = Self.executablePath(name, searchPath: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin") else {
                tried.append("\(name) (from \(source)): not found\(name.contains("/") ? "" : " on PATH") or not executable")
                continue
            }
            guard let kind = Self.kind(ofBinaryAt: path) else {
                tried.append("\(name) (from \(source)) at \(path): not podman or docker")
                continue
            }
            return (path, kind)
        }
        throw EngineError(
            "no container engine found; tried: \(tried.joined(separator: "; ")). Install podman (apt-get install podman runc) or docker.io, or name one with --engine or \(Self.environmentVariable)")
    }

    /// Locates the binary and probes it: `--version`, and its default OCI runtime.
    ///
    /// With `cache`, a version probe of the same binary (same path, inode, size and modification
    /// time) is reused: `podman --version` costs a good part of a whole `podman run`.
    public func resolve(probeRuntime: Bool = true, cache: EngineProbeCache? = nil) async throws(EngineError) -> CommandLineEngine {
        let (path, kind) = try locate()
        if !probeRuntime, let cache, let cached = cache.lookup(path: path), cached.kind == kind { return cached }
        let engine = try await Self.probe(path: path, kind: kind, probeRuntime: probeRuntime)
        cache?.store(engine)
        return engine
    }

    public static func probe(path: String, kind: EngineKind, probeRuntime: Bool) async throws(EngineError) -> CommandLineEngine {
        let versionRun: CommandOutput
        do {
            versionRun = try await CommandOutput.run(path, ["--version"], timeout: .seconds(20))
        } catch {
            throw EngineError("\(path) --version could not run: \(error)")
        }
        guard versionRun.status == 0, let version = parseVersion(versionRun.stdout) else {
            throw EngineError(
                "\(path) --version failed (exit \(versionRun.status)): \(versionRun.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        var engine = CommandLineEngine(kind: kind, path: path, version: version)
        if probeRuntime {
            let format = kind == .podman ? "{{.Host.OCIRuntime.Name}}" : "{{.DefaultRuntime}}"
            let info = try? await CommandOutput.run(path, ["info", "--format", format], timeout: .seconds(30))
            guard let info, info.status == 0 else {
                let reason = info.map { $0.stderr.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "did not run"
                throw EngineError(
                    "\(path) info failed: \(reason)\(kind == .docker ? " (is the Docker daemon running? start it with `dockerd &` or `systemctl start docker`)" : "")")
            }
            let runtime = info.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            engine.defaultRuntime = runtime.isEmpty ? nil : runtime
        }
        return engine
    }

    /// `podman version 4.3.1` -> `4.3.1`; `Docker version 28.2.2, build e6534b4` -> `28.2.2`.
    static func parseVersion(_ output: String) -> String? {
        let words = output.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," })
        guard let index = words.firstIndex(where: { $0.lowercased() == "version" }), index + 1 < words.count else { return nil }
        return String(words[index + 1])
    }

    /// podman or docker, by the binary's name (a symlink named `docker` to podman is podman's
    /// business: the name says which flags its user expects).
    static func kind(ofBinaryAt path: String) -> EngineKind? {
        let name = (path as NSString).lastPathComponent
        let resolvedName = ((try? FileManager.default.destinationOfSymbolicLink(atPath: path)).map { ($0 as NSString).lastPathComponent })
        for candidate in [name, resolvedName].compactMap(\.self) {
            if candidate.hasPrefix("podman") { return .podman }
            if candidate.hasPrefix("docker") { return .docker }
        }
        return nil
    }

    static func executablePath(_ name: String, searchPath: String) -> String? {
        if name.contains("/") {
            return FileManager.default.isExecutableFile(atPath: name) ? name : nil
        }
        for directory in searchPath.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
                FileManager.default.isExecutableFile(atPath: candidate)
            {
                return candidate
            }
        }
        return nil
    }
}
