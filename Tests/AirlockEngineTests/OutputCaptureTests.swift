import AirlockEngine
import Testing

@Suite("Output capture: exact counts, bounded retention")
struct OutputCaptureTests {
    @Test("head and tail equal the reference for any chunking and limit", arguments: [0, 1, 2, 7, 64, 1000, 5000])
    func matchesReference(limit: Int) {
        var seed: UInt64 = 0x5EED
        func next(_ bound: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(bound))
        }
        for _ in 0..<50 {
            var capture = OutputCapture(limit: limit)
            var all: [UInt8] = []
            for _ in 0..<next(20) {
                let chunk = (0..<next(700)).map { _ in UInt8(next(256)) }
                all += chunk
                capture.append(chunk)
            }
            #expect(capture.totalBytes == Int64(all.count))
            let headCount = min(all.count, limit - limit / 2)
            #expect(capture.keptHead == Array(all.prefix(headCount)))
            let tailCount = min(all.count - headCount, limit / 2)
            #expect(capture.keptTail == Array(all.suffix(tailCount)))
            #expect(capture.droppedBytes == Int64(all.count - headCount - tailCount))
            #expect(capture.truncated == (all.count > limit))
        }
    }
}
