import AirlockInvocation
import AirlockSeccomp
import Foundation
import Synchronization

/// Loaded seccomp profiles, kept while their file is unchanged: loading validates and compiles the
/// profile with libseccomp, several milliseconds that every invocation would otherwise pay. A file
/// that changes (device, inode, size or modification time) is loaded again.
public final class SeccompProfileCache: Sendable {
    private struct Identity: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int64
        var modifiedNanoseconds: Int64
    }

    private let load: InvocationPipeline.ProfileLoader
    private let profiles = Mutex<[String: (Identity, SeccompProfile.Reference)]>([:])

    public init(load: @escaping InvocationPipeline.ProfileLoader) {
        self.load = load
    }

    public func profile(_ path: String) throws(SeccompProfileError) -> SeccompProfile.Reference {
        guard let identity = Self.identity(path) else { return try load(path) }
        if let (known, profile) = profiles.withLock({ $0[path] }), known == identity { return profile }
        let profile = try load(path)
        profiles.withLock { $0[path] = (identity, profile) }
        return profile
    }

    private static func identity(_ path: String) -> Identity? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Identity(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size), modified: Int64(info.st_mtim.tv_sec),
            modifiedNanoseconds: Int64(info.st_mtim.tv_nsec))
    }
}
