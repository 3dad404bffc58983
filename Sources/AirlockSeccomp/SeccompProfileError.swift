/// One thing wrong with a seccomp profile, and where: the file, the line and column, the entry and
/// the field, so an operator can fix it without guessing.
public struct SeccompError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, Codable {
        case unreadableFile = "unreadable-file"
        case jsonSyntax = "json-syntax"
        case unknownKey = "unknown-key"
        case missingKey = "missing-key"
        case duplicate = "duplicate"
        case wrongType = "wrong-type"
        case invalidValue = "invalid-value"
        case unknownSyscall = "unknown-syscall"
        case unknownArchitecture = "unknown-architecture"
        /// Two entries give one system call different actions without argument filters.
        case conflict = "conflict"
        /// libseccomp refused a rule, an architecture or the filter as a whole.
        case libseccomp = "libseccomp"
    }

    public var code: Code
    public var message: String
    public var file: String
    /// 1-based; 0 when the position is unknown.
    public var line: Int
    /// 1-based; 0 when the position is unknown.
    public var column: Int
    /// Where in the document, as a JSON path: `syscalls[3].args[0].op`, `defaultAction`; nil for
    /// the file as a whole.
    public var path: String?
    /// The system calls the entry names, so a person recognises it without counting entries.
    public var syscalls: [String]
    /// The underlying error's text, when the system or libseccomp reported it.
    public var cause: String?

    public init(
        _ code: Code, _ message: String, file: String, line: Int = 0, column: Int = 0, path: String? = nil,
        syscalls: [String] = [], cause: String? = nil
    ) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.syscalls = syscalls
        self.cause = cause
    }

    /// `file:line:column: error: syscalls[3].args[0].op (clone): message`.
    public var description: String {
        var text = line > 0 ? "\(file):\(line):\(column): error: " : "\(file): error: "
        if let path {
            text += path
            if !syscalls.isEmpty { text += " (\(Self.list(syscalls)))" }
            text += ": "
        }
        text += message
        if let cause { text += " (\(cause))" }
        return text
    }

    /// Names of a large entry are cut short: the first few identify it.
    static func list(_ names: [String]) -> String {
        names.count <= 4 ? names.joined(separator: ", ") : names.prefix(3).joined(separator: ", ") + " and \(names.count - 3) more"
    }
}

/// A profile that failed to load, with every error found (not only the first).
public struct SeccompProfileError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var errors: [SeccompError]

    /// Errors are kept in file order, so the report reads top to bottom and is the same on every run.
    public init(file: String, errors: [SeccompError]) {
        self.file = file
        self.errors = errors.enumerated().sorted { lhs, rhs in
            let (a, b) = (lhs.element, rhs.element)
            if a.line != b.line { return a.line < b.line }
            if a.column != b.column { return a.column < b.column }
            return lhs.offset < rhs.offset
        }.map(\.element)
    }

    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
