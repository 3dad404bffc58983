import AirlockEngine
import AirlockPolicy
import Foundation

/// The body of `POST /v1/invocations` (and of `POST /v1/judge` in our own format), read strictly:
/// unknown keys, wrong types, NUL bytes and missing fields are 400s naming the field.
public struct InvocationBody: Sendable, Equatable {
    public static let keys: Set<String> = [
        "execution_id", "tool_name", "subcommand", "args", "tenant_id", "security_context", "mounts", "timeout_ms", "stdin", "trace_id",
    ]
    static let mountKeys: Set<String> = ["host_path", "mount_path", "read_only"]
    /// A day; the policy's own timeout caps it further.
    static let maximumTimeoutMilliseconds: Int64 = 86_400_000

    /// nil: the worker makes one up.
    public var executionID: String?
    public var toolName: String
    public var subcommand: String
    public var args: [String]
    public var tenantID: String
    public var securityContext: String
    public var mounts: [MountRequest]
    public var timeoutMilliseconds: Int64?
    public var traceID: String?

    /// What the judge sees: the subcommand's words, then the arguments.
    public var argv: [String] { Self.words(subcommand) + args }

    /// `"remote show"` is two argv words; `""` is none.
    static func words(_ subcommand: String) -> [String] {
        subcommand.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
    }

    public static func decode(_ bytes: some Collection<UInt8>) throws(APIError) -> InvocationBody {
        try decode(StrictObject(try JSONValue.parse(bytes), path: "", keys: keys))
    }

    static func decode(_ object: StrictObject) throws(APIError) -> InvocationBody {
        if let stdin = try object.string("stdin"), !stdin.isEmpty {
            // The engine has no stdin yet; dropping it silently would run the tool on other input than asked.
            throw APIError.invalid("stdin", "stdin is not supported by this worker")
        }
        let executionID = try object.string("execution_id")
        if let executionID, !ExecutionID.isValid(executionID) {
            throw APIError.invalid(
                "execution_id", "must be 1 to 128 characters of letters, digits, '_', '.' and '-', starting with a letter or digit")
        }
        var mounts: [MountRequest] = []
        for (index, item) in (try object.array("mounts") ?? []).enumerated() {
            let mount = try StrictObject(item, path: "mounts[\(index)]", keys: mountKeys)
            mounts.append(
                MountRequest(
                    hostPath: try mount.requiredString("host_path"), containerPath: try mount.requiredString("mount_path"),
                    writable: !(try mount.bool("read_only") ?? true)))
        }
        let timeout = try object.integer("timeout_ms")
        if let timeout, !(1...maximumTimeoutMilliseconds).contains(timeout) {
            throw APIError.invalid("timeout_ms", "must be a whole number of milliseconds from 1 to \(maximumTimeoutMilliseconds)")
        }
        let traceID = try object.string("trace_id")
        if let traceID, !TraceID.isValid(traceID) {
            throw APIError.invalid("trace_id", "must be 1 to 128 printable ASCII characters without spaces")
        }
        return InvocationBody(
            executionID: executionID, toolName: try object.requiredString("tool_name", nonEmpty: true),
            subcommand: try object.requiredString("subcommand"), args: try object.strings("args") ?? [],
            tenantID: try object.requiredString("tenant_id", nonEmpty: true),
            securityContext: try object.requiredString("security_context", nonEmpty: true), mounts: mounts,
            timeoutMilliseconds: timeout, traceID: traceID)
    }

    /// 404 for a tenant, tool or security context the policy does not have. The judge would deny these
    /// too; the API says which name is wrong.
    public func checkNames(in policy: Policy) throws(APIError) {
        guard policy.tenants[tenantID] != nil else { throw APIError.notFound("tenant_id", "unknown tenant '\(tenantID)'") }
        guard policy.tools[toolName] != nil else { throw APIError.notFound("tool_name", "unknown tool '\(toolName)'") }
        guard policy.contexts[securityContext] != nil else {
            throw APIError.notFound("security_context", "unknown security context '\(securityContext)'")
        }
    }

    public func invocationRequest(executionID: String, traceID: String?) -> InvocationRequest {
        InvocationRequest(
            executionID: executionID, toolName: toolName, rawArguments: argv.map { Array($0.utf8) }, tenantID: tenantID,
            securityContext: securityContext, mounts: mounts, timeout: timeoutMilliseconds.map { .milliseconds($0) }, traceID: traceID)
    }
}

/// The body of `POST /v1/judge`: ours, or the gateway's semantic-judge wire format
/// `{"tool_name", "subcommand", "args", "security_context"}` (no tenant: no tenant restrictions).
public enum JudgeBody: Sendable, Equatable {
    case invocation(InvocationBody)
    case gateway(toolName: String, argv: [String], securityContext: String)

    static let gatewayKeys: Set<String> = ["tool_name", "subcommand", "args", "security_context"]

