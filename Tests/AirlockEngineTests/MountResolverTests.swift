import AirlockEngine
import AirlockPolicy
import AirlockTestSupport
import CRenameExchange
import Foundation
import Synchronization
import Testing

/// A directory tree to mount from, and a staging parent of its own under /run (root's, as
/// `MountStaging` demands), removed with everything under it.
struct MountSandbox {
    /// base/{root/{repo/{marker, file.txt}, victim/marker, swap -> outside, link-out -> ../outside,
    /// link-in -> repo, mid -> repo}, rootx/repo, outside/marker, ro-root/data}
    let base: String
    let staging: MountStaging

    init() throws {
        base = NSTemporaryDirectory() + "airlock-mounts-\(UUID().uuidString)"
        let manager = FileManager.default
        for directory in ["root/repo", "root/victim", "rootx/repo", "outside", "ro-root/data"] {
            try manager.createDirectory(atPath: "\(base)/\(directory)", withIntermediateDirectories: true)
        }
        try Data("inside".utf8).write(to: URL(fileURLWithPath: "\(base)/root/repo/marker"))
        try Data("inside".utf8).write(to: URL(fileURLWithPath: "\(base)/root/victim/marker"))
        try Data("file".utf8).write(to: URL(fileURLWithPath: "\(base)/root/repo/file.txt"))
        try Data("outside".utf8).write(to: URL(fileURLWithPath: "\(base)/outside/marker"))
        try manager.createSymbolicLink(atPath: "\(base)/root/link-out", withDestinationPath: "../outside")
        try manager.createSymbolicLink(atPath: "\(base)/root/link-in", withDestinationPath: "repo")
        try manager.createSymbolicLink(atPath: "\(base)/root/mid", withDestinationPath: "repo")
        try manager.createSymbolicLink(atPath: "\(base)/root/swap", withDestinationPath: "\(base)/outside")
        // The tools run as nobody.
        for directory in ["root/repo", "root/victim", "outside"] { chmod("\(base)/\(directory)", 0o777) }
        staging = MountStaging(parent: "/run/airlock-tests/\(UUID().uuidString)")
    }

    var roots: [MountRoot] {
        [MountRoot(path: "\(base)/root", writable: true), MountRoot(path: "\(base)/ro-root", writable: false)]
    }

    func stage(_ requests: [MountRequest], executionID: String = UUID().uuidString.lowercased()) throws(MountError) -> StagedMounts {
        try staging.stage(requests, roots: roots, executionID: executionID)
    }

    /// What is left of staging: directories under the parent, and mounts at or below it.
    func leftovers() throws -> [String] {
        let entries = FileManager.default.fileExists(atPath: staging.parent) ? try FileManager.default.contentsOfDirectory(atPath: staging.parent) : []
        return entries.map { staging.parent + "/" + $0 } + (try Self.mountPoints(under: staging.parent))
    }

    /// Mount points at or below `path` in this process's mount namespace.
    static func mountPoints(under path: String) throws -> [String] {
        try MountTable.mountPoints(under: path)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: staging.parent)
        try? FileManager.default.removeItem(atPath: base)
    }
}

/// Swaps a directory with a symlink to another directory (renameat2 RENAME_EXCHANGE), as fast as it
/// can, as a tool with a writable mount can do, until stopped.
final class SymlinkSwapper: Sendable {
    let first: String
    let second: String
    private let stopping = Atomic<Bool>(false)
    private let swapCount = Atomic<Int>(0)
    private let finished = DispatchSemaphore(value: 0)

    init(_ first: String, _ second: String) {
        self.first = first
        self.second = second
    }

    func start() {
        Thread.detachNewThread { [self] in
            while !stopping.load(ordering: .relaxed) {
                if airlock_test_exchange(first, second) == 0 { swapCount.add(1, ordering: .relaxed) }
            }
            finished.signal()
        }
    }

    /// Stops and returns the number of swaps done.
    func stop() -> Int {
        stopping.store(true, ordering: .relaxed)
        finished.wait()
        return swapCount.load(ordering: .relaxed)
    }
}

