import AirlockEngine
import Foundation
import Logging

/// The container engine as the worker sees it: resolved and probed at start; when that failed, tried
/// again (at most every few seconds) when an invocation needs it. The first time it resolves, what
/// earlier processes left behind is cleaned up (`onFirstResolved`: recovery and the orphan reaper).
public actor WorkerEngine {
    /// Begins the message of a refusal for want of an engine.
    private static let unavailablePrefix = "container engine unavailable: "

    public typealias Resolve = @Sendable () async throws(EngineError) -> CommandLineEngine

    private let resolve: Resolve
    private let onFirstResolved: @Sendable (CommandLineEngine) async -> Void
    private let retryInterval: Duration
    private let logger: Logger
    private var engine: CommandLineEngine?
    private var lastError: String?
    private var lastAttempt: ContinuousClock.Instant?

    public init(
        retryInterval: Duration = .seconds(5), logger: Logger, resolve: @escaping Resolve,
        onFirstResolved: @escaping @Sendable (CommandLineEngine) async -> Void
    ) {
        self.resolve = resolve
        self.onFirstResolved = onFirstResolved
        self.retryInterval = retryInterval
        self.logger = logger
    }

    /// The engine, or why there is none (readiness).
    public var status: Result<CommandLineEngine, EngineError> {
        if let engine { return .success(engine) }
        return .failure(EngineError(lastError ?? "not resolved yet"))
    }

    /// Resolves now (at start); failures are logged, not thrown: the worker still judges and serves events.
    public func prepare() async {
        _ = try? await engine(retryingNow: true)
    }

    /// The engine for an invocation. Throws with `unavailablePrefix`.
    public func engine() async throws(EngineError) -> CommandLineEngine {
        try await engine(retryingNow: false)
    }

    private func engine(retryingNow: Bool) async throws(EngineError) -> CommandLineEngine {
        if let engine { return engine }
        if !retryingNow, let lastAttempt, ContinuousClock.now - lastAttempt < retryInterval, let lastError {
            throw EngineError(Self.unavailablePrefix + lastError)
        }
        lastAttempt = .now
        let resolved: CommandLineEngine
        do {
            resolved = try await resolve()
        } catch {
            lastError = error.description
            logger.error("Container engine unavailable", metadata: ["error": "\(error.description)"])
            throw EngineError(Self.unavailablePrefix + error.description)
        }
        // Another caller may have resolved it while this one waited.
        if let engine { return engine }
        engine = resolved
        lastError = nil
        logger.info("\(resolved.resolvedLogLine)")
        await onFirstResolved(resolved)
        return resolved
    }
}
