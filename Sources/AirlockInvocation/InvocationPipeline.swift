import AirlockEngine
import AirlockEvents
import AirlockPolicy
import AirlockSeccomp
import Foundation
import Logging

/// One call, from the socket or from `airlock run`: what the caller may supply. Everything else
/// about the container comes from the policy's tool entry.
public struct InvocationRequest: Sendable {
    public var executionID: String
    public var toolName: String
    /// The arguments after the tool name, as bytes (invalid UTF-8 is judged, and denied, as such).
    public var rawArguments: [[UInt8]]
    /// nil: an operator's request, no tenant restrictions (`airlock run` without `--tenant`).
    public var tenantID: String?
    public var securityContext: String
    public var mounts: [MountRequest]
    /// May only shorten the policy's timeout.
    public var timeout: Duration?
    public var traceID: String?
    /// `airlock run --runtime`; the socket API never sets it.
    public var runtimeOverride: String?
    /// The tenant's registered tool named `toolName`, when the policy has no tool of that name.
    public var registeredTool: RegisteredTool?
    /// Bytes for the tool's standard input; nil: none.
    public var stdin: [UInt8]?
    /// Values for the secrets the tool declares, by name; kept only while the invocation runs.
    public var secrets: SecretValues

    public init(
        executionID: String = TimeOrderedUUID.make(), toolName: String, rawArguments: [[UInt8]], tenantID: String?,
        securityContext: String, mounts: [MountRequest] = [], timeout: Duration? = nil, traceID: String? = nil,
        runtimeOverride: String? = nil, registeredTool: RegisteredTool? = nil, stdin: [UInt8]? = nil, secrets: SecretValues = .none
    ) {
        self.secrets = secrets
        self.stdin = stdin
        self.registeredTool = registeredTool
        self.executionID = executionID
        self.toolName = toolName
        self.rawArguments = rawArguments
        self.tenantID = tenantID
        self.securityContext = securityContext
        self.mounts = mounts
        self.timeout = timeout
        self.traceID = traceID
        self.runtimeOverride = runtimeOverride
    }

    public var arguments: [String] { rawArguments.map { String(decoding: $0, as: UTF8.self) } }

    /// The tenant as recorded in events.
    public var recordedTenant: String { tenantID ?? "operator" }
}

/// How an invocation ended.
public enum InvocationResult: Sendable {
    /// The judge said no; `CliToolSemanticRejected` was recorded (or spooled).
    case denied(Decision)
    /// Refused before launch (mount outside the roots, seccomp profile, engine or audit store
    /// down); nothing was launched. `decision` is nil when the request never reached the judge.
    case refused(Decision?, Refusal)
    /// The container ran (or the engine failed to run it); `Completed` was recorded or spooled.
    case finished(Decision, RunResult, seccompProfileDigest: String)

    public var executionDecision: Decision? {
        switch self {
        case let .denied(decision): decision
        case let .refused(decision, _): decision
        case let .finished(decision, _, _): decision
        }
    }
}

/// Why an allowed invocation was not launched.
public struct Refusal: Sendable, Error, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// A requested mount is outside the tool's roots, through a symlink or malformed (the caller's
        /// to fix), or cannot be bound race-free, e.g. Airlock is not root (the operator's).
        case mount
        /// The tool's seccomp profile does not load: the operator's to fix.
        case seccompProfile = "seccomp_profile"
        /// No container engine could be resolved.
        case engine
        /// The audit store cannot take `CliToolInvocationStarted`.
        case auditStore = "audit_store"
        /// The canary found the tool's sandbox other than the policy asks (a setting the engine or
        /// the host dropped or widened), or could not run to find out: the operator's to fix.
        case sandbox
        /// A secret the tool does not declare or cannot hold (the caller's), or one Airlock cannot
        /// hand in safely, e.g. no tmpfs or not root (the operator's).
        case secrets
        /// The tool's egress path could not be opened (no proxy in this process, the forwarder
        /// missing, an unsafe socket directory), or a registered tool's egress exceeds its base
        /// tool's: nothing was launched, and no network given instead.
        case egress
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// The invocation pipeline (DESIGN.md): judge -> Rejected | Started (committed before launch) ->
/// run -> Completed (always; spooled if the store is down).
public struct InvocationPipeline: Sendable {
    /// A tool's seccomp profile, checked: the file handed to the engine and its digest.
    public typealias ProfileLoader = @Sendable (String) throws(SeccompProfileError) -> SeccompProfile.Reference
    public typealias EngineSource = @Sendable () async throws(EngineError) -> any ContainerEngine

