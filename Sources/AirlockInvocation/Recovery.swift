import AirlockEngine
import AirlockEvents
import Logging

/// What a start after a crash closes, the same for the worker and `airlock run`: spooled events
/// delivered, invocations whose owner is gone reconciled (container removed, `Completed` with
/// `abandoned: true`), and what killed processes left on this host: engine working directories,
/// host mounts still bound on their staging paths, containers whose owner is gone.
///
/// Never throws: a failure is logged, and the next start tries again.
public struct Recovery: Sendable {
    public var trail: AuditTrail
    public var logger: Logger

    public init(trail: AuditTrail, logger: Logger) {
        self.trail = trail
        self.logger = logger
    }

    /// `thorough` (the worker's start, `airlock reap`): everything, always. Otherwise (`airlock run`,
    /// once per call) this host is searched only when an invocation was found abandoned: a process
    /// that died mid-run left its directories too.
    ///
    /// - Returns: the execution ids reconciled.
    @discardableResult
    public func run(engine: CommandLineEngine, thorough: Bool) async -> [String] {
        let reconciled: [String]
        do {
            reconciled = try await trail.reconcile(
                isOwnerGone: { owner in ContainerOwner(label: owner)?.isGone() ?? false },
                removeContainer: { name in await engine.removeContainer(named: name) })
        } catch {
            logger.warning("Recovery postponed", metadata: ["error": "\(error.message)"])
            reconciled = []
        }
        guard thorough || !reconciled.isEmpty else { return reconciled }
        let directories = EngineDirectory.removeAbandoned()
        if !directories.isEmpty {
            logger.info("Removed abandoned engine directories", metadata: ["directories": "\(directories.joined(separator: ", "))"])
        }
        let unstaged = MountStaging().removeAbandoned()
        if !unstaged.isEmpty {
            logger.info("Released abandoned staged mounts", metadata: ["directories": "\(unstaged.joined(separator: ", "))"])
        }
        let secrets = SecretStaging().removeAbandoned()
        if !secrets.isEmpty {
            logger.info("Removed abandoned secrets directories", metadata: ["directories": "\(secrets.joined(separator: ", "))"])
        }
        let sockets = EgressAttachment.removeAbandoned()
        if !sockets.isEmpty {
            logger.info("Removed abandoned egress socket directories", metadata: ["directories": "\(sockets.joined(separator: ", "))"])
        }
        if thorough {
            do {
                let removed = try await OrphanReaper(engine: engine).reap()
                if !removed.isEmpty { logger.warning("Removed orphaned containers", metadata: ["containers": "\(removed.joined(separator: ", "))"]) }
            } catch {
                logger.warning("Orphan reaping failed", metadata: ["error": "\(error)"])
            }
        }
        return reconciled
    }
}
