import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// One access log line per request, written once the response body is (streams take as long as
/// their run): method and path, status, duration, and the tenant, execution and trace ids.
struct AccessLogMiddleware: RouterMiddleware {
    typealias Context = WorkerRequestContext
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let began = ContinuousClock.now
        let traceID = TraceID.fromHeaders(traceparent: request.headers[.traceparent], xTraceID: request.headers[.xTraceID])
        context.facts.update { $0.traceID = traceID }
        var response = try await next(request, context)
        let status = response.status
        let logger = self.logger
        let facts = context.facts
        let method = "\(request.method.rawValue) \(request.uri.path)"
        let body = response.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            do {
                try await body.write(writer)
                Self.log(logger, method: method, status: status, began: began, facts: facts.current, aborted: nil)
            } catch {
                Self.log(logger, method: method, status: status, began: began, facts: facts.current, aborted: "\(error)")
                throw error
            }
        }
        return response
    }

    static func log(_ logger: Logger, method: String, status: HTTPResponse.Status, began: ContinuousClock.Instant, facts: RequestFacts.Values, aborted: String?) {
        let elapsed = ContinuousClock.now - began
        var metadata: Logger.Metadata = [
            "method": "\(method)", "code": "\(status.code)",
            "duration_ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
        ]
        if let tenant = facts.tenantID { metadata["tenant_id"] = "\(tenant)" }
        if let execution = facts.executionID { metadata["execution_id"] = "\(execution)" }
        if let trace = facts.traceID { metadata["trace_id"] = "\(trace)" }
        if let peer = facts.peer { metadata["uid"] = "\(peer.uid)" }
        if let code = facts.errorCode { metadata["error_code"] = "\(code)" }
        if let aborted { metadata["aborted"] = "\(aborted)" }
        logger.log(level: status.code >= 500 ? .warning : .info, "request", metadata: metadata)
    }
}

/// Every error becomes the API's JSON error shape, including Hummingbird's own (unknown route, a
/// known path with a method it does not serve, body too large) and anything unexpected (500, logged).
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = WorkerRequestContext
    let logger: Logger
    /// The routes served: a path among them asked with another method is 405, not 404.
    let routes: [WorkerAPI.Route]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            context.facts.update { $0.errorCode = error.code }
            return try error.response(from: request, context: context)
        } catch let error as HTTPError {
            let apiError = Self.translate(error, request: request, routes: routes)
            context.facts.update { $0.errorCode = apiError.code }
            return try apiError.response(from: request, context: context)
        } catch {
            logger.error("Unexpected error", metadata: ["method": "\(request.method.rawValue) \(request.uri.path)", "error": "\(error)"])
            context.facts.update { $0.errorCode = "internal" }
            return try APIError(.internalServerError, code: "internal", "internal error").response(from: request, context: context)
        }
    }

    static func translate(_ error: HTTPError, request: Request, routes: [WorkerAPI.Route]) -> APIError {
        switch error.status {
        case .notFound:
            let path = request.uri.path
            let allowed = Set(routes.filter { $0.matches(path: path) }.map(\.method)).sorted()
            if !allowed.isEmpty, !allowed.contains(request.method.rawValue) {
                let list = allowed.joined(separator: ", ")
                return APIError(
                    .methodNotAllowed, code: "method_not_allowed", "\(path) does not take \(request.method.rawValue); it takes \(list)",
                    headers: [.allow: list])
            }
            return APIError(.notFound, code: "no_such_route", "no route \(request.method.rawValue) \(path)")
        case .contentTooLarge:
            return APIError(.contentTooLarge, code: "body_too_large", error.body ?? "the body is too large")
        default:
            return APIError(error.status, code: "http_error", error.body ?? error.status.reasonPhrase)
        }
    }
}

/// Unix socket peers must be on the allow-list (SO_PEERCRED); others get 403 and a log line naming
/// them. TCP has no peer credentials: its peers are allowed because the operator opened it.
struct PeerCheckMiddleware: RouterMiddleware {
    typealias Context = WorkerRequestContext
    let allowList: PeerAllowList
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let peer: PeerCredentials?
        do {
            peer = try await PeerCredentials.of(context.channel)
        } catch {
            logger.warning("Peer credentials unavailable; request refused", metadata: ["error": "\(error)"])
            throw APIError(.forbidden, code: "peer_not_allowed", "the caller's credentials could not be read")
        }
        if let peer {
            context.facts.update { $0.peer = peer }
            guard allowList.allows(peer) else {
                logger.warning(
                    "Peer not allowed", metadata: ["uid": "\(peer.uid)", "gid": "\(peer.gid)", "pid": "\(peer.pid)"])
                throw APIError(.forbidden, code: "peer_not_allowed", "uid \(peer.uid) gid \(peer.gid) may not use this worker")
            }
        }
        return try await next(request, context)
    }
}

extension HTTPField.Name {
    static let traceparent = HTTPField.Name("traceparent")!
    static let xTraceID = HTTPField.Name("X-Trace-Id")!
    static let airlockTenant = HTTPField.Name("X-Airlock-Tenant")!
}
