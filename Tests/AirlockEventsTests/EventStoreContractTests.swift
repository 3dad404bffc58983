import AirlockEvents
import Foundation
import Testing

/// The contract every EventStore keeps, run against each backend: SQLite (a real file) and the
/// in-memory store and PostgreSQL (a real server, stopped to break it).
@Suite struct EventStoreContractTests {
    @Test(arguments: StoreBackend.allCases)
    func everyEventRoundTrips(_ backend: StoreBackend) async throws {
        let fixture = try await backend.fixture()
        defer { fixture.cleanUp() }
        let store = try await fixture.open()
        let records = Samples.oneOfEach(executionID: "exec-rt")
        let ids = try await store.append(records)
        #expect(ids.count == 4)
        #expect(ids == ids.sorted() && Set(ids).count == 4, "ids increase")
        let stored = try await store.events(matching: EventQuery())
        #expect(stored.map(\.eventType) == records.map(\.type.rawValue))
        #expect(stored.map(\.id) == ids)
        for (row, record) in zip(stored, records) {
            #expect(abs(row.createdAt.timeIntervalSince(record.createdAt)) < 0.001, "created_at is the event's own time")
            #expect(try Samples.object(row.payload) as NSDictionary == (try Samples.object(record.payload)) as NSDictionary)
        }
        let started = try stored[1].decode(CliToolInvocationStarted.self)
        #expect(started.args == ["log", "--oneline", "--", "a b"])
        await store.close()
    }

    @Test(arguments: StoreBackend.allCases)
    func sameEventIDIsWrittenOnce(_ backend: StoreBackend) async throws {
        let fixture = try await backend.fixture()
        defer { fixture.cleanUp() }
        let store = try await fixture.open()
        let record = Samples.oneOfEach(executionID: "exec-dup")[2]
        let first = try await store.append(record)
        let again = try await store.append([record, record])
        #expect(again == [first, first])
        #expect(try await store.events(matching: EventQuery()).count == 1)
        await store.close()
    }

    /// One append is one transaction: a batch holding a record the store refuses (a payload that
    /// is not JSON) stores none of its records, and the store takes the next append as usual. (The
    /// in-memory store checks no payloads.)
    @Test(arguments: [StoreBackend.sqlite, .sqliteOneShot, .postgres])
    func aRefusedBatchStoresNothing(_ backend: StoreBackend) async throws {
        let fixture = try await backend.fixture()
        defer { fixture.cleanUp() }
        let store = try await fixture.open()
        let records = Samples.oneOfEach(executionID: "exec-atomic")
        let refused = EventRecord(eventID: TimeOrderedUUID.make(), type: .cliToolInvocationCompleted, createdAt: Date(), payload: "{not json")
        await #expect(throws: EventStoreError.self) { try await store.append([records[1], refused, records[2]]) }
        #expect(try await store.events(matching: EventQuery()).isEmpty, "nothing of the refused batch is stored")
        #expect(try await store.unfinishedInvocations().isEmpty, "its Started opened no invocation")
        let ids = try await store.append(records)
        #expect(ids.count == 4)
        #expect(try await store.events(matching: EventQuery()).count == 4)
        await store.close()
    }

