import AirlockEngine
import AirlockPolicy
import Foundation
import Testing

@Suite("Mounts: only inside the tool's roots, symlinks followed")
struct MountResolverTests {
    /// /tmp/airlock-mounts-X/{root/{repo, link-out -> ../outside}, outside, ro-root}
    static func sandbox() throws -> String {
        let base = NSTemporaryDirectory() + "airlock-mounts-\(UUID().uuidString)"
        let manager = FileManager.default
        for directory in ["root/repo", "outside", "ro-root/data"] {
            try manager.createDirectory(atPath: "\(base)/\(directory)", withIntermediateDirectories: true)
        }
        try manager.createSymbolicLink(atPath: "\(base)/root/link-out", withDestinationPath: "../outside")
        try manager.createSymbolicLink(atPath: "\(base)/root/link-in", withDestinationPath: "repo")
        return base
    }

    static func roots(_ base: String) -> [MountRoot] {
        [MountRoot(path: "\(base)/root", writable: true), MountRoot(path: "\(base)/ro-root", writable: false)]
    }

    @Test("a path inside a root is accepted, read-only by default, symlinks resolved")
    func inside() throws {
        let base = try Self.sandbox()
        let mounts = try MountResolver.resolve(
            [
                MountRequest(parsing: "\(base)/root/repo:/workspace"),
                MountRequest(parsing: "\(base)/root/link-in:/workspace/again:rw"),
            ], roots: Self.roots(base))
        let real = MountResolverTests.real(base)
        #expect(mounts == [
            Mount(hostPath: "\(real)/root/repo", containerPath: "/workspace", writable: false),
            Mount(hostPath: "\(real)/root/repo", containerPath: "/workspace/again", writable: true),
        ])
    }

    @Test(
        "escapes are refused before launch",
        arguments: [
            ("root/repo/../../outside:/workspace", "outside the tool's mount roots"),
            ("root/link-out:/workspace", "outside the tool's mount roots"),
            ("outside:/workspace", "outside the tool's mount roots"),
            ("root/missing:/workspace", "does not exist"),
            ("ro-root/data:/workspace:rw", "is read-only"),
            ("root/repo:/etc", "must be /workspace or a path below it"),
            ("root/repo:/workspace/../etc", "must be /workspace or a path below it"),
            ("root/repo:workspace", "must be /workspace or a path below it"),
            ("root/repo:/workspace:rwx", "the mode must be ro or rw"),
        ])
    func refused(request: String, message: String) throws {
        let base = try Self.sandbox()
        #expect {
            _ = try MountResolver.resolve([MountRequest(parsing: "\(base)/\(request)")], roots: Self.roots(base))
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test("a relative host path and a tool without roots are refused")
    func noRoots() throws {
        let base = try Self.sandbox()
        #expect(throws: MountError.self) { try MountResolver.resolve([MountRequest(parsing: "repo:/workspace")], roots: Self.roots(base)) }
        #expect(throws: MountError.self) { try MountResolver.resolve([MountRequest(parsing: "\(base)/root/repo:/workspace")], roots: []) }
    }

    static func real(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
