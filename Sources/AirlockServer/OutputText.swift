import AirlockEngine
import Foundation

/// One stream's kept output as JSON text: UTF-8 when it is, else base64. When bytes were dropped in
/// the middle, the text is head, a marker, tail; characters cut at the seams are dropped too.
struct OutputText {
    var text: String
    var isBase64: Bool

    init(_ capture: OutputCapture) {
        let head = capture.keptHead
        let tail = capture.keptTail
        guard capture.truncated else {
            let all = head + tail
            if let text = String(validating: all, as: UTF8.self) {
                self.init(text: text, isBase64: false)
            } else {
                self.init(text: Data(all).base64EncodedString(), isBase64: true)
            }
            return
        }
        let headKept = head.prefix(UTF8Seams.completePrefixLength(head))
        let tailKept = tail.dropFirst(UTF8Seams.continuationPrefixLength(tail))
        if let headText = String(validating: headKept, as: UTF8.self), let tailText = String(validating: tailKept, as: UTF8.self) {
            let dropped = capture.droppedBytes + Int64(head.count - headKept.count) + Int64(tail.count - tailKept.count)
            self.init(text: "\(headText)\n[… \(dropped) bytes dropped …]\n\(tailText)", isBase64: false)
        } else {
            self.init(text: Data(head + tail).base64EncodedString(), isBase64: true)
        }
    }

    init(text: String, isBase64: Bool) {
        self.text = text
        self.isBase64 = isBase64
    }
}

/// Where UTF-8 text was cut at an arbitrary byte.
enum UTF8Seams {
    /// The length of `bytes` without a multi-byte character left incomplete at its end.
    static func completePrefixLength(_ bytes: some BidirectionalCollection<UInt8>) -> Int {
        var index = bytes.endIndex
        var back = 0
        while index != bytes.startIndex, back < 4 {
            index = bytes.index(before: index)
            back += 1
            let byte = bytes[index]
            if byte & 0b1100_0000 == 0b1000_0000 { continue }  // a continuation byte: look further back
            let needed =
                if byte & 0b1000_0000 == 0 { 1 } else if byte & 0b1110_0000 == 0b1100_0000 { 2 } else if byte & 0b1111_0000 == 0b1110_0000 {
                    3
                } else { 4 }
            return bytes.count - (needed > back ? back : 0)
        }
        return bytes.count
    }

    /// How many continuation bytes (the rest of a character cut off before) `bytes` starts with; at most 3.
    static func continuationPrefixLength(_ bytes: some Collection<UInt8>) -> Int {
        bytes.prefix(3).prefix { $0 & 0b1100_0000 == 0b1000_0000 }.count
    }
}

/// Streamed output as NDJSON lines: `{"stream":"stdout","data":"..."}`, with `"data_encoding":"base64"`
/// for bytes that are not UTF-8. A character split between two chunks is held back and sent whole.
struct OutputLineEncoder {
    private var pending: [AirlockEngine.OutputStream: [UInt8]] = [:]

    mutating func line(_ stream: AirlockEngine.OutputStream, _ chunk: [UInt8]) -> [UInt8]? {
        let bytes = (pending.removeValue(forKey: stream) ?? []) + chunk
        let complete = UTF8Seams.completePrefixLength(bytes)
        if let text = String(validating: bytes.prefix(complete), as: UTF8.self) {
            if complete < bytes.count { pending[stream] = Array(bytes[complete...]) }
            return complete == 0 ? nil : Self.encode(stream, text: text, base64: false)
        }
        return Self.encode(stream, text: Data(bytes).base64EncodedString(), base64: true)
    }

    /// What is still held back at the end: bytes that never became a whole character.
    mutating func flush() -> [[UInt8]] {
        let left = pending
        pending = [:]
        return left.sorted { $0.key.rawValue > $1.key.rawValue }.map { Self.encode($0.key, text: Data($0.value).base64EncodedString(), base64: true) }
    }

    static func encode(_ stream: AirlockEngine.OutputStream, text: String, base64: Bool) -> [UInt8] {
        var object: [String: JSONValue] = ["stream": .string(stream.rawValue), "data": .string(text)]
        if base64 { object["data_encoding"] = "base64" }
        return JSONValue.object(object).encoded() + [UInt8(ascii: "\n")]
    }

    static func summary(_ record: JSONValue) -> [UInt8] {
        JSONValue.object(["summary": record]).encoded() + [UInt8(ascii: "\n")]
    }
}
