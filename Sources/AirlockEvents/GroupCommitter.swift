import Foundation

/// Runs a store's blocking database work on one dedicated thread, and commits appends that arrive
/// while a commit is in progress together, in one transaction ("group commit"): concurrent writers
/// share one fsync instead of queueing for one each.
///
/// Appends keep their arrival order; ids come back to each caller for its own records.
final class GroupCommitter: @unchecked Sendable {
    /// Writes the records in one transaction and returns their ids, in order.
    typealias Commit = ([EventRecord]) throws(EventStoreError) -> [Int64]

    private enum Work {
        case append([EventRecord], CheckedContinuation<[Int64], any Error>)
        case job(() -> Void)
    }

    private let condition = NSCondition()
    private var queue: [Work] = []
    private var closed = false
    private var finished = false
    private let commit: Commit
    private let maxBatch: Int

    init(name: String, maxBatch: Int = 2048, commit: @escaping Commit) {
        self.commit = commit
        self.maxBatch = maxBatch
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    func append(_ records: [EventRecord]) async throws(EventStoreError) -> [Int64] {
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
            // A job runs alone; consecutive appends form one batch.
            var batch: [([EventRecord], CheckedContinuation<[Int64], any Error>)] = []
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
            condition.unlock()

            if let job {
                job()
                continue
            }
            do {
                let ids = try commit(batch.flatMap(\.0))
                var offset = 0
                for (records, continuation) in batch {
                    continuation.resume(returning: Array(ids[offset..<offset + records.count]))
                    offset += records.count
                }
            } catch {
                for (_, continuation) in batch { continuation.resume(throwing: error) }
            }
        }
    }
}
