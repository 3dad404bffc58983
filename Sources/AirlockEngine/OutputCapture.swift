/// One output stream of a tool: every byte counted, at most `limit` bytes kept.
///
/// Keeps the first half of the limit (the head) and the last half (the tail, in a ring), so memory
/// stays bounded however much the tool writes, and a reader sees how the output began and ended.
public struct OutputCapture: Sendable {
    /// Bytes the tool wrote to the stream, all of them.
    public private(set) var totalBytes: Int64 = 0
    /// Bytes offered to be kept: `totalBytes`, unless output was redacted before it was kept.
    private var offeredBytes: Int64 = 0
    public let limit: Int
    private var head: [UInt8] = []
    private var ring: [UInt8] = []
    /// Where the next tail byte goes once the ring is full.
    private var ringStart = 0

    public init(limit: Int) {
        precondition(limit >= 0, "a retention limit cannot be negative")
        self.limit = limit
        head.reserveCapacity(min(limit - limit / 2, 64 * 1024))
    }

    private var headLimit: Int { limit - limit / 2 }
    private var tailLimit: Int { limit / 2 }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        count(bytes.count)
        keep(bytes)
    }

    /// Counts bytes the tool wrote; `keep` what is to be kept of them (the same bytes, or the same
    /// redacted). Where the kept bytes differ from those counted, `droppedBytes` counts kept ones.
    mutating func count(_ count: Int) {
        totalBytes += Int64(count)
    }

    /// Keeps bytes, within the limit, without counting them as written.
    mutating func keep(_ bytes: UnsafeRawBufferPointer) {
        offeredBytes += Int64(bytes.count)
        var rest = bytes[...]
        if head.count < headLimit {
            let taken = rest.prefix(headLimit - head.count)
            head.append(contentsOf: taken)
            rest = rest.dropFirst(taken.count)
        }
        guard !rest.isEmpty, tailLimit > 0 else { return }
        // Only the last `tailLimit` bytes of this chunk can survive; copy them in at most two runs.
        var kept = rest.suffix(tailLimit)
        if ring.count < tailLimit {
            let filling = kept.prefix(tailLimit - ring.count)
            ring.append(contentsOf: filling)
            kept = kept.dropFirst(filling.count)
        }
        while !kept.isEmpty {
            let run = kept.prefix(tailLimit - ringStart)
            ring.withUnsafeMutableBytes { ringBytes in
                UnsafeMutableRawBufferPointer(rebasing: ringBytes[ringStart..<ringStart + run.count])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: run))
            }
            ringStart = (ringStart + run.count) % tailLimit
            kept = kept.dropFirst(run.count)
        }
    }

    /// Counts bytes that were forwarded without passing through us; only where nothing is kept.
    mutating func countForwarded(_ count: Int) {
        precondition(limit == 0, "forwarded bytes bypass retention; keep nothing to forward them")
        totalBytes += Int64(count)
        offeredBytes += Int64(count)
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Whether bytes were dropped between the head and the tail.
    public var truncated: Bool { droppedBytes > 0 }

    /// Bytes written but not kept.
    public var droppedBytes: Int64 { offeredBytes - Int64(head.count + ring.count) }

    /// What was kept: the head, then the tail. When nothing was dropped, exactly the output.
    public var keptHead: [UInt8] { head }
    public var keptTail: [UInt8] { Array(ring[ringStart...] + ring[..<ringStart]) }
}
