import Foundation
import Subprocess
import SystemPackage

/// A resolved, probed container CLI, podman or docker: the engine Airlock runs containers with.
public struct CommandLineEngine: ContainerEngine, Hashable, Codable {
    public var kind: EngineKind
    /// Absolute path of the binary.
    public var path: String
    /// As the binary reports it: `4.3.1`.
    public var version: String
    /// The engine's default OCI runtime (`runc`, `crun`), when the probe could tell.
    public var defaultRuntime: String?

    public init(kind: EngineKind, path: String, version: String, defaultRuntime: String? = nil) {
        self.kind = kind
        self.path = path
        self.version = version
        self.defaultRuntime = defaultRuntime
    }

    /// The line operators grep for.
    public var resolvedLogLine: String {
        "Container CLI resolved binary=\(kind.rawValue) version=\(version)"
    }

    /// `podman run` / `docker run` with the spec's hardened argv (`RunArguments`), no shell, in a new
    /// private working directory (`EngineDirectory`), with the curated environment (`EngineEnvironment`).
    public func launch(_ spec: ContainerRunSpec, streams: LaunchStreams, launched: @escaping @Sendable (pid_t) -> Void) async throws(EngineError)
        -> Int32
    {
        let directory: EngineDirectory
        do {
            directory = try EngineDirectory()
        } catch {
            streams.close()
            throw error
        }
        defer { directory.remove() }
        do {
            var options = PlatformOptions()
            // Never signal the engine CLI on our own cancellation: the container is stopped by name.
            options.teardownSequence = []
            let result = try await Subprocess.run(
                .path(FilePath(path)), arguments: Arguments(RunArguments.build(spec, for: kind)), environment: EngineEnvironment.subprocess,
                workingDirectory: FilePath(directory.path), platformOptions: options,
                input: .fileDescriptor(FileDescriptor(rawValue: streams.stdin), closeAfterSpawningProcess: true),
                output: .fileDescriptor(FileDescriptor(rawValue: streams.stdout), closeAfterSpawningProcess: true),
                error: .fileDescriptor(FileDescriptor(rawValue: streams.stderr), closeAfterSpawningProcess: true)
            ) { execution in
                launched(execution.processIdentifier.value)
            }
            return
                switch result.terminationStatus {
                case let .exited(code): code
                case let .signaled(signal): 128 + signal
                }
        } catch {
            throw EngineError("could not run \(path): \(error)")
        }
    }

    public func kill(containerNamed name: String) async {
        _ = try? await CommandOutput.run(path, ["kill", "--signal", "KILL", name], timeout: .seconds(15))
    }

    /// The CLI itself is killed (it may hang on a container that is gone), then the container removed.
    public func forceStop(containerNamed name: String, process: pid_t?) async {
        if let process { Foundation.kill(process, SIGKILL) }
        _ = try? await CommandOutput.run(path, ["rm", "--force", name], timeout: .seconds(30))
    }

    /// Waits until the engine no longer lists the container: docker's `--rm` removal runs in the
    /// daemon after the CLI exits.
    public func remove(containerNamed name: String) async {
        let began = ContinuousClock.now
        while ContinuousClock.now - began < .seconds(20) {
            _ = try? await CommandOutput.run(path, ["rm", "--force", name], timeout: .seconds(30))
            let listing = try? await CommandOutput.run(
                path, ["ps", "--all", "--filter", "name=^\(name)$", "--format", "{{.Names}}"], timeout: .seconds(30))
            if let listing, listing.status == 0, listing.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Kills and removes the container by name, if it exists, and waits until the engine no longer
    /// lists it. (Killed first: `rm --force` alone gives podman's stop timeout of 10 s.)
    public func removeContainer(named name: String) async {
        await kill(containerNamed: name)
        await remove(containerNamed: name)
    }
}