    /// The engine, resolved when an allowed invocation first needs it (a denial never needs one).
    public var engine: EngineSource
    public var trail: AuditTrail
    /// Attests each tool's sandbox before its first launch (and again whenever its settings or the
    /// engine's configuration change): nothing runs in a sandbox that was not attested.
    public var sandbox: SandboxAttestor
    public var loadProfile: ProfileLoader
    /// Bytes kept per stream (head and tail); every byte is counted regardless.
    public var retentionBytes: Int
    public var logger: Logger
    /// Where the caller's host mounts are bound for the engine (see `MountStaging`).
    public var mountStaging: MountStaging
    /// Where the caller's secrets are written for the container (see `SecretStaging`).
    public var secretStaging: SecretStaging
    /// The keyed fingerprints events record for secrets; the commands use the state directory's key.
    public var fingerprints: SecretFingerprints
    /// Opens the egress path of a tool with `egress`; nil: such tools are refused.
    public var egress: (any EgressGateway)?

    public init(
        engine: @escaping EngineSource, trail: AuditTrail, sandbox: SandboxAttestor, retentionBytes: Int = 1 << 20, logger: Logger,
        mountStaging: MountStaging = MountStaging(), secretStaging: SecretStaging = SecretStaging(),
        fingerprints: SecretFingerprints = SecretFingerprints(), egress: (any EgressGateway)? = nil, loadProfile: @escaping ProfileLoader
    ) {
        self.secretStaging = secretStaging
        self.fingerprints = fingerprints
        self.egress = egress
        self.engine = engine
        self.trail = trail
        self.sandbox = sandbox
        self.loadProfile = loadProfile
        self.retentionBytes = retentionBytes
        self.logger = logger
        self.mountStaging = mountStaging
    }

    /// Judges only: the dry run. Nothing launched, nothing recorded.
    public static func judge(_ request: InvocationRequest, judge: Judge) -> Decision {
        let judgeRequest = JudgeRequest(
            tool: request.toolName, rawArgv: request.rawArguments, tenant: request.tenantID, securityContext: request.securityContext)
        guard let registered = request.registeredTool else { return judge.decide(judgeRequest) }
        return judge.decide(
            judgeRequest,
            registered: RegisteredToolRules(
                name: registered.name, baseTool: registered.grammar, allowedSubcommands: registered.allowedSubcommands,
                requireSemanticJudge: registered.requireSemanticJudge))
    }

