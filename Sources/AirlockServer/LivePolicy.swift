import AirlockPolicy
import Synchronization

/// Why a policy file was not taken: every problem found, one line each (file:line:column: message).
public struct PolicyRejection: Error, Sendable, CustomStringConvertible {
    public var messages: [String]
    public init(messages: [String]) { self.messages = messages }
    public var description: String { messages.joined(separator: "\n") }
}

/// The policy the worker judges new requests with. `reload()` (SIGHUP) loads and validates the file
/// again: a valid one replaces it for new requests (running ones keep the judge they started with);
/// an invalid one changes nothing.
public final class LivePolicy: Sendable {
    public typealias Loader = @Sendable () throws(PolicyRejection) -> Policy

    private let current: Mutex<Judge>
    private let load: Loader
    /// `--shadow-policy`: judges beside this one, decides nothing; reloaded with it.
    public let shadow: ShadowPolicy?

    public init(_ policy: Policy, load: @escaping Loader, shadow: ShadowPolicy? = nil) {
        self.current = Mutex(Judge(policy: policy))
        self.load = load
        self.shadow = shadow
    }

    /// The judge for a new request; one request uses one judge throughout.
    public var judge: Judge { current.withLock { $0 } }

    /// - Returns: the new policy, or why the file was rejected (the old policy stays).
    public func reload() -> Result<Policy, PolicyRejection> {
        do {
            let policy = try load()
            let judge = Judge(policy: policy)
            current.withLock { $0 = judge }
            return .success(policy)
        } catch {
            return .failure(error)
        }
    }
}
