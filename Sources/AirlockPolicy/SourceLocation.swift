/// A place in a policy or grammar file, for errors a person can act on.
public struct SourceLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    public var file: String
    /// 1-based; 0 when the position is unknown.
    public var line: Int
    /// 1-based; 0 when the position is unknown.
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String {
        line > 0 ? "\(file):\(line):\(column)" : file
    }
}
