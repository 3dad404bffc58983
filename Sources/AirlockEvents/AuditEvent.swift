import Foundation

/// The `gateway_events.event_type` tags Airlock writes, exactly as the gateway documents them
/// (`reference/gateway-observability.txt`).
public enum EventType: String, Sendable, CaseIterable, Codable {
    case cliToolRegistered = "CliToolRegistered"
    case cliToolInvocationStarted = "CliToolInvocationStarted"
    case cliToolInvocationCompleted = "CliToolInvocationCompleted"
    case cliToolSemanticRejected = "CliToolSemanticRejected"
}

/// A typed event payload: a flat JSON object with the documented key fields, snake_case, and extra
/// fields for investigators. Documented fields are never renamed: each type spells its keys in
/// its `CodingKeys`, as `reference/gateway-observability.txt` names them.
public protocol AuditPayload: Codable, Sendable {
    static var eventType: EventType { get }
    /// The moment the event describes; also the row's `created_at`.
    var occurredAt: Date { get }
    /// The invocation the event belongs to, for events that have one (the payload's `execution_id`).
    var invocationID: String? { get }
}

extension AuditPayload {
    public var invocationID: String? { nil }
}

/// `CliToolRegistered`: a tool was registered at run time.
public struct CliToolRegistered: AuditPayload, Equatable {
    public static let eventType = EventType.cliToolRegistered
    // Documented key fields.
    public var name: String
    public var dockerImage: String
    public var registeredAt: Date
    // Extra fields.
    public var tenantId: String?
    public var description: String?
    public var allowedSubcommands: [String]?
    public var grammar: String?
    /// Whether the context's allow rules must allow a call too: what `policy replay` needs to judge
    /// the tool's calls again as the worker did.
    public var requireSemanticJudge: Bool?
    public var traceId: String?

    public init(
        name: String, dockerImage: String, registeredAt: Date = Date(), tenantId: String? = nil, description: String? = nil,
        allowedSubcommands: [String]? = nil, grammar: String? = nil, requireSemanticJudge: Bool? = nil, traceId: String? = nil
    ) {
        self.requireSemanticJudge = requireSemanticJudge
        self.name = name
        self.dockerImage = dockerImage
        self.registeredAt = registeredAt
        self.tenantId = tenantId
        self.description = description
        self.allowedSubcommands = allowedSubcommands
        self.grammar = grammar
        self.traceId = traceId
    }

    public var occurredAt: Date { registeredAt }

    enum CodingKeys: String, CodingKey {
        case name, dockerImage = "docker_image", registeredAt = "registered_at", tenantId = "tenant_id", description
        case allowedSubcommands = "allowed_subcommands", grammar, requireSemanticJudge = "require_semantic_judge", traceId = "trace_id"
    }
}

/// `CliToolInvocationStarted`: the container is about to be launched. Committed before the launch.
public struct CliToolInvocationStarted: AuditPayload, Equatable {
    public static let eventType = EventType.cliToolInvocationStarted
    // Documented key fields.
    public var executionId: String
    public var toolName: String
    public var dockerImage: String
    /// The entrypoint, as an argv array.
    public var command: [String]
    /// The judged arguments after the entrypoint.
    public var args: [String]
    public var tenantId: String
    public var startedAt: Date
    // Extra fields.
    public var securityContext: String
    public var ruleId: String
    public var requestedSubcommand: String
    public var policyDigest: String
    public var seccompProfileDigest: String
    /// The canary's report of the tool's sandbox, as attested before the launch (`sha256:…`).
    public var sandboxDigest: String?
    /// `podman 4.3.1`, `docker 28.2.2`.
    public var engine: String
    /// The container's name (`airlock-<execution_id>`): what reconciliation kills after a crash.
    public var containerName: String
    /// `<host>:<pid>` of the process that launched the container.
    public var owner: String
    public var timeoutMs: Int64
    public var traceId: String?
    /// Set only when `airlock serve --shadow-policy` decided otherwise (another outcome or rule).
    public var shadowAllowed: Bool?
    public var shadowRuleId: String?
    public var shadowPolicyDigest: String?
    /// The secrets the caller handed in, each name with its fingerprint (the first 8 hex digits of
    /// a keyed HMAC-SHA256 of the value); absent when none was. Never a value.
    public var secrets: [String: String]?

