import AirlockEngine
import Testing

@Suite("Redacting secrets from output")
struct SecretRedactorTests {
    static func redactor(_ secrets: [String: String]) -> SecretRedactor {
        SecretRedactor(secrets.sorted { $0.key < $1.key }.map { ($0.key, Array($0.value.utf8)) })
    }

    /// The whole stream through the redactor in chunks of the given sizes (cycled).
    static func run(_ text: String, _ secrets: [String: String], chunks: [Int]) -> String {
        var redactor = redactor(secrets)
        let bytes = Array(text.utf8)
        var output: [UInt8] = []
        var start = 0
        var turn = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunks[turn % chunks.count])
            output += redactor.redact(bytes[start..<end])
            start = end
            turn += 1
        }
        output += redactor.finish()
        return String(decoding: output, as: UTF8.self)
    }

    @Test("a value is replaced by its name, however the stream is cut into reads")
    func everySplit() {
        let text = "token=ghp_S3cr3tValue; again ghp_S3cr3tValue and ghp_S3cr3 half"
        let expected = "token=[REDACTED:GH_TOKEN]; again [REDACTED:GH_TOKEN] and ghp_S3cr3 half"
        for size in 1...text.utf8.count {
            #expect(Self.run(text, ["GH_TOKEN": "ghp_S3cr3tValue"], chunks: [size]) == expected, "chunks of \(size)")
        }
        #expect(Self.run(text, ["GH_TOKEN": "ghp_S3cr3tValue"], chunks: [3, 1, 7, 2]) == expected)
    }

    @Test("of two values that start alike, the longer is replaced whole, also across reads")
    func longerWins() {
        let secrets = ["SHORT": "abc", "LONG": "abcdef"]
        for size in 1...8 {
            #expect(Self.run("xabcdefx abcx", secrets, chunks: [size]) == "x[REDACTED:LONG]x [REDACTED:SHORT]x", "chunks of \(size)")
        }
    }

    @Test("a prefix of a value at the end of the stream is passed on: it was never the secret")
    func prefixAtEnd() {
        #expect(Self.run("ends with ghp_S3", ["T": "ghp_S3cr3tValue"], chunks: [4]) == "ends with ghp_S3")
        #expect(Self.run("", ["T": "x"], chunks: [1]) == "")
    }

    @Test("no secrets, or empty values: output passes unchanged")
    func nothingToRedact() {
        #expect(Self.run("plain output", [:], chunks: [5]) == "plain output")
        #expect(Self.run("plain output", ["EMPTY": ""], chunks: [5]) == "plain output")
        #expect(Self.redactor(["EMPTY": ""]).isEmpty)
    }

    @Test("bytes that are not UTF-8 around a value are kept exactly")
    func binary() {
        var redactor = Self.redactor(["K": "key"])
        let out = redactor.redact([0xFF, 0x00, 0x6B, 0x65]) + redactor.redact([0x79, 0xFE]) + redactor.finish()
        #expect(out == [0xFF, 0x00] + Array("[REDACTED:K]".utf8) + [0xFE])
    }
}
