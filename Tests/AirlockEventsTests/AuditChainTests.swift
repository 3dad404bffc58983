import AirlockEvents
import Foundation
import Testing

/// The chain's encoding, and what the verifier makes of each way a row can be tampered with,
/// on chains built in memory (the stores' own chains: `AuditChainStoreTests`).
@Suite("audit chain")
struct AuditChainTests {
    /// Pinned, computed independently (Python's hashlib over the documented encoding): a change of
    /// the encoding breaks every chain already written, so it must show here first.
    @Test func theEncodingIsPinned() {
        let first = AuditChain.hash(
            previous: nil, id: 1, eventType: "CliToolInvocationStarted", createdAt: "2026-11-23 10:15:30.123",
            payload: #"{"event_id":"e1","execution_id":"x"}"#)
        #expect(first == "3ea93776bf1b147e5881861bd6c0e159ab517b02cb2c1dc56bcc9abbf6e32aa2")
        let second = AuditChain.hash(
            previous: first, id: 2, eventType: "CliToolInvocationCompleted", createdAt: "2026-11-23 10:15:30.456",
            payload: #"{"event_id":"e2","execution_id":"x","tool_name":"gït"}"#)
        #expect(second == "3b468964f2babe681d7f6c2c75582fe158846da2e4845b2ee26f12f97674b590")
        #expect(AuditChain.hash(previous: "", id: 1, eventType: "A", createdAt: "B", payload: "C") == AuditChain.hash(
            previous: nil, id: 1, eventType: "A", createdAt: "B", payload: "C"), "the first event follows the empty string")
    }

    /// Length prefixes: moving bytes from one field to the next changes the hash.
    @Test func fieldBoundariesCount() {
        let one = AuditChain.hash(previous: nil, id: 1, eventType: "ab", createdAt: "c", payload: "{}")
        let other = AuditChain.hash(previous: nil, id: 1, eventType: "a", createdAt: "bc", payload: "{}")
        #expect(one != other)
    }

    /// Five chained events, ids 1…5, as Airlock writes them.
    static func chain(count: Int = 5, startingAt first: Int64 = 1) -> [ChainLink] {
        var links: [ChainLink] = []
        for offset in 0..<Int64(count) {
            let id = first + offset
            let type = offset % 2 == 0 ? "CliToolInvocationStarted" : "CliToolInvocationCompleted"
            let createdAt = "2026-11-23 10:15:3\(offset).000"
            let payload = #"{"event_id":"e\#(id)","execution_id":"x\#(offset / 2)"}"#
            links.append(
                ChainLink(
                    id: id, eventType: type, createdAt: createdAt, payload: payload,
                    chainHash: AuditChain.hash(previous: links.last?.chainHash, id: id, eventType: type, createdAt: createdAt, payload: payload)))
        }
        return links
    }

    static func verify(_ rows: [ChainLink], pageSize: Int = 2) async throws -> ChainVerification {
        let sorted = rows.sorted { $0.id < $1.id }
        return try await AuditChainVerifier(pageSize: pageSize) { afterID, limit in
            Array(sorted.filter { $0.id > afterID }.prefix(limit))
        }.verify()
    }