    public init(
        executionId: String, toolName: String, dockerImage: String, command: [String], args: [String], tenantId: String,
        startedAt: Date = Date(), securityContext: String, ruleId: String, requestedSubcommand: String, policyDigest: String,
        seccompProfileDigest: String, sandboxDigest: String? = nil, engine: String, containerName: String, owner: String,
        timeoutMs: Int64, traceId: String? = nil, secrets: [String: String]? = nil
    ) {
        self.secrets = secrets
        self.sandboxDigest = sandboxDigest
        self.executionId = executionId
        self.toolName = toolName
        self.dockerImage = dockerImage
        self.command = command
        self.args = args
        self.tenantId = tenantId
        self.startedAt = startedAt
        self.securityContext = securityContext
        self.ruleId = ruleId
        self.requestedSubcommand = requestedSubcommand
        self.policyDigest = policyDigest
        self.seccompProfileDigest = seccompProfileDigest
        self.engine = engine
        self.containerName = containerName
        self.owner = owner
        self.timeoutMs = timeoutMs
        self.traceId = traceId
    }

    public var occurredAt: Date { startedAt }
    public var invocationID: String? { executionId }

    enum CodingKeys: String, CodingKey {
        case executionId = "execution_id", toolName = "tool_name", dockerImage = "docker_image", command, args, tenantId = "tenant_id"
        case startedAt = "started_at", securityContext = "security_context", ruleId = "rule_id"
        case requestedSubcommand = "requested_subcommand", policyDigest = "policy_digest"
        case seccompProfileDigest = "seccomp_profile_digest", sandboxDigest = "sandbox_digest", engine
        case containerName = "container_name", owner, timeoutMs = "timeout_ms", traceId = "trace_id", secrets
        case shadowAllowed = "shadow_allowed", shadowRuleId = "shadow_rule_id", shadowPolicyDigest = "shadow_policy_digest"
    }
}

/// `CliToolInvocationCompleted`: the container exited, was killed, or never ran (engine failure,
/// abandoned by a crashed worker). Written for every started invocation.
public struct CliToolInvocationCompleted: AuditPayload, Equatable {
    public static let eventType = EventType.cliToolInvocationCompleted

    /// How the invocation ended.
    public enum Outcome: String, Codable, Sendable {
        case exited
        case timedOut = "timed_out"
        case cancelled
        case engineFailure = "engine_failure"
        /// The process that started it died; found and closed at the next start.
        case abandoned
    }

    // Documented key fields.
    public var executionId: String
    public var toolName: String
    /// The tool's exit status; null when it is unknown (abandoned).
    public var exitCode: Int32?
    public var stdoutBytes: Int64
    public var stderrBytes: Int64
    public var durationMs: Int64
    public var completedAt: Date
    // Extra fields.
    public var tenantId: String
    public var outcome: Outcome
    public var timedOut: Bool
    public var oomKilled: Bool
    public var cancelled: Bool
    public var abandoned: Bool
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool
    /// The engine's message when it could not run the tool.
    public var engineError: String?
    public var traceId: String?
    /// As on `Started`: the secrets' names and fingerprints; absent when none was given.
    public var secrets: [String: String]?
    /// Each connection the tool attempted through its egress proxy, allowed or not, in order;
    /// absent for a tool without egress.
    public var egress: [EgressConnection]?
    /// Attempts beyond those kept in `egress` (counted, not recorded); absent when none was dropped.
    public var egressDropped: Int?

    public init(
        executionId: String, toolName: String, exitCode: Int32?, stdoutBytes: Int64, stderrBytes: Int64, durationMs: Int64,
        completedAt: Date = Date(), tenantId: String, outcome: Outcome, oomKilled: Bool = false,
        stdoutTruncated: Bool = false, stderrTruncated: Bool = false, engineError: String? = nil, traceId: String? = nil,
        secrets: [String: String]? = nil, egress: [EgressConnection]? = nil, egressDropped: Int? = nil
    ) {
        self.secrets = secrets
        self.egress = egress
        self.egressDropped = egressDropped
        self.executionId = executionId
        self.toolName = toolName
        self.exitCode = exitCode
        self.stdoutBytes = stdoutBytes
        self.stderrBytes = stderrBytes
        self.durationMs = durationMs
        self.completedAt = completedAt
        self.tenantId = tenantId
        self.outcome = outcome
        self.timedOut = outcome == .timedOut
        self.oomKilled = oomKilled
        self.cancelled = outcome == .cancelled
        self.abandoned = outcome == .abandoned
        self.stdoutTruncated = stdoutTruncated
        self.stderrTruncated = stderrTruncated
        self.engineError = engineError
        self.traceId = traceId
    }

    public var occurredAt: Date { completedAt }
    public var invocationID: String? { executionId }

