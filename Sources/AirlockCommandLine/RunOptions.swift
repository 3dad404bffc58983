import AirlockEngine
import AirlockEvents
import AirlockInvocation
import AirlockPolicy
import AirlockSeccomp
import ArgumentParser
import Foundation
import Logging

/// `airlock run`: judge, then run the tool in its hardened container. Its options and its whole
/// run, shared by the two executables: `airlock run`, and `airlock-worker` to which `airlock`
/// hands the run of a tool with egress (the egress proxy is SwiftNIO's, which `airlock` does not
/// link; see docs/architecture.md). One code path either way.
public struct RunOptions: ParsableArguments, Sendable {
    /// How this executable runs a tool whose policy lists `egress`.
    public enum EgressSupport: Sendable {
        /// With this gateway (the worker executable).
        case gateway(any EgressGateway)
        /// By replacing this process with one that has a gateway, given the arguments after `run`.
        case handOver(@Sendable ([String]) -> Never)
    }

    /// argv[0] of `airlock-worker` when `airlock run` hands it a run.
    public static let workerName = "airlock run"

    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Judge a command, then run it in the tool's hardened container.",
        discussion: """
            Text mode passes the tool's stdout and stderr through and exits with the tool's status. \
            Airlock's own statuses: 3 denied (reason on stderr), 2 refused before launch (policy, \
            mount, seccomp profile or engine problem), 124 deadline passed, 125 the engine could not \
            run the tool (missing image, engine error), 130 cancelled.

            Secrets the tool's policy entry declares are read from a file (--secret NAME=@FILE, its \
            bytes exactly) or from Airlock's environment (--secret NAME=env:VARIABLE), never from the \
            command line; their values are redacted from the tool's output.

            Example: airlock run --context readonly --mount /srv/repo:/workspace -- git log --oneline
            """
    )

    @Option(name: .customLong("mount"), help: "HOST:PATH[:ro|rw], inside the tool's mount roots; repeatable.")
    public var mounts: [String] = []

    @Option(name: .customLong("secret"), help: "NAME=@FILE or NAME=env:VARIABLE: a secret the tool declares; repeatable.")
    public var secrets: [String] = []

    @Option(help: "Seconds; may only shorten the policy's timeout.")
    public var timeout: Double?

    @Option(help: "podman or docker, a name or a path (default: $AIRLOCK_CONTAINER_CLI, then podman, then docker).")
    public var engine: String?

    @Option(help: "OCI runtime for the container (runc, crun, /usr/bin/runsc); overrides the policy.")
    public var runtime: String?

    @Option(help: "Bytes kept per stream in JSON mode (head and tail); every byte is counted regardless.")
    public var retain: Int = 1 << 20

    @OptionGroup public var audit: AuditOptions

    @OptionGroup public var request: CommandRequestOptions

    public init() {}

    public func validate() throws {
        try request.validate(example: "run")
        if let timeout, !(timeout > 0) { throw ValidationError("--timeout must be a positive number of seconds") }
        if retain < 0 { throw ValidationError("--retain cannot be negative") }
        var names: Set<String> = []
        for text in secrets {
            let secret = try SecretArgument(parsing: text)
            guard names.insert(secret.name).inserted else { throw ValidationError("--secret \(secret.name) is given twice") }
        }
    }

    /// The whole run, to the exit.
    public func run(egress: EgressSupport) async throws {
        do {
            // Whose invocations are this run's to reconcile after a crash: this state directory's.
            try ContainerOwner.adoptInstance(stateDirectory: audit.resolvedStateDirectory)
        } catch {
            try refuse("\(error)", decision: nil)
        }
        // The audit store opens while the policy loads: the store's I/O overlaps the policy's parsing.
        async let openedTrail = audit.openTrail(.oneShot, logger: Self.logger)
        let loaded: Policy
        do {
            loaded = try PolicyFiles.loader.load(path: request.policy)
        } catch {
            PolicyFiles.report(error)
            throw ExitStatus.error
        }
        let command = request.command
        let mountRequests: [MountRequest]
        do {
            mountRequests = try mounts.map { text throws(MountError) in try MountRequest(parsing: text) }
        } catch {
            try refuse("\(error)", decision: nil)
        }
        let secretValues: SecretValues
        let fingerprints: SecretFingerprints
        do {
            secretValues = try SecretArgument.values(secrets.map { text throws(ValidationError) in try SecretArgument(parsing: text) })
            fingerprints = secretValues.isEmpty ? SecretFingerprints() : try SecretFingerprints.load(stateDirectory: audit.resolvedStateDirectory)
        } catch {
            try refuse("\(error)", decision: nil)
        }
        let invocation = InvocationRequest(
            toolName: command[0], rawArguments: CommandRequestOptions.rawArguments(expected: command), tenantID: request.tenant,
            securityContext: request.context, mounts: mountRequests, timeout: timeout.map { .milliseconds(Int64($0 * 1000)) },
            runtimeOverride: runtime, secrets: secretValues)
        let judge = Judge(policy: loaded)
        let trail = try await openedTrail
        if case let .handOver(handOver) = egress, Self.needsEgress(invocation, policy: loaded) {
            // The audit store is open (nothing half-written is left to the exec); the worker
            // executable does the whole run, judging included.
            handOver(Array(CommandLine.arguments.drop { $0 != "run" }.dropFirst()))
        }
        // Events a previous run could not commit go first, in their order.
        if !trail.spool.isEmpty { await trail.deliverSpool() }
        // Attestations that held are kept in the state directory: one process per call, and the
        // canary costs as much as the tool's own run.
        let sandbox = SandboxAttestor(directory: audit.resolvedStateDirectory + "/sandbox")
        let explicitEngine = engine
        let pipeline = InvocationPipeline(
            // Asked for only once the command is allowed (a denial needs no engine); then what a
            // previous run left open is closed before this one launches.
            engine: { () async throws(EngineError) -> any ContainerEngine in
                let resolved = try await EngineResolver(explicit: explicitEngine).resolve(probeRuntime: false, cache: .standard())
                Self.logger.info("\(resolved.resolvedLogLine)")
                await Recovery(trail: trail, logger: Self.logger).run(engine: resolved, thorough: false)
                return resolved
            },
            trail: trail, sandbox: sandbox, retentionBytes: request.format == .json ? retain : 0, logger: Self.logger,
            fingerprints: fingerprints, egress: { if case let .gateway(gateway) = egress { gateway } else { nil } }(),
            loadProfile: { path throws(SeccompProfileError) in
                try PolicyFiles.seccompProfile(path).reference
            })

        var output: OutputForwarding?
        if request.format == .text {
            // A reader of ours that goes away (`airlock run … | head`) must not kill us with SIGPIPE
            // before the invocation's end is recorded: writes fail with EPIPE instead, and the
            // tool's output is still drained and counted to its end.
            signal(SIGPIPE, SIG_IGN)
            // Larger pipes to our reader mean fewer wake-ups on both sides (fails harmlessly when
            // stdout is not a pipe); the output is spliced to ours without being copied through us,
            // unless there are secrets: then every chunk goes through the redactor.
            for descriptor in [STDOUT_FILENO, STDERR_FILENO] { EnginePipe.enlarge(descriptor, to: 1 << 20) }
            output = .descriptors(stdout: STDOUT_FILENO, stderr: STDERR_FILENO)
        }
        // SIGINT and SIGTERM cancel the invocation: the container is killed and its end recorded.
        let running = Task { await pipeline.invoke(invocation, judge: judge, output: output) }
        let signals = CancellationSignals { running.cancel() }
        let outcome = await running.value
        signals.stop()

        switch outcome {
        case let .denied(decision):
            switch request.format {
            case .json: print(try RunReport(decision: decision).json())
            case .text: StandardError.print("airlock: denied by \(decision.ruleID): \(decision.reason)")
            }
            throw ExitStatus.denied
        case let .refused(decision, refusal):
            try refuse(refusal.message, decision: decision)
        case let .finished(decision, result, seccompDigest):
            let status = try report(decision: decision, result: result, seccompDigest: seccompDigest)
            // The invocation's end is committed (or spooled, fsynced) and reported: exit here, with
            // the audit store still open. Releasing it first (GRDB's queue teardown, closing SQLite
            // or the PostgreSQL session) protects nothing that is not already on disk.
            Self.exit(withError: status == 0 ? nil : ExitCode(status))
        }
    }

    /// Whether the tool this run names has egress: only then is a gateway needed.
    static func needsEgress(_ invocation: InvocationRequest, policy: Policy) -> Bool {
        policy.tools[invocation.toolName]?.container.egress != nil
    }

    /// Prints the outcome; returns our exit status.
    private func report(decision: Decision, result: RunResult, seccompDigest: String) throws -> Int32 {
        switch request.format {
        case .json:
            print(try RunReport(decision: decision, result: result, seccompDigest: seccompDigest).json())
        case .text:
            switch result.outcome {
            case .timedOut: StandardError.print("airlock: deadline passed; container \(result.containerName) killed")
            case .cancelled: StandardError.print("airlock: cancelled; container \(result.containerName) killed")
            case let .engineFailure(_, message): StandardError.print("airlock: \(message)")
            case .exited: if result.oomKilled { StandardError.print("airlock: the tool was killed for exceeding its memory limit") }
            }
        }
        switch result.outcome {
        case let .exited(code): return code
        case .timedOut: return 124
        case .cancelled: return 130
        case .engineFailure: return 125
        }
    }

    private func refuse(_ message: String, decision: Decision?) throws -> Never {
        switch request.format {
        case .json: print((try? RunReport(decision: decision, refusal: message).json()) ?? "{}")
        case .text: StandardError.print("airlock: \(message); nothing was launched")
        }
        throw ExitStatus.error
    }

    public static let logger: Logger = {
        var logger = Logger(label: "airlock")
        // One-shot commands say only what goes wrong, unless AIRLOCK_LOG asks for more.
        logger.logLevel = LogLevel.fromEnvironment(ProcessInfo.processInfo.environment, default: .warning)
        return logger
    }()

}

