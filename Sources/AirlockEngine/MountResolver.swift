import AirlockPolicy
import Foundation

/// A caller's mount request: `HOST:PATH[:rw]` (`:ro` is the default and may be written).
public struct MountRequest: Sendable, Hashable {
    public var hostPath: String
    public var containerPath: String
    public var writable: Bool

    public init(hostPath: String, containerPath: String, writable: Bool) {
        self.hostPath = hostPath
        self.containerPath = containerPath
        self.writable = writable
    }

    public init(parsing text: String) throws(MountError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw MountError(.malformed, "mount '\(text)' must be HOST:PATH or HOST:PATH:ro or HOST:PATH:rw")
        }
        var writable = false
        if parts.count == 3 {
            switch parts[2] {
            case "rw": writable = true
            case "ro": writable = false
            default: throw MountError(.malformed, "mount '\(text)': the mode must be ro or rw, not '\(parts[2])'")
            }
        }
        self.init(hostPath: parts[0], containerPath: parts[1], writable: writable)
    }
}

/// Why a mount was refused (the caller's to fix), or could not be bound (the operator's).
public struct MountError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// Not `HOST:PATH[:ro|rw]`, a relative host path, a container path outside `/workspace`,
        /// a character the engines' mount syntax reserves, two mounts at one place.
        case malformed
        /// The host path is outside every mount root of the tool, or `..` climbs out of one.
        case outsideRoots = "outside_roots"
        /// A symlink is on the host path (below the root).
        case symlink
        /// The host path, or the root, does not exist.
        case missing
        /// Writable asked under a read-only root.
        case readOnlyRoot = "read_only_root"
        /// Neither a directory nor a regular file.
        case unsupportedType = "unsupported_type"
        /// Airlock may not bind (not root, no CAP_SYS_ADMIN).
        case privilege
        /// The staging area is unsafe or a system call failed.
        case staging
    }

    public var code: Code
    /// A message a person can act on; names the path and why.
    public var message: String
    /// errno of the system call that failed, when one did.
    public var errno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String { message }
}

/// Checks mount requests against a tool's allowed roots, and opens each host path beneath its root
/// so that what is bound is the very object checked (`MountStaging` binds the descriptor).
///
/// A path is never resolved twice. The root, as the operator configured it, is resolved once
/// (`realpath`) and opened with no symlink allowed; the caller's path is then opened relative to it
/// with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`: a symlink anywhere
/// on it, or `..` climbing out of the root, is refused by the kernel in the same walk that yields
/// the descriptor. A tool that swaps a directory for a symlink meanwhile gets a refusal, never
/// another directory.
public enum MountResolver {
    public static let containerBase = "/workspace"

    /// A request whose shape was checked and whose root was found; nothing opened yet.
    struct Target: Sendable, Hashable {
        var request: MountRequest
        var root: MountRoot
        /// The root, symlinks resolved once: what is opened.
        var realRoot: String
        /// The host path below the root (`.` for the root itself); may hold `..`, which the kernel
        /// confines to the root.
        var relativePath: String
        /// Normalized.
        var containerPath: String
    }

    /// A host path opened beneath its root: an `O_PATH` descriptor the caller closes.
    struct OpenedHostPath: Sendable {
        var fd: Int32
        var status: MountSystemCalls.FileStatus
    }

    /// Checks every request and opens none: the shape of each, its root, the container paths.
    static func check(_ requests: [MountRequest], roots: [MountRoot]) throws(MountError) -> [Target] {
        var targets: [Target] = []
        for request in requests {
            let target = try check(request, roots: roots)
            if let clash = targets.first(where: { $0.containerPath == target.containerPath }) {
                throw MountError(
                    .malformed, "two mounts at '\(target.containerPath)' ('\(clash.request.hostPath)' and '\(request.hostPath)')")
            }
            targets.append(target)
        }
        return targets
    }

    static func check(_ request: MountRequest, roots: [MountRoot]) throws(MountError) -> Target {
        for (path, side) in [(request.hostPath, "host"), (request.containerPath, "container")] {
            if let reserved = reservedCharacter(in: path) {
                throw MountError(
                    .malformed,
                    "mount \(side) path '\(path.debugDescription.dropFirst().dropLast())' contains \(reserved), which the engines' mount syntax gives a meaning to; rename it or mount a directory above it")
            }
        }
        guard request.hostPath.hasPrefix("/") else {
            throw MountError(.malformed, "mount host path '\(request.hostPath)' must be absolute")
        }
        guard request.containerPath.hasPrefix("/"), let container = PathConfinement.resolve(request.containerPath),
            isWithin(container, containerBase)
        else {
            throw MountError(.malformed, "mount container path '\(request.containerPath)' must be \(containerBase) or a path below it")
        }
        let host = components(request.hostPath)
        var readOnlyMatch: MountRoot?
        for root in roots {
            guard let realRoot = realPath(root.path) else { continue }
            // The caller may name the root as configured or as resolved; below it, only real paths.
            let candidates = [components(root.path), components(realRoot)].filter { host.starts(with: $0) }
            guard let prefix = candidates.max(by: { $0.count < $1.count }) else { continue }
            guard !request.writable || root.writable else {
                readOnlyMatch = readOnlyMatch ?? root
                continue
            }
            let relative = host.dropFirst(prefix.count).joined(separator: "/")
            return Target(
                request: request, root: root, realRoot: realRoot, relativePath: relative.isEmpty ? "." : relative,
                containerPath: container)
        }
        if let readOnlyMatch {
            throw MountError(.readOnlyRoot, "mount '\(request.hostPath)' asks to write, but root '\(readOnlyMatch.path)' is read-only")
        }
        throw MountError(.outsideRoots, "mount host path '\(request.hostPath)' is outside the tool's mount roots (\(allowed(roots)))")
    }

