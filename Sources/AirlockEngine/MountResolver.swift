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
            throw MountError("mount '\(text)' must be HOST:PATH or HOST:PATH:ro or HOST:PATH:rw")
        }
        var writable = false
        if parts.count == 3 {
            switch parts[2] {
            case "rw": writable = true
            case "ro": writable = false
            default: throw MountError("mount '\(text)': the mode must be ro or rw, not '\(parts[2])'")
            }
        }
        self.init(hostPath: parts[0], containerPath: parts[1], writable: writable)
    }
}

public struct MountError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Checks mount requests against a tool's allowed roots, before anything is launched.
///
/// The host path is resolved with symlinks followed (`realpath`), so neither `..` nor a symlink can
/// lead out of a root; it must exist. The container path must be `/workspace` or below it.
public enum MountResolver {
    public static let containerBase = "/workspace"

    public static func resolve(_ requests: [MountRequest], roots: [MountRoot]) throws(MountError) -> [Mount] {
        var mounts: [Mount] = []
        for request in requests {
            guard request.hostPath.hasPrefix("/") else {
                throw MountError("mount host path '\(request.hostPath)' must be absolute")
            }
            guard let real = realPath(request.hostPath) else {
                throw MountError("mount host path '\(request.hostPath)' does not exist or cannot be resolved")
            }
            let resolvedRoots = roots.map { root in (root, realPath(root.path) ?? root.path) }
            guard let (root, _) = resolvedRoots.first(where: { isWithin(real, $0.1) }) else {
                let allowed = roots.isEmpty ? "this tool allows no mounts" : "allowed roots: \(roots.map(\.path).joined(separator: ", "))"
                throw MountError("mount host path '\(request.hostPath)' resolves to '\(real)', outside the tool's mount roots (\(allowed))")
            }
            if request.writable, !root.writable {
                throw MountError("mount '\(request.hostPath)' asks to write, but root '\(root.path)' is read-only")
            }
            guard let container = PathConfinement.resolve(request.containerPath), request.containerPath.hasPrefix("/"),
                isWithin(container, containerBase)
            else {
                throw MountError("mount container path '\(request.containerPath)' must be \(containerBase) or a path below it")
            }
            // The engines' --mount syntax separates fields with ',' (and --volume with ':').
            if let bad = [real, container].first(where: { $0.contains(",") || $0.contains(":") || $0.contains("\n") }) {
                throw MountError("mount path '\(bad)' contains ',', ':' or a newline, which the engines cannot bind safely")
            }
            if let clash = mounts.first(where: { $0.containerPath == container }) {
                throw MountError("two mounts at '\(container)' ('\(clash.hostPath)' and '\(real)')")
            }
            mounts.append(Mount(hostPath: real, containerPath: container, writable: request.writable))
        }
        return mounts
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
