#if canImport(Glibc)
import Glibc
#endif

/// One invocation's private directory under a root-only parent: `<parent>/<owner pid>-<execution id>`.
///
/// What Airlock hands an engine to bind (staged host mounts, an egress proxy's socket) lives here.
/// The parent and every directory above it are root's and writable only by root, and the
/// invocation's own directory is 0700 (each checked with `lstat`: a symlink anywhere is refused),
/// so no other user of the host can reach what is inside, nor swap anything on the path the engine
/// binds. The owner's pid in the name tells a live owner's directory from one a killed process left
/// (`removeAbandoned`).
public struct ExecutionDirectory: Sendable {
    /// What the directories hold, for messages: "staging directory", "for host mounts", "a staged mount".
    public struct Purpose: Sendable {
        public var directory: String
        public var use: String
        public var content: String

        public init(directory: String, use: String, content: String) {
            self.directory = directory
            self.use = use
            self.content = content
        }
    }

    /// Why a directory could not be made.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public enum Code: Sendable {
            /// The execution id cannot be one path component.
            case malformed
            /// A directory on the way is not root's, lets others write (or in), or is a symlink.
            case unsafe
            /// The invocation's directory exists already: the execution id is running twice.
            case exists
            /// A system call failed (`errno`).
            case system
        }

        public var code: Code
        public var message: String
        public var errno: Int32?

        public var description: String { message }
    }

    public let path: String

    init(path: String) {
        self.path = path
    }

    /// Creates `<parent>/<pid>-<executionID>` (0700) after checking, and making (0755) where
    /// missing, every directory of the parent from `/` down.
    ///
    /// - Throws: `Failure`; nothing is created below an unsafe directory.
    public static func create(parent: String, executionID: String, purpose: Purpose) throws(Failure) -> ExecutionDirectory {
        guard isSafeName(executionID) else {
            throw Failure(
                code: .malformed,
                message: "execution id '\(executionID)' cannot name a \(purpose.directory) (letters, digits, '_', '.', '-')")
        }
        try prepare(parent: parent, purpose: purpose)
        let path = parent + "/\(getpid())-\(executionID)"
        let made: Bool
        do {
            made = try MountSystemCalls.makeDirectory(path, mode: 0o700)
        } catch {
            throw Failure(error, purpose)
        }
        guard made else {
            throw Failure(
                code: .exists, message: "\(purpose.directory) '\(path)' already exists: is execution id '\(executionID)' running twice?")
        }
        try verify(path, isPrivate: true, purpose: purpose)
        return ExecutionDirectory(path: path)
    }

    /// Creates the parent's missing directories and checks every directory from `/` down: a real
    /// directory (not a symlink), owned by root, writable by nobody else.
    public static func prepare(parent: String, purpose: Purpose) throws(Failure) {
        guard parent.hasPrefix("/") else {
            throw Failure(code: .unsafe, message: "\(purpose.directory) '\(parent)' must be an absolute path")
        }
        var path = ""
        try verify("/", isPrivate: false, purpose: purpose)
        for component in parent.split(separator: "/") {
            path += "/" + component
            do {
                if try MountSystemCalls.linkStatus(path) == nil {
                    try MountSystemCalls.makeDirectory(path, mode: 0o755)
                }
            } catch {
                throw Failure(error, purpose)
            }
            try verify(path, isPrivate: false, purpose: purpose)
        }
    }

    /// A real directory, root's, that only root can write to (`isPrivate`: that only root can enter).
    static func verify(_ path: String, isPrivate: Bool, purpose: Purpose) throws(Failure) {
        let status: MountSystemCalls.FileStatus?
        do {
            status = try MountSystemCalls.linkStatus(path)
        } catch {
            throw Failure(error, purpose)
        }
        let problem: String? =
            if let status {
                if status.isSymlink {
                    "it is a symlink"
                } else if !status.isDirectory {
                    "it is not a directory"
                } else if status.owner != 0 {
                    "it is owned by uid \(status.owner), not root"
                } else if status.permissions & (isPrivate ? 0o077 : 0o022) != 0 {
                    "its mode \(String(status.permissions, radix: 8)) lets \(isPrivate ? "others in" : "others write")"
                } else {
                    nil
                }
            } else {
                "it does not exist"
            }
        if let problem {
            throw Failure(
                code: .unsafe,
                message:
                    "\(purpose.directory) '\(path)' is unsafe \(purpose.use): \(problem); every directory above \(purpose.content) must be root's and writable only by root"
            )
        }
    }

    /// The directories under `parent` that processes which no longer run left behind: named by
    /// `ownerPID`, real directories (not symlinks) owned by this user. A live owner's, and anything
    /// else, is not listed. The caller empties and removes them.
    public static func abandoned(in parent: String, ownerPID: (String) -> pid_t? = ownerPID) -> [String] {
        let parent = parent.hasSuffix("/") ? String(parent.dropLast()) : parent
        return MountSystemCalls.entries(of: parent).compactMap { name in
            guard let pid = ownerPID(name), pid != getpid(), ContainerOwner.noSuchProcess(pid) else { return nil }
            let path = parent + "/" + name
            guard let status = try? MountSystemCalls.linkStatus(path), status.isDirectory, status.owner == geteuid() else { return nil }
            return path
        }
    }

    /// Removes the abandoned directories under `parent` (see `abandoned`): `empty` clears each
    /// first; one that is still not empty afterwards stays. Returns the paths removed.
    @discardableResult
    public static func removeAbandoned(in parent: String, emptying empty: (String) -> Void) -> [String] {
        abandoned(in: parent).filter { path in
            empty(path)
            return (try? MountSystemCalls.remove(path, isDirectory: true)) != nil
        }
    }

    /// Removes every entry that is not a directory, then the directory itself: for directories only
    /// their owner writes to, holding sockets or files.
    public func remove() {
        Self.removeFiles(in: path)
        try? MountSystemCalls.remove(path, isDirectory: true)
    }

    /// Unlinks every entry of `path` that is not a directory (never following a symlink).
    public static func removeFiles(in path: String) {
        for name in MountSystemCalls.entries(of: path) {
            let entry = path + "/" + name
            if let status = try? MountSystemCalls.linkStatus(entry), !status.isDirectory {
                try? MountSystemCalls.remove(entry, isDirectory: false)
            }
        }
    }

    /// The pid in `<pid>-<execution id>`; nil for any other name.
    public static func ownerPID(_ name: String) -> pid_t? {
        guard let dash = name.firstIndex(of: "-"), name.index(after: dash) < name.endIndex,
            let pid = pid_t(name[..<dash]), pid > 0
        else { return nil }
        return pid
    }

    /// 1 to 128 of letters, digits, `_`, `.`, `-`, not starting with `.`: one path component.
    public static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 128 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0)
            }
    }
}

extension ExecutionDirectory.Failure {
    init(_ error: SystemCallError, _ purpose: ExecutionDirectory.Purpose) {
        self.init(
            code: .system, message: "cannot prepare the \(purpose.directory): \(error.call) \(error.path): \(error.reason)", errno: error.errno)
    }
}
