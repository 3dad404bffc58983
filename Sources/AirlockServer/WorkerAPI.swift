import AirlockEngine
import AirlockEvents
import AirlockInvocation
import AirlockPolicy
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The worker's HTTP API: routes and their handlers. Handlers are thin: the body is read by
/// `InvocationBody`/`JudgeBody`, runs are scheduled by `InvocationScheduler`, and results are
/// answered by `InvocationResponse`.
public struct WorkerAPI: Sendable {
    /// A registered route, as the OpenAPI document names it (`/v1/invocations/{execution_id}`).
    public struct Route: Hashable, Sendable, CustomStringConvertible {
        public var method: String
        public var path: String
        public var description: String { "\(method) \(path)" }

        /// Whether a request path is this route's (a `{name}` segment matches any one segment).
        func matches(path requested: String) -> Bool {
            let template = path.split(separator: "/", omittingEmptySubsequences: false)
            let segments = requested.split(separator: "/", omittingEmptySubsequences: false)
            guard template.count == segments.count else { return false }
            return zip(template, segments).allSatisfy { pattern, segment in
                pattern.hasPrefix("{") && pattern.hasSuffix("}") ? !segment.isEmpty : pattern == segment
            }
        }
    }

    let policy: LivePolicy
    let scheduler: InvocationScheduler
    let store: any EventStore
    let engine: WorkerEngine
    let sandbox: SandboxAttestor
    let maxBodyBytes: Int
    let allowList: PeerAllowList
    let logger: Logger

    public typealias Context = WorkerRequestContext
    typealias Handler = @Sendable (Request, Context) async throws -> Response

    /// The router and the routes it serves.
    public func router() -> (router: Router<Context>, routes: [Route]) {
        let table: [(method: HTTPRequest.Method, path: String, handler: Handler)] = [
            (.post, "/v1/invocations", invoke),
            (.delete, "/v1/invocations/{execution_id}", cancel),
            (.post, "/v1/judge", judge),
            (.post, "/v1/cli-tools", registerTool),
            (.get, "/v1/cli-tools", listTools),
            (.get, "/v1/cli-tools/{name}", showTool),
            (.delete, "/v1/cli-tools/{name}", removeTool),
            (.get, "/v1/events", events),
            (.get, "/v1/shadow", shadowCounts),
            (.get, "/healthz", health),
            (.get, "/readyz", readiness),
        ]
        let routes = table.map { Route(method: $0.method.rawValue, path: $0.path) }
        let router = Router(context: Context.self)
        router.add(middleware: AccessLogMiddleware(logger: logger))
        // The routes, so that a known path asked with another method is 405 with `Allow`, not 404.
        router.add(middleware: ErrorMiddleware(logger: logger, routes: routes))
        router.add(middleware: PeerCheckMiddleware(allowList: allowList, logger: logger))
        for (method, path, handler) in table {
            router.on(RouterPath(path), method: method) { request, context in try await handler(request, context) }
        }
        return (router, routes)
    }

    // MARK: Invocations