    public static func decode(_ bytes: some Collection<UInt8>) throws(APIError) -> JudgeBody {
        let value = try JSONValue.parse(bytes)
        // A tenant makes it ours; the gateway's format never names one.
        if value["tenant_id"] != nil {
            return .invocation(try InvocationBody.decode(StrictObject(value, path: "", keys: InvocationBody.keys)))
        }
        let object = try StrictObject(value, path: "", keys: gatewayKeys, hint: "tenant_id")
        return .gateway(
            toolName: try object.requiredString("tool_name", nonEmpty: true),
            argv: InvocationBody.words(try object.string("subcommand") ?? "") + (try object.strings("args") ?? []),
            securityContext: try object.requiredString("security_context", nonEmpty: true))
    }
}

/// Execution ids name containers (`airlock-<id>`) and labels, so they keep to the characters both accept.
enum ExecutionID {
    static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...128).contains(bytes.count), isAlphanumeric(bytes[0]) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

/// Trace ids go into logs and events verbatim, so they are kept to one printable token.
enum TraceID {
    static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return (1...128).contains(bytes.count) && bytes.allSatisfy { (0x21...0x7e).contains($0) }
    }

    /// From `traceparent` (W3C: `00-<32 hex trace id>-<16 hex parent id>-<flags>`) or `X-Trace-Id`.
    static func fromHeaders(traceparent: String?, xTraceID: String?) -> String? {
        if let traceparent {
            let parts = traceparent.split(separator: "-")
            if parts.count >= 4, parts[1].count == 32, parts[1].allSatisfy(\.isHexDigit) { return String(parts[1]).lowercased() }
        }
        if let xTraceID, isValid(xTraceID) { return xTraceID }
        return nil
    }
}

/// One JSON object read strictly: only the given keys, each value of the type asked for, no NUL
/// byte in any string. Errors name the field by its path (`mounts[0].host_path`).
struct StrictObject {
    let members: [String: JSONValue]
    let path: String

    /// - Parameter hint: a key that, if present, is the likely mistake worth naming in the message.
    init(_ value: JSONValue, path: String, keys: Set<String>, hint: String? = nil) throws(APIError) {
        guard case let .object(members) = value else {
            throw APIError.invalid(path.isEmpty ? nil : path, "\(path.isEmpty ? "the body" : "this field") must be a JSON object, not \(value.typeName)")
        }
        self.path = path
        for key in members.keys.sorted() where !keys.contains(key) {
            let also = hint.map { "; with \($0) given, the invocation format's fields are accepted too" } ?? ""
            throw APIError.invalid(Self.join(path, key), "unknown field; expected one of: \(keys.sorted().joined(separator: ", "))\(also)")
        }
        self.members = members
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func field(_ key: String) -> String { Self.join(path, key) }

    /// nil when absent or null.
    func string(_ key: String) throws(APIError) -> String? {
        switch members[key] {
        case nil, .null?: return nil
        case let .string(text)?: return try Self.checked(text, field: field(key))
        case let other?: throw APIError.invalid(field(key), "must be a string, not \(other.typeName)")
        }
    }

    func requiredString(_ key: String, nonEmpty: Bool = false) throws(APIError) -> String {
        guard let text = try string(key) else { throw APIError.invalid(field(key), "is required") }
        if nonEmpty, text.isEmpty { throw APIError.invalid(field(key), "must not be empty") }
        return text
    }

    func strings(_ key: String) throws(APIError) -> [String]? {
        guard let items = try array(key) else { return nil }
        var texts: [String] = []
        for (index, item) in items.enumerated() {
            guard case let .string(text) = item else {
                throw APIError.invalid("\(field(key))[\(index)]", "must be a string, not \(item.typeName)")
            }
            texts.append(try Self.checked(text, field: "\(field(key))[\(index)]"))
        }
        return texts
    }

    func array(_ key: String) throws(APIError) -> [JSONValue]? {
        switch members[key] {
        case nil, .null?: return nil
        case let .array(items)?: return items
        case let other?: throw APIError.invalid(field(key), "must be an array, not \(other.typeName)")
        }
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        switch members[key] {
        case nil, .null?: return nil
        case let .bool(value)?: return value
        case let other?: throw APIError.invalid(field(key), "must be true or false, not \(other.typeName)")
        }
    }

    func integer(_ key: String) throws(APIError) -> Int64? {
        switch members[key] {
        case nil, .null?: return nil
        case let .integer(value)?: return value
        case .number?: throw APIError.invalid(field(key), "must be a whole number")
        case let other?: throw APIError.invalid(field(key), "must be a number, not \(other.typeName)")
        }
    }

    private static func checked(_ text: String, field: String) throws(APIError) -> String {
        if text.utf8.contains(0) { throw APIError.invalid(field, "contains a NUL byte") }
        return text
    }
}
