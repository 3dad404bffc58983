import AirlockEngine
import Foundation
import Testing

/// Who may take an invocation for abandoned: only its own installation, on the same boot and in
/// the same pid namespace, when its process is gone or its pid now names another process.
@Suite("Container owners")
struct ContainerOwnerTests {
    static let me = ContainerOwner.current

    static func owner(_ change: (inout ContainerOwner) -> Void) -> ContainerOwner {
        var owner = me
        change(&owner)
        return owner
    }

    @Test("the label keeps every part, and reads back")
    func label() throws {
        let label = Self.me.description
        #expect(label.split(separator: ":").count == 6, "\(label)")
        #expect(ContainerOwner(label: label) == Self.me)
        #expect(ContainerOwner(label: "host-a:42") == ContainerOwner(host: "host-a", pid: 42))
        #expect(ContainerOwner(label: "no pid") == nil)
    }

    @Test("a live owner is not gone; its pid with another start time is a reused pid: gone")
    func reusedPID() {
        #expect(!Self.me.isGone(seenBy: Self.me))
        #expect(Self.owner { $0.startTime = ($0.startTime ?? 0) + 1 }.isGone(seenBy: Self.me))
    }

    @Test("a pid that no longer runs, in the same namespace and installation: gone")
    func deadPID() throws {
        let dead = try EngineDirectoryTests.deadPID()
        #expect(Self.owner { $0.pid = dead }.isGone(seenBy: Self.me))
    }

    @Test("another pid namespace, another installation, another host: never judged, even with the pid gone")
    func notJudged() throws {
        let dead = try EngineDirectoryTests.deadPID()
        #expect(!Self.owner { $0.pid = dead; $0.pidNamespace = ($0.pidNamespace ?? 0) + 1 }.isGone(seenBy: Self.me))
        #expect(!Self.owner { $0.pid = dead; $0.instance = "another-installation" }.isGone(seenBy: Self.me))
        #expect(!Self.owner { $0.pid = dead; $0.host = "another-host" }.isGone(seenBy: Self.me))
    }

    @Test("the same installation on an earlier boot: gone")
    func earlierBoot() {
        #expect(Self.owner { $0.bootID = "00000000-0000-0000-0000-000000000000" }.isGone(seenBy: Self.me))
    }

    @Test("an older host:pid label: gone only on this host with no such process")
    func olderLabel() throws {
        let dead = try EngineDirectoryTests.deadPID()
        #expect(ContainerOwner(host: Self.me.host, pid: dead).isGone(seenBy: Self.me))
        #expect(!ContainerOwner(host: Self.me.host, pid: getpid()).isGone(seenBy: Self.me))
        #expect(!ContainerOwner(host: "another-host", pid: dead).isGone(seenBy: Self.me))
    }

    @Test("the instance id is made once per state directory and shared by every process using it")
    func instance() throws {
        let directory = NSTemporaryDirectory() + "airlock-instance-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ContainerOwner.adoptInstance(stateDirectory: directory)
        let first = try String(contentsOfFile: directory + "/instance-id", encoding: .utf8)
        #expect(ContainerOwner.current.instance == first)
        try ContainerOwner.adoptInstance(stateDirectory: directory)
        #expect(try String(contentsOfFile: directory + "/instance-id", encoding: .utf8) == first)
        var status = stat()
        #expect(stat(directory + "/instance-id", &status) == 0 && status.st_mode & 0o777 == 0o600)
        try "not a uuid".write(toFile: directory + "/instance-id", atomically: true, encoding: .utf8)
        #expect(throws: EngineError.self) { try ContainerOwner.adoptInstance(stateDirectory: directory) }
    }
}
