import AirlockEngine
import AirlockEvents
import AirlockInvocation
import AirlockPolicy
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `airlock serve`: the socket worker, as a `Service` for a `ServiceGroup`.
///
/// `run()` resolves the engine (recovery and the orphan reaper run once it is), then serves the API
/// on the Unix socket (and the loopback TCP listener, if any) until graceful shutdown: it stops
/// accepting, refuses new invocations, lets running ones finish for `grace`, then cancels the rest
/// (containers killed, `Completed` recorded as cancelled) and returns once every one has ended.
/// SIGHUP reloads the policy.
public struct AirlockWorker: Service {
    public let configuration: WorkerConfiguration
    let policy: LivePolicy
    let trail: AuditTrail
    let engine: WorkerEngine
    let sandbox: SandboxAttestor
    let scheduler: InvocationScheduler
    let api: WorkerAPI
    let logger: Logger

    public init(
        configuration: WorkerConfiguration, policy: LivePolicy, trail: AuditTrail, engine: WorkerEngine, sandbox: SandboxAttestor,
        logger: Logger, egress: (any EgressGateway)? = EgressProxyGateway(), loadProfile: @escaping InvocationPipeline.ProfileLoader
    ) {
        self.sandbox = sandbox
        self.configuration = configuration
        self.policy = policy
        self.trail = trail
        self.engine = engine
        self.logger = logger
        let pipeline = InvocationPipeline(
            engine: { () async throws(EngineError) -> any ContainerEngine in try await engine.engine() }, trail: trail, sandbox: sandbox,
            retentionBytes: configuration.retentionBytes, logger: logger, secretStaging: configuration.secretStaging,
            fingerprints: configuration.secretFingerprints, egress: egress, loadProfile: loadProfile)
        scheduler = InvocationScheduler(
            pipeline: pipeline, limits: configuration.limits,
            registry: InvocationRegistry(maxEntries: configuration.rememberedResults, maxBytes: configuration.rememberedBytes), logger: logger)
        api = WorkerAPI(
            policy: policy, scheduler: scheduler, store: trail.store, engine: engine, sandbox: sandbox, maxBodyBytes: configuration.maxBodyBytes,
            allowList: configuration.allowList, logger: logger)
    }

    /// The routes the API serves (the OpenAPI document must describe exactly these).
    public var routes: [WorkerAPI.Route] { api.router().routes }

    /// Invocations waiting or running, and waiting for a slot.
    public var load: (running: Int, queued: Int) { scheduler.admission.counts }

