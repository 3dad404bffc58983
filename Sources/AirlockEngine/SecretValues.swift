/// The secrets a caller handed in for one invocation, by name. Held only while the invocation
/// runs; printed, logged or reflected, it shows the names and never a value.
public struct SecretValues: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let values: [String: [UInt8]]

    public init(_ values: [String: [UInt8]] = [:]) {
        self.values = values
    }

    public static let none = SecretValues()

    public var isEmpty: Bool { values.isEmpty }
    /// The names, sorted.
    public var names: [String] { values.keys.sorted() }

    public subscript(name: String) -> [UInt8]? { values[name] }

    /// A redactor for the tool's output: each value becomes `[REDACTED:NAME]`.
    public var redactor: SecretRedactor { SecretRedactor(values.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) }) }

    public var description: String { "secrets(\(names.joined(separator: ", ")))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["names": names]) }
}
