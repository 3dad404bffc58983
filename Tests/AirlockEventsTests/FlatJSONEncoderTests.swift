import Foundation
import Testing

@testable import AirlockEvents

/// Payloads are written by a hand-made encoder; its text must be exactly what `JSONEncoder` with
/// the trail's settings writes, whatever the strings hold, or equal events would stop having equal text.
struct FlatJSONEncoderTests {
    /// Quotes, backslashes, slashes, every control character, DEL, non-ASCII and an emoji.
    static let awkward = "q\"b\\s/ctl" + (0..<32).map { String(UnicodeScalar(UInt8($0))) }.joined() + "\u{7F}é✓🚀\u{2028}end"
    /// Canonically equivalent to "é" but not the same bytes: compared as Strings they are equal,
    /// so the texts are compared as bytes.
    static let decomposed = "e\u{301} </script> \u{FEFF}\u{10FFFF}"
    static let moment = Date(timeIntervalSince1970: 1_795_000_000.125)
    static let beforeEpoch = Date(timeIntervalSince1970: -86_400.125)

    static var records: [(String, EventRecord)] {
        [
            ("registered", EventRecord(CliToolRegistered(name: awkward, dockerImage: "img:1", registeredAt: moment, allowedSubcommands: [awkward, "log"]), eventID: "e-1")),
            ("registered, optionals absent", EventRecord(CliToolRegistered(name: "git", dockerImage: "img:1", registeredAt: moment), eventID: "e-2")),
            (
                "started",
                EventRecord(
                    CliToolInvocationStarted(
                        executionId: "x", toolName: awkward, dockerImage: "i", command: ["/usr/bin/git"], args: [awkward, "", "--x=/y"],
                        tenantId: "t", startedAt: moment, securityContext: "c", ruleId: "r", requestedSubcommand: "git log",
                        policyDigest: "sha256:p", seccompProfileDigest: "sha256:s", engine: "podman 4.3.1", containerName: "airlock-x",
                        owner: "h:1", timeoutMs: -5, traceId: awkward), eventID: "e-3")
            ),
            (
                "completed, exit code unknown",
                EventRecord(
                    CliToolInvocationCompleted(
                        executionId: "x", toolName: "git", exitCode: nil, stdoutBytes: Int64.max, stderrBytes: 0, durationMs: 12,
                        completedAt: moment, tenantId: "t", outcome: .abandoned, engineError: awkward), eventID: "e-4")
            ),
            (
                "completed",
                EventRecord(
                    CliToolInvocationCompleted(
                        executionId: "x", toolName: "git", exitCode: -1, stdoutBytes: 1, stderrBytes: 2, durationMs: 3, completedAt: moment,
                        tenantId: "t", outcome: .timedOut, oomKilled: true, stdoutTruncated: true), eventID: "e-5")
            ),
            (
                "started, every optional present, extreme numbers",
                EventRecord(
                    CliToolInvocationStarted(
                        executionId: decomposed, toolName: "", dockerImage: "registry/a/b@sha256:00", command: [], args: [decomposed, awkward],
                        tenantId: "t", startedAt: beforeEpoch, securityContext: "c", ruleId: "r", requestedSubcommand: "",
                        policyDigest: "sha256:p", seccompProfileDigest: "sha256:s", sandboxDigest: "sha256:box", engine: "docker 28.2.2",
                        containerName: "airlock-x", owner: "h:1:2:3:4:i", timeoutMs: Int64.min, traceId: "00-abc-01"), eventID: decomposed)
            ),
            (
                "completed, extreme numbers",
                EventRecord(
                    CliToolInvocationCompleted(
                        executionId: "x", toolName: decomposed, exitCode: Int32.min, stdoutBytes: Int64.min, stderrBytes: Int64.max,
                        durationMs: Int64.max, completedAt: beforeEpoch, tenantId: awkward, outcome: .engineFailure,
                        stdoutTruncated: true, stderrTruncated: true, engineError: "", traceId: decomposed), eventID: "e-7")
            ),
            (
                "completed, exit 255 and cancelled",
                EventRecord(
                    CliToolInvocationCompleted(
                        executionId: "x", toolName: "git", exitCode: 255, stdoutBytes: 0, stderrBytes: 0, durationMs: 0,
                        completedAt: moment, tenantId: "t", outcome: .cancelled), eventID: "e-8")
            ),
            (
                "registered, every optional present",
                EventRecord(
                    CliToolRegistered(
                        name: "jq", dockerImage: "img:1", registeredAt: beforeEpoch, tenantId: decomposed, description: awkward,
                        allowedSubcommands: [], grammar: "jq", traceId: "t"), eventID: "e-9")
            ),
            (
                "rejected",
                EventRecord(
                    CliToolSemanticRejected(
                        executionId: "x", toolName: "git", requestedSubcommand: "git push", rejectionReason: awkward, securityContext: "ro",
                        rejectedAt: moment, ruleId: "deny", policyDigest: "d", tenantId: "t", args: []), eventID: "e-6")
            ),
        ]
    }