@Suite("Mounts: opened beneath the tool's roots, bound race-free", .serialized, .enabled(if: geteuid() == 0, "binds mounts: needs root"))
struct MountResolverTests {
    @Test("a path inside a root is staged: the engine gets a private path showing exactly it, read-only by default")
    func inside() throws {
        let sandbox = try MountSandbox()
        defer { sandbox.remove() }
        let staged = try sandbox.stage([
            MountRequest(parsing: "\(sandbox.base)/root/repo:/workspace"),
            MountRequest(parsing: "\(sandbox.base)/root/./repo//file.txt:/workspace/../workspace/f:rw"),
        ])
        let directory = try #require(staged.directory)
        #expect(directory.hasPrefix(sandbox.staging.parent + "/\(getpid())-"))
        #expect(staged.mounts == [
            Mount(hostPath: directory + "/0", containerPath: "/workspace", writable: false),
            Mount(hostPath: directory + "/1", containerPath: "/workspace/f", writable: true),
        ])
        #expect(try String(contentsOfFile: directory + "/0/marker", encoding: .utf8) == "inside")
        #expect(try String(contentsOfFile: directory + "/1", encoding: .utf8) == "file")
        // Read-only is the mount's, not a permission: even root cannot write.
        #expect(!FileManager.default.createFile(atPath: directory + "/0/new", contents: Data("x".utf8)))
        #expect(!FileManager.default.fileExists(atPath: "\(sandbox.base)/root/repo/new"))
        try Data("written".utf8).write(to: URL(fileURLWithPath: directory + "/1"))
        #expect(try String(contentsOfFile: "\(sandbox.base)/root/repo/file.txt", encoding: .utf8) == "written")
        // The staging path is root's alone.
        var status = stat()
        #expect(lstat(directory, &status) == 0 && status.st_uid == 0 && status.st_mode & 0o077 == 0)
        #expect(Set(try MountSandbox.mountPoints(under: directory)) == [directory + "/0", directory + "/1"])
        for entry in try MountTable.entries() where entry.point.hasPrefix(directory + "/") {
            let options = entry.options.split(separator: ",")
            #expect(options.contains("nosuid") && options.contains("nodev"), "\(entry)")
            #expect(options.first == (entry.point.hasSuffix("/0") ? "ro" : "rw"), "\(entry)")
        }

        #expect(staged.release().isEmpty)
        #expect(staged.release().isEmpty, "a second release does nothing")
        #expect(try sandbox.leftovers().isEmpty)
        #expect(try String(contentsOfFile: "\(sandbox.base)/root/repo/marker", encoding: .utf8) == "inside", "the host directory is intact")
    }

    @Test(
        "escapes and tricks are refused before launch, naming the path and why, leaving nothing staged",
        arguments: [
            ("root/repo/../../outside", "/workspace", false, .outsideRoots, "'..' climbs above root"),
            ("root/../outside", "/workspace", false, .outsideRoots, "'..' climbs above root"),
            ("root/link-out", "/workspace", false, .symlink, "passes through a symlink"),
            ("root/link-in", "/workspace", false, .symlink, "passes through a symlink"),
            ("root/mid/marker", "/workspace/m", false, .symlink, "passes through a symlink"),
            ("outside", "/workspace", false, .outsideRoots, "outside the tool's mount roots"),
            ("rootx/repo", "/workspace", false, .outsideRoots, "outside the tool's mount roots"),
            ("root/missing", "/workspace", false, .missing, "does not exist"),
            ("root/repo/marker/below", "/workspace", false, .missing, "does not exist"),
            ("ro-root/data", "/workspace", true, .readOnlyRoot, "is read-only"),
            ("root/repo", "/etc", false, .malformed, "must be /workspace or a path below it"),
            ("root/repo", "/workspace/../etc", false, .malformed, "must be /workspace or a path below it"),
            ("root/repo", "workspace", false, .malformed, "must be /workspace or a path below it"),
            ("root/a,b", "/workspace", false, .malformed, "contains ','"),
            ("root/a:b", "/workspace", false, .malformed, "contains ':'"),
            ("root/a\"b", "/workspace", false, .malformed, "contains '\"'"),
            ("root/a\nb", "/workspace", false, .malformed, "contains a newline"),
            ("root/repo", "/workspace/a,readonly=false", false, .malformed, "contains ','"),
            ("root/repo", "/workspace/\"x", false, .malformed, "contains '\"'"),
        ] as [(String, String, Bool, MountError.Code, String)])
    func refused(host: String, container: String, writable: Bool, code: MountError.Code, message: String) throws {
        let sandbox = try MountSandbox()
        defer { sandbox.remove() }
        let hostPath = "\(sandbox.base)/\(host)"
        #expect {
            // A good mount first: staged, then released when the second is refused.
            _ = try sandbox.stage([
                MountRequest(hostPath: "\(sandbox.base)/root/repo", containerPath: "/workspace/good", writable: false),
                MountRequest(hostPath: hostPath, containerPath: container, writable: writable),
            ])
        } throws: { error in
            guard let error = error as? MountError else { return false }
            return error.code == code && error.message.contains(message)
                && (code == .malformed || error.message.contains(hostPath) || error.message.contains("'\(sandbox.base)/ro-root'"))
        }
        #expect(try sandbox.leftovers().isEmpty)
    }

    @Test("a writable mount of a directory on a read-only mount stays read-only: a bind never grants more than its source")
    func readOnlySource() throws {
        let sandbox = try MountSandbox()
        defer { sandbox.remove() }
        let frozen = "\(sandbox.base)/root/frozen"
        try FileManager.default.createDirectory(atPath: frozen, withIntermediateDirectories: true)
        #expect(mount("\(sandbox.base)/root/repo", frozen, nil, UInt(MS_BIND), nil) == 0)
        defer { umount2(frozen, Int32(MNT_DETACH)) }
        #expect(mount(nil, frozen, nil, UInt(MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOEXEC), nil) == 0)
        let staged = try sandbox.stage([MountRequest(hostPath: frozen, containerPath: "/workspace", writable: true)])
        defer { staged.release() }
        let path = staged.mounts[0].hostPath
        #expect(try String(contentsOfFile: path + "/marker", encoding: .utf8) == "inside")
        var status = statvfs()
        #expect(statvfs(path, &status) == 0)
        #expect(status.f_flag & UInt(ST_RDONLY) != 0, "read-only kept")
        #expect(status.f_flag & UInt(MS_NOEXEC) != 0, "noexec kept")
        #expect(!FileManager.default.createFile(atPath: path + "/new", contents: Data("x".utf8)))
    }

    @Test("a relative host path, a tool without roots, and two mounts at one place are refused")
    func noRoots() throws {
        let sandbox = try MountSandbox()
        defer { sandbox.remove() }
        let repo = "\(sandbox.base)/root/repo"
        #expect(throws: MountError.self) { try sandbox.stage([MountRequest(parsing: "repo:/workspace")]) }
        #expect { try sandbox.staging.stage([MountRequest(parsing: "\(repo):/workspace")], roots: [], executionID: "e") } throws: {
            "\($0)".contains("this tool allows no mounts")
        }
        #expect { try sandbox.stage([MountRequest(parsing: "\(repo):/workspace"), MountRequest(parsing: "\(repo):/workspace/")]) } throws: {
            "\($0)".contains("two mounts at '/workspace'")
        }
        #expect(try sandbox.leftovers().isEmpty)
        // No mounts: nothing staged, nothing created.
        let none = try sandbox.stage([])
        #expect(none.mounts.isEmpty && none.directory == nil)
        #expect(!FileManager.default.fileExists(atPath: sandbox.staging.parent))
    }

    @Test("the staging area must be root's and writable by root only, every directory of it")
    func unsafeStaging() throws {
        let sandbox = try MountSandbox()
        defer { sandbox.remove() }
        let request = MountRequest(hostPath: "\(sandbox.base)/root/repo", containerPath: "/workspace", writable: false)
        // /tmp is writable by everyone (sticky or not, another user could have made the next directory).
        let underTmp = MountStaging(parent: NSTemporaryDirectory() + "airlock-staging-\(UUID().uuidString)")
        #expect { try underTmp.stage([request], roots: sandbox.roots, executionID: "e") } throws: {
            ($0 as? MountError)?.code == .staging && "\($0)".contains("lets others write")
        }
        // A symlink on the way is refused too, even to a safe place.
        try FileManager.default.createDirectory(atPath: sandbox.staging.parent, withIntermediateDirectories: true)
        let link = sandbox.staging.parent + "/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: sandbox.staging.parent)
        #expect { try MountStaging(parent: link + "/inner").stage([request], roots: sandbox.roots, executionID: "e") } throws: {
            "\($0)".contains("'\(link)' is unsafe for host mounts: it is a symlink")
        }
        // An execution id that is not one path component.
        #expect { try sandbox.staging.stage([request], roots: sandbox.roots, executionID: "../x") } throws: {
            "\($0)".contains("cannot name a staging directory")
        }
        // The same execution twice at once.
        let first = try sandbox.stage([request], executionID: "twice")
        #expect { try sandbox.stage([request], executionID: "twice") } throws: { "\($0)".contains("already exists") }
        #expect(first.release().isEmpty)
        try FileManager.default.removeItem(atPath: link)
        #expect(try sandbox.leftovers().isEmpty)
    }

    /// The attack of issue #22 §1.1, without an engine: while a thread swaps the directory for a
    /// symlink to an outside directory, staging that path either is refused or shows the directory,
    /// never the outside one.
    @Test("a directory swapped with a symlink in a loop: every staged mount shows it, or is refused")
    func race() throws {
        let sandbox = try MountSandbox()
        defer { sandbox.remove() }
        let swapper = SymlinkSwapper("\(sandbox.base)/root/victim", "\(sandbox.base)/root/swap")
        swapper.start()
        var counts = ["inside": 0, "outside": 0, "refused": 0]
        let began = ContinuousClock.now
        var iterations = 0
        while iterations < 5000 && ContinuousClock.now - began < .seconds(60) {
            iterations += 1
            let staged: StagedMounts
            do {
                staged = try sandbox.stage([MountRequest(hostPath: "\(sandbox.base)/root/victim", containerPath: "/workspace", writable: false)])
            } catch {
                #expect(error.code == .symlink || error.code == .missing, "\(error)")
                counts["refused", default: 0] += 1
                continue
            }
            let marker = (try? String(contentsOfFile: staged.mounts[0].hostPath + "/marker", encoding: .utf8)) ?? "unreadable"
            counts[marker, default: 0] += 1
            #expect(staged.release().isEmpty)
        }
        let swaps = swapper.stop()
        print("mount race, no engine: \(iterations) iterations in \(ContinuousClock.now - began), \(swaps) swaps: \(counts)")
        #expect(counts["outside"] == 0, "the outside directory was mounted: \(counts)")
        #expect(counts.keys.sorted() == ["inside", "outside", "refused"], "\(counts)")
        // Both ways were seen: the race was real.
        #expect(counts["inside"]! > 0 && counts["refused"]! > 0, "\(counts)")
        #expect(try sandbox.leftovers().isEmpty)
    }

    @Test("the sweep releases a dead owner's staged mounts and leaves a live one's")
    func sweep() throws {
        let sandbox = try MountSandbox()
        defer { sandbox.remove() }
        let request = MountRequest(hostPath: "\(sandbox.base)/root/repo", containerPath: "/workspace", writable: true)
        let live = try sandbox.stage([request], executionID: "live")
        let mine = try #require(live.directory)
        // What a killed process leaves: its directory, named after its pid, with the mount still bound.
        let dead = try EngineDirectoryTests.deadPID()
        let abandoned = sandbox.staging.parent + "/\(dead)-killed"
        try FileManager.default.createDirectory(atPath: abandoned + "/0", withIntermediateDirectories: true)
        #expect(mount(live.mounts[0].hostPath, abandoned + "/0", nil, UInt(MS_BIND), nil) == 0)
        #expect(try MountSandbox.mountPoints(under: abandoned) == [abandoned + "/0"])
        var bound = stat()
        var repo = stat()
        #expect(stat(abandoned + "/0", &bound) == 0 && stat("\(sandbox.base)/root/repo", &repo) == 0 && bound.st_ino == repo.st_ino)
        // Kept: pid 1 always runs; not our pattern; a symlink named like ours.
        let initOwned = sandbox.staging.parent + "/1-init"
        let foreign = sandbox.staging.parent + "/notours"
        for directory in [initOwned, foreign] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        try FileManager.default.createSymbolicLink(atPath: sandbox.staging.parent + "/\(dead)-link", withDestinationPath: sandbox.base + "/root")

        #expect(sandbox.staging.removeAbandoned() == [abandoned])

        #expect(!FileManager.default.fileExists(atPath: abandoned))
        #expect(try MountSandbox.mountPoints(under: abandoned).isEmpty)
        #expect(try MountSandbox.mountPoints(under: mine) == [mine + "/0"], "the live owner's mount stays")
        #expect(try String(contentsOfFile: mine + "/0/marker", encoding: .utf8) == "inside")
        for kept in [initOwned, foreign, sandbox.staging.parent + "/\(dead)-link", sandbox.base + "/root/repo/marker"] {
            #expect(FileManager.default.fileExists(atPath: kept), "\(kept) was kept")
        }
        #expect(live.release().isEmpty)
        #expect(MountStaging(parent: "/nonexistent-\(UUID().uuidString)").removeAbandoned().isEmpty)
    }
}
