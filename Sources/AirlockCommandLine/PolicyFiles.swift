import AirlockEngine
import AirlockPolicy
import AirlockSeccomp
import Foundation

/// Loads policies from the file system for the command-line tools.
public enum PolicyFiles {
    public static let loader = PolicyLoader { path in
        try readText(path)
    }

    /// Prints every error of a policy that fails to load, one per line, to stderr.
    public static func report(_ error: PolicyLoadError) {
        for item in error.errors {
            var line = item.description
            if let cause = item.cause { line += " (\(cause))" }
            StandardError.print(line)
        }
    }
}

public enum StandardError {
    public static func print(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

/// A file that could not be read, said the way `cat` would say it ("No such file or directory").
public struct FileReadError: Error, CustomStringConvertible {
    public let description: String
}

extension PolicyFiles {
    /// Reads a whole file; errors carry the system's reason. The one file reader of the command
    /// line: policies, grammars and seccomp profiles all come through it.
    public static func readBytes(_ path: String) throws(FileReadError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 { throw FileReadError(description: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        // Sized from fstat, one byte more to see the end in the same read. A file that grows
        // meanwhile, or reports no size (a pipe, /proc), is read to its end all the same.
        var info = stat()
        let expected = fstat(descriptor, &info) == 0 && info.st_size > 0 ? Int(info.st_size) : 0
        var bytes = [UInt8](repeating: 0, count: max(expected + 1, 4096))
        var filled = 0
        while true {
            if filled == bytes.count { bytes += [UInt8](repeating: 0, count: bytes.count) }
            let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + filled, $0.count - filled) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileReadError(description: String(cString: strerror(errno)))
            }
            if count == 0 {
                bytes.removeSubrange(filled...)
                return bytes
            }
            filled += count
        }
    }

    /// Reads a whole file as UTF-8 text.
    public static func readText(_ path: String) throws(FileReadError) -> String {
        guard let text = String(validating: try readBytes(path), as: UTF8.self) else {
            throw FileReadError(description: "the file is not UTF-8 text")
        }
        return text
    }

    /// Loads, validates and compiles a seccomp profile.
    public static func seccompProfile(_ path: String) throws(SeccompProfileError) -> SeccompProfile {
        try SeccompProfile.load(path: path, readFile: readBytes)
    }
}
