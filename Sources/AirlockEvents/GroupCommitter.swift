import Foundation

/// Runs a store's blocking database work on one dedicated thread, and commits appends that arrive
/// while a commit is in progress together, in one transaction ("group commit"): concurrent writers
/// share one fsync instead of queueing for one each.
///
/// Appends keep their arrival order; outcomes (ids) come back to each caller for its own records.
///
/// Writers answered by one commit usually append again at once, but they reach the queue a few
/// microseconds apart, after the thread could already have started a commit for the first of them
/// alone. So before a commit the thread waits, briefly, for as many appenders as the previous commit
/// answered: never longer than a quarter of that commit's duration, and not at all for a lone writer.
final class GroupCommitter: @unchecked Sendable {
    /// Writes the records in one transaction and returns what became of each, in order.
    typealias Commit = ([EventRecord]) throws(EventStoreError) -> [AppendOutcome]

    private enum Work {
        case append([EventRecord], CheckedContinuation<[AppendOutcome], any Error>)
        case job(() -> Void)
    }

    private let condition = NSCondition()
    private var queue: [Work] = []
    private var closed = false
    private var finished = false
    private let commit: Commit
    private let maxBatch: Int
    /// Appends (callers) at the head of the queue, before any job.
    private var appendsQueued = 0
    /// Callers answered by the previous commit, and how long it took: what the next one waits for.
    private var expectedAppends = 1
    private var lastCommitDuration: Duration = .zero
    /// The longest a commit waits for more appenders, whatever the previous commit took.
    private let maxGatherDelay: Duration = .milliseconds(1)

    init(name: String, maxBatch: Int = 2048, commit: @escaping Commit) {
        self.commit = commit
        self.maxBatch = maxBatch
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    func append(_ records: [EventRecord]) async throws(EventStoreError) -> [AppendOutcome] {
        if records.isEmpty { return [] }
        do {
            return try await withCheckedThrowingContinuation { continuation in
                enqueue(.append(records, continuation)) {
                    continuation.resume(throwing: EventStoreError("the event store is closed"))
                }
            }
        } catch let error as EventStoreError {
            throw error
        } catch {
            throw EventStoreError("\(error)")
        }
    }

    /// Runs `body` on the store's thread, after the work queued before it.
    func perform<T: Sendable>(_ body: @escaping @Sendable () throws(EventStoreError) -> T) async throws(EventStoreError) -> T {
        let result: Result<T, EventStoreError> = await withCheckedContinuation { continuation in
            enqueue(.job({ continuation.resume(returning: Result { () throws(EventStoreError) -> T in try body() }) })) {
                continuation.resume(returning: .failure(EventStoreError("the event store is closed")))
            }
        }
        return try result.get()
    }

    /// Finishes the queued work, then stops the thread.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func enqueue(_ work: Work, ifClosed: () -> Void) {
        condition.lock()
        if closed {
            condition.unlock()
            ifClosed()
            return
        }
        if case .append = work, appendsQueued == queue.count { appendsQueued += 1 }
        queue.append(work)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !closed { condition.wait() }
            if queue.isEmpty {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            gatherAppends()
            // A job runs alone; consecutive appends form one batch.
            var batch: [([EventRecord], CheckedContinuation<[AppendOutcome], any Error>)] = []
            var job: (() -> Void)?
            var count = 0
            while let first = queue.first {
                if case let .job(body) = first {
                    if batch.isEmpty {
                        job = body
                        queue.removeFirst()
                    }
                    break
                }
                guard case let .append(records, continuation) = first, batch.isEmpty || count + records.count <= maxBatch else { break }
                batch.append((records, continuation))
                count += records.count
                queue.removeFirst()
            }
            appendsQueued = Self.leadingAppends(in: queue)
            condition.unlock()

            if let job {
                job()
                continue
            }
            let began = ContinuousClock.now
            defer {
                lastCommitDuration = ContinuousClock.now - began
                expectedAppends = batch.count
            }
            do {
                let outcomes = try commit(batch.flatMap(\.0))
                var offset = 0
                for (records, continuation) in batch {
                    continuation.resume(returning: Array(outcomes[offset..<offset + records.count]))
                    offset += records.count
                }
            } catch {
                for (_, continuation) in batch { continuation.resume(throwing: error) }
            }
        }
    }

    /// Called with the lock held and work queued: waits until as many appenders as the previous
    /// commit answered are queued, a job is queued, or the gathering delay has passed.
    private func gatherAppends() {
        guard appendsQueued == queue.count, appendsQueued < expectedAppends, !closed else { return }
        let delay = min(lastCommitDuration / 4, maxGatherDelay)
        guard delay > .zero else { return }
        let deadline = Date(timeIntervalSinceNow: Double(delay.components.attoseconds) / 1e18 + Double(delay.components.seconds))
        while appendsQueued == queue.count, appendsQueued < expectedAppends, !closed {
            if !condition.wait(until: deadline) { return }
        }
    }

    private static func leadingAppends(in queue: [Work]) -> Int {
        queue.prefix { if case .append = $0 { true } else { false } }.count
    }
}
