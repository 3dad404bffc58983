import AirlockPolicy

#if canImport(Glibc)
import Glibc
#endif

/// Where host mounts are bound before the engine sees them, and how.
///
/// The engine is never handed a caller's path: it would resolve it again when it binds, and a tool
/// with a writable mount can meanwhile swap a directory on that path for a symlink to anywhere.
/// Instead each host path is opened beneath its root (`MountResolver.open`: no symlink, no `..` out
/// of the root), the open descriptor is bound onto a staging path, `mount("/proc/self/fd/N", ...)`,
/// so the kernel binds exactly the object that was checked, and the engine is given the staging
/// path. Every directory on it is root's and writable by root only (checked with `lstat`), so
/// nobody else can swap anything there.
///
/// `<parent>/<owner pid>-<execution id>/<index>`: the per-invocation directory is 0700, and its name
/// tells a live owner's from one a killed process left (`removeAbandoned`).
///
/// Binding needs root (CAP_SYS_ADMIN). Without it host mounts are refused, never passed as paths.
public struct MountStaging: Sendable {
    public static let defaultParent = "/run/airlock/mounts"

    /// An absolute path; created (0755) when missing.
    public var parent: String

    public init(parent: String = Self.defaultParent) {
        var parent = parent
        while parent.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
        self.parent = parent
    }

    /// Checks the requests against the roots, opens each host path beneath its root and binds it
    /// onto a staging path: nosuid, nodev, read-only unless asked otherwise and allowed.
    ///
    /// - Throws: `MountError` naming the path and why; everything staged so far is released first.
    public func stage(_ requests: [MountRequest], roots: [MountRoot], executionID: String) throws(MountError) -> StagedMounts {
        let targets = try MountResolver.check(requests, roots: roots)
        guard !targets.isEmpty else { return .none }
        guard geteuid() == 0 else { throw Self.privilegeError(reason: "Airlock is not running as root") }
        let directory: String
        do {
            directory = try ExecutionDirectory.create(parent: parent, executionID: executionID, purpose: Self.purpose).path
        } catch {
            throw Self.stagingError(error)
        }

        var entries: [StagedMounts.Entry] = []
        do {
            for (index, target) in targets.enumerated() {
                try stage(target, at: directory + "/\(index)", recording: &entries)
            }
        } catch {
            StagedMounts(directory: directory, entries: entries).release()
            throw error
        }
        return StagedMounts(directory: directory, entries: entries)
    }

    /// One target: open it, make the staging entry, bind the descriptor, restrict, verify.
    private func stage(_ target: MountResolver.Target, at path: String, recording entries: inout [StagedMounts.Entry]) throws(MountError) {
        let opened = try MountResolver.open(target)
        defer { MountSystemCalls.close(opened.fd) }
        let writable = target.request.writable
        do {
            if opened.status.isDirectory {
                try MountSystemCalls.makeDirectory(path, mode: 0o700)
            } else {
                try MountSystemCalls.makeFile(path, mode: 0o600)
            }
            // Recorded before the bind: a failure from here on is undone by `release`.
            entries.append(
                StagedMounts.Entry(
                    mount: Mount(hostPath: path, containerPath: target.containerPath, writable: writable),
                    isDirectory: opened.status.isDirectory))
            let source = try MountSystemCalls.sourceFlags(opened.fd)
            try MountSystemCalls.bind(opened.fd, onto: path)
            try MountSystemCalls.restrict(path, readOnly: !writable, keeping: source)
            guard let bound = try MountSystemCalls.linkStatus(path), bound.device == opened.status.device, bound.inode == opened.status.inode
            else {
                throw MountError(.staging, "staging path '\(path)' does not show '\(target.request.hostPath)' after binding it")
            }
            let flags = try MountSystemCalls.mountFlags(path)
            guard flags & UInt(ST_NOSUID) != 0, flags & UInt(MS_NODEV) != 0, writable || flags & UInt(ST_RDONLY) != 0 else {
                throw MountError(.staging, "staging path '\(path)' for '\(target.request.hostPath)' did not take the nosuid, nodev or read-only flag")
            }
        } catch let error as SystemCallError {
            if error.call == "mount", error.errno == EPERM || error.errno == EACCES {
                throw Self.privilegeError(reason: "binding '\(target.request.hostPath)' was not permitted (\(error.reason))")
            }
            throw MountError(
                .staging, "cannot stage mount '\(target.request.hostPath)': \(error.call) \(error.path): \(error.reason)", errno: error.errno)
        } catch let error as MountError {
            throw error
        } catch {
            throw MountError(.staging, "cannot stage mount '\(target.request.hostPath)': \(error)")
        }
    }

    static let purpose = ExecutionDirectory.Purpose(directory: "staging directory", use: "for host mounts", content: "a staged mount")

    /// Removes the staging directories of processes that died without releasing theirs (SIGKILL, a
    /// crash): their mounts are detached, their entries and the directory removed. A live owner's
    /// directory is left alone, as is anything that is not a root-owned directory of our pattern,
    /// and nothing below a mount that cannot be detached is ever touched. Returns the paths removed.
    @discardableResult
    public func removeAbandoned() -> [String] {
        ExecutionDirectory.removeAbandoned(in: parent) { directory in
            for entry in MountSystemCalls.entries(of: directory) where entry.allSatisfy(\.isASCIIDigit) {
                let path = directory + "/" + entry
                guard (try? MountSystemCalls.detachAll(path)) != nil,
                    let status = try? MountSystemCalls.linkStatus(path), !status.isSymlink
                else { continue }
                try? MountSystemCalls.remove(path, isDirectory: status.isDirectory)
            }
        }
    }

    static func privilegeError(reason: String) -> MountError {
        MountError(
            .privilege,
            "host mounts need root (CAP_SYS_ADMIN) so that Airlock can bind exactly the directory it checked, and \(reason); run Airlock as root or invoke the tool without mounts")
    }

    static func stagingError(_ error: ExecutionDirectory.Failure) -> MountError {
        switch error.code {
        case .malformed: return MountError(.malformed, error.message)
        case .system where error.errno == EACCES || error.errno == EPERM || error.errno == EROFS:
            return privilegeError(reason: error.message)
        case .unsafe, .exists, .system: return MountError(.staging, error.message, errno: error.errno)
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