    public func run() async throws {
        await engine.prepare()
        await attestSandboxes()
        if !trail.spool.isEmpty { await trail.deliverSpool() }
        let socket = UnixSocketFile(path: configuration.socketPath, mode: configuration.socketMode)
        try socket.prepare()
        let responder = api.router().router.buildResponder()
        let announcer = ListeningAnnouncer(expected: configuration.tcp == nil ? 1 : 2, announce: configuration.onListening)
        let boundSocket = Mutex<(device: UInt64, inode: UInt64)?>(nil)
        let logger = self.logger
        var listeners = [
            Application(
                responder: responder, configuration: ApplicationConfiguration(address: .unixDomainSocket(path: socket.path), backlog: configuration.backlog),
                onServerRunning: { _ in
                    do {
                        let identity = try socket.bound()
                        boundSocket.withLock { $0 = identity }
                    } catch {
                        logger.error("\(error)")
                    }
                    await announcer.add(.unixSocket(path: socket.path))
                }, logger: logger)
        ]
        if let tcp = configuration.tcp {
            logger.warning(
                "Listening on loopback TCP too: TCP has no peer credentials, so every local process can call the worker there",
                metadata: ["address": "\(tcp.host):\(tcp.port)"])
            listeners.append(
                Application(
                    responder: responder, configuration: ApplicationConfiguration(address: .hostname(tcp.host, port: tcp.port), backlog: configuration.backlog),
                    onServerRunning: { channel in await announcer.add(.tcp(host: tcp.host, port: channel.localAddress?.port ?? tcp.port)) },
                    logger: logger))
        }
        defer {
            if let identity = boundSocket.withLock({ $0 }) { socket.remove(ifStill: identity) }
        }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await scheduler.run() }
            for listener in listeners {
                group.addTask { try await listener.run() }
            }
            group.addTask { await cancelWhenGracefulShutdown { await deliverSpoolPeriodically() } }
            group.addTask { await cancelWhenGracefulShutdown { await reloadOnHangup() } }
            group.addTask { await drainOnShutdown() }
        }
        if !trail.spool.isEmpty { await trail.deliverSpool() }
        logger.info("Stopped")
    }

    /// Waits for graceful shutdown, then: no new invocations, `grace` for the running ones, then
    /// cancel what is left. On cancellation (the group gave up waiting), cancels at once.
    private func drainOnShutdown() async {
        do {
            try await gracefulShutdown()
        } catch {
            scheduler.shutDown()
            scheduler.cancelAll()
            return
        }
        let running = scheduler.registry.activeHandles.count
        logger.info(
            "Shutting down: no new invocations; running ones may finish within the grace period",
            metadata: ["count": "\(running)", "grace_ms": "\(configuration.grace.components.seconds * 1000)"])
        scheduler.shutDown()
        let grace = configuration.grace
        await withTaskGroup(of: Void.self) { race in
            race.addTask { await scheduler.registry.idle() }
            race.addTask {
                do {
                    try await Task.sleep(for: grace)
                } catch {
                    return  // everything ended in time
                }
                let left = scheduler.registry.activeHandles.count
                logger.warning("Grace period over: cancelling the invocations still running", metadata: ["count": "\(left)"])
                scheduler.cancelAll()
            }
            await race.next()
            race.cancelAll()
        }
    }

    /// Delivers the spool every `spoolInterval` while it holds events (the store was down).
    private func deliverSpoolPeriodically() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.spoolInterval)
            if !trail.spool.isEmpty, !Task.isCancelled {
                let delivery = await trail.deliverSpool()
                if let error = delivery.error {
                    logger.warning("Spooled events not delivered yet", metadata: ["count": "\(delivery.remaining)", "error": "\(error)"])
                }
            }
        }
    }

    /// Runs the canary for every tool of the live policy, when the engine is resolved; a sandbox
    /// that is not what the policy asks makes the worker not ready, and each call of that tool is
    /// refused. (An engine resolved later attests each tool at its first call.)
    private func attestSandboxes() async {
        guard case let .success(resolved) = await engine.status else { return }
        let tools = policy.judge.policy.tools.mapValues(\.container.resolvingSeccompProfile)
        for (tool, outcome) in await sandbox.attestAll(tools, engine: resolved) {
            switch outcome {
            case let .success(attestation) where attestation.holds:
                logger.info("Sandbox attested", metadata: ["tool": "\(tool)", "sandbox_digest": "\(attestation.digest)"])
            case let .success(attestation):
                logger.error("Sandbox differs from the policy; the tool is refused", metadata: ["tool": "\(tool)", "differences": "\(attestation.differences)"])
            case let .failure(error) where policy.judge.policy.tools[tool]?.imageProvider == .operator:
                logger.warning(
                    "Tool not installed: its image is provided by the operator; the tool is refused until it can be attested",
                    metadata: ["tool": "\(tool)", "image": "\(tools[tool]?.image ?? "")", "error": "\(error.description)"])
            case let .failure(error):
                logger.error("Sandbox could not be attested; the tool is refused", metadata: ["tool": "\(tool)", "error": "\(error.description)"])
            }
        }
    }

    /// SIGHUP: load and validate the policy file (and the shadow policy's) again. Invalid: logged, the
    /// old one stays.
    /// Either way every tool's sandbox is attested again: the engine's configuration may have
    /// changed with the policy.
    private func reloadOnHangup() async {
        for await _ in await UnixSignalsSequence(trapping: .sighup) {
            let previous = policy.judge.policy.digest
            switch policy.reload() {
            case let .success(loaded):
                logger.info("Policy reloaded", metadata: ["file": "\(loaded.file)", "policy_digest": "\(loaded.digest)", "previous_digest": "\(previous)"])
            case let .failure(rejection):
                logger.error(
                    "Policy reload rejected; the previous policy stays",
                    metadata: ["errors": "\(rejection.messages.joined(separator: "; "))", "policy_digest": "\(previous)"])
            }
            if let shadow = policy.shadow {
                let previousShadow = shadow.counts.policyDigest
                switch shadow.reload() {
                case let .success(loaded):
                    logger.info(
                        "Shadow policy reloaded; its counts start again",
                        metadata: ["file": "\(loaded.file)", "shadow_policy_digest": "\(loaded.digest)", "previous_digest": "\(previousShadow)"])
                case let .failure(rejection):
                    logger.error(
                        "Shadow policy reload rejected; the previous shadow policy stays",
                        metadata: ["errors": "\(rejection.messages.joined(separator: "; "))", "shadow_policy_digest": "\(previousShadow)"])
                }
            }
            await sandbox.forget()
            await attestSandboxes()
        }
    }
}

/// Tells `announce` the addresses once every listener is up.
final class ListeningAnnouncer: Sendable {
    private let addresses = Mutex<[ListeningAddress]>([])
    private let expected: Int
    private let announce: @Sendable ([ListeningAddress]) async -> Void

    init(expected: Int, announce: @escaping @Sendable ([ListeningAddress]) async -> Void) {
        self.expected = expected
        self.announce = announce
    }

    func add(_ address: ListeningAddress) async {
        let all = addresses.withLock { addresses -> [ListeningAddress]? in
            addresses.append(address)
            return addresses.count == expected ? addresses.filter(\.isUnixSocket) + addresses.filter { !$0.isUnixSocket } : nil
        }
        if let all { await announce(all) }
    }
}
