import AirlockEngine
import AirlockInvocation
import AirlockPolicy
import Foundation
import HTTPTypes

/// How an `InvocationResult` is answered over HTTP: the status and the JSON record.
///
/// 200 the tool ran (whatever its exit status, deadline or cancellation); 502 the engine failed to
/// run it (same record plus `error`); 403 denied; 422 refused before launch for the request's own
/// sake (mounts, secrets, seccomp profile); 503 refused because the audit store or the engine is down.
public struct InvocationResponse: Sendable, Equatable {
    public var status: HTTPResponse.Status
    public var body: JSONValue

    /// A refusal launched and recorded nothing, so the same execution id may be tried again; every
    /// other ending is final and is what a repeated request gets.
    public var isFinal: Bool

    public init(status: HTTPResponse.Status, body: JSONValue, isFinal: Bool) {
        self.status = status
        self.body = body
        self.isFinal = isFinal
    }

    public init(_ result: InvocationResult, executionID: String) {
        switch result {
        case let .denied(decision):
            self.init(status: .forbidden, body: .object(Self.denial(decision, executionID: executionID)), isFinal: true)
        case let .refused(decision, refusal):
            let kind = RefusalKind(refusal.kind)
            var extra: [String: JSONValue] = ["execution_id": .string(executionID)]
            if let decision {
                extra["policy_digest"] = .string(decision.policyDigest)
                extra["rule_id"] = .string(decision.ruleID)
            }
            let error = APIError(kind.status, code: kind.rawValue, refusal.message + "; nothing was launched", extra: extra)
            self.init(status: kind.status, body: error.body, isFinal: false)
        case let .finished(decision, run, seccompDigest):
            let record = Self.record(decision: decision, run: run, seccompDigest: seccompDigest)
            let failed = if case .engineFailure = run.outcome { true } else { false }
            self.init(status: failed ? .badGateway : .ok, body: .object(record), isFinal: true)
        }
    }

    /// `{"execution_id", "allowed": false, "rule_id", "reason", "requested_subcommand", "policy_digest"}`
    static func denial(_ decision: Decision, executionID: String) -> [String: JSONValue] {
        [
            "execution_id": .string(executionID), "allowed": false, "rule_id": .string(decision.ruleID), "reason": .string(decision.reason),
            "requested_subcommand": .string(decision.requestedSubcommand), "security_context": .string(decision.securityContext),
            "policy_digest": .string(decision.policyDigest),
        ]
    }

    /// The record of a run: exact byte counts, the kept output, how it ended, and what decided it.
    public static func record(decision: Decision, run: RunResult, seccompDigest: String) -> [String: JSONValue] {
        var record: [String: JSONValue] = [
            "execution_id": .string(run.executionID), "tool_name": .string(decision.tool), "exit_code": .integer(Int64(run.exitCode)),
            "stdout_bytes": .integer(run.stdout.totalBytes), "stderr_bytes": .integer(run.stderr.totalBytes),
            "stdout_truncated": .bool(run.stdout.truncated), "stderr_truncated": .bool(run.stderr.truncated),
            "duration_ms": .integer(run.durationMilliseconds), "timed_out": .bool(run.timedOut), "oom_killed": .bool(run.oomKilled),
            "cancelled": .bool(run.outcome == .cancelled), "rule_id": .string(decision.ruleID),
            "requested_subcommand": .string(decision.requestedSubcommand), "security_context": .string(decision.securityContext),
            "policy_digest": .string(decision.policyDigest), "seccomp_profile_digest": .string(seccompDigest),
        ]
        if let tenant = decision.tenant { record["tenant_id"] = .string(tenant) }
        for (name, capture) in [("stdout", run.stdout), ("stderr", run.stderr)] {
            let output = OutputText(capture)
            record[name] = .string(output.text)
            if output.isBase64 { record["\(name)_encoding"] = "base64" }
            if capture.truncated { record["\(name)_dropped_bytes"] = .integer(capture.droppedBytes) }
        }
        switch run.outcome {
        case .exited: record["outcome"] = "exited"
        case .timedOut: record["outcome"] = "timed_out"
        case .cancelled: record["outcome"] = "cancelled"
        case let .engineFailure(_, message):
            record["outcome"] = "engine_failure"
            record["error"] = .string(message)
        }
        return record
    }
}

/// The API's error code and status for each kind of refusal before launch.
enum RefusalKind: String {
    case mount = "mount_refused"
    case seccompProfile = "seccomp_profile_refused"
    case auditStore = "audit_store_unavailable"
    case engine = "engine_unavailable"
    case sandbox = "sandbox_not_attested"
    case secrets = "secrets_refused"
    case egress = "egress_unavailable"

    init(_ kind: Refusal.Kind) {
        switch kind {
        case .mount: self = .mount
        case .seccompProfile: self = .seccompProfile
        case .auditStore: self = .auditStore
        case .engine: self = .engine
        case .sandbox: self = .sandbox
        case .secrets: self = .secrets
        case .egress: self = .egress
        }
    }

    var status: HTTPResponse.Status {
        switch self {
        case .mount, .seccompProfile, .secrets: .unprocessableContent
        case .auditStore, .engine, .sandbox, .egress: .serviceUnavailable
        }
    }
}
