import Foundation

/// The engine CLI's working directory for one run: new, private, empty, and removed afterwards.
/// conmon before 2.1.13 (Debian 12 ships 2.1.6) creates a file `oom` in podman's working directory
/// when the memory limit kills the tool (containers/conmon#504): never in the caller's directory.
///
/// Its name carries the owner's pid (`airlock-engine-<pid>-XXXXXX`) so that one left by a killed
/// process can be told from a live one's and removed (`removeAbandoned`).
public struct EngineDirectory {
    static let prefix = "airlock-engine-"
    let path: String

    init() throws(EngineError) {
        let parent = Self.parent
        var template = Array((parent + Self.prefix + "\(getpid())-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw EngineError("cannot create a working directory for the engine in \(parent): \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
    }

    /// $TMPDIR, else /tmp, with a trailing slash: what NSTemporaryDirectory() decides, without its
    /// URL round trip on every run.
    public static var parent: String {
        let parent = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return parent.hasSuffix("/") ? parent : parent + "/"
    }

    /// Removes what conmon may have left, then the directory; anything else found there is kept.
    func remove() {
        Self.remove(path)
    }

    /// Whether the directory is gone.
    @discardableResult
    private static func remove(_ path: String) -> Bool {
        unlink(path + "/oom")
        return rmdir(path) == 0
    }

    /// Removes the working directories of processes that died without removing theirs (SIGKILL, a
    /// crash): only real directories of ours (not symlinks, owned by this user) whose pid no longer
    /// runs. A directory holding anything but conmon's `oom` file is kept. Returns the paths removed.
    @discardableResult
    public static func removeAbandoned(in parent: String = Self.parent) -> [String] {
        ExecutionDirectory.abandoned(in: parent, ownerPID: ownerPID).filter(remove)
    }

    /// The pid in `airlock-engine-<pid>-XXXXXX`; nil for any other name.
    static func ownerPID(_ name: String) -> pid_t? {
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count).split(separator: "-", omittingEmptySubsequences: false)
        guard rest.count == 2, rest[1].count == 6, let pid = pid_t(rest[0]), pid > 0 else { return nil }
        return pid
    }
}
