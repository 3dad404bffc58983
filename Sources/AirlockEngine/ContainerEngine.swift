import Foundation

/// Which container CLI Airlock drives. Their flags agree on nearly everything Airlock passes;
/// where they differ, `RunArguments` spells each the way it understands.
public enum EngineKind: String, Sendable, Codable, CaseIterable {
    case podman
    case docker
}

/// What running one container needs from an engine: launch it and wait for its end, kill it by
/// name, remove it. `ContainerRunner` does the rest, the same whatever the engine: the deadline
/// and cancellation, draining and counting the output, telling the tool's failures from the
/// engine's. `CommandLineEngine` drives podman or docker; tests put an engine of their own here to
/// run the invocation pipeline without one.
public protocol ContainerEngine: Sendable {
    var kind: EngineKind { get }
    /// The engine's binary: an attestation is kept only as long as it is unchanged.
    var path: String { get }
    /// As the engine reports it (`4.3.1`); recorded on every `CliToolInvocationStarted`.
    var version: String { get }

    /// Runs the container to its end and returns the status the engine exited with: the tool's own,
    /// 125, 126 or 127 for the engine's failures, 128 + N when signal N ended it.
    ///
    /// The launch owns `streams` and closes them (at the latest when it returns, launched or not):
    /// the run's output ends when the last writer closes. `launched` is given the process whose end
    /// is the run's end, if there is one, for `forceStop`. Task cancellation does not end a launch:
    /// the runner kills the container by name, and the launch returns when the container is gone.
    ///
    /// - Throws: `EngineError` when the container could not be launched at all (nothing ran). A
    ///   tool's failure, a killed container or the engine's own failure to start it are statuses.
    func launch(_ spec: ContainerRunSpec, streams: LaunchStreams, launched: @escaping @Sendable (pid_t) -> Void) async throws(EngineError)
        -> Int32

    /// Kills the container by name (SIGKILL). It may not exist yet, or not any more.
    func kill(containerNamed name: String) async

    /// Ends a launch that killing its container did not end: `process` (from `launched`) is killed and
    /// the container removed by force.
    func forceStop(containerNamed name: String, process: pid_t?) async

    /// Removes the container, if it exists, and returns once the engine no longer lists it.
    func remove(containerNamed name: String) async
}

/// The descriptors a launch hands the container as its stdin, stdout and stderr: pipes of the
/// runner's, whose other ends it feeds and drains.
public struct LaunchStreams: Sendable {
    public var stdin: Int32
    public var stdout: Int32
    public var stderr: Int32

    public init(stdin: Int32, stdout: Int32, stderr: Int32) {
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Closes all three (a launch that cannot start; one that has ended).
    public func close() {
        for descriptor in [stdin, stdout, stderr] { _ = Foundation.close(descriptor) }
    }
}

/// Why no usable container engine was found; says what was tried and how to fix it.
public struct EngineError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
