/// What went wrong loading a policy or grammar, and where.
///
/// Every error names the file, line and column, so an operator can fix it without guessing.
public struct PolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, Codable {
        case unreadableFile = "unreadable-file"
        case yamlSyntax = "yaml-syntax"
        case unknownKey = "unknown-key"
        case missingKey = "missing-key"
        case wrongType = "wrong-type"
        case invalidValue = "invalid-value"
        case unknownReference = "unknown-reference"
        case duplicate = "duplicate"
        case cycle = "cycle"
    }

    public var code: Code
    public var message: String
    public var location: SourceLocation
    /// The underlying error's text, when another library reported it (YAML parser, file system).
    public var cause: String?

    public init(_ code: Code, _ message: String, at location: SourceLocation, cause: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
        self.cause = cause
    }

    public var description: String {
        "\(location): error: \(message)"
    }
}

/// A policy that failed to load, with every error found (not only the first).
public struct PolicyLoadError: Error, Sendable, CustomStringConvertible {
    public var errors: [PolicyError]

    /// Errors are kept in file and line order, so the report reads top to bottom and is the same
    /// on every run (rules are checked in dictionary order).
    public init(errors: [PolicyError]) {
        self.errors = errors.enumerated().sorted { lhs, rhs in
            let (a, b) = (lhs.element.location, rhs.element.location)
            if a.file != b.file { return a.file < b.file }
            if a.line != b.line { return a.line < b.line }
            if a.column != b.column { return a.column < b.column }
            return lhs.offset < rhs.offset
        }.map(\.element)
    }

    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
