import AirlockPolicy
import Foundation

/// Loads policies from the file system for the command-line tools.
enum PolicyFiles {
    static let loader = PolicyLoader { path in
        try String(contentsOfFile: path, encoding: .utf8)
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
