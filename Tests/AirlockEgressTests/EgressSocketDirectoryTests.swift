import AirlockEgress
import AirlockPolicy
import Foundation
import Testing

/// Where the proxy's socket lives: refused anywhere another user could reach or swap it.
@Suite("Egress socket directories")
struct EgressSocketDirectoryTests {
    static let allowList = try! EgressAllowList([EgressRule(host: "a.example", ports: [443])])

    @Test("a parent another user can write to, a symlink on the way, or an id that is not one path component is refused")
    func refused() async throws {
        let base = "/run/airlock-egress-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: base + "/real", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: base + "/link", withDestinationPath: base + "/real")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let cases: [(parent: String, id: String, message: String)] = [
            ("/tmp/airlock-egress", "x", "'/tmp' is unsafe for egress sockets: its mode 1777 lets others write"),
            (base + "/link/egress", "x", "'\(base)/link' is unsafe for egress sockets: it is a symlink"),
            (base + "/real", "../x", "execution id '../x' cannot name"),
            ("relative/egress", "x", "must be an absolute path"),
        ]
        for (parent, id, message) in cases {
            await #expect {
                _ = try await EgressProxy.start(allowList: Self.allowList, executionID: id, parent: parent)
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }

    @Test("directories of owners that are gone are removed; a live owner's stay")
    func abandoned() async throws {
        let parent = "/run/airlock-egress-test-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let live = try await EgressProxy.start(allowList: Self.allowList, executionID: "live", parent: parent)
        // A pid above the kernel's limit (pid_max is at most 2^22) never runs.
        let gone = parent + "/4194305-gone"
        try FileManager.default.createDirectory(atPath: gone, withIntermediateDirectories: false)
        #expect(FileManager.default.createFile(atPath: gone + "/proxy.sock", contents: nil))
        #expect(EgressProxy.removeAbandoned(parent: parent) == [gone])
        #expect(FileManager.default.fileExists(atPath: live.socketPath))
        _ = await live.finish()
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent) == [])
    }
}
