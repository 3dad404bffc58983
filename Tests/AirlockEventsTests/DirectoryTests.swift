import Foundation
import Testing

@testable import AirlockEvents

/// The state directory and the spool are made with mkdir(2) directly (`mkdir -p`).
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

    @Test("missing parents are made, each a directory with the mode asked (0700 for the spool)")
    func nested() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(Directory.make(root + "/state/a/spool", mode: 0o700) == nil)
        for path in [root + "/state", root + "/state/a", root + "/state/a/spool"] {
            let mode = try #require(Self.mode(path), "\(path) was not made")
            #expect(mode & S_IFMT == S_IFDIR)
            #expect(mode & 0o777 == 0o700, "\(path): \(String(mode & 0o777, radix: 8))")
        }
    }

    @Test("an existing directory is kept as it is; a file in the way, or no way at all, is an error")
    func existingAndFailures() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        chmod(root, 0o751)
        #expect(Directory.make(root, mode: 0o700) == nil)
        #expect(Self.mode(root).map { $0 & 0o777 } == 0o751, "an existing directory's mode is not changed")
        _ = FileManager.default.createFile(atPath: root + "/file", contents: Data())
        #expect(Directory.make(root + "/file", mode: 0o700) == "\(root)/file exists and is not a directory")
        #expect(Directory.make(root + "/file/below", mode: 0o700) == "Not a directory")
    }

    @Test("the spool of a fresh state directory is made 0700, and a spool that cannot be made is a clear error")
    func spool() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try EventSpool(directory: root + "/var/spool")
        #expect(Self.mode(root + "/var/spool").map { $0 & 0o777 } == 0o700)
        _ = FileManager.default.createFile(atPath: root + "/plain", contents: Data())
        #expect {
            try EventSpool(directory: root + "/plain/spool")
        } throws: { error in
            "\(error)" == "cannot create the event spool \(root)/plain/spool: Not a directory"
        }
    }
}
