import AirlockEngine
import AirlockPolicy
import Foundation
import HTTPTypes

/// How an `InvocationResult` is answered over HTTP: the status and the JSON record.
///
/// 200 the tool ran (whatever its exit status, deadline or cancellation); 502 the engine failed to
/// run it (same record plus `error`); 403 denied; 422 refused before launch for the request's own
/// sake (mounts, seccomp profile); 503 refused because the audit store or the engine is down.
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
        case let .refused(decision, reason):
            let kind = RefusalKind(reason: reason)
            var extra: [String: JSONValue] = ["execution_id": .string(executionID)]
            if let decision {
                extra["policy_digest"] = .string(decision.policyDigest)
                extra["rule_id"] = .string(decision.ruleID)
            }
            let error = APIError(kind.status, code: kind.rawValue, reason + "; nothing was launched", extra: extra)
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

/// Why an invocation was refused before launch. The pipeline reports a refusal as text; its causes
/// are told apart by the messages of the errors it wraps (mounts say "mount", the audit trail
/// "audit store", our engine source "container engine"); the rest are seccomp profile problems.
enum RefusalKind: String {
    case mount = "mount_refused"
    case seccompProfile = "seccomp_profile_refused"
    case auditStore = "audit_store_unavailable"
    case engine = "engine_unavailable"

    init(reason: String) {
        if reason.contains("audit store") {
            self = .auditStore
        } else if reason.hasPrefix(WorkerEngine.unavailablePrefix) {
            self = .engine
        } else if reason.hasPrefix("mount") || reason.hasPrefix("two mounts") {
            self = .mount
        } else {
            self = .seccompProfile
        }
    }

    var status: HTTPResponse.Status {
        switch self {
        case .mount, .seccompProfile: .unprocessableContent
        case .auditStore, .engine: .serviceUnavailable
        }
    }
}

/// One stream's kept output as JSON text: UTF-8 when it is, else base64. When bytes were dropped in
/// the middle, the text is head, a marker, tail; characters cut at the seams are dropped too.
struct OutputText {
    var text: String
    var isBase64: Bool

    init(_ capture: OutputCapture) {
        let head = capture.keptHead
        let tail = capture.keptTail
        guard capture.truncated else {
            let all = head + tail
            if let text = String(validating: all, as: UTF8.self) {
                self.init(text: text, isBase64: false)
            } else {
                self.init(text: Data(all).base64EncodedString(), isBase64: true)
            }
            return
        }
        let headKept = head.prefix(UTF8Seams.completePrefixLength(head))
        let tailKept = tail.dropFirst(UTF8Seams.continuationPrefixLength(tail))
        if let headText = String(validating: headKept, as: UTF8.self), let tailText = String(validating: tailKept, as: UTF8.self) {
            let dropped = capture.droppedBytes + Int64(head.count - headKept.count) + Int64(tail.count - tailKept.count)
            self.init(text: "\(headText)\n[… \(dropped) bytes dropped …]\n\(tailText)", isBase64: false)
        } else {
            self.init(text: Data(head + tail).base64EncodedString(), isBase64: true)
        }
    }

    init(text: String, isBase64: Bool) {
        self.text = text
        self.isBase64 = isBase64
    }
}

/// Where UTF-8 text was cut at an arbitrary byte.
enum UTF8Seams {
    /// The length of `bytes` without a multi-byte character left incomplete at its end.
    static func completePrefixLength(_ bytes: some BidirectionalCollection<UInt8>) -> Int {
        var index = bytes.endIndex
        var back = 0
        while index != bytes.startIndex, back < 4 {
            index = bytes.index(before: index)
            back += 1
            let byte = bytes[index]
            if byte & 0b1100_0000 == 0b1000_0000 { continue }  // a continuation byte: look further back
            let needed =
                if byte & 0b1000_0000 == 0 { 1 } else if byte & 0b1110_0000 == 0b1100_0000 { 2 } else if byte & 0b1111_0000 == 0b1110_0000 {
                    3
                } else { 4 }
            return bytes.count - (needed > back ? back : 0)
        }
        return bytes.count
    }

    /// How many continuation bytes (the rest of a character cut off before) `bytes` starts with; at most 3.
    static func continuationPrefixLength(_ bytes: some Collection<UInt8>) -> Int {
        bytes.prefix(3).prefix { $0 & 0b1100_0000 == 0b1000_0000 }.count
    }
}

/// Streamed output as NDJSON lines: `{"stream":"stdout","data":"..."}`, with `"data_encoding":"base64"`
/// for bytes that are not UTF-8. A character split between two chunks is held back and sent whole.
struct OutputLineEncoder {
    private var pending: [AirlockEngine.OutputStream: [UInt8]] = [:]

    mutating func line(_ stream: AirlockEngine.OutputStream, _ chunk: [UInt8]) -> [UInt8]? {
        let bytes = (pending.removeValue(forKey: stream) ?? []) + chunk
        let complete = UTF8Seams.completePrefixLength(bytes)
        if let text = String(validating: bytes.prefix(complete), as: UTF8.self) {
            if complete < bytes.count { pending[stream] = Array(bytes[complete...]) }
            return complete == 0 ? nil : Self.encode(stream, text: text, base64: false)
        }
        return Self.encode(stream, text: Data(bytes).base64EncodedString(), base64: true)
    }

    /// What is still held back at the end: bytes that never became a whole character.
    mutating func flush() -> [[UInt8]] {
        let left = pending
        pending = [:]
        return left.sorted { $0.key.rawValue > $1.key.rawValue }.map { Self.encode($0.key, text: Data($0.value).base64EncodedString(), base64: true) }
    }

    static func encode(_ stream: AirlockEngine.OutputStream, text: String, base64: Bool) -> [UInt8] {
        var object: [String: JSONValue] = ["stream": .string(stream.rawValue), "data": .string(text)]
        if base64 { object["data_encoding"] = "base64" }
        return JSONValue.object(object).encoded() + [UInt8(ascii: "\n")]
    }

    static func summary(_ record: JSONValue) -> [UInt8] {
        JSONValue.object(["summary": record]).encoded() + [UInt8(ascii: "\n")]
    }
}