    /// Runs one invocation to its end. Task cancellation cancels it (the container is killed and
    /// `Completed` recorded as cancelled). Never throws: every way it can end is a result.
    ///
    /// `shadow`: a candidate policy that judges too, and decides nothing.
    public func invoke(
        _ request: InvocationRequest, judge: Judge, shadow: ShadowJudge? = nil, output: OutputForwarding? = nil
    ) async -> InvocationResult {
        let registered = request.registeredTool
        let decision = Self.judge(request, judge: judge)
        var metadata: Logger.Metadata = [
            "execution_id": "\(request.executionID)", "tool": "\(request.toolName)", "tenant_id": "\(request.recordedTenant)",
            "rule_id": "\(decision.ruleID)", "policy_digest": "\(decision.policyDigest)",
        ]
        if let traceID = request.traceID { metadata["trace_id"] = "\(traceID)" }
        let disagreement = shadow.flatMap { compare(request, decision, with: $0, metadata: metadata) }

        guard decision.allowed, let tool = judge.policy.tools[registered?.grammar ?? decision.tool] else {
            var rejected = CliToolSemanticRejected(
                executionId: request.executionID, toolName: request.toolName, requestedSubcommand: decision.requestedSubcommand,
                rejectionReason: decision.reason, securityContext: request.securityContext, ruleId: decision.ruleID,
                policyDigest: decision.policyDigest, tenantId: request.recordedTenant, args: request.arguments, traceId: request.traceID)
            if let shadow = disagreement {
                rejected.shadowAllowed = shadow.allowed
                rejected.shadowRuleId = shadow.ruleID
                rejected.shadowPolicyDigest = shadow.policyDigest
            }
            do {
                try await trail.record(rejected)
            } catch {
                logger.error("Rejection could not be recorded", metadata: metadata.merging(["error": "\(error.message)"]) { $1 })
            }
            logger.info("Invocation denied", metadata: metadata)
            return .denied(decision)
        }

        // Everything that can refuse is checked before anything is recorded as started or launched.
        // The host mounts are bound here, race-free, onto staging paths that live exactly as long as
        // this invocation: released below on every way it ends, refusals included.
        let staged: StagedMounts
        do {
            staged = try mountStaging.stage(request.mounts, roots: tool.container.mountRoots, executionID: request.executionID)
        } catch {
            let refusal = Refusal(.mount, error.message)
            logger.info("Invocation refused before launch", metadata: metadata.merging(["reason": "\(refusal.message)"]) { $1 })
            return .refused(decision, refusal)
        }
        defer {
            let problems = staged.release()
            if !problems.isEmpty {
                logger.warning("Staged mounts not fully released", metadata: metadata.merging(["problems": "\(problems)"]) { $1 })
            }
        }
        let mounts = staged.mounts
        let profile: SeccompProfile.Reference
        let engine: any ContainerEngine
        var container = tool.container
        if let registered {
            // A registered tool runs in its base tool's container, with its own image, a timeout
            // that may only be shorter, and only the secrets it declared of its base tool's.
            container.image = registered.dockerImage
            container.timeoutSeconds = min(container.timeoutSeconds, Double(registered.defaultTimeoutSeconds))
            container.secrets = container.secrets.filter { (registered.secrets ?? []).contains($0.name) }
            // Its own egress, within its base tool's; without one, the base tool's.
            if let rules = registered.egress {
                let beyond = container.egress.map { (try? EgressAllowList(rules))?.rules(beyond: $0) ?? rules } ?? rules
                guard beyond.isEmpty, let own = try? EgressAllowList(rules) else {
                    let refusal = Refusal(
                        .egress,
                        "the egress of registered tool \(registered.name) goes beyond its base tool \(registered.grammar)'s: \(beyond.map(\.description).joined(separator: "; "))")
                    logger.error("Invocation refused before launch", metadata: metadata.merging(["reason": "\(refusal.message)"]) { $1 })
                    return .refused(decision, refusal)
                }
                container.egress = own
            }
        }
        // The secrets' files, on a tmpfs, live exactly as long as the mounts: released on every ending.
        let secretFiles: SecretStaging.Staged
        do {
            secretFiles = try secretStaging.stage(request.secrets, declared: container.secrets, executionID: request.executionID)
        } catch {
            let refusal = Refusal(.secrets, error.message)
            logger.info("Invocation refused before launch", metadata: metadata.merging(["reason": "\(refusal.message)"]) { $1 })
            return .refused(decision, refusal)
        }
        defer {
            let problems = secretFiles.files.release()
            if !problems.isEmpty {
                logger.warning("Secret files not fully removed", metadata: metadata.merging(["problems": "\(problems)"]) { $1 })
            }
        }
        let attestation: SandboxAttestation
        do {
            profile = try loadProfile(tool.container.seccompProfile)
            container.seccompProfile = profile.file
            container = container.resolvingSeccompProfile
            engine = try await self.engine()
        } catch {
            let refusal =
                switch error {
                case is SeccompProfileError: Refusal(.seccompProfile, "\(error)")
                default: Refusal(.engine, "\(error)")
                }
            logger.info("Invocation refused before launch", metadata: metadata.merging(["reason": "\(refusal.message)"]) { $1 })
            return .refused(decision, refusal)
        }
        switch await attest(request, container: container, engine: engine) {
        case let .success(attested): attestation = attested
        case let .failure(refusal):
            logger.error("Invocation refused: the sandbox is not attested", metadata: metadata.merging(["reason": "\(refusal.message)"]) { $1 })
            return .refused(decision, refusal)
        }
        // The egress path opens last of all that can refuse, and closes on every way the
        // invocation ends from here: no listener, connection or socket outlives it.
        var egressPath: (any EgressPath)?
        var attachment: EgressAttachment?
        if let allowList = container.egress {
            switch await openEgress(allowList, request: request) {
            case let .success((path, forwarder)):
                egressPath = path
                attachment = EgressAttachment(forwarderPath: forwarder, socketPath: path.socketPath)
            case let .failure(refusal):
                logger.error("Invocation refused before launch", metadata: metadata.merging(["reason": "\(refusal.message)"]) { $1 })
                return .refused(decision, refusal)
            }
        }
        let spec = ContainerRunSpec(
            executionID: request.executionID, toolName: request.toolName, tenant: request.recordedTenant, container: container,
            arguments: request.arguments, mounts: mounts, runtimeOverride: request.runtimeOverride, timeoutOverride: request.timeout,
            stdin: request.stdin, secretLaunch: secretFiles.launch, egress: attachment)
        let fingerprints = fingerprints.fingerprints(of: request.secrets)

        var started = CliToolInvocationStarted(
            executionId: request.executionID, toolName: request.toolName, dockerImage: container.image, command: container.entrypoint,
            args: request.arguments, tenantId: request.recordedTenant, securityContext: request.securityContext,
            ruleId: decision.ruleID, requestedSubcommand: decision.requestedSubcommand, policyDigest: decision.policyDigest,
            seccompProfileDigest: profile.digest, sandboxDigest: attestation.digest, engine: "\(engine.kind.rawValue) \(engine.version)",
            containerName: spec.containerName, owner: spec.owner.description,
            timeoutMs: spec.effectiveTimeout.components.seconds * 1000 + spec.effectiveTimeout.components.attoseconds / 1_000_000_000_000_000,
            traceId: request.traceID, secrets: fingerprints)
        if let shadow = disagreement {
            started.shadowAllowed = shadow.allowed
            started.shadowRuleId = shadow.ruleID
            started.shadowPolicyDigest = shadow.policyDigest
        }
        do {
            try await trail.recordStarted(started)
        } catch {
            logger.error("Invocation refused: the audit store is unavailable", metadata: metadata.merging(["error": "\(error.message)"]) { $1 })
            _ = await egressPath?.close()
            return .refused(decision, Refusal(.auditStore, error.message))
        }

        let runner = ContainerRunner(engine: engine, retentionBytes: retentionBytes)
        let result: RunResult
        do {
            result = try await runner.run(spec, output: output, secrets: request.secrets)
        } catch {
            // The engine CLI could not even be started: still an ending the trail must show.
            result = RunResult(
                executionID: spec.executionID, containerName: spec.containerName, image: container.image,
                outcome: .engineFailure(status: 127, message: error.description), stdout: OutputCapture(limit: 0),
                stderr: OutputCapture(limit: 0), durationMilliseconds: 0, oomKilled: false, exitCode: 127)
        }
        // The container has ended (exit, deadline, cancellation or engine failure): its
        // connections close with the proxy.
        let egressLog = await egressPath?.close()
        await recordCompletion(of: result, request: request, toolName: request.toolName, secrets: fingerprints, egress: egressLog, metadata: metadata)
        return .finished(decision, result, seccompProfileDigest: profile.digest)
    }

