import AirlockSeccomp
import Foundation
import Testing

@Suite("Seccomp profile digests")
struct SeccompDigestTests {
    @Test("the digest is sha256 of the file's bytes, and changes when the file changes")
    func changesWithTheFile() throws {
        let path = NSTemporaryDirectory() + "airlock-seccomp-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let text = TestSupport.profile(entry: #"{"names": ["close"], "action": "SCMP_ACT_ALLOW"}"#)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let first = try TestSupport.load(path)
        #expect(try TestSupport.load(path).digest == first.digest)

        try (text + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let reformatted = try TestSupport.load(path)
        #expect(reformatted.digest != first.digest, "the engine is handed the bytes, so any byte counts")

        try text.replacingOccurrences(of: "\"close\"", with: "\"close\", \"dup\"").write(toFile: path, atomically: true, encoding: .utf8)
        let changed = try TestSupport.load(path)
        #expect(changed.digest != first.digest)
        #expect(changed.digest != reformatted.digest)
    }

    @Test("known vector: the digest of the empty input")
    func knownValue() {
        #expect(SeccompProfile.digest(of: []) == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("the shipped profile's digest is the digest of its bytes")
    func shippedProfile() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: TestSupport.hardenedPath)))
        #expect(TestSupport.hardened.digest == SeccompProfile.digest(of: bytes))
    }
}
