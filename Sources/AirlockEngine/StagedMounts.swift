import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One invocation's host mounts, each bound onto its own staging path (`MountStaging.stage`): the
/// engine is given these paths, which only root can change, never the caller's.
///
/// Owned by the invocation: `release()` unmounts and removes them when the run has ended, however it
/// ended. A process killed before that leaves them to `MountStaging.removeAbandoned`.
public final class StagedMounts: Sendable {
    struct Entry: Sendable {
        /// The staging path: a directory or an empty file, with the host object bound over it.
        var mount: Mount
        var isDirectory: Bool
    }

    /// What the engine binds: each `hostPath` is a staging path.
    public let mounts: [Mount]
    /// `<parent>/<owner pid>-<execution id>`; nil when nothing was staged.
    public let directory: String?
    private let entries: [Entry]
    private let released = Mutex(false)

    init(directory: String?, entries: [Entry]) {
        self.directory = directory
        self.entries = entries
        mounts = entries.map(\.mount)
    }

    /// No host mounts: nothing staged, nothing to release.
    static let none = StagedMounts(directory: nil, entries: [])

    /// Detaches every staged mount and removes the staging entries and directory. Only the first
    /// call does anything. A mount the kernel keeps busy, or an entry that cannot be removed, is left
    /// in place (never anything below it) and reported.
    ///
    /// - Returns: what could not be cleaned up, for the log; empty when everything is gone.
    @discardableResult
    public func release() -> [String] {
        guard released.withLock({ released in
            defer { released = true }
            return !released
        }) else { return [] }
        guard let directory else { return [] }
        var problems: [String] = []
        for entry in entries.reversed() {
            let path = entry.mount.hostPath
            do {
                try MountSystemCalls.detachAll(path)
                try MountSystemCalls.remove(path, isDirectory: entry.isDirectory)
            } catch {
                problems.append("\(error.call) \(error.path): \(error.reason)")
            }
        }
        do {
            try MountSystemCalls.remove(directory, isDirectory: true)
        } catch {
            problems.append("\(error.call) \(error.path): \(error.reason)")
        }
        return problems
    }
}