    /// The shadow policy's decision, when it differs from the live one (logged here).
    private func compare(_ request: InvocationRequest, _ live: Decision, with shadow: ShadowJudge, metadata: Logger.Metadata) -> Decision? {
        let candidate = Self.judge(request, judge: shadow.judge)
        shadow.observe(live, candidate)
        guard
            let shift = DecisionShift(
                beforeAllowed: live.allowed, beforeRule: live.ruleID, afterAllowed: candidate.allowed, afterRule: candidate.ruleID)
        else { return nil }
        logger.notice(
            "Shadow policy disagrees",
            metadata: metadata.merging([
                "security_context": "\(request.securityContext)", "args": "\(request.arguments)", "allowed": "\(live.allowed)",
                "shadow_allowed": "\(candidate.allowed)", "shadow_rule_id": "\(candidate.ruleID)",
                "shadow_policy_digest": "\(candidate.policyDigest)", "shift": "\(shift.rawValue)",
            ]) { $1 })
        return candidate
    }

    /// The invocation's egress path and the forwarder to run in front of the tool; or why not.
    private func openEgress(_ allowList: EgressAllowList, request: InvocationRequest) async -> Result<(any EgressPath, String), Refusal> {
        guard let egress else {
            return .failure(Refusal(.egress, "\(request.toolName) has egress, and this process has no egress proxy (the worker runs it)"))
        }
        let forwarder: String
        do {
            forwarder = try sandbox.egressForwarder()
        } catch {
            return .failure(Refusal(.egress, "cannot run \(request.toolName) with egress: \(error.description)"))
        }
        do {
            return .success((try await egress.open(allowList: allowList, executionID: request.executionID), forwarder))
        } catch {
            return .failure(Refusal(.egress, "cannot open the egress path of \(request.toolName): \(error)"))
        }
    }