    @Test(arguments: records.map(\.0))
    func writesWhatJSONEncoderWrites(_ name: String) throws {
        let record = try #require(Self.records.first { $0.0 == name }?.1)
        let (flat, foundation) = try Self.encodings(of: record)
        #expect(Array(flat.utf8) == Array(foundation.utf8), "flat encoder and JSONEncoder disagree for \(name):\n\(flat)\n\(foundation)")
        #expect(Array(record.payload.utf8) == Array(flat.utf8), "the record's payload comes from the flat encoder")
        #expect(try JSONSerialization.jsonObject(with: Data(flat.utf8)) is [String: Any])
    }

    /// The record's payload encoded again, by the flat encoder (which must not fall back) and by
    /// JSONEncoder, with the same event id.
    static func encodings(of record: EventRecord) throws -> (flat: String, foundation: String) {
        func both(_ payload: some AuditPayload) throws -> (String, String) {
            let value = WithEventID(eventID: record.eventID, payload: payload)
            return (try FlatJSONEncoder.encode(value), try EventJSON.foundationEncode(value))
        }
        switch record.type {
        case .cliToolRegistered: return try both(try record.decode(CliToolRegistered.self))
        case .cliToolInvocationStarted: return try both(try record.decode(CliToolInvocationStarted.self))
        case .cliToolInvocationCompleted: return try both(try record.decode(CliToolInvocationCompleted.self))
        case .cliToolSemanticRejected: return try both(try record.decode(CliToolSemanticRejected.self))
        }
    }

    /// The stored definition of a registered tool goes through the same encoder.
    @Test func registeredToolDefinitionsToo() throws {
        let tool = RegisteredTool(
            name: "jq", tenantId: Self.decomposed, description: Self.awkward, dockerImage: "img:1", allowedSubcommands: [Self.awkward, ""],
            requireSemanticJudge: false, defaultTimeoutSeconds: Int.max, grammar: "jq", registeredAt: Self.beforeEpoch)
        let flat = try FlatJSONEncoder.encode(tool)
        #expect(Array(flat.utf8) == Array(try EventJSON.foundationEncode(tool).utf8))
        #expect(Array(tool.definitionJSON.utf8) == Array(flat.utf8))
        #expect(try RegisteredTool(definitionJSON: flat) == tool)
    }

    @Test func snakeCaseFollowsJSONEncoder() throws {
        struct Keys: Encodable {
            var executionId = 1, oomKilled = 2, myURLProperty = 3, a = 4, timeoutMs = 5, stdoutBytes = 6, aBC = 7
        }
        #expect(try FlatJSONEncoder.encode(Keys()) == (try EventJSON.foundationEncode(Keys())))
    }

    @Test func nestedValuesFallBackToJSONEncoder() throws {
        struct Inner: Encodable { var x = 1 }
        struct Outer: Encodable { var inner = Inner(); var numbers = [1, 2] }
        #expect(throws: FlatJSONEncoder.NotFlat.self) { try FlatJSONEncoder.encode(Outer()) }
        #expect(try EventJSON.encode(Outer()) == #"{"inner":{"x":1},"numbers":[1,2]}"#)
    }
}