    @Test(arguments: StoreBackend.allCases)
    func concurrentWritersLoseNothing(_ backend: StoreBackend) async throws {
        let fixture = try await backend.fixture()
        defer { fixture.cleanUp() }
        let store = try await fixture.open()
        let ids = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for writer in 0..<8 {
                group.addTask {
                    var ids: [Int64] = []
                    for index in 0..<250 {
                        ids.append(try await store.append(Samples.completed(executionID: "exec-\(writer)-\(index)")))
                    }
                    #expect(ids == ids.sorted(), "one writer's events keep their order")
                    return ids
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(ids.count == 2000 && Set(ids).count == 2000)
        let stored = try await store.events(matching: EventQuery(limit: 5000))
        #expect(stored.count == 2000)
        #expect(Set(stored.compactMap { $0.field("execution_id") }).count == 2000)
        #expect(stored.map(\.id) == stored.map(\.id).sorted())
        await store.close()
    }

    @Test(arguments: StoreBackend.allCases)
    func queriesFilterAndPage(_ backend: StoreBackend) async throws {
        let fixture = try await backend.fixture()
        defer { fixture.cleanUp() }
        let store = try await fixture.open()
        let old = Date().addingTimeInterval(-7200)
        _ = try await store.append(Samples.oneOfEach(executionID: "exec-old", tenant: "acme", at: old))
        let recent = try await store.append(Samples.oneOfEach(executionID: "exec-new", tenant: "globex"))
        let byExecution = try await store.events(matching: EventQuery(executionID: "exec-new"))
        #expect(byExecution.map(\.id) == Array(recent[1...]), "CliToolRegistered has no execution id")
        let byTenant = try await store.events(matching: EventQuery(tenantID: "acme"))
        #expect(byTenant.count == 4)
        let rejections = try await store.events(matching: EventQuery(types: [.cliToolSemanticRejected]))
        #expect(rejections.count == 2)
        let lastHour = try await store.events(matching: EventQuery(since: Date().addingTimeInterval(-3600)))
        #expect(lastHour.map(\.id) == recent)
        let page = try await store.events(matching: EventQuery(afterID: recent[0], limit: 2))
        #expect(page.map(\.id) == Array(recent[1...2]))
        await store.close()
    }

    @Test(arguments: StoreBackend.allCases)
    func reopeningKeepsRowsAndMigrationsAreIdempotent(_ backend: StoreBackend) async throws {
        let fixture = try await backend.fixture()
        defer { fixture.cleanUp() }
        let store = try await fixture.open()
        let ids = try await store.append(Samples.oneOfEach(executionID: "exec-keep"))
        await store.close()
        for _ in 0..<2 {
            let reopened = try await fixture.open()
            #expect(try await reopened.events(matching: EventQuery()).map(\.id) == ids)
            await reopened.close()
        }
        let reopened = try await fixture.open()
        let next = try await reopened.append(Samples.completed(executionID: "exec-after"))
        #expect(next > ids.last!, "ids keep increasing after a reopen")
        await reopened.close()
    }

    @Test(arguments: StoreBackend.allCases)
    func unfinishedInvocationsAreStartedWithoutCompleted(_ backend: StoreBackend) async throws {
        let fixture = try await backend.fixture()
        defer { fixture.cleanUp() }
        let store = try await fixture.open()
        let doneStarted = Samples.started(executionID: "done")
        // One batch holds a Started and its Completed: it must not stay open.
        _ = try await store.append([
            doneStarted, Samples.started(executionID: "open-1"), Samples.completed(executionID: "done"),
            Samples.started(executionID: "open-2"),
        ])
        #expect(try await store.unfinishedInvocations().compactMap { $0.field("execution_id") } == ["open-1", "open-2"])
        // A redelivered Started (a retry after a lost answer) does not reopen a finished invocation.
        _ = try await store.append([doneStarted])
        _ = try await store.append(Samples.completed(executionID: "open-1"))
        #expect(try await store.unfinishedInvocations().compactMap { $0.field("execution_id") } == ["open-2"])
        await store.close()
        let reopened = try await fixture.open()
        #expect(try await reopened.unfinishedInvocations().compactMap { $0.field("execution_id") } == ["open-2"])
        await reopened.close()
    }

    /// The store goes away in the middle of a run: `Completed` goes to the spool, and once the store
    /// is back the spool delivers it — exactly once, even if delivery runs twice or is interrupted.
    @Test(arguments: StoreBackend.allCases)
    func spoolDeliversWhatTheStoreMissedExactlyOnce(_ backend: StoreBackend) async throws {
        let fixture = try await backend.fixture()
        defer { fixture.cleanUp() }
        let store = try await fixture.open()
        let spoolDirectory = fixture.scratch + "/spool"
        let trail = AuditTrail(store: store, spool: try EventSpool(directory: spoolDirectory))
        try await trail.recordStarted(Samples.startedPayload(executionID: "exec-spool"))

        try await fixture.breakStore()
        await #expect(throws: EventStoreError.self) { try await trail.recordStarted(Samples.startedPayload(executionID: "exec-refused")) }
        let delivery = try await trail.record(Samples.completedPayload(executionID: "exec-spool"))
        #expect(delivery == .spooled)
        let stillDown = await trail.deliverSpool()
        #expect(stillDown.delivered == 0 && stillDown.remaining == 1 && stillDown.error != nil)

        try await fixture.healStore()
        // A restarted process finds the same spool on disk.
        let restarted = AuditTrail(store: store, spool: try EventSpool(directory: spoolDirectory))
        // A redelivery after a lost acknowledgement: the store already has it, the spool still does.
        let pending = restarted.spool.pending().records
        #expect(pending.count == 1)
        _ = try await store.append(pending[0])
        let flushed = await restarted.deliverSpool()
        #expect(flushed.delivered == 1 && flushed.remaining == 0 && flushed.error == nil && flushed.problems.isEmpty)
        #expect(await restarted.deliverSpool().delivered == 0)
        #expect(restarted.spool.isEmpty)

        let events = try await store.events(matching: EventQuery(executionID: "exec-spool"))
        #expect(events.map(\.eventType) == ["CliToolInvocationStarted", "CliToolInvocationCompleted"])
        #expect(try await store.events(matching: EventQuery(executionID: "exec-refused")).isEmpty)
        await store.close()
    }

    /// A crash between Started and Completed: the next start removes the container and writes a
    /// `Completed` with `abandoned: true` — once, and only for invocations whose owner is gone.
    @Test(arguments: StoreBackend.allCases)
    func crashBetweenStartedAndCompletedIsReconciled(_ backend: StoreBackend) async throws {
        let fixture = try await backend.fixture()
        defer { fixture.cleanUp() }
        let store = try await fixture.open()
        let trail = AuditTrail(store: store, spool: try EventSpool(directory: fixture.scratch + "/spool"))
        try await trail.recordStarted(Samples.startedPayload(executionID: "crashed", owner: "host:dead"))
        try await trail.recordStarted(Samples.startedPayload(executionID: "running", owner: "host:alive"))
        try await trail.recordStarted(Samples.startedPayload(executionID: "spooled", owner: "host:dead"))
        try await fixture.breakStore()
        #expect(try await trail.record(Samples.completedPayload(executionID: "spooled")) == .spooled)
        try await fixture.healStore()

        let removed = Mutex<[String]>([])
        let reconciled = try await trail.reconcile(
            isOwnerGone: { $0 == "host:dead" }, removeContainer: { name in removed.withLock { $0.append(name) } })
        #expect(reconciled == ["crashed"])
        #expect(removed.withLock { $0 } == ["airlock-crashed"])
        let again = try await trail.reconcile(isOwnerGone: { _ in true }, removeContainer: { _ in })
        #expect(again == ["running"], "a later start reconciles the other one once its owner is gone")
        #expect(try await trail.reconcile(isOwnerGone: { _ in true }, removeContainer: { _ in }).isEmpty)

        let completed = try await store.events(matching: EventQuery(types: [.cliToolInvocationCompleted]))
        #expect(completed.count == 3)
        let crashed = try #require(completed.first { $0.field("execution_id") == "crashed" })
        let payload = try Samples.object(crashed.payload)
        #expect(payload["abandoned"] as? Bool == true)
        #expect(payload["exit_code"] is NSNull)
        await store.close()
    }

    /// Registered tools: per tenant, never replaced, bounded, and each registration with its event.
    @Test(arguments: StoreBackend.allCases)
    func registeredToolsArePerTenant(_ backend: StoreBackend) async throws {
        let fixture = try await backend.fixture()
        defer { fixture.cleanUp() }
        let store = try await fixture.open()
        let registry = try #require(store as? any ToolRegistryStore)
        func tool(_ name: String, _ tenant: String, image: String = "airlock/jq:1") -> RegisteredTool {
            RegisteredTool(
                name: name, tenantId: tenant, description: "d", dockerImage: image, allowedSubcommands: ["log"],
                requireSemanticJudge: true, defaultTimeoutSeconds: 30, grammar: "git")
        }
        #expect(try await registry.register(tool("jq", "acme"), limit: 2) == .registered)
        #expect(try await registry.register(tool("jq", "acme", image: "airlock/other:1"), limit: 2) == .nameTaken)
        #expect(try await registry.register(tool("jq", "globex"), limit: 2) == .registered, "tenants have their own names")
        #expect(try await registry.register(tool("yq", "acme"), limit: 2) == .registered)
        #expect(try await registry.register(tool("zq", "acme"), limit: 2) == .limitReached)
        #expect(try await registry.registeredTools(tenantID: "acme").map(\.name) == ["jq", "yq"])
        #expect(try await registry.registeredTool(name: "jq", tenantID: "acme")?.dockerImage == "airlock/jq:1", "not replaced")
        #expect(try await registry.registeredTools(tenantID: "initech").isEmpty)
        #expect(try await registry.removeRegisteredTool(name: "jq", tenantID: "globex"))
        #expect(try await !registry.removeRegisteredTool(name: "jq", tenantID: "globex"))
        #expect(try await registry.registeredTool(name: "jq", tenantID: "acme") != nil, "another tenant's removal leaves it")
        let events = try await store.events(matching: EventQuery(types: [.cliToolRegistered]))
        #expect(events.count == 3, "one CliToolRegistered per registration, none for refusals")
        #expect(events.map { $0.field("tenant_id") } == ["acme", "globex", "acme"])
        await store.close()
    }
}

import Synchronization