    /// The tool's sandbox, attested and as the policy asks; or why not.
    private func attest(_ request: InvocationRequest, container: ContainerSpec, engine: any ContainerEngine) async -> Result<SandboxAttestation, Refusal> {
        let attestation: SandboxAttestation
        do {
            attestation = try await sandbox.attestation(
                tool: request.toolName, container: container, runtimeOverride: request.runtimeOverride, engine: engine)
        } catch {
            return .failure(Refusal(.sandbox, "cannot attest the sandbox of \(request.toolName): \(error.description)"))
        }
        guard attestation.holds else {
            return .failure(Refusal(.sandbox, "the sandbox of \(request.toolName) is not what the policy asks: \(attestation.differences)"))
        }
        return .success(attestation)
    }

    private func recordCompletion(
        of result: RunResult, request: InvocationRequest, toolName: String, secrets: [String: String]?, egress: EgressLog?,
        metadata: Logger.Metadata
    ) async {
        let outcome: CliToolInvocationCompleted.Outcome
        var engineError: String?
        switch result.outcome {
        case .exited: outcome = .exited
        case .timedOut: outcome = .timedOut
        case .cancelled: outcome = .cancelled
        case let .engineFailure(_, message):
            outcome = .engineFailure
            engineError = message
        }
        let completed = CliToolInvocationCompleted(
            executionId: request.executionID, toolName: toolName, exitCode: result.exitCode, stdoutBytes: result.stdout.totalBytes,
            stderrBytes: result.stderr.totalBytes, durationMs: result.durationMilliseconds, tenantId: request.recordedTenant,
            outcome: outcome, oomKilled: result.oomKilled, stdoutTruncated: result.stdout.truncated,
            stderrTruncated: result.stderr.truncated, engineError: engineError, traceId: request.traceID, secrets: secrets,
            egress: egress?.connections, egressDropped: egress.flatMap { $0.dropped > 0 ? $0.dropped : nil })
        do {
            try await trail.record(completed)
        } catch {
            logger.critical("Completion could not be recorded", metadata: metadata.merging(["error": "\(error.message)"]) { $1 })
        }
        logger.info(
            "Invocation completed",
            metadata: metadata.merging([
                "outcome": "\(outcome.rawValue)", "exit_code": "\(result.exitCode)", "duration_ms": "\(result.durationMilliseconds)",
            ]) { $1 })
    }
}
