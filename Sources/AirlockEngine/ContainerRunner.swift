import AirlockPolicy
import Foundation
import Subprocess
import Synchronization
import SystemPackage

/// Which stream of the tool a chunk of output came from.
public enum OutputStream: String, Sendable {
    case stdout
    case stderr
}

/// How a container run ended.
public enum RunOutcome: Sendable, Hashable {
    /// The tool ran and exited with this status (possibly non-zero: the tool's own failure).
    case exited(Int32)
    /// The deadline passed; the container was killed.
    case timedOut
    /// The caller cancelled; the container was killed.
    case cancelled
    /// The engine could not run the tool (image missing, engine error, entrypoint not runnable).
    case engineFailure(status: Int32, message: String)
}

/// What a run produced: outcome, exact byte counts, the kept output, timing.
public struct RunResult: Sendable {
    public var executionID: String
    public var containerName: String
    public var image: String
    public var outcome: RunOutcome
    public var stdout: OutputCapture
    public var stderr: OutputCapture
    public var durationMilliseconds: Int64
    /// The container was killed by the kernel for exceeding its memory limit (exit 137, not by Airlock).
    public var oomKilled: Bool

    /// The tool's exit status; for a deadline or cancellation, the status the engine reported.
    public var exitCode: Int32
    public var timedOut: Bool { outcome == .timedOut }

    public init(
        executionID: String, containerName: String, image: String, outcome: RunOutcome, stdout: OutputCapture, stderr: OutputCapture,
        durationMilliseconds: Int64, oomKilled: Bool, exitCode: Int32
    ) {
        self.executionID = executionID
        self.containerName = containerName
        self.image = image
        self.outcome = outcome
        self.stdout = stdout
        self.stderr = stderr
        self.durationMilliseconds = durationMilliseconds
        self.oomKilled = oomKilled
        self.exitCode = exitCode
    }
}

/// Runs one container through the engine CLI: drains stdout and stderr concurrently with exact
/// counts and bounded retention, and enforces the deadline by killing the container by name.
public struct ContainerRunner: Sendable {
    public var engine: ContainerEngine
    /// Bytes kept per stream (head and tail); every byte is counted regardless.
    public var retentionBytes: Int
    /// After the deadline, how long the engine CLI gets to exit once the container is killed.
    public var killGrace: Duration = .seconds(5)

    public init(engine: ContainerEngine, retentionBytes: Int = 1 << 20) {
        self.engine = engine
        self.retentionBytes = retentionBytes
    }

    public typealias OutputHandler = @Sendable (OutputStream, UnsafeRawBufferPointer) -> Void

