import Foundation

/// Why the worker cannot listen where it was asked to.
public struct ListenError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The socket file the worker listens on: a stale one left by a dead worker is replaced, a live one
/// is refused (two workers on one socket would split the traffic, and the second would unlink the
/// first's file). The file gets its mode once bound and is removed at exit if it is still ours.
struct UnixSocketFile: Sendable {
    let path: String
    let mode: mode_t

    /// Checks the path before binding: creates the directory, removes a stale socket, refuses a
    /// live one or any other kind of file.
    func prepare() throws(ListenError) {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw ListenError("cannot create the socket's directory \(directory): \(error.localizedDescription)")
            }
        }
        guard path.utf8.count < 108 else {
            throw ListenError("socket path \(path) is too long for a Unix socket (at most 107 bytes); use a shorter --socket")
        }
        var info = stat()
        guard lstat(path, &info) == 0 else { return }  // nothing there
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw ListenError("\(path) exists and is not a socket; remove it or choose another --socket")
        }
        switch Self.probe(path) {
        case .live:
            throw ListenError("another process is listening on \(path) (is a worker already running?); stop it or choose another --socket")
        case .stale:
            guard unlink(path) == 0 || errno == ENOENT else {
                throw ListenError("cannot remove the stale socket \(path): \(String(cString: strerror(errno)))")
            }
        case let .unknown(reason):
            throw ListenError("cannot tell whether \(path) is in use (\(reason)); remove it if no worker runs")
        }
    }

    /// Sets the socket's mode and returns its identity, for `remove`.
    func bound() throws(ListenError) -> (device: UInt64, inode: UInt64) {
        guard chmod(path, mode) == 0 else {
            throw ListenError("cannot set mode \(String(mode, radix: 8)) on \(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw ListenError("cannot stat \(path): \(String(cString: strerror(errno)))") }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    /// Removes the file if it is still the one this worker bound (another worker may have replaced it).
    func remove(ifStill identity: (device: UInt64, inode: UInt64)) {
        var info = stat()
        guard lstat(path, &info) == 0, UInt64(info.st_dev) == identity.device, UInt64(info.st_ino) == identity.inode else { return }
        unlink(path)
    }

    enum Probe: Equatable {
        case live
        case stale
        case unknown(String)
    }

    /// Connects to the socket: accepted means a live listener; refused means nobody listens.
    static func probe(_ path: String) -> Probe {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return .unknown(String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8.prefix(buffer.count - 1))
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if result == 0 { return .live }
        switch errno {
        case ECONNREFUSED, ENOENT: return .stale
        case EAGAIN: return .live  // a full backlog: someone listens
        default: return .unknown(String(cString: strerror(errno)))
        }
    }
}
