import AirlockEvents
import Foundation
import Testing

/// The store's directory and the spool are made with their parents (`mkdir -p`), each with the
/// mode asked; what cannot be made is an error that names the path and says why.
@Suite("Making the state and spool directories")
struct DirectoryTests {
    static func scratch() throws -> String {
        let path = NSTemporaryDirectory() + "airlock-dir-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    static func mode(_ path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode
    }

    @Test("missing parents are made, each a directory with the mode asked: 0700 for the spool, 0755 for the store's")
    func nested() async throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try EventSpool(directory: root + "/state/a/spool")
        for path in [root + "/state", root + "/state/a", root + "/state/a/spool"] {
            let mode = try #require(Self.mode(path), "\(path) was not made")
            #expect(mode & S_IFMT == S_IFDIR)
            #expect(mode & 0o777 == 0o700, "\(path): \(String(mode & 0o777, radix: 8))")
        }
        await (try SQLiteEventStore(path: root + "/db/b/events.sqlite", use: .oneShot)).close()
        for path in [root + "/db", root + "/db/b"] {
            #expect(Self.mode(path).map { $0 & 0o777 } == 0o755, "\(path)")
        }
    }

    @Test("an existing directory is kept as it is")
    func existing() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        chmod(root, 0o751)
        _ = try EventSpool(directory: root)
        #expect(Self.mode(root).map { $0 & 0o777 } == 0o751, "an existing directory's mode is not changed")
    }

    @Test("a file in the way, or no way at all, is an error naming the path and why")
    func failures() async throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = FileManager.default.createFile(atPath: root + "/plain", contents: Data())
        #expect {
            try EventSpool(directory: root + "/plain")
        } throws: { error in
            "\(error)" == "cannot create the event spool \(root)/plain: \(root)/plain exists and is not a directory"
        }
        #expect {
            try EventSpool(directory: root + "/plain/spool")
        } throws: { error in
            "\(error)" == "cannot create the event spool \(root)/plain/spool: Not a directory"
        }
        #expect {
            try EventSpool(directory: "/proc/airlock-none/spool")
        } throws: { error in
            "\(error)" == "cannot create the event spool /proc/airlock-none/spool: No such file or directory (/proc/airlock-none)"
        }
        #expect {
            try SQLiteEventStore(path: root + "/plain/events.sqlite", use: .longLived)
        } throws: { error in
            "\(error)" == "cannot open the event store sqlite:\(root)/plain/events.sqlite: cannot create the event store's directory \(root)/plain: "
                + "\(root)/plain exists and is not a directory"
        }
    }
}
