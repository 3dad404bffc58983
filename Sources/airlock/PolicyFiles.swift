import AirlockPolicy
import Foundation

/// Loads policies from the file system for the command-line tools.
enum PolicyFiles {
    static let loader = PolicyLoader { path in
        try readText(path)
    }

    /// Prints every error of a policy that fails to load, one per line, to stderr.
    static func report(_ error: PolicyLoadError) {
        for item in error.errors {
            var line = item.description
            if let cause = item.cause { line += " (\(cause))" }
            StandardError.print(line)
        }
    }
}

enum StandardError {
    static func print(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

/// A file that could not be read, said the way `cat` would say it ("No such file or directory").
struct FileReadError: Error, CustomStringConvertible {
    let description: String
}

extension PolicyFiles {
    /// Reads a whole file as UTF-8 text; errors carry the system's reason.
    static func readText(_ path: String) throws(FileReadError) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 { throw FileReadError(description: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileReadError(description: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw FileReadError(description: "the file is not UTF-8 text")
        }
        return text
    }
}
