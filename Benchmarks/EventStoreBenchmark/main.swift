// Event store benchmark: durable appends per second and p50/p99 append latency, one writer and 8
// concurrent writers, for each store given. The baseline, measured in the same run on the same
// disk, is the floor of any durable append: write 300 bytes to a file and fsync it.
//
// Two ceilings put the concurrent figures in proportion. N writers that each wait for their own
// append can at best share every commit, N events a commit: so one writer appending N events per
// call is the most the store can do for them. And for SQLite, the same statements run by SQLite
// alone (its C API, no Swift between), N events per transaction: the most any store on this
// schema, this SQLite and this disk can do.
//
//   swift run -c release EventStoreBenchmark [--events sqlite:/tmp/x.sqlite] [--events postgresql://…] [--count N]
//   Benchmarks/event-stores   (starts a throwaway PostgreSQL cluster and runs both stores)
import AirlockEvents
import CSQLiteConfig
import Foundation

let arguments = CommandLine.arguments
func options(_ name: String) -> [String] {
    arguments.indices.dropLast().filter { arguments[$0] == name }.map { arguments[$0 + 1] }
}
let count = Int(options("--count").last ?? "4000")!
// On the working directory's disk, not /tmp (often tmpfs, where fsync costs nothing).
let scratch = FileManager.default.currentDirectoryPath + "/.build/event-bench-\(getpid())"
try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: scratch) }
let locations = options("--events").isEmpty ? ["sqlite:\(scratch)/events.sqlite"] : options("--events")

func sample(_ n: Int) -> EventRecord {
    EventRecord(
        CliToolInvocationStarted(
            executionId: TimeOrderedUUID.make(), toolName: "git", dockerImage: "airlock/tools:1", command: ["/usr/bin/git"],
            args: ["log", "--oneline", "-n", "20"], tenantId: "acme", securityContext: "readonly", ruleId: "git-inspect",
            requestedSubcommand: "git log", policyDigest: "sha256:0123456789abcdef", seccompProfileDigest: "sha256:fedcba9876543210",
            engine: "podman 4.3.1", containerName: "airlock-bench", owner: "bench:1", timeoutMs: 60000))
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

struct Figures {
    var perSecond: Double
    var p50: Double
    var p99: Double

    init(latencies: [Double], elapsed: Duration, events: Int) {
        let sorted = latencies.sorted()
        perSecond = Double(events) / (milliseconds(elapsed) / 1000)
        p50 = sorted[sorted.count / 2]
        p99 = sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
    }

    var text: String { String(format: "%8.0f events/s   p50 %6.3f ms   p99 %6.3f ms", perSecond, p50, p99) }
}

/// `writers` tasks each append `count / writers` events one at a time, awaiting each. The events
/// are encoded beforehand: this measures the store (encoding is measured on its own).
///
/// They are made in the order the writers append them, round robin, as concurrent invocations
/// make theirs when they start: events appended together have neighbouring times and
/// time-ordered ids, so they land in the same index pages. (Made writer by writer, the events of
/// one commit would come from eight distant stretches of every index: some 50 WAL pages per
/// commit of 8 instead of about 12, a cost no real set of concurrent callers has.)
func measure(_ store: any EventStore, writers: Int, count: Int) async throws -> Figures {
    let perWriter = count / writers
    var batches = Array(repeating: [EventRecord](), count: writers)
    for index in 0..<perWriter * writers { batches[index % writers].append(sample(index)) }
    let began = ContinuousClock.now
    let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
        for records in batches {
            group.addTask {
                var latencies: [Double] = []
                latencies.reserveCapacity(perWriter)
                for record in records {
                    let start = ContinuousClock.now
                    _ = try await store.append(record)
                    latencies.append(milliseconds(ContinuousClock.now - start))
                }
                return latencies
            }
        }
        return try await group.reduce(into: []) { $0 += $1 }
    }
    return Figures(latencies: latencies, elapsed: ContinuousClock.now - began, events: writers * perWriter)
}

/// One writer appending `batch` events per call, `count` in all. Latencies are per call.
func measureBatched(_ store: any EventStore, batch: Int, count: Int) async throws -> Figures {
    let calls = (0..<count / batch).map { call in (0..<batch).map { sample(call * batch + $0) } }
    var latencies: [Double] = []
    let began = ContinuousClock.now
    for records in calls {
        let start = ContinuousClock.now
        _ = try await store.append(records)
        latencies.append(milliseconds(ContinuousClock.now - start))
    }
    return Figures(latencies: latencies, elapsed: ContinuousClock.now - began, events: calls.count * batch)
}

struct SQLiteFailure: Error, CustomStringConvertible {
    var description: String
}