    static func foreign(_ id: Int64, _ type: String = "WorkflowInvocationFailed") -> ChainLink {
        ChainLink(id: id, eventType: type, createdAt: "2026-11-23 09:00:00", payload: #"{"workflow_id":"wf"}"#, chainHash: nil)
    }

    @Test(arguments: [1, 2, 3, 1000])
    func anIntactChainVerifies(pageSize: Int) async throws {
        let result = try await Self.verify(Self.chain(), pageSize: pageSize)
        #expect(result.breach == nil)
        #expect(result.verified == 5)
        #expect(result.head == ChainHead(id: 5, chainHash: Self.chain()[4].chainHash!))
    }

    @Test func anEmptyTableVerifies() async throws {
        let result = try await Self.verify([])
        #expect(result.breach == nil && result.verified == 0 && result.head == nil)
    }

    /// The gateway's rows, and Airlock's from before the chain, are not links; the gateway's rows
    /// after the chain began are skipped too.
    @Test func rowsOfOtherWritersAreSkipped() async throws {
        let before = [Self.foreign(1), Self.foreign(2, "CliToolRegistered")]
        let chained = Self.chain(count: 3, startingAt: 3)
        let after = [Self.foreign(6, "ApiSpecRegistered")]
        let result = try await Self.verify(before + chained + after)
        #expect(result.breach == nil)
        #expect(result.verified == 3 && result.skipped == 3)
    }

    struct Tampering: Sendable, CustomTestStringConvertible {
        var name: String
        var change: @Sendable ([ChainLink]) -> [ChainLink]
        var id: Int64
        var kind: ChainBreach.Kind
        var says: String
        var testDescription: String { name }
    }

    static let tamperings: [Tampering] = [
        Tampering(
            name: "payload edited", change: { rows in rows.map { var row = $0; if row.id == 3 { row.payload = #"{"event_id":"e3"}"# }; return row } },
            id: 3, kind: .edited, says: "payload or created_at"),
        Tampering(
            name: "event type changed",
            change: { rows in rows.map { var row = $0; if row.id == 2 { row.eventType = "CliToolInvocationStarted" }; return row } },
            id: 2, kind: .edited, says: "its event_type was CliToolInvocationCompleted, now CliToolInvocationStarted"),
        Tampering(name: "row deleted", change: { rows in rows.filter { $0.id != 3 } }, id: 4, kind: .deleted, says: "id 3 is missing"),
        Tampering(name: "two rows deleted", change: { rows in rows.filter { $0.id != 2 && $0.id != 3 } }, id: 4, kind: .deleted, says: "ids 2…3 are missing"),
        Tampering(
            name: "ids swapped",
            change: { rows in rows.map { var row = $0; if row.id == 2 { row.id = 3 } else if row.id == 3 { row.id = 2 }; return row } },
            id: 2, kind: .reordered, says: "ids 2 and 3 are out of order"),
        Tampering(
            name: "ids renumbered", change: { rows in rows.map { var row = $0; if row.id >= 3 { row.id += 100 }; return row } },
            id: 103, kind: .reordered, says: "written as id 3"),
        Tampering(
            name: "forged row without a hash",
            change: { rows in rows + [ChainLink(id: 6, eventType: "CliToolInvocationCompleted", createdAt: "x", payload: "{}", chainHash: nil)] },
            id: 6, kind: .forged, says: "without a chain hash"),
        Tampering(
            name: "forged row with a made-up hash, between two events",
            change: { rows in
                rows.map { var row = $0; if row.id >= 3 { row.id += 1 }; return row }
                    + [ChainLink(id: 3, eventType: "CliToolInvocationStarted", createdAt: "x", payload: "{}", chainHash: String(repeating: "0", count: 64))]
            },
            id: 3, kind: .reordered, says: "written as id 3"),
        Tampering(
            name: "the first event deleted", change: { rows in rows.filter { $0.id != 1 } }, id: 2, kind: .deleted, says: "id 1 is missing"),
    ]

    @Test(arguments: tamperings)
    func tamperingIsFound(_ tampering: Tampering) async throws {
        for pageSize in [1, 2, 1000] {
            let result = try await Self.verify(tampering.change(Self.chain()), pageSize: pageSize)
            let breach = try #require(result.breach, "\(tampering.name) went unnoticed")
            #expect(breach.id == tampering.id, "\(breach)")
            #expect(breach.kind == tampering.kind, "\(breach)")
            #expect(breach.message.contains(tampering.says), "\(breach)")
        }
    }

    /// A row inserted between two events, with a hash of its own and an id of its own, while the
    /// rows around keep theirs (there was a gap): the next event still follows the previous one.
    @Test func anInsertedRowIsForged() async throws {
        var rows = Self.chain()
        // Ids 1, 2, then 4, 5, 6: the chain written with a gap at 3 (a rolled-back id on PostgreSQL).
        rows = rows.map { var row = $0; if row.id >= 3 { row.id += 1 }; return row }
        var previous: String?
        for index in rows.indices {
            rows[index].chainHash = rows[index].expectedHashForTests(after: previous)
            previous = rows[index].chainHash
        }
        #expect(try await Self.verify(rows).breach == nil)
        let forged = ChainLink(id: 3, eventType: "CliToolInvocationCompleted", createdAt: "x", payload: "{}", chainHash: String(repeating: "f", count: 64))
        let breach = try #require(try await Self.verify(rows + [forged]).breach)
        #expect(breach.id == 3 && breach.kind == .forged, "\(breach)")
        #expect(breach.message.contains("id 4, follows id 2 directly"), "\(breach)")
    }

    /// The in-memory store keeps the chain as the real stores do, refusals included.
    @Test func theInMemoryStoreChains() async throws {
        let store = InMemoryEventStore()
        let completed = Samples.completed(executionID: "x")
        let again = EventRecord(Samples.completedPayload(executionID: "x"))
        let outcomes = try await store.appendReportingOutcomes([Samples.started(executionID: "x"), completed, again, completed])
        #expect(outcomes.map(\.kind) == [.appended, .appended, .refusedSecondCompletion, .alreadyStored])
        #expect(outcomes.map(\.id) == [1, 2, 2, 2])
        let result = try await AuditChainVerifier(store: store, pageSize: 1).verify()
        #expect(result.breach == nil && result.verified == 2)
    }
}

extension ChainLink {
    func expectedHashForTests(after previous: String?) -> String {
        AuditChain.hash(previous: previous, id: id, eventType: eventType, createdAt: createdAt, payload: payload)
    }
}
