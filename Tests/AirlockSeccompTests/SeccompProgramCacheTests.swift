import AirlockSeccomp
import Foundation
import Synchronization
import Testing

/// The compiled-program cache `airlock run` uses: reused only for the same bytes, never for a
/// profile that fails, and a damaged entry is compiled afresh.
@Suite("Seccomp program cache")
struct SeccompProgramCacheTests {
    /// A cache in memory, counting writes.
    final class Entries: Sendable {
        let entries = Mutex<[String: [UInt8]]>([:])
        let writes = Atomic<Int>(0)

        var cache: SeccompProgramCache {
            SeccompProgramCache(
                read: { name in self.entries.withLock { $0[name] } },
                write: { name, program in
                    self.writes.add(1, ordering: .relaxed)
                    self.entries.withLock { $0[name] = program }
                })
        }
    }

    static let hardenedBytes = Array(FileManager.default.contents(atPath: TestSupport.hardenedPath)!)

    @Test("the first load compiles and keeps the program; the next one takes it from the cache")
    func reusedForTheSameBytes() throws {
        let entries = Entries()
        let first = try SeccompProfile.parse(Self.hardenedBytes, file: "hardened.json", programs: entries.cache)
        #expect(first.program == TestSupport.hardened.program)
        #expect(entries.writes.load(ordering: .relaxed) == 1)
        let name = try #require(entries.entries.withLock { $0.keys.first })
        #expect(name.contains(String(first.digest.dropFirst("sha256:".count))))

        // A program planted under that name comes back: proof the compile was skipped.
        let planted = [UInt8](repeating: 7, count: 16)
        entries.entries.withLock { $0[name] = planted }
        let second = try SeccompProfile.parse(Self.hardenedBytes, file: "hardened.json", programs: entries.cache)
        #expect(second.program == planted)
        #expect(entries.writes.load(ordering: .relaxed) == 1)
    }

    @Test("other bytes (one space more) are compiled, not matched to the cached program")
    func otherBytesAreCompiled() throws {
        let entries = Entries()
        _ = try SeccompProfile.parse(Self.hardenedBytes, file: "hardened.json", programs: entries.cache)
        let name = try #require(entries.entries.withLock { $0.keys.first })
        entries.entries.withLock { $0[name] = [UInt8](repeating: 7, count: 16) }
        let edited = try SeccompProfile.parse(Self.hardenedBytes + Array(" ".utf8), file: "hardened.json", programs: entries.cache)
        #expect(edited.program == TestSupport.hardened.program)
        #expect(entries.writes.load(ordering: .relaxed) == 2)
    }

    @Test("a damaged entry (not whole instructions) is ignored and replaced")
    func damagedEntryIsReplaced() throws {
        let entries = Entries()
        _ = try SeccompProfile.parse(Self.hardenedBytes, file: "hardened.json", programs: entries.cache)
        let name = try #require(entries.entries.withLock { $0.keys.first })
        entries.entries.withLock { $0[name] = [1, 2, 3, 4, 5] }
        let reloaded = try SeccompProfile.parse(Self.hardenedBytes, file: "hardened.json", programs: entries.cache)
        #expect(reloaded.program == TestSupport.hardened.program)
        #expect(entries.entries.withLock { $0[name] } == TestSupport.hardened.program)
    }

    @Test("for a run: bytes checked and compiled before are not read again; their digest is the load's")
    func referenceTrustsTheEntry() throws {
        let entries = Entries()
        let read = { (_: String) throws -> [UInt8] in Self.hardenedBytes }
        let first = try SeccompProfile.reference(path: "hardened.json", readFile: read, programs: entries.cache)
        #expect(first == TestSupport.hardened.reference.with(file: "hardened.json"))
        #expect(entries.writes.load(ordering: .relaxed) == 1, "loaded whole the first time, its program kept")
        #expect(try SeccompProfile.reference(path: "hardened.json", readFile: read, programs: entries.cache) == first)
        #expect(entries.writes.load(ordering: .relaxed) == 1)

        // Proof the checks were skipped: bytes that would fail them, planted under their own digest.
        let broken = Array(#"{"defaultAction": "SCMP_ACT_NOPE"}"#.utf8)
        #expect(throws: SeccompProfileError.self) {
            try SeccompProfile.reference(path: "broken.json", readFile: { _ in broken }, programs: entries.cache)
        }
        let name = try #require(entries.entries.withLock { $0.keys.first })
        let brokenName = name.replacingOccurrences(
            of: String(first.digest.dropFirst("sha256:".count)), with: String(SeccompProfile.digest(of: broken).dropFirst("sha256:".count)))
        entries.entries.withLock { $0[brokenName] = [UInt8](repeating: 7, count: 8) }
        let trusted = try SeccompProfile.reference(path: "broken.json", readFile: { _ in broken }, programs: entries.cache)
        #expect(trusted.digest == SeccompProfile.digest(of: broken))
        // Without the cache, every check runs.
        #expect(throws: SeccompProfileError.self) {
            try SeccompProfile.reference(path: "broken.json", readFile: { _ in broken }, programs: nil)
        }
    }

    @Test("a profile that fails its checks is refused every time and never cached")
    func refusedProfileIsNeverCached() {
        let entries = Entries()
        // An argument index past the six a system call has.
        let profile = Array(
            """
            {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [
              {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 7, "value": 2, "op": "SCMP_CMP_EQ"}]}]}
            """.utf8)
        for _ in 0..<2 {
            #expect(throws: SeccompProfileError.self) { try SeccompProfile.parse(profile, file: "bad.json", programs: entries.cache) }
        }
        #expect(entries.writes.load(ordering: .relaxed) == 0)
    }
}

extension SeccompProfile.Reference {
    func with(file: String) -> Self { Self(file: file, digest: digest) }
}
