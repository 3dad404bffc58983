import Foundation
import HTTPTypes
import Hummingbird

/// An error answered to the caller as `{"error": {"code": "...", "message": "...", "field": "..."}}`.
///
/// `code` is stable and meant for programs; `message` is for the person reading it; `field` names
/// the request field at fault (`args[2]`, `mounts[0].host_path`), when one is.
public struct APIError: Error, Sendable, Equatable, HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var field: String?
    /// Top-level members beside `error` (`execution_id`, `policy_digest`, the ids of earlier events).
    public var extra: [String: JSONValue]
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status, code: String, _ message: String, field: String? = nil, extra: [String: JSONValue] = [:],
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" + (field.map { " (field \($0))" } ?? "") }

    /// How `field` names a key or parameter: as it is, or `""` for the empty name, so that an error
    /// never names its field with an empty string.
    static func fieldName(_ key: String) -> String { key.isEmpty ? "\"\"" : key }

    /// 400: the request is malformed; `field` says where.
    public static func invalid(_ field: String?, _ message: String) -> APIError {
        APIError(.badRequest, code: "invalid_request", message, field: field)
    }

    /// 404: something the request names does not exist.
    public static func notFound(_ field: String?, _ message: String) -> APIError {
        APIError(.notFound, code: "not_found", message, field: field)
    }

    /// The JSON body; `extra` members never override `error`.
    public var body: JSONValue {
        var error: [String: JSONValue] = ["code": .string(code), "message": .string(message)]
        if let field { error["field"] = .string(field) }
        var object = extra
        object["error"] = .object(error)
        return .object(object)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONResponse.make(status: status, body: body, headers: headers)
    }
}

/// JSON responses with one content type and one key order (sorted), so equal records are equal text.
enum JSONResponse {
    static func make(status: HTTPResponse.Status, body: JSONValue, headers: HTTPFields = [:]) -> Response {
        make(status: status, bytes: body.encoded(), headers: headers)
    }

    static func make(status: HTTPResponse.Status, bytes: [UInt8], headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes + [UInt8(ascii: "\n")])))
    }
}