    /// Runs the container to its end. Never throws for the tool's own failure; throws only when the
    /// engine CLI cannot be started at all.
    public func run(_ spec: ContainerRunSpec, output: OutputForwarding? = nil) async throws(EngineError) -> RunResult {
        let argv = RunArguments.build(spec, for: engine.kind)
        let state = RunState()
        let started = ContinuousClock.now
        let retention = retentionBytes
        let engine = self.engine
        let grace = killGrace

        let deadline = Task {
            try await Task.sleep(for: spec.effectiveTimeout)
            guard state.claimEnding(.timedOut) else { return }
            await Self.stop(spec.containerName, engine: engine, state: state, grace: grace)
        }
        defer { deadline.cancel() }

        let stdoutPipe = try PipeDrain()
        let stderrPipe = try PipeDrain()
        let stdinPipe = try PipeFeed()
        let directory = try EngineDirectory()
        defer { directory.remove() }
        // Both streams are drained at once, each on its own thread: neither pipe can fill and stall the
        // tool. The input is written on a thread of its own as well.
        async let stdoutCapture = stdoutPipe.drain(.stdout, retention: retention, forwarding: output)
        async let stderrCapture = stderrPipe.drain(.stderr, retention: retention, forwarding: output)
        async let stdinFed = stdinPipe.feed(spec.stdin ?? [])

        let status: Int32
        do {
            status = try await withTaskCancellationHandler {
                var options = PlatformOptions()
                // Never signal the engine CLI on our own cancellation: the container is stopped by name.
                options.teardownSequence = []
                let result = try await Subprocess.run(
                    .path(FilePath(engine.path)), arguments: Arguments(argv), environment: EngineEnvironment.subprocess,
                    workingDirectory: FilePath(directory.path), platformOptions: options,
                    input: .fileDescriptor(FileDescriptor(rawValue: stdinPipe.readEnd), closeAfterSpawningProcess: true),
                    output: .fileDescriptor(FileDescriptor(rawValue: stdoutPipe.writeEnd), closeAfterSpawningProcess: true),
                    error: .fileDescriptor(FileDescriptor(rawValue: stderrPipe.writeEnd), closeAfterSpawningProcess: true)
                ) { execution in
                    state.setProcess(execution.processIdentifier.value)
                }
                return
                    switch result.terminationStatus {
                    case let .exited(code): code
                    case let .signaled(signal): 128 + signal
                    }
            } onCancel: {
                guard state.claimEnding(.cancelled) else { return }
                Task { await Self.stop(spec.containerName, engine: engine, state: state, grace: grace) }
            }
        } catch {
            stdinPipe.abandon(after: .zero)
            stdoutPipe.abandon(after: .zero)
            stderrPipe.abandon(after: .zero)
            _ = await (stdinFed, stdoutCapture, stderrCapture)
            throw EngineError("could not run \(engine.path): \(error)")
        }
        // The CLI has exited; its output ends when every writer has closed the pipes, or soon after.
        stdinPipe.abandon(after: grace)
        stdoutPipe.abandon(after: grace)
        stderrPipe.abandon(after: grace)
        let captures = await (stdoutCapture, stderrCapture)
        await stdinFed
        state.finish()
        let ending = state.ending
        if ending != nil {
            // Whatever happened to the CLI, leave no container behind. A task of its own: this one
            // may be cancelled, and the removal must still run.
            await Task { await Self.remove(spec.containerName, engine: engine) }.value
        }

        let outcome: RunOutcome
        switch ending {
        case .timedOut: outcome = .timedOut
        case .cancelled: outcome = .cancelled
        case nil:
            if [125, 126, 127].contains(status) {
                outcome = .engineFailure(status: status, message: Self.engineMessage(status: status, stderr: captures.1, image: spec.container.image, engine: engine))
            } else {
                outcome = .exited(status)
            }
        }
        let elapsed = ContinuousClock.now - started
        return RunResult(
            executionID: spec.executionID, containerName: spec.containerName, image: spec.container.image,
            outcome: outcome, stdout: captures.0, stderr: captures.1,
            durationMilliseconds: elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000,
            oomKilled: ending == nil && status == 137, exitCode: status)
    }

