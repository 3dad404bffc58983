import AirlockEvents
import Foundation
import Testing

/// The exact text of each payload, against the reference's field names: the bytes an event is
/// written with, which the audit chain hashes, do not change from one build to the next. (A trail
/// already written verifies whatever a later build writes, as the chain hashes the stored text; but
/// the same event must keep the same text and the same link.) The texts and the chain's head below
/// were written by the build that encoded payloads by hand (`FlatJSONEncoder`, since removed).
@Suite("payload text")
struct EventPayloadTextTests {
    static let moment = Date(timeIntervalSince1970: 1_795_000_000.125)

    /// One event of each type, as Airlock writes them, with values that need escaping (a quote, a
    /// backslash, a tab, a newline, a control character), slashes, non-ASCII text, the largest
    /// numbers, an unknown exit code and absent optional fields.
    static let records: [EventRecord] = [
        EventRecord(CliToolRegistered(name: "jq", dockerImage: "localhost/airlock/jq:1", registeredAt: moment), eventID: "e-1"),
        EventRecord(
            CliToolInvocationStarted(
                executionId: "0190a5c2-7d4e-7000-8000-000000000001", toolName: "git", dockerImage: "localhost/airlock/tools:1",
                command: ["/usr/bin/git"], args: ["log", "--format=%H\t%s", "--", "a/b c"], tenantId: "acme", startedAt: moment,
                securityContext: "developer", ruleId: "git-read", requestedSubcommand: "git log", policyDigest: "sha256:p",
                seccompProfileDigest: "sha256:s", sandboxDigest: "sha256:b", engine: "podman 4.3.1",
                containerName: "airlock-0190a5c2-7d4e-7000-8000-000000000001", owner: "host:1:2:3:4:i", timeoutMs: 30000, traceId: "t-1"),
            eventID: "e-2"),
        EventRecord(
            CliToolInvocationCompleted(
                executionId: "0190a5c2-7d4e-7000-8000-000000000001", toolName: "git", exitCode: nil, stdoutBytes: Int64.max,
                stderrBytes: 0, durationMs: 12, completedAt: moment, tenantId: "acme", outcome: .abandoned), eventID: "e-3"),
        EventRecord(
            CliToolSemanticRejected(
                executionId: "0190a5c2-7d4e-7000-8000-000000000002", toolName: "git", requestedSubcommand: "git push",
                rejectionReason: "\"force\" push\\denied\nbell\u{07} café 🚀", securityContext: "developer", rejectedAt: moment,
                ruleId: "git-no-force", policyDigest: "sha256:p", tenantId: "acme", args: ["push", "-f"]), eventID: "e-4"),
    ]

    static let texts: [String] = [
        #"{"docker_image":"localhost/airlock/jq:1","event_id":"e-1","name":"jq","registered_at":"2026-11-18T11:06:40.125Z"}"#,
        #"{"args":["log","--format=%H\t%s","--","a/b c"],"command":["/usr/bin/git"],"container_name":"airlock-0190a5c2-7d4e-7000-8000-000000000001","docker_image":"localhost/airlock/tools:1","engine":"podman 4.3.1","event_id":"e-2","execution_id":"0190a5c2-7d4e-7000-8000-000000000001","owner":"host:1:2:3:4:i","policy_digest":"sha256:p","requested_subcommand":"git log","rule_id":"git-read","sandbox_digest":"sha256:b","seccomp_profile_digest":"sha256:s","security_context":"developer","started_at":"2026-11-18T11:06:40.125Z","tenant_id":"acme","timeout_ms":30000,"tool_name":"git","trace_id":"t-1"}"#,
        #"{"abandoned":true,"cancelled":false,"completed_at":"2026-11-18T11:06:40.125Z","duration_ms":12,"event_id":"e-3","execution_id":"0190a5c2-7d4e-7000-8000-000000000001","exit_code":null,"oom_killed":false,"outcome":"abandoned","stderr_bytes":0,"stderr_truncated":false,"stdout_bytes":9223372036854775807,"stdout_truncated":false,"tenant_id":"acme","timed_out":false,"tool_name":"git"}"#,
        #"{"args":["push","-f"],"event_id":"e-4","execution_id":"0190a5c2-7d4e-7000-8000-000000000002","policy_digest":"sha256:p","rejected_at":"2026-11-18T11:06:40.125Z","rejection_reason":"\"force\" push\\denied\nbell\u0007 café 🚀","requested_subcommand":"git push","rule_id":"git-no-force","security_context":"developer","tenant_id":"acme","tool_name":"git"}"#,
    ]

