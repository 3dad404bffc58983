import AirlockPolicy
import Foundation
import Synchronization

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

/// Runs one container on an engine: drains stdout and stderr concurrently with exact counts and
/// bounded retention, and enforces the deadline and cancellation by killing the container by name.
public struct ContainerRunner: Sendable {
    public var engine: any ContainerEngine
    /// Bytes kept per stream (head and tail); every byte is counted regardless.
    public var retentionBytes: Int
    /// After the deadline, how long the engine gets to end the launch once the container is killed.
    public var killGrace: Duration = .seconds(5)

    public init(engine: any ContainerEngine, retentionBytes: Int = 1 << 20) {
        self.engine = engine
        self.retentionBytes = retentionBytes
    }

    public typealias OutputHandler = @Sendable (OutputStream, UnsafeRawBufferPointer) -> Void

    /// Runs the container to its end. Never throws for the tool's own failure; throws only when the
    /// engine cannot launch it at all.
    ///
    /// - Parameter secrets: their values are replaced (`[REDACTED:NAME]`) in the output kept and
    ///   forwarded, and in the engine's messages; the byte counts are the tool's own.
    public func run(_ spec: ContainerRunSpec, output: OutputForwarding? = nil, secrets: SecretValues = .none) async throws(EngineError) -> RunResult {
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
        // Both streams are drained at once, each on its own thread: neither pipe can fill and stall the
        // tool. The input is written on a thread of its own as well.
        let redactor = secrets.isEmpty ? nil : secrets.redactor
        async let stdoutCapture = stdoutPipe.drain(.stdout, retention: retention, forwarding: output, redactor: redactor)
        async let stderrCapture = stderrPipe.drain(.stderr, retention: retention, forwarding: output, redactor: redactor)
        async let stdinFed = stdinPipe.feed(spec.stdin ?? [])

        let launch = await withTaskCancellationHandler { () async -> Result<Int32, EngineError> in
            do throws(EngineError) {
                return .success(
                    try await engine.launch(
                        spec, streams: LaunchStreams(stdin: stdinPipe.readEnd, stdout: stdoutPipe.writeEnd, stderr: stderrPipe.writeEnd),
                        launched: { state.setProcess($0) }))
            } catch {
                return .failure(error)
            }
        } onCancel: {
            guard state.claimEnding(.cancelled) else { return }
            Task { await Self.stop(spec.containerName, engine: engine, state: state, grace: grace) }
        }
        let status: Int32
        switch launch {
        case let .success(exited): status = exited
        case let .failure(error):
            stdinPipe.abandon(after: .zero)
            stdoutPipe.abandon(after: .zero)
            stderrPipe.abandon(after: .zero)
            _ = await (stdinFed, stdoutCapture, stderrCapture)
            // Ends a deadline's or a cancellation's stop, which retries until the run has finished.
            state.finish()
            throw error
        }
        // The launch has ended; its output ends when every writer has closed the pipes, or soon after.
        stdinPipe.abandon(after: grace)
        stdoutPipe.abandon(after: grace)
        stderrPipe.abandon(after: grace)
        let captures = await (stdoutCapture, stderrCapture)
        await stdinFed
        state.finish()
        let ending = state.ending
        if ending != nil {
            // Whatever happened to the launch, leave no container behind. A task of its own: this one
            // may be cancelled, and the removal must still run.
            await Task { await engine.remove(containerNamed: spec.containerName) }.value
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

    /// Kills the container by name, then, if the launch is still running after the grace period,
    /// forces it to end; retries until the run has ended (the container may not exist yet at first).
    static func stop(_ name: String, engine: any ContainerEngine, state: RunState, grace: Duration) async {
        let began = ContinuousClock.now
        while !state.isFinished {
            await engine.kill(containerNamed: name)
            if state.isFinished { return }
            if ContinuousClock.now - began > grace { await engine.forceStop(containerNamed: name, process: state.processID) }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    /// A clear message for the engine's own failures, from what it wrote on stderr.
    static func engineMessage(status: Int32, stderr: OutputCapture, image: String, engine: any ContainerEngine) -> String {
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
