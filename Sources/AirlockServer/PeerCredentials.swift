import Foundation
import NIOCore
import NIOPosix

/// Who is on the other end of a Unix socket connection, as the kernel says (SO_PEERCRED): the
/// credentials of the process that connected, which it cannot forge.
public struct PeerCredentials: Sendable, Hashable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    public var description: String { "uid=\(uid) gid=\(gid) pid=\(pid)" }

    /// Linux's `struct ucred` (pid_t, uid_t, gid_t), declared here because Swift's Glibc module does
    /// not export it.
    struct UCred: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// SO_PEERCRED's value on Linux (asm-generic/socket.h).
    static let soPeerCred: Int32 = 17

    /// The peer of a Unix socket connection; nil for any other kind (TCP has no peer credentials).
    static func of(_ channel: any Channel) async throws -> PeerCredentials? {
        guard case .unixDomainSocket? = channel.localAddress, let provider = channel as? any SocketOptionProvider else { return nil }
        let credentials: UCred = try await provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(soPeerCred)).get()
        return PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
    }
}

/// Which local users may call the worker over its Unix socket: a peer is allowed when its uid or its
/// primary gid is listed (SO_PEERCRED reports only the primary group).
public struct PeerAllowList: Sendable, Equatable {
    public var uids: Set<UInt32>
    public var gids: Set<UInt32>

    public init(uids: Set<UInt32>, gids: Set<UInt32>) {
        self.uids = uids
        self.gids = gids
    }

    /// The worker's own user, and root.
    public static var standard: PeerAllowList { PeerAllowList(uids: [getuid(), 0], gids: []) }

    public func allows(_ peer: PeerCredentials) -> Bool {
        uids.contains(peer.uid) || gids.contains(peer.gid)
    }
}
