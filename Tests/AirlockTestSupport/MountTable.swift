import Foundation

/// This process's mount table, `/proc/self/mountinfo`.
public enum MountTable {
    /// One line of the table: where, and the per-mount options (`ro,nosuid,nodev,relatime`).
    public struct Entry: Sendable, Hashable {
        public var point: String
        public var options: String
    }

    public struct ReadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Every mount, its point not unescaped (the tests' paths hold no spaces). Throws rather than
    /// answer "no mounts" when the table cannot be read.
    public static func entries() throws -> [Entry] {
        let fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(description: "open /proc/self/mountinfo: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw ReadError(description: "read /proc/self/mountinfo: \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count > 5 ? Entry(point: String(fields[4]), options: String(fields[5])) : nil
        }
    }

    /// Mount points at `path` or below it.
    public static func mountPoints(under path: String) throws -> [String] {
        try entries().map(\.point).filter { $0 == path || $0.hasPrefix(path + "/") }
    }
}