    /// Opens the target beneath its root. Any symlink on the way, `..` out of the root, or a missing
    /// path is refused here, by the kernel, in the walk that yields the descriptor.
    static func open(_ target: Target) throws(MountError) -> OpenedHostPath {
        let hostPath = target.request.hostPath
        let rootFD: Int32
        do {
            rootFD = try MountSystemCalls.openPath(target.realRoot, in: AT_FDCWD, resolve: MountSystemCalls.noSymlinks)
        } catch {
            throw MountError(
                .missing, "mount root '\(target.root.path)' (for '\(hostPath)') cannot be opened: \(error.reason)", errno: error.errno)
        }
        defer { MountSystemCalls.close(rootFD) }
        let fd: Int32
        do {
            fd = try MountSystemCalls.openPath(target.relativePath, in: rootFD, resolve: MountSystemCalls.beneathNoSymlinks)
        } catch {
            throw refusal(opening: hostPath, root: target.root.path, error)
        }
        let status: MountSystemCalls.FileStatus
        do {
            status = try MountSystemCalls.status(of: fd)
        } catch {
            MountSystemCalls.close(fd)
            throw MountError(.staging, "mount host path '\(hostPath)' cannot be examined: \(error.reason)", errno: error.errno)
        }
        guard status.isDirectory || status.isRegularFile else {
            MountSystemCalls.close(fd)
            throw MountError(.unsupportedType, "mount host path '\(hostPath)' is neither a directory nor a regular file")
        }
        return OpenedHostPath(fd: fd, status: status)
    }

    static func refusal(opening hostPath: String, root: String, _ error: SystemCallError) -> MountError {
        switch error.errno {
        case ENOENT:
            MountError(.missing, "mount host path '\(hostPath)' does not exist", errno: error.errno)
        case ENOTDIR:
            MountError(.missing, "mount host path '\(hostPath)' does not exist (a component of it is not a directory)", errno: error.errno)
        case ELOOP:
            MountError(
                .symlink,
                "mount host path '\(hostPath)' passes through a symlink below root '\(root)'; Airlock binds only real paths (a symlink could be swapped while it is mounted), so give the path the link points to",
                errno: error.errno)
        case EXDEV:
            MountError(
                .outsideRoots, "mount host path '\(hostPath)' leads outside the tool's mount roots: '..' climbs above root '\(root)'",
                errno: error.errno)
        case EAGAIN:
            MountError(.staging, "mount host path '\(hostPath)' kept changing while it was opened; try again", errno: error.errno)
        case ENOSYS:
            MountError(.staging, "this kernel has no openat2 (Linux 5.6 or later is needed to bind host mounts safely)", errno: error.errno)
        default:
            MountError(.staging, "mount host path '\(hostPath)' cannot be opened: \(error.reason)", errno: error.errno)
        }
    }

    /// The first character in `path` the engines' `--mount` (CSV: `,` and `"`) or `--volume` (`:`)
    /// syntax reads as syntax, named for a message; or a line break or NUL, which no path should hold.
    static func reservedCharacter(in path: String) -> String? {
        for scalar in path.unicodeScalars {
            switch scalar {
            case ":": return "':'"
            case ",": return "','"
            case "\"": return "'\"'"
            case "\n": return "a newline"
            case "\r": return "a carriage return"
            case "\0": return "a NUL character"
            default: continue
            }
        }
        return nil
    }

    /// The path's components, without empty ones and `.` (which cannot change what a path names);
    /// `..` is kept, for the kernel to confine.
    static func components(_ path: String) -> [Substring] {
        path.split(separator: "/").filter { $0 != "." }
    }

    static func allowed(_ roots: [MountRoot]) -> String {
        roots.isEmpty ? "this tool allows no mounts" : "allowed roots: \(roots.map(\.path).joined(separator: ", "))"
    }

    static func isWithin(_ path: String, _ root: String) -> Bool {
        root == "/" || path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
