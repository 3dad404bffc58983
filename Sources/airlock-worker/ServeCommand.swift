import AirlockCommandLine
import AirlockEngine
import AirlockEvents
import AirlockInvocation
import AirlockPolicy
import AirlockSeccomp
import AirlockServer
import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `airlock serve`: the socket worker the gateway calls. Its own executable, `airlock-worker`, which
/// `airlock serve` becomes (exec): the one-shot commands of `airlock` do not load the HTTP server.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "airlock serve",
        abstract: "Run the worker: the HTTP/JSON API on a Unix socket.",
        discussion: """
            Serves POST /v1/invocations, DELETE /v1/invocations/{id}, POST /v1/judge, /v1/cli-tools, GET /v1/events, GET /v1/shadow, \
            /healthz and /readyz (docs/openapi.yaml). Only the users and groups allowed by --allow-uid \
            and --allow-gid may call it over the socket (the kernel's peer credentials); --listen adds a \
            loopback TCP listener, which has no peer credentials: every local process can call it there.

            SIGTERM or SIGINT: stop accepting, let running invocations finish for --grace seconds, \
            cancel the rest (containers killed, their end recorded), exit 0. SIGHUP: reload the policy \
            file (and the shadow policy's); an invalid file is logged and the previous policy stays.

            Logs go to stderr; the level comes from $AIRLOCK_LOG (default info).

            Example: airlock serve --policy policies/default.yaml --socket var/airlock.sock
            """
    )

    @Option(help: "The policy file.")
    var policy: String = "policies/default.yaml"

    @Option(
        name: .customLong("shadow-policy"),
        help: "A candidate policy that judges every request too and decides nothing: disagreements are logged, recorded on the event and counted (GET /v1/shadow).")
    var shadowPolicy: String?

    @OptionGroup var audit: AuditOptions

    @Option(help: "The Unix socket to listen on (default: STATE_DIR/airlock.sock).")
    var socket: String?

    @Option(name: .customLong("socket-mode"), help: "The socket file's mode, in octal.")
    var socketMode: String = "0660"

    @Option(help: "Also listen on loopback TCP: 127.0.0.1:PORT, [::1]:PORT or localhost:PORT (no peer credentials there).")
    var listen: String?

    @Option(name: .customLong("allow-uid"), help: "A user id allowed on the socket; repeatable (default: this process's uid and root).")
    var allowUIDs: [UInt32] = []

    @Option(name: .customLong("allow-gid"), help: "A primary group id allowed on the socket; repeatable.")
    var allowGIDs: [UInt32] = []

    @Option(help: "Seconds running invocations get to finish after SIGTERM/SIGINT before they are cancelled.")
    var grace: Double = 10

    @Option(name: .customLong("max-concurrent"), help: "Invocations running at once.")
    var maxConcurrent: Int = 8

    @Option(name: .customLong("max-per-tenant"), help: "Invocations running at once for one tenant.")
    var maxPerTenant: Int = 4

    @Option(help: "Invocations waiting for a slot; past this, 429.")
    var queue: Int = 32

    @Option(name: .customLong("max-body"), help: "Largest request body in bytes; past this, 413.")
    var maxBody: Int = 1 << 20

    @Option(help: "Output bytes kept per stream and invocation (head and tail); every byte is counted regardless.")
    var retain: Int = 1 << 20

    @Option(help: "podman or docker, a name or a path (default: $AIRLOCK_CONTAINER_CLI, then podman, then docker).")
    var engine: String?

    @Option(name: .customLong("log-format"), help: "text (human-readable) or json (one object per line).")
    var logFormat: WorkerLogHandler.Format = .text

    var resolvedSocket: String { socket ?? audit.resolvedStateDirectory + "/airlock.sock" }

    func validate() throws {
        guard let mode = mode_t(socketMode, radix: 8), mode <= 0o777 else {
            throw ValidationError("--socket-mode \(socketMode) is not an octal file mode such as 0660")
        }
        if mode & 0o600 != 0o600 { throw ValidationError("--socket-mode \(socketMode) must let the owner read and write") }
        if let listen {
            do {
                _ = try LoopbackAddress(parsing: listen)
            } catch {
                throw ValidationError(error.description)
            }
        }
        if !(grace >= 0) { throw ValidationError("--grace cannot be negative") }
        for (name, value) in [("--max-concurrent", maxConcurrent), ("--max-per-tenant", maxPerTenant), ("--max-body", maxBody)] where value < 1 {
            throw ValidationError("\(name) must be at least 1")
        }
        if queue < 0 { throw ValidationError("--queue cannot be negative") }
        if retain < 0 { throw ValidationError("--retain cannot be negative") }
    }

    func run() async throws {
        let format = logFormat
        let level = WorkerLogHandler.level()
        LoggingSystem.bootstrap { _ in WorkerLogHandler(format: format, level: level) }
        let logger = {
            var logger = Logger(label: "airlock")
            logger.logLevel = level
            return logger
        }()

        let policyFile = policy
        let load: LivePolicy.Loader = { () throws(PolicyRejection) -> Policy in try Self.loadPolicy(policyFile) }
        let initial: Policy
        do {
            initial = try load()
        } catch {
            for message in error.messages { StandardError.print(message) }
            throw ExitStatus.error
        }
        logger.info("Policy loaded", metadata: ["file": "\(initial.file)", "policy_digest": "\(initial.digest)"])
        var shadow: ShadowPolicy?
        if let shadowFile = shadowPolicy {
            let loadShadow: LivePolicy.Loader = { () throws(PolicyRejection) -> Policy in try Self.loadPolicy(shadowFile) }
            do {
                let candidate = try loadShadow()
                shadow = ShadowPolicy(candidate, load: loadShadow)
                logger.info(
                    "Shadow policy loaded: it judges every request too, and decides nothing",
                    metadata: ["file": "\(candidate.file)", "shadow_policy_digest": "\(candidate.digest)"])
            } catch {
                for message in error.messages { StandardError.print("shadow policy: \(message)") }
                throw ExitStatus.error
            }
        }

        let fingerprints: SecretFingerprints
        do {
            // Whose invocations are this worker's to reconcile after a crash: this state directory's.
            try ContainerOwner.adoptInstance(stateDirectory: audit.resolvedStateDirectory)
            fingerprints = try SecretFingerprints.load(stateDirectory: audit.resolvedStateDirectory)
        } catch {
            StandardError.print("airlock: \(error)")
            throw ExitStatus.error
        }
        // Long-lived: appends of concurrent invocations must not hold up /v1/events, /readyz or recovery.
        let trail = try await audit.openTrail(.longLived, logger: logger)
        let explicitEngine = engine
        let workerEngine = WorkerEngine(
            logger: logger,
            resolve: { () async throws(EngineError) -> CommandLineEngine in try await EngineResolver(explicit: explicitEngine).resolve() },
            onFirstResolved: { engine in await Recovery(trail: trail, logger: logger).run(engine: engine, thorough: true) })

        var configuration = WorkerConfiguration(socketPath: resolvedSocket)
        configuration.socketMode = mode_t(socketMode, radix: 8)!
        configuration.tcp = try listen.map { text throws(ListenError) in try LoopbackAddress(parsing: text) }
        if !allowUIDs.isEmpty || !allowGIDs.isEmpty {
            configuration.allowList = PeerAllowList(uids: Set(allowUIDs), gids: Set(allowGIDs))
        }
        configuration.limits = AdmissionLimits(maxConcurrent: maxConcurrent, maxPerTenant: maxPerTenant, maxQueued: queue)
        configuration.maxBodyBytes = maxBody
        configuration.grace = .milliseconds(Int64(grace * 1000))
        configuration.retentionBytes = retain
        configuration.secretFingerprints = fingerprints
        configuration.onListening = { addresses in Self.announce(addresses, policy: initial, format: format, logger: logger) }

        let profiles = SeccompProfileCache { path throws(SeccompProfileError) in try PolicyFiles.seccompProfile(path).reference }
        let worker = AirlockWorker(
            configuration: configuration, policy: LivePolicy(initial, load: load, shadow: shadow), trail: trail, engine: workerEngine,
            sandbox: SandboxAttestor(), logger: logger,
            loadProfile: { path throws(SeccompProfileError) in try profiles.profile(path) })
        var groupConfiguration = ServiceGroupConfiguration(services: [worker], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A safety net only: the worker itself cancels what is left after --grace.
        groupConfiguration.maximumGracefulShutdownDuration = configuration.grace + .seconds(120)
        do {
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch {
            logger.critical("The worker stopped", metadata: ["error": "\(error)"])
            await trail.store.close()
            throw ExitStatus.error
        }
        await trail.store.close()
    }

    /// Loads and validates a policy as the worker will use it: the file, its grammars, and the
    /// seccomp profile of every tool (a profile that does not compile would refuse every call).
    static func loadPolicy(_ file: String) throws(PolicyRejection) -> Policy {
        let policy: Policy
        do {
            policy = try PolicyFiles.loader.load(path: file)
        } catch {
            throw PolicyRejection(messages: error.errors.map { item in item.description + (item.cause.map { " (\($0))" } ?? "") })
        }
        var problems: [String] = []
        for path in Set(policy.tools.values.map(\.container.seccompProfile)).sorted() {
            do {
                _ = try PolicyFiles.seccompProfile(path)
            } catch {
                problems.append("\(path): \(error.description)")
            }
        }
        if !problems.isEmpty { throw PolicyRejection(messages: problems) }
        return policy
    }

    /// How to call the worker, once it listens.
    static func announce(_ addresses: [ListeningAddress], policy: Policy, format: WorkerLogHandler.Format, logger: Logger) {
        let example = exampleBody(policy)
        var lines: [String] = []
        for address in addresses {
            lines.append(address.curl("/healthz"))
            lines.append(address.curl("/readyz"))
            if let example {
                lines.append(address.curl("/v1/judge").replacingOccurrences(of: "curl ", with: "curl -H 'Content-Type: application/json' -d '\(example)' "))
            }
        }
        switch format {
        case .text:
            let text = (["Airlock is listening on \(addresses.map(\.description).joined(separator: " and ")). Try:"] + lines.map { "  \($0)" })
                .joined(separator: "\n")
            FileHandle.standardOutput.write(Data((text + "\n").utf8))
        case .json:
            logger.info("Listening", metadata: ["addresses": "\(addresses.map(\.description))", "try": .array(lines.map { .string($0) })])
        }
    }

    /// A judge request the policy can answer: its first tenant, that tenant's first context and tool.
    static func exampleBody(_ policy: Policy) -> String? {
        guard let tenant = policy.tenants.keys.sorted().first.flatMap({ policy.tenants[$0] }), let context = tenant.contexts.sorted().first
        else { return nil }
        let tools = tenant.tools.map { $0.sorted() } ?? policy.tools.keys.sorted()
        guard let tool = tools.first(where: { $0 == "git" }) ?? tools.first else { return nil }
        let subcommands = policy.tools[tool]?.grammar.root.subcommands.keys.sorted() ?? []
        let subcommand = ["status", "version", "get"].first(where: subcommands.contains) ?? subcommands.first ?? ""
        // Encoded, not interpolated: tenant and context names are not limited to characters JSON takes as they are.
        let body: JSONValue = [
            "tool_name": .string(tool), "subcommand": .string(subcommand), "args": .array([]), "tenant_id": .string(tenant.name),
            "security_context": .string(context),
        ]
        return String(decoding: body.encoded(), as: UTF8.self)
    }
}

extension WorkerLogHandler.Format: ExpressibleByArgument {}
