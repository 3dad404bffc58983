import AirlockEngine
import Synchronization
import AirlockInvocation
import Foundation
import Testing

/// The fingerprints' key: made once per state directory, so events of different runs and worker
/// restarts compare; never another key for the same directory, also when processes start at once.
@Suite("secret fingerprints")
struct SecretFingerprintsTests {
    static func directory() -> String { NSTemporaryDirectory() + "airlock-fingerprints-\(UUID().uuidString)" }

    @Test("loads at once agree on one key; a later load (a restart) gives the same fingerprints; another directory does not")
    func oneKeyPerStateDirectory() throws {
        let state = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let secrets = SecretValues(["TOKEN": Array("ghp_example-value".utf8)])
        // Sixteen first uses racing to make the key: every one must read the key that won.
        let results = Mutex<[[String: String]?]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            let loaded = try? SecretFingerprints.load(stateDirectory: state)
            results.withLock { $0.append(loaded?.fingerprints(of: secrets)) }
        }
        let seen = results.withLock { $0 }
        #expect(seen.count == 16 && seen.allSatisfy { $0 != nil })
        #expect(Set(seen.compactMap { $0?["TOKEN"] }).count == 1, "\(seen)")
        let first = try #require(seen.first??["TOKEN"])
        #expect(first.count == 8 && first.allSatisfy(\.isHexDigit))

        let again = try SecretFingerprints.load(stateDirectory: state).fingerprints(of: secrets)
        #expect(again?["TOKEN"] == first)
        var status = stat()
        #expect(stat(state + "/" + SecretFingerprints.fileName, &status) == 0 && status.st_mode & 0o777 == 0o600)

        let other = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: other) }
        #expect(try SecretFingerprints.load(stateDirectory: other).fingerprints(of: secrets)?["TOKEN"] != first)
        #expect(try SecretFingerprints.load(stateDirectory: state).fingerprints(of: SecretValues()) == nil)
    }

    @Test("a key file that is not 32 bytes is an error naming it, never a key of its own")
    func damagedKey() throws {
        let state = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        try Data("short".utf8).write(to: URL(fileURLWithPath: state + "/" + SecretFingerprints.fileName))
        #expect { try SecretFingerprints.load(stateDirectory: state) } throws: {
            "\($0)".contains(state + "/" + SecretFingerprints.fileName) && "\($0)".contains("32-byte key")
        }
    }
}
