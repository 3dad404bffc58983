import AirlockEngine
import Foundation
import Testing

@Suite("Engine working directories left by dead processes")
struct EngineDirectoryTests {
    /// The pid of a process that has exited (and been waited for), so no longer runs.
    static func deadPID() throws -> Int32 {
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        return finished.processIdentifier
    }

    @Test("only real, ours, dead-owner directories holding nothing but conmon's oom file are removed")
    func removesOnlyAbandoned() throws {
        let parent = NSTemporaryDirectory() + "airlock-enginedirs-\(UUID().uuidString)/"
        let manager = FileManager.default
        try manager.createDirectory(atPath: parent, withIntermediateDirectories: true)
        defer { try? manager.removeItem(atPath: parent) }
        let dead = try Self.deadPID()

        let abandoned = parent + "airlock-engine-\(dead)-aB3xYz"
        let withOOM = parent + "airlock-engine-\(dead)-oomOOM"
        let live = parent + "airlock-engine-\(getpid())-live00"
        let init1 = parent + "airlock-engine-1-initXX"  // pid 1 always runs
        let foreignContent = parent + "airlock-engine-\(dead)-keepme"
        let otherName = parent + "airlock-engine-\(dead)"  // not our pattern
        let outside = parent + "outside"
        for directory in [abandoned, withOOM, live, init1, foreignContent, otherName, outside] {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: false)
        }
        #expect(manager.createFile(atPath: withOOM + "/oom", contents: Data()))
        #expect(manager.createFile(atPath: foreignContent + "/evidence", contents: Data("x".utf8)))
        // Someone else's directory is not ours to remove (this needs root to set up; CI runs as root).
        let foreignOwner = parent + "airlock-engine-\(dead)-nobody"
        try manager.createDirectory(atPath: foreignOwner, withIntermediateDirectories: false)
        let owned = getuid() == 0 ? chown(foreignOwner, 65534, 65534) == 0 : false
        // A symlink with the pattern's name must not lead the sweep anywhere.
        let link = parent + "airlock-engine-\(dead)-link00"
        try manager.createSymbolicLink(atPath: link, withDestinationPath: outside)

        let removed = Set(EngineDirectory.removeAbandoned(in: parent))

        #expect(removed == Set([abandoned, withOOM] + (owned ? [] : [foreignOwner])))
        #expect(!manager.fileExists(atPath: abandoned))
        #expect(!manager.fileExists(atPath: withOOM))
        #expect(manager.fileExists(atPath: foreignOwner) == owned, "another user's directory was kept")
        for kept in [live, init1, foreignContent, otherName, outside, link, foreignContent + "/evidence"] {
            #expect(manager.fileExists(atPath: kept), "\(kept) was kept")
        }
    }

    @Test("a missing temporary directory is no error")
    func missingParent() {
        #expect(EngineDirectory.removeAbandoned(in: "/nonexistent-\(UUID().uuidString)").isEmpty)
    }
}