    enum CodingKeys: String, CodingKey {
        case executionId = "execution_id", toolName = "tool_name", exitCode = "exit_code", stdoutBytes = "stdout_bytes"
        case stderrBytes = "stderr_bytes", durationMs = "duration_ms", completedAt = "completed_at", tenantId = "tenant_id", outcome
        case timedOut = "timed_out", oomKilled = "oom_killed", cancelled, abandoned, stdoutTruncated = "stdout_truncated"
        case stderrTruncated = "stderr_truncated", engineError = "engine_error", traceId = "trace_id", secrets
        case egress, egressDropped = "egress_dropped"
    }

    // Written by hand so that `exit_code`, a documented field, is present as null when unknown.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(executionId, forKey: .executionId)
        try container.encode(toolName, forKey: .toolName)
        try container.encode(exitCode, forKey: .exitCode)
        try container.encode(stdoutBytes, forKey: .stdoutBytes)
        try container.encode(stderrBytes, forKey: .stderrBytes)
        try container.encode(durationMs, forKey: .durationMs)
        try container.encode(completedAt, forKey: .completedAt)
        try container.encode(tenantId, forKey: .tenantId)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(timedOut, forKey: .timedOut)
        try container.encode(oomKilled, forKey: .oomKilled)
        try container.encode(cancelled, forKey: .cancelled)
        try container.encode(abandoned, forKey: .abandoned)
        try container.encode(stdoutTruncated, forKey: .stdoutTruncated)
        try container.encode(stderrTruncated, forKey: .stderrTruncated)
        try container.encodeIfPresent(engineError, forKey: .engineError)
        try container.encodeIfPresent(traceId, forKey: .traceId)
        try container.encodeIfPresent(secrets, forKey: .secrets)
        try container.encodeIfPresent(egress, forKey: .egress)
        try container.encodeIfPresent(egressDropped, forKey: .egressDropped)
    }
}

/// One connection a tool attempted through its egress proxy, as `Completed.egress` records it.
/// Bytes are those written to the other side once the proxy let the connection through (the TLS
/// handshake included); a denied attempt carries the reason (`not_allowed`, `port_not_allowed`,
/// `sni_mismatch`, `resolve_failed`, `connect_failed`, `malformed_request`, `too_many_connections`).
public struct EgressConnection: Codable, Sendable, Hashable {
    public var host: String
    public var port: Int
    public var bytesSent: Int64
    public var bytesReceived: Int64
    public var allowed: Bool
    public var reason: String?

    public init(host: String, port: Int, bytesSent: Int64, bytesReceived: Int64, allowed: Bool, reason: String? = nil) {
        self.host = host
        self.port = port
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.allowed = allowed
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case host, port, bytesSent = "bytes_sent", bytesReceived = "bytes_received", allowed, reason
    }
}

/// `CliToolSemanticRejected`: the judge vetoed an invocation; nothing was launched.
public struct CliToolSemanticRejected: AuditPayload, Equatable {
    public static let eventType = EventType.cliToolSemanticRejected
    // Documented key fields.
    public var executionId: String
    public var toolName: String
    public var requestedSubcommand: String
    public var rejectionReason: String
    public var securityContext: String
    public var rejectedAt: Date
    // Extra fields.
    public var ruleId: String
    public var policyDigest: String
    public var tenantId: String
    public var args: [String]
    public var traceId: String?
    /// Set only when `airlock serve --shadow-policy` decided otherwise (another outcome or rule).
    public var shadowAllowed: Bool?
    public var shadowRuleId: String?
    public var shadowPolicyDigest: String?

    public init(
        executionId: String, toolName: String, requestedSubcommand: String, rejectionReason: String, securityContext: String,
        rejectedAt: Date = Date(), ruleId: String, policyDigest: String, tenantId: String, args: [String], traceId: String? = nil
    ) {
        self.executionId = executionId
        self.toolName = toolName
        self.requestedSubcommand = requestedSubcommand
        self.rejectionReason = rejectionReason
        self.securityContext = securityContext
        self.rejectedAt = rejectedAt
        self.ruleId = ruleId
        self.policyDigest = policyDigest
        self.tenantId = tenantId
        self.args = args
        self.traceId = traceId
    }

    public var occurredAt: Date { rejectedAt }
    public var invocationID: String? { executionId }

    enum CodingKeys: String, CodingKey {
        case executionId = "execution_id", toolName = "tool_name", requestedSubcommand = "requested_subcommand"
        case rejectionReason = "rejection_reason", securityContext = "security_context", rejectedAt = "rejected_at"
        case ruleId = "rule_id", policyDigest = "policy_digest", tenantId = "tenant_id", args, traceId = "trace_id"
        case shadowAllowed = "shadow_allowed", shadowRuleId = "shadow_rule_id", shadowPolicyDigest = "shadow_policy_digest"
    }
}