    /// Kills the container by name, then, if the CLI is still running after the grace period, the
    /// CLI itself; retries until the run has ended (the container may not exist yet at first).
    static func stop(_ name: String, engine: ContainerEngine, state: RunState, grace: Duration) async {
        let began = ContinuousClock.now
        while !state.isFinished {
            _ = try? await CommandOutput.run(engine.path, ["kill", "--signal", "KILL", name], timeout: .seconds(15))
            if state.isFinished { return }
            if ContinuousClock.now - began > grace, let pid = state.processID {
                kill(pid, SIGKILL)
                _ = try? await CommandOutput.run(engine.path, ["rm", "--force", name], timeout: .seconds(30))
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Removes the container and waits until the engine no longer lists it (docker's `--rm`
    /// removal runs in the daemon after the CLI exits).
    static func remove(_ name: String, engine: ContainerEngine) async {
        let began = ContinuousClock.now
        while ContinuousClock.now - began < .seconds(20) {
            _ = try? await CommandOutput.run(engine.path, ["rm", "--force", name], timeout: .seconds(30))
            let listing = try? await CommandOutput.run(
                engine.path, ["ps", "--all", "--filter", "name=^\(name)$", "--format", "{{.Names}}"], timeout: .seconds(30))
            if let listing, listing.status == 0, listing.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    /// A clear message for the engine's own failures, from what it wrote on stderr.
    static func engineMessage(status: Int32, stderr: OutputCapture, image: String, engine: ContainerEngine) -> String {
        let text = String(decoding: stderr.keptTail.isEmpty ? stderr.keptHead : stderr.keptTail, as: UTF8.self)
        // docker ends its errors with a hint to read its help: the error is the line before.
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("Run '") }
        let lastLine = lines.last ?? ""
        let lowered = text.lowercased()
        if lowered.contains("image not known") || lowered.contains("no such image") || lowered.contains("unable to find image") {
            return "image '\(image)' is not in \(engine.kind.rawValue)'s local store (Airlock never pulls); build it: images/build, or images/README.md for one the operator provides"
        }
        let meaning =
            switch status {
            case 126: "the entrypoint could not be run"
            case 127: "the entrypoint was not found in the image"
            default: "\(engine.kind.rawValue) failed"
            }
        return lastLine.isEmpty ? "\(meaning) (exit \(status))" : "\(meaning) (exit \(status)): \(lastLine)"
    }
}

/// Shared between the run, its deadline and its cancellation handler.
final class RunState: Sendable {
    enum Ending: Sendable { case timedOut, cancelled }

    private struct Fields {
        var ending: Ending?
        var finished = false
        var processID: pid_t?
    }

    private let fields = Mutex(Fields())

    /// The first of deadline and cancellation wins; returns whether this caller won.
    func claimEnding(_ ending: Ending) -> Bool {
        fields.withLock { fields in
            guard fields.ending == nil, !fields.finished else { return false }
            fields.ending = ending
            return true
        }
    }

    var ending: Ending? { fields.withLock { $0.ending } }
    var isFinished: Bool { fields.withLock { $0.finished } }
    var processID: pid_t? { fields.withLock { $0.processID } }
    func setProcess(_ pid: pid_t) { fields.withLock { $0.processID = pid } }
    func finish() { fields.withLock { $0.finished = true } }
}

/// The engine CLI's working directory for one run: new, private, empty, and removed afterwards.
/// conmon before 2.1.13 (Debian 12 ships 2.1.6) creates a file `oom` in podman's working directory
/// when the memory limit kills the tool (containers/conmon#504): never in the caller's directory.
///
/// Its name carries the owner's pid (`airlock-engine-<pid>-XXXXXX`) so that one left by a killed
/// process can be told from a live one's and removed (`removeAbandoned`).
public struct EngineDirectory {
    static let prefix = "airlock-engine-"
    let path: String

    init() throws(EngineError) {
        let parent = Self.parent
        var template = Array((parent + Self.prefix + "\(getpid())-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw EngineError("cannot create a working directory for the engine in \(parent): \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
    }

    /// $TMPDIR, else /tmp, with a trailing slash: what NSTemporaryDirectory() decides, without its
    /// URL round trip on every run.
    public static var parent: String {
        let parent = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return parent.hasSuffix("/") ? parent : parent + "/"
    }

    /// Removes what conmon may have left, then the directory; anything else found there is kept.
    func remove() {
        Self.remove(path)
    }

    /// Whether the directory is gone.
    @discardableResult
    private static func remove(_ path: String) -> Bool {
        unlink(path + "/oom")
        return rmdir(path) == 0
    }

    /// Removes the working directories of processes that died without removing theirs (SIGKILL, a
    /// crash): only real directories of ours (not symlinks, owned by this user) whose pid no longer
    /// runs. A directory holding anything but conmon's `oom` file is kept. Returns the paths removed.
    @discardableResult
    public static func removeAbandoned(in parent: String = Self.parent) -> [String] {
        let parent = parent.hasSuffix("/") ? parent : parent + "/"
        guard let listing = opendir(parent) else { return [] }
        defer { closedir(listing) }
        var removed: [String] = []
        while let entry = readdir(listing) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = ownerPID(name), pid != getpid(), ContainerOwner.noSuchProcess(pid) else { continue }
            var status = stat()
            let path = parent + name
            guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR, status.st_uid == getuid() else { continue }
            if remove(path) { removed.append(path) }
        }
        return removed
    }

    /// The pid in `airlock-engine-<pid>-XXXXXX`; nil for any other name.
    static func ownerPID(_ name: String) -> pid_t? {
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count).split(separator: "-", omittingEmptySubsequences: false)
        guard rest.count == 2, rest[1].count == 6, let pid = pid_t(rest[0]), pid > 0 else { return nil }
        return pid
    }
}
