import CLinuxMount

#if canImport(Glibc)
import Glibc
#endif

/// A system call that failed: its name, the path it was given and errno.
struct SystemCallError: Error, Sendable {
    var call: String
    var path: String
    var errno: Int32

    /// `strerror`, for messages.
    var reason: String { String(cString: strerror(errno)) }
}

/// The system calls host mounts are made of, and nothing else: open beneath a root, bind, restrict,
/// detach, and the staging entries' files and directories. Every function retries EINTR and
/// reports failure as a `SystemCallError`.
enum MountSystemCalls {
    /// What a descriptor or path names, from `fstat`/`lstat`.
    struct FileStatus: Sendable, Equatable {
        var device: UInt64
        var inode: UInt64
        var type: mode_t
        var permissions: mode_t
        var owner: uid_t

        var isDirectory: Bool { type == S_IFDIR }
        var isRegularFile: Bool { type == S_IFREG }
        var isSymlink: Bool { type == S_IFLNK }

        init(_ raw: stat) {
            device = UInt64(raw.st_dev)
            inode = UInt64(raw.st_ino)
            type = raw.st_mode & S_IFMT
            permissions = raw.st_mode & 0o7777
            owner = raw.st_uid
        }
    }

    /// `openat2(dirfd, path, O_PATH | O_CLOEXEC, resolve)`. EAGAIN (a rename elsewhere on the
    /// system while `..` was resolved under RESOLVE_BENEATH) is retried a few times, then reported.
    static func openPath(_ path: String, in directory: Int32, resolve: UInt64) throws(SystemCallError) -> Int32 {
        var attempts = 0
        while true {
            let fd = airlock_open_path(directory, path, resolve)
            if fd >= 0 { return fd }
            let error = errno
            attempts += 1
            if error == EINTR || (error == EAGAIN && attempts < 16) { continue }
            throw SystemCallError(call: "openat2", path: path, errno: error)
        }
    }

    static let noSymlinks = UInt64(RESOLVE_NO_SYMLINKS) | UInt64(RESOLVE_NO_MAGICLINKS)
    static let beneathNoSymlinks = noSymlinks | UInt64(RESOLVE_BENEATH)

    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    static func status(of fd: Int32) throws(SystemCallError) -> FileStatus {
        var raw = stat()
        guard fstat(fd, &raw) == 0 else { throw SystemCallError(call: "fstat", path: "/proc/self/fd/\(fd)", errno: errno) }
        return FileStatus(raw)
    }

    /// `lstat`: a symlink is reported as one, never followed. nil when nothing is there.
    static func linkStatus(_ path: String) throws(SystemCallError) -> FileStatus? {
        var raw = stat()
        guard lstat(path, &raw) == 0 else {
            if errno == ENOENT { return nil }
            throw SystemCallError(call: "lstat", path: path, errno: errno)
        }
        return FileStatus(raw)
    }

    /// `mkdir`; false when something already exists there.
    @discardableResult
    static func makeDirectory(_ path: String, mode: mode_t) throws(SystemCallError) -> Bool {
        guard mkdir(path, mode) == 0 else {
            if errno == EEXIST { return false }
            throw SystemCallError(call: "mkdir", path: path, errno: errno)
        }
        return true
    }

    /// A new empty file, never through a symlink, never one that exists.
    static func makeFile(_ path: String, mode: mode_t) throws(SystemCallError) {
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemCallError(call: "open", path: path, errno: errno) }
        close(fd)
    }

    /// `rmdir` for a directory, `unlink` for anything else. A mount point is busy and stays.
    static func remove(_ path: String, isDirectory: Bool) throws(SystemCallError) {
        if isDirectory {
            guard rmdir(path) == 0 || errno == ENOENT else { throw SystemCallError(call: "rmdir", path: path, errno: errno) }
        } else {
            guard unlink(path) == 0 || errno == ENOENT else { throw SystemCallError(call: "unlink", path: path, errno: errno) }
        }
    }

    /// Binds the object `fd` names onto `target`. Through `/proc/self/fd/N` the kernel follows the
    /// descriptor to the very object that was opened: no path is resolved again.
    static func bind(_ fd: Int32, onto target: String) throws(SystemCallError) {
        let source = "/proc/self/fd/\(fd)"
        while mount(source, target, nil, UInt(MS_BIND), nil) != 0 {
            guard errno == EINTR else { throw SystemCallError(call: "mount", path: target, errno: errno) }
        }
    }

    /// The flags of the mount the descriptor's object lives on (`ST_RDONLY`, `ST_NOEXEC`, ...).
    static func sourceFlags(_ fd: Int32) throws(SystemCallError) -> UInt {
        var raw = statvfs()
        guard fstatvfs(fd, &raw) == 0 else { throw SystemCallError(call: "fstatvfs", path: "/proc/self/fd/\(fd)", errno: errno) }
        return raw.f_flag
    }

    /// Makes the bind mount at `target` nosuid and nodev, and read-only when asked. A bind remount
    /// sets every per-mount flag at once, so what the source mount had (read-only, noexec, the atime
    /// mode) is kept: a bind never grants more than the mount it was taken from.
    static func restrict(_ target: String, readOnly: Bool, keeping source: UInt) throws(SystemCallError) {
        var flags = UInt(MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV)
        if readOnly || source & UInt(ST_RDONLY) != 0 { flags |= UInt(MS_RDONLY) }
        // statvfs reports these with their MS_ values (ST_NOEXEC == MS_NOEXEC, ...; glibc names the
        // ST_ ones only under _GNU_SOURCE, which Swift's Glibc module is not built with).
        flags |= source & UInt(MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME)
        while mount(nil, target, nil, flags, nil) != 0 {
            guard errno == EINTR else { throw SystemCallError(call: "mount", path: target, errno: errno) }
        }
    }

    /// The mount flags in force at `target`: `ST_RDONLY`, `ST_NOSUID`, and the others with their MS_ values.
    static func mountFlags(_ target: String) throws(SystemCallError) -> UInt {
        var raw = statvfs()
        guard statvfs(target, &raw) == 0 else { throw SystemCallError(call: "statvfs", path: target, errno: errno) }
        return raw.f_flag
    }

    /// Detaches every mount stacked at `target` (lazily: an engine's copy in its own namespace lives
    /// on until that container ends), never following a symlink. Returns how many were detached.
    @discardableResult
    static func detachAll(_ target: String) throws(SystemCallError) -> Int {
        var detached = 0
        while true {
            if umount2(target, Int32(MNT_DETACH | UMOUNT_NOFOLLOW)) == 0 {
                detached += 1
                continue
            }
            switch errno {
            case EINTR: continue
            case EINVAL, ENOENT: return detached  // not (or no longer) a mount point
            default: throw SystemCallError(call: "umount2", path: target, errno: errno)
            }
        }
    }

    /// The names in a directory, without `.` and `..`; empty when it cannot be read.
    static func entries(of path: String) -> [String] {
        guard let listing = opendir(path) else { return [] }
        defer { closedir(listing) }
        var names: [String] = []
        while let entry = readdir(listing) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
