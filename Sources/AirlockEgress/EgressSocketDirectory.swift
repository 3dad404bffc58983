#if canImport(Glibc)
import Glibc
#endif

/// The directory of one invocation's proxy socket, `<parent>/<owner pid>-<execution id>/`: the
/// parent and every directory above it root's and writable only by root, the directory itself
/// 0700, so no other user of the host can reach the socket, and no one but root can swap anything
/// on the path the engine binds (checked with `lstat`: a symlink anywhere is refused). The socket
/// file itself is 0666: the container's user (65534) connects to it through the bind mount, which
/// does not pass through the directories above it.
struct EgressSocketDirectory {
    let path: String

    /// Creates `<parent>/<pid>-<executionID>` after checking (and making, 0755) the parent.
    static func create(parent: String, executionID: String) throws(EgressError) -> EgressSocketDirectory {
        guard isSafeName(executionID) else {
            throw EgressError(.malformed, "execution id '\(executionID)' cannot name an egress socket directory (letters, digits, '_', '.', '-')")
        }
        guard parent.hasPrefix("/") else { throw EgressError(.unsafeDirectory, "egress socket directory '\(parent)' must be an absolute path") }
        var path = ""
        try verify("/", isPrivate: false)
        for component in parent.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o755) != 0, errno != EEXIST {
                throw EgressError(.unsafeDirectory, "cannot create egress socket directory '\(path)'", cause: String(cString: strerror(errno)))
            }
            try verify(path, isPrivate: false)
        }
        let directory = path + "/\(getpid())-\(executionID)"
        guard mkdir(directory, 0o700) == 0 else {
            let cause = String(cString: strerror(errno))
            throw EgressError(.unsafeDirectory, "cannot create egress socket directory '\(directory)' (is execution id '\(executionID)' running twice?)", cause: cause)
        }
        try verify(directory, isPrivate: true)
        return EgressSocketDirectory(path: directory)
    }

    /// The socket, made reachable by the container's user, and checked to be the socket just bound.
    func openSocket(_ socket: String) throws(EgressError) {
        guard chmod(socket, 0o666) == 0 else {
            throw EgressError(.listen, "cannot make egress socket '\(socket)' reachable", cause: String(cString: strerror(errno)))
        }
        var status = stat()
        guard lstat(socket, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK, status.st_uid == geteuid() else {
            throw EgressError(.listen, "egress socket '\(socket)' is not the socket the proxy bound")
        }
    }

    /// Removes the socket (or anything else in the directory: only this process writes there) and the directory.
    func remove() {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != ".", name != ".." { unlink(path + "/" + name) }
            }
            closedir(directory)
        }
        rmdir(path)
    }

    /// A real directory, root's, that only root can write to (`isPrivate`: that only root can enter).
    static func verify(_ path: String, isPrivate: Bool) throws(EgressError) {
        var status = stat()
        let problem: String? =
            if lstat(path, &status) != 0 {
                String(cString: strerror(errno))
            } else if status.st_mode & S_IFMT == S_IFLNK {
                "it is a symlink"
            } else if status.st_mode & S_IFMT != S_IFDIR {
                "it is not a directory"
            } else if status.st_uid != 0 {
                "it is owned by uid \(status.st_uid), not root"
            } else if status.st_mode & (isPrivate ? 0o077 : 0o022) != 0 {
                "its mode \(String(status.st_mode & 0o7777, radix: 8)) lets \(isPrivate ? "others in" : "others write")"
            } else {
                nil
            }
        if let problem {
            throw EgressError(
                .unsafeDirectory,
                "egress socket directory '\(path)' is unsafe: \(problem); every directory above an egress socket must be root's and writable only by root")
        }
    }

    /// Directories left by processes that died without finishing their proxies (SIGKILL, a crash);
    /// a live owner's are left alone. Returns the paths removed.
    static func removeAbandoned(parent: String) -> [String] {
        guard let directory = opendir(parent) else { return [] }
        var names: [String] = []
        while let entry = readdir(directory) {
            names.append(withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
        }
        closedir(directory)
        var removed: [String] = []
        for name in names {
            guard let dash = name.firstIndex(of: "-"), let pid = pid_t(name[..<dash]), pid > 0, pid != getpid(),
                kill(pid, 0) != 0, errno == ESRCH
            else { continue }
            var status = stat()
            let path = parent + "/" + name
            guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR, status.st_uid == geteuid() else { continue }
            EgressSocketDirectory(path: path).remove()
            removed.append(path)
        }
        return removed
    }

    /// 1 to 128 of letters, digits, `_`, `.`, `-`, not starting with `.`: one path component.
    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 128 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0)
            }
    }
}
