/// What went wrong setting up or tearing down an invocation's egress proxy (never a connection the
/// allow-list refused: that is an `EgressRecord` with a reason).
public struct EgressError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The socket's directory, or a directory above it, is not safe to hand to a container.
        case unsafeDirectory = "unsafe-directory"
        /// The execution id cannot name a directory, or the socket path is too long.
        case malformed
        /// The listener could not be made (bind, permissions).
        case listen
    }

    public var code: Code
    public var message: String
    /// The system's or NIO's text, when one reported the failure.
    public var cause: String?

    public init(_ code: Code, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { cause.map { "\(message): \($0)" } ?? message }
}