/// SQLite alone: the statements the store runs for each Started event
/// (`SQLiteEventStore.AppendStatements`), `batch` events per transaction, on one connection with
/// the store's durability (WAL, `synchronous = FULL`), in a fresh database with the store's schema.
/// Latencies are per transaction.
func sqliteAlone(path: String, batch: Int, count: Int) async throws -> Figures {
    await (try SQLiteEventStore(path: path, use: .longLived)).close()  // the schema, by the store's own migrations
    var connection: OpaquePointer?
    guard sqlite3_open_v2(path, &connection, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK, let db = connection else {
        throw SQLiteFailure(description: "cannot open \(path)")
    }
    defer { sqlite3_close_v2(db) }
    func fail(_ what: String) -> SQLiteFailure { SQLiteFailure(description: "\(what): \(String(cString: sqlite3_errmsg(db)))") }
    func execute(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw fail(sql) }
    }
    func prepare(_ sql: String) throws -> OpaquePointer {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else { throw fail(sql) }
        return statement
    }
    try execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL")
    let tip = try prepare(SQLiteEventStore.AppendStatements.chainTip)
    let insert = try prepare(SQLiteEventStore.AppendStatements.insertEvent)
    let open = try prepare(SQLiteEventStore.AppendStatements.openInvocation)
    defer {
        sqlite3_finalize(tip)
        sqlite3_finalize(insert)
        sqlite3_finalize(open)
    }
    let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)  // SQLITE_TRANSIENT: SQLite copies
    let records = (0..<count).map(sample)
    let createdAt = records.map { Timestamp.sqlite($0.createdAt) }
    // Ids and chain hashes as the store computes them, beforehand: this measures SQLite.
    var chainHashes: [String] = []
    for (index, record) in records.enumerated() {
        chainHashes.append(
            AuditChain.hash(
                previous: chainHashes.last, id: Int64(index + 1), eventType: record.type.rawValue, createdAt: createdAt[index],
                payload: record.payload))
    }
    var latencies: [Double] = []
    let began = ContinuousClock.now
    for first in stride(from: 0, through: count - batch, by: batch) {
        let start = ContinuousClock.now
        try execute("BEGIN IMMEDIATE")
        guard sqlite3_step(tip) == SQLITE_ROW else { throw fail("chain tip") }
        sqlite3_reset(tip)
        for index in first..<first + batch {
            let id = Int64(index + 1)
            sqlite3_bind_int64(insert, 1, id)
            sqlite3_bind_text(insert, 2, records[index].type.rawValue, -1, transient)
            sqlite3_bind_text(insert, 3, createdAt[index], -1, transient)
            sqlite3_bind_text(insert, 4, records[index].payload, -1, transient)
            sqlite3_bind_text(insert, 5, chainHashes[index], -1, transient)
            guard sqlite3_step(insert) == SQLITE_DONE, sqlite3_changes(db) == 1 else { throw fail("insert") }
            sqlite3_reset(insert)
            sqlite3_bind_text(open, 1, records[index].executionID, -1, transient)
            sqlite3_bind_int64(open, 2, id)
            guard sqlite3_step(open) == SQLITE_DONE else { throw fail("open invocation") }
            sqlite3_reset(open)
        }
        try execute("COMMIT")
        latencies.append(milliseconds(ContinuousClock.now - start))
    }
    return Figures(latencies: latencies, elapsed: ContinuousClock.now - began, events: latencies.count * batch)
}

/// The floor: 300 bytes written and fsynced, one at a time.
func baseline(count: Int) -> Figures {
    let path = scratch + "/baseline"
    let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    let bytes = [UInt8](repeating: 0x61, count: 300)
    var latencies: [Double] = []
    let began = ContinuousClock.now
    for _ in 0..<min(count, 2000) {
        let start = ContinuousClock.now
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, 300) }
        fsync(descriptor)
        latencies.append(milliseconds(ContinuousClock.now - start))
    }
    close(descriptor)
    return Figures(latencies: latencies, elapsed: ContinuousClock.now - began, events: latencies.count)
}

let floor = baseline(count: count)
print("baseline: write + fsync of 300 bytes      \(floor.text)")
var encodeLatencies: [Double] = []
let encodeBegan = ContinuousClock.now
for n in 0..<2000 {
    let start = ContinuousClock.now
    _ = sample(n)
    encodeLatencies.append(milliseconds(ContinuousClock.now - start))
}
print("encoding one Started event (JSON)          \(Figures(latencies: encodeLatencies, elapsed: ContinuousClock.now - encodeBegan, events: 2000).text)")
for location in locations {
    // Opened as the worker opens its store (`airlock-worker`'s ServeCommand: `openTrail(.longLived, ...)`,
    // which calls this with the same argument): a writer and a pool of readers.
    let store = try await EventStoreLocation(parsing: location).open(.longLived)
    print("\(store.location)" + ((store as? SQLiteEventStore).map { " (\($0.use.rawValue))" } ?? ""))
    _ = try await measure(store, writers: 1, count: count)  // warm up: schema, caches, connection
    let single = try await measure(store, writers: 1, count: count)
    print("  1 writer                                  \(single.text)")
    let concurrent = try await measure(store, writers: 8, count: count)
    print("  8 concurrent writers                      \(concurrent.text)")
    // Group commit's scaling: more writers waiting means larger batches for the same fsync.
    let many = try await measure(store, writers: 64, count: count)
    print("  64 concurrent writers                     \(many.text)")
    // Last: its rows make the database no bigger for the figures above.
    let ceiling = try await measureBatched(store, batch: 8, count: count)
    print("  one writer, 8 events per append (per call) \(ceiling.text)")
    var alone: Figures?
    if store.location.hasPrefix("sqlite:") {
        alone = try await sqliteAlone(path: scratch + "/alone-\(UUID().uuidString).sqlite", batch: 8, count: count)
        print("  SQLite alone, 8 per transaction (per txn) \(alone!.text)")
    }
    print(
        String(
            format: "  ratios: 1-writer p50 / fsync p50 %.2f; 8-writer throughput / 1-writer %.2f; Started adds p50 %.3f ms, p99 %.3f ms",
            single.p50 / floor.p50, concurrent.perSecond / single.perSecond, single.p50, single.p99))
    print(
        String(format: "  ratios: 8-writer throughput / the store's 8-event ceiling %.2f", concurrent.perSecond / ceiling.perSecond)
            + (alone.map { String(format: "; / SQLite alone's %.2f", concurrent.perSecond / $0.perSecond) } ?? ""))
    await store.close()
}