/// One JSON record per `airlock run`.
struct RunReport: Encodable {
    var executionId: String?
    var decision: DecisionReport?
    var outcome: String
    var message: String?
    var exitCode: Int32?
    var stdoutBytes: Int64 = 0
    var stderrBytes: Int64 = 0
    var stdoutTruncated = false
    var stderrTruncated = false
    var stdoutDroppedBytes: Int64 = 0
    var stderrDroppedBytes: Int64 = 0
    var durationMs: Int64 = 0
    var timedOut = false
    var oomKilled = false
    var image: String?
    var seccompProfileDigest: String?
    /// What was kept of each stream (head, a marker for what was dropped, tail), as UTF-8 text.
    var stdout: String?
    var stderr: String?

    init(decision: Decision) {
        self.decision = DecisionReport(decision, evaluations: nil)
        outcome = "denied"
    }

    init(decision: Decision?, refusal: String) {
        self.decision = decision.map { DecisionReport($0, evaluations: nil) }
        outcome = "refused"
        message = refusal
    }

    init(decision: Decision, result: RunResult, seccompDigest: String) {
        self.decision = DecisionReport(decision, evaluations: nil)
        executionId = result.executionID
        switch result.outcome {
        case .exited: outcome = "exited"
        case .timedOut: outcome = "timed_out"
        case .cancelled: outcome = "cancelled"
        case let .engineFailure(_, text):
            outcome = "engine_failure"
            message = text
        }
        exitCode = result.exitCode
        stdoutBytes = result.stdout.totalBytes
        stderrBytes = result.stderr.totalBytes
        stdoutTruncated = result.stdout.truncated
        stderrTruncated = result.stderr.truncated
        stdoutDroppedBytes = result.stdout.droppedBytes
        stderrDroppedBytes = result.stderr.droppedBytes
        durationMs = result.durationMilliseconds
        timedOut = result.timedOut
        oomKilled = result.oomKilled
        image = result.image
        seccompProfileDigest = seccompDigest
        stdout = Self.text(result.stdout)
        stderr = Self.text(result.stderr)
    }

    static func text(_ capture: OutputCapture) -> String {
        let head = String(decoding: capture.keptHead, as: UTF8.self)
        let tail = String(decoding: capture.keptTail, as: UTF8.self)
        return capture.truncated ? "\(head)\n[… \(capture.droppedBytes) bytes dropped …]\n\(tail)" : head + tail
    }

    func json() throws -> String { try DecisionReport.snakeCaseJSON(self) }
}