    /// The head of the chain over the four events, ids 1 to 4, as the SQLite store links them.
    static let head = "96bde454813338e464e3219be3e91020d7f842df7b428ee28e6e3264f8971228"

    @Test func eachPayloadIsTheTextAlreadyWritten() {
        for (record, text) in zip(Self.records, Self.texts) {
            #expect(Array(record.payload.utf8) == Array(text.utf8), "\(record.type.rawValue):\n\(record.payload)")
        }
    }

    /// Each payload reads back as the event it was written from.
    @Test func eachPayloadReadsBack() throws {
        #expect(try Self.records[0].decode(CliToolRegistered.self) == CliToolRegistered(
            name: "jq", dockerImage: "localhost/airlock/jq:1", registeredAt: Self.moment))
        let started = try Self.records[1].decode(CliToolInvocationStarted.self)
        #expect(started.args == ["log", "--format=%H\t%s", "--", "a/b c"] && started.sandboxDigest == "sha256:b" && started.timeoutMs == 30000)
        let completed = try Self.records[2].decode(CliToolInvocationCompleted.self)
        #expect(completed.exitCode == nil && completed.stdoutBytes == Int64.max && completed.outcome == .abandoned && completed.traceId == nil)
        let rejected = try Self.records[3].decode(CliToolSemanticRejected.self)
        #expect(Array(rejected.rejectionReason.utf8) == Array("\"force\" push\\denied\nbell\u{07} café 🚀".utf8))
    }

    /// `--shadow-policy`'s decision, where it differs: three flat fields, absent otherwise (the
    /// pinned texts above have none).
    @Test func shadowFieldsAreFlatAndOnlyWhereSet() throws {
        var rejected = try Self.records[3].decode(CliToolSemanticRejected.self)
        rejected.shadowAllowed = true
        rejected.shadowRuleId = "git-push"
        rejected.shadowPolicyDigest = "sha256:q"
        let record = EventRecord(rejected, eventID: "e-5")
        let expected = Self.texts[3].replacingOccurrences(of: #""event_id":"e-4""#, with: #""event_id":"e-5""#)
            .replacingOccurrences(
                of: #""tenant_id""#, with: #""shadow_allowed":true,"shadow_policy_digest":"sha256:q","shadow_rule_id":"git-push","tenant_id""#)
        #expect(Array(record.payload.utf8) == Array(expected.utf8), "\(record.payload)")
        #expect(try record.decode(CliToolSemanticRejected.self) == rejected)
        var started = try Self.records[1].decode(CliToolInvocationStarted.self)
        started.shadowAllowed = false
        started.shadowRuleId = "git-no-log"
        started.shadowPolicyDigest = "sha256:q"
        #expect(try EventRecord(started, eventID: "e-6").decode(CliToolInvocationStarted.self) == started)
    }

    /// The secrets' names and fingerprints are new fields, written only when secrets were given:
    /// the texts above, without them, are unchanged.
    @Test func secretsAreNamesAndFingerprintsOnly() throws {
        let started = CliToolInvocationStarted(
            executionId: "x", toolName: "gh", dockerImage: "i:1", command: ["/usr/bin/gh"], args: [], tenantId: "acme", startedAt: Self.moment,
            securityContext: "c", ruleId: "r", requestedSubcommand: "gh", policyDigest: "sha256:p", seccompProfileDigest: "sha256:s",
            engine: "podman 4.3.1", containerName: "airlock-x", owner: "o", timeoutMs: 1, secrets: ["GH_TOKEN": "0a1b2c3d", "A": "ffffffff"])
        let record = EventRecord(started, eventID: "e-5")
        #expect(record.payload.hasSuffix(#","secrets":{"A":"ffffffff","GH_TOKEN":"0a1b2c3d"},"security_context":"c","started_at":"2026-11-18T11:06:40.125Z","tenant_id":"acme","timeout_ms":1,"tool_name":"gh"}"#), "\(record.payload)")
        #expect(try record.decode(CliToolInvocationStarted.self).secrets == ["GH_TOKEN": "0a1b2c3d", "A": "ffffffff"])
        let completed = CliToolInvocationCompleted(
            executionId: "x", toolName: "gh", exitCode: 0, stdoutBytes: 1, stderrBytes: 0, durationMs: 1, completedAt: Self.moment, tenantId: "acme",
            outcome: .exited, secrets: ["GH_TOKEN": "0a1b2c3d"])
        let completedRecord = EventRecord(completed, eventID: "e-6")
        #expect(completedRecord.payload.contains(#""secrets":{"GH_TOKEN":"0a1b2c3d"}"#), "\(completedRecord.payload)")
        #expect(try completedRecord.decode(CliToolInvocationCompleted.self).secrets == ["GH_TOKEN": "0a1b2c3d"])
        #expect(!Self.records[1].payload.contains("secrets") && !Self.records[2].payload.contains("secrets"))
    }

    /// `Completed` of a tool with egress: the list of attempts, a denied one with its reason, and
    /// the count of attempts dropped beyond those kept; the other fields as before.
    @Test func completedWithEgress() throws {
        let completed = CliToolInvocationCompleted(
            executionId: "0190a5c2-7d4e-7000-8000-000000000005", toolName: "kubectl", exitCode: 0, stdoutBytes: 10, stderrBytes: 0,
            durationMs: 812, completedAt: Self.moment, tenantId: "acme", outcome: .exited,
            egress: [
                EgressConnection(host: "kube.internal.example", port: 6443, bytesSent: 1517, bytesReceived: 4311, allowed: true),
                EgressConnection(host: "10.0.0.1", port: 443, bytesSent: 0, bytesReceived: 0, allowed: false, reason: "not_allowed"),
            ], egressDropped: 3)
        let record = EventRecord(completed, eventID: "e-5")
        let text =
            #"{"abandoned":false,"cancelled":false,"completed_at":"2026-11-18T11:06:40.125Z","duration_ms":812,"egress":[{"allowed":true,"bytes_received":4311,"bytes_sent":1517,"host":"kube.internal.example","port":6443},{"allowed":false,"bytes_received":0,"bytes_sent":0,"host":"10.0.0.1","port":443,"reason":"not_allowed"}],"egress_dropped":3,"event_id":"e-5","execution_id":"0190a5c2-7d4e-7000-8000-000000000005","exit_code":0,"oom_killed":false,"outcome":"exited","stderr_bytes":0,"stderr_truncated":false,"stdout_bytes":10,"stdout_truncated":false,"tenant_id":"acme","timed_out":false,"tool_name":"kubectl"}"#
        #expect(Array(record.payload.utf8) == Array(text.utf8), "\(record.payload)")
        #expect(try record.decode(CliToolInvocationCompleted.self) == completed)
    }

    /// Every control character escaped, by name where JSON has one, else as `\u00xx`; quotes and
    /// backslashes escaped; nothing else (slashes, DEL, U+2028, accents and emoji as they are).
    @Test func stringsAreEscapedAsJSONRequiresAndNoMore() throws {
        let text = (0..<32).map { String(UnicodeScalar(UInt8($0))) }.joined() + "\u{7F}/\u{2028}é\"\\"
        let record = EventRecord(CliToolRegistered(name: text, dockerImage: "i", registeredAt: Self.moment), eventID: "e")
        let escaped =
            #"\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f"#
            + #"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f"#
            + "\u{7F}/\u{2028}é" + #"\"\\"#
        let expected = #"{"docker_image":"i","event_id":"e","name":""# + escaped + #"","registered_at":"2026-11-18T11:06:40.125Z"}"#
        #expect(Array(record.payload.utf8) == Array(expected.utf8), "\(record.payload)")
        #expect(try record.decode(CliToolRegistered.self).name == text)
    }

    /// The chain an earlier build wrote over these events: the same head, and it verifies.
    @Test func aChainWrittenBeforeLinksTheSame() async throws {
        var links: [ChainLink] = []
        for (index, record) in Self.records.enumerated() {
            let id = Int64(index + 1)
            let createdAt = Timestamp.sqlite(record.createdAt)
            links.append(
                ChainLink(
                    id: id, eventType: record.type.rawValue, createdAt: createdAt, payload: record.payload,
                    chainHash: AuditChain.hash(
                        previous: links.last?.chainHash, id: id, eventType: record.type.rawValue, createdAt: createdAt, payload: record.payload)))
        }
        #expect(links.last?.chainHash == Self.head)
        // The verifier, over the pinned texts and the pinned head: the trail an earlier build wrote.
        let written = zip(links, Self.texts).map { link, text in
            ChainLink(id: link.id, eventType: link.eventType, createdAt: link.createdAt, payload: text, chainHash: link.chainHash)
        }
        let result = try await AuditChainVerifier(pageSize: 2) { afterID, limit in Array(written.filter { $0.id > afterID }.prefix(limit)) }.verify()
        #expect(result.breach == nil)
        #expect(result.verified == 4)
        #expect(result.head?.chainHash == Self.head)
    }
}