    @Sendable func invoke(_ request: Request, context: Context) async throws -> Response {
        let body = try InvocationBody.decode(try await readBody(request).readableBytesView)
        let judge = policy.judge
        let executionID = body.executionID ?? TimeOrderedUUID.make()
        let traceID = body.traceID ?? context.facts.current.traceID
        context.facts.update {
            $0.tenantID = body.tenantID
            $0.executionID = executionID
            $0.traceID = traceID
        }
        let registered = try await registeredTool(body.toolName, tenantID: body.tenantID, policy: judge.policy)
        try body.checkNames(in: judge.policy, registered: registered != nil)
        let declared = judge.policy.tools[registered?.grammar ?? body.toolName]?.container.secrets.map(\.name) ?? []
        try body.checkSecrets(declared: registered.map { ($0.secrets ?? []).filter(declared.contains) } ?? declared)
        let streaming = request.headers[.accept]?.contains(InvocationStream.contentType) == true
        let relay = streaming ? OutputRelay() : nil
        var invocation = body.invocationRequest(executionID: executionID, traceID: traceID)
        invocation.registeredTool = registered
        let start = try await scheduler.start(
            invocation, judge: judge, shadow: policy.shadow?.judge, checkStore: body.executionID != nil, relay: relay)
        switch start {
        case let .replay(answer):
            guard streaming, answer.isRunRecord else { return JSONResponse.make(status: answer.status, body: answer.body) }
            return Response(
                status: .ok, headers: [.contentType: InvocationStream.contentType],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: OutputLineEncoder.summary(answer.body))))
        case let .started(handle):
            if let relay { return await InvocationStream.response(handle, relay: relay, channel: context.channel) }
            let answer = await handle.answered()
            return JSONResponse.make(status: answer.status, body: answer.body)
        }
    }

    /// Cancels a waiting or running invocation and answers its final record; a finished one is
    /// answered as it ended.
    @Sendable func cancel(_ request: Request, context: Context) async throws -> Response {
        let id = try context.parameters.require("execution_id")
        guard ExecutionID.isValid(id) else { throw APIError.invalid("execution_id", "not a valid execution id") }
        context.facts.update { $0.executionID = id }
        let tenant = request.headers[.airlockTenant]
        if let handle = scheduler.registry.active(id), tenant == nil || tenant == handle.tenantID {
            context.facts.update { $0.tenantID = handle.tenantID }
            if scheduler.admission.withdraw(id: id) {
                return JSONResponse.make(
                    status: .ok, body: ["execution_id": .string(id), "outcome": "cancelled", "cancelled": true, "launched": false])
            }
            handle.requestCancel()
            let answer = await handle.answered()
            return JSONResponse.make(status: answer.isRunRecord ? .ok : answer.status, body: answer.body)
        }
        if let answer = scheduler.registry.finished(id), tenant == nil || answer.body["tenant_id"] == nil || answer.body["tenant_id"] == .string(tenant!) {
            return JSONResponse.make(status: .ok, body: answer.body)
        }
        do {
            try await scheduler.checkNeverRan(id)
        } catch {
            guard error.code == "already_ran" else { throw error }
            throw APIError(.conflict, code: "already_finished", "execution \(id) is not running; it already ended", field: "execution_id", extra: error.extra)
        }
        throw APIError.notFound("execution_id", "no invocation \(id) is running or known here")
    }

    // MARK: Judge (dry run)

    /// Decides without launching or recording anything.
    @Sendable func judge(_ request: Request, context: Context) async throws -> Response {
        let body = try JudgeBody.decode(try await readBody(request).readableBytesView)
        let judge = policy.judge
        let decision: Decision
        switch body {
        case let .invocation(invocation):
            context.facts.update { $0.tenantID = invocation.tenantID }
            let registered = try await registeredTool(invocation.toolName, tenantID: invocation.tenantID, policy: judge.policy)
            try invocation.checkNames(in: judge.policy, registered: registered != nil)
            var request = invocation.invocationRequest(executionID: "dry-run", traceID: nil)
            request.registeredTool = registered
            decision = InvocationPipeline.judge(request, judge: judge)
        case let .gateway(tool, argv, context):
            decision = judge.decide(JudgeRequest(tool: tool, argv: argv, tenant: nil, securityContext: context))
        }
        return JSONResponse.make(
            status: .ok,
            body: [
                "allowed": .bool(decision.allowed), "reason": .string(decision.reason), "rule_id": .string(decision.ruleID),
                "tool_name": .string(decision.tool), "requested_subcommand": .string(decision.requestedSubcommand),
                "security_context": .string(decision.securityContext), "policy_digest": .string(decision.policyDigest),
            ])
    }

    // MARK: Events

    @Sendable func events(_ request: Request, context: Context) async throws -> Response {
        let parsed = try EventsQuery(request, policy: policy.judge.policy)
        context.facts.update {
            $0.tenantID = parsed.query.tenantID
            $0.executionID = parsed.query.executionID
        }
        do {
            let events = try await store.events(matching: parsed.query)
            return JSONResponse.make(status: .ok, body: EventsQuery.answer(events, query: parsed.query))
        } catch {
            throw APIError(.serviceUnavailable, code: "audit_store_unavailable", "the audit store cannot be read: \(error.message)")
        }
    }

    // MARK: Health

    /// `--shadow-policy`: the candidate's digest and how its decisions compared with the live
    /// policy's since it was loaded.
    @Sendable func shadowCounts(_ request: Request, context: Context) async throws -> Response {
        guard let shadow = policy.shadow else {
            return JSONResponse.make(status: .ok, body: ["enabled": false, "policy_digest": .string(policy.judge.policy.digest)])
        }
        let counts = shadow.counts
        return JSONResponse.make(
            status: .ok,
            body: [
                "enabled": true, "policy_digest": .string(policy.judge.policy.digest), "shadow_policy_digest": .string(counts.policyDigest),
                "shadow_policy_file": .string(counts.file), "loaded_at": .string(Timestamp.rfc3339(counts.loadedAt)),
                "agreements": .integer(Int64(counts.agreements)), "disagreements": .integer(Int64(counts.disagreements)),
                "newly_allowed": .integer(Int64(counts.newlyAllowed)), "newly_denied": .integer(Int64(counts.newlyDenied)),
                "rule_changed": .integer(Int64(counts.ruleChanged)),
            ])
    }

    @Sendable func health(_ request: Request, context: Context) async throws -> Response {
        JSONResponse.make(status: .ok, body: ["status": "ok"])
    }

    /// Ready when the engine was probed, every tool's sandbox attested as the policy asks (as far
    /// as attested), the store answers a cheap query and a policy is loaded.
    @Sendable func readiness(_ request: Request, context: Context) async throws -> Response {
        var checks: [String: JSONValue] = [:]
        var notReady: [JSONValue] = []
        switch await engine.status {
        case let .success(engine): checks["engine"] = .string("\(engine.kind.rawValue) \(engine.version)")
        case let .failure(error):
            checks["engine"] = "not ready"
            notReady.append(.string("engine: \(error.description)"))
        }
        let problems = await sandbox.problems
        checks["sandbox"] = problems.isEmpty ? "attested" : "not ready"
        for (tool, problem) in problems.sorted(by: { $0.key < $1.key }) {
            notReady.append(.string("sandbox \(tool): \(problem)"))
        }
        do {
            _ = try await store.events(matching: EventQuery(limit: 1))
            checks["store"] = .string(store.location)
            // How a SQLite store was opened: the worker's must be long-lived (see `EventStoreUse`).
            if let sqlite = store as? SQLiteEventStore { checks["store_use"] = .string(sqlite.use.rawValue) }
        } catch {
            checks["store"] = "not ready"
            notReady.append(.string("store: \(error.message)"))
        }
        let digest = policy.judge.policy.digest
        checks["policy"] = .string(digest)
        if scheduler.admission.isClosed {
            notReady.append("worker: shutting down")
        }
        let ready = notReady.isEmpty
        return JSONResponse.make(
            status: ready ? .ok : .serviceUnavailable,
            body: ["ready": .bool(ready), "checks": .object(checks), "not_ready": .array(notReady), "policy_digest": .string(digest)])
    }

    // MARK: Bodies

    /// The whole body, or 413 past `maxBodyBytes` (told by Content-Length before reading, when given).
    func readBody(_ request: Request) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            throw tooLarge
        }
        do {
            return try await request.body.collect(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
    }

    var tooLarge: APIError {
        APIError(.contentTooLarge, code: "body_too_large", "the body is larger than \(maxBodyBytes) bytes", field: "body")
    }
}
