import AirlockEvents
import Foundation
import Testing

/// The payloads are the gateway's documented contract: names and key fields exactly, snake_case,
/// RFC 3339 UTC timestamps, `command` and `args` as JSON arrays.
struct EventPayloadTests {
    static let moment = Date(timeIntervalSince1970: 1_795_000_000.25)

    func object(_ record: EventRecord) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(record.payload.utf8)) as? [String: Any])
    }

    @Test func startedHasTheDocumentedFields() throws {
        let record = EventRecord(
            CliToolInvocationStarted(
                executionId: "exec-1", toolName: "git", dockerImage: "localhost/airlock/tools:1", command: ["git"],
                args: ["log", "--oneline"], tenantId: "acme", startedAt: Self.moment, securityContext: "developer",
                ruleId: "git-read", requestedSubcommand: "git log", policyDigest: "sha256:p", seccompProfileDigest: "sha256:s",
                engine: "podman 4.3.1", containerName: "airlock-exec-1", owner: "host:1", timeoutMs: 30000, traceId: "t-1"))
        #expect(record.type.rawValue == "CliToolInvocationStarted")
        let payload = try object(record)
        for key in ["execution_id", "tool_name", "docker_image", "command", "args", "tenant_id", "started_at"] {
            #expect(payload[key] != nil, "documented field \(key) missing")
        }
        #expect(payload["command"] as? [String] == ["git"])
        #expect(payload["args"] as? [String] == ["log", "--oneline"])
        #expect(payload["started_at"] as? String == "2026-11-18T11:06:40.250Z")
        #expect(payload["trace_id"] as? String == "t-1")
        #expect(payload["event_id"] as? String == record.eventID)
        #expect(payload.values.allSatisfy { !($0 is [String: Any]) }, "the payload is flat")
        #expect(try record.decode(CliToolInvocationStarted.self).args == ["log", "--oneline"])
        #expect(record.createdAt == Self.moment)
    }

    /// The SQLite store indexes invocations by `executionID` rather than parse the payload: it must be the
    /// payload's `execution_id`, whether the record was encoded here or read back from the spool.
    @Test func executionIDIsThePayloadsExecutionID() throws {
        let completed = EventRecord(
            CliToolInvocationCompleted(
                executionId: "exec-7", toolName: "git", exitCode: 0, stdoutBytes: 1, stderrBytes: 0, durationMs: 5,
                completedAt: Self.moment, tenantId: "acme", outcome: .exited))
        #expect(completed.executionID == "exec-7")
        let readBack = EventRecord(eventID: completed.eventID, type: completed.type, createdAt: completed.createdAt, payload: completed.payload)
        #expect(readBack == completed)
        let registered = EventRecord(CliToolRegistered(name: "jq", dockerImage: "airlock/jq:1", registeredAt: Self.moment))
        #expect(registered.executionID == nil)
        #expect(EventRecord(eventID: "e", type: .cliToolInvocationCompleted, createdAt: Self.moment, payload: "{not json").executionID == nil)
    }

    @Test func completedKeepsExitCodeAsNullWhenUnknown() throws {
        let record = EventRecord(
            CliToolInvocationCompleted(
                executionId: "exec-1", toolName: "git", exitCode: nil, stdoutBytes: 0, stderrBytes: 0, durationMs: 0,
                completedAt: Self.moment, tenantId: "acme", outcome: .abandoned))
        let payload = try object(record)
        for key in ["execution_id", "tool_name", "exit_code", "stdout_bytes", "stderr_bytes", "duration_ms", "completed_at"] {
            #expect(payload.keys.contains(key), "documented field \(key) missing")
        }
        #expect(payload["exit_code"] is NSNull)
        #expect(payload["abandoned"] as? Bool == true)
        #expect(payload["timed_out"] as? Bool == false)
        #expect(payload["trace_id"] == nil, "absent optional fields are left out")
    }

    @Test func rejectedAndRegisteredHaveTheDocumentedFields() throws {
        let rejected = try object(
            EventRecord(
                CliToolSemanticRejected(
                    executionId: "exec-2", toolName: "git", requestedSubcommand: "git push", rejectionReason: "force push",
                    securityContext: "developer", rejectedAt: Self.moment, ruleId: "git-no-force-push", policyDigest: "sha256:p",
                    tenantId: "acme", args: ["push", "-f"])))
        for key in ["execution_id", "tool_name", "requested_subcommand", "rejection_reason", "security_context", "rejected_at", "rule_id"] {
            #expect(rejected[key] != nil, "field \(key) missing")
        }
        let registered = try object(EventRecord(CliToolRegistered(name: "jq", dockerImage: "localhost/jq:1", registeredAt: Self.moment)))
        for key in ["name", "docker_image", "registered_at"] { #expect(registered[key] != nil, "field \(key) missing") }
    }

    @Test func sqliteTimestampsCompareWithDatetimeText() {
        #expect(Timestamp.sqlite(Self.moment) == "2026-11-18 11:06:40.250")
        #expect(Timestamp.parseSQLite("2026-11-18 11:06:40.250") == Self.moment)
        // SQLite's datetime('now', '-1 hour') has no fraction: the text comparison still orders by time.
        #expect(Timestamp.sqlite(Self.moment) > "2026-11-18 11:06:40")
        #expect(Timestamp.sqlite(Self.moment) < "2026-11-18 11:06:41")
    }

    @Test func timestampsAreZeroPaddedUTCToTheMillisecond() {
        #expect(Timestamp.rfc3339(Self.moment) == "2026-11-18T11:06:40.250Z")
        #expect(Timestamp.sqlite(Date(timeIntervalSince1970: 0.0004)) == "1970-01-01 00:00:00.000")
        #expect(Timestamp.rfc3339(Date(timeIntervalSince1970: 3_661.009)) == "1970-01-01T01:01:01.009Z")
        // Rounded to the nearest millisecond, carrying into the seconds.
        #expect(Timestamp.sqlite(Date(timeIntervalSince1970: 59.9996)) == "1970-01-01 00:01:00.000")
        // Before 1970 the milliseconds still count forward from the second before.
        #expect(Timestamp.sqlite(Date(timeIntervalSince1970: -0.75)) == "1969-12-31 23:59:59.250")
        #expect(Timestamp.parseSQLite(Timestamp.sqlite(Date(timeIntervalSince1970: -0.75))) == Date(timeIntervalSince1970: -0.75))
        // A five-digit year is written whole, not cut to four digits.
        #expect(Timestamp.sqlite(Date(timeIntervalSince1970: 253_402_300_800)) == "10000-01-01 00:00:00.000")
    }
}
