import AirlockEngine
import AirlockInvocation
import AirlockPolicy
import Foundation

/// The body of `POST /v1/invocations` (and of `POST /v1/judge` in our own format), read strictly:
/// unknown keys, wrong types, NUL bytes and missing fields are 400s naming the field.
public struct InvocationBody: Sendable, Equatable {
    public static let keys: Set<String> = [
        "execution_id", "tool_name", "subcommand", "args", "tenant_id", "security_context", "mounts", "timeout_ms", "stdin", "stdin_encoding",
        "trace_id", "secrets",
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
    /// The tool's standard input; nil when the body has none.
    public var stdin: [UInt8]?
    /// At most this many bytes of stdin (decoded).
    public static let maximumStdinBytes = 512 * 1024
    /// Values for secrets the tool declares, by name. Never echoed: errors name the field only.
    public var secrets: SecretValues = .none
    /// At most this many bytes in one secret (a kubeconfig with its certificates fits).
    public static let maximumSecretBytes = 256 * 1024

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
        var stdin: [UInt8]?
        let stdinEncoding = try object.string("stdin_encoding")
        if let text = try object.string("stdin") {
            switch stdinEncoding {
            case nil: stdin = Array(text.utf8)
            case "base64":
                guard let data = Data(base64Encoded: text) else { throw APIError.invalid("stdin", "is not valid base64") }
                stdin = Array(data)
            case let other?:
                throw APIError.invalid("stdin_encoding", "'\(other)' is not an encoding here; use base64, or leave it out for UTF-8 text")
            }
            if stdin!.count > maximumStdinBytes {
                throw APIError.invalid("stdin", "is \(stdin!.count) bytes; at most \(maximumStdinBytes) are accepted")
            }
        } else if stdinEncoding != nil {
            throw APIError.invalid("stdin_encoding", "is given without stdin")
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
        let secrets = try secretValues(object)
        let traceID = try object.string("trace_id")
        if let traceID, !TraceID.isValid(traceID) {
            throw APIError.invalid("trace_id", "must be 1 to 128 printable ASCII characters without spaces")
        }
        return InvocationBody(
            executionID: executionID, toolName: try object.requiredString("tool_name", nonEmpty: true),
            subcommand: try object.requiredString("subcommand"), args: try object.strings("args") ?? [],
            tenantID: try object.requiredString("tenant_id", nonEmpty: true),
            securityContext: try object.requiredString("security_context", nonEmpty: true), mounts: mounts,
            timeoutMilliseconds: timeout, traceID: traceID, stdin: stdin, secrets: secrets)
    }

    /// `secrets`: an object of strings. Whether the tool declares each name is checked against the
    /// policy (`checkSecrets`); the values are never part of an error.
    static func secretValues(_ object: StrictObject) throws(APIError) -> SecretValues {
        guard let value = object.members["secrets"], value != .null else { return .none }
        guard case let .object(members) = value else { throw APIError.invalid("secrets", "must be an object of names to strings, not \(value.typeName)") }
        var values: [String: [UInt8]] = [:]
        for (name, item) in members {
            let field = StrictObject.join("secrets", name)
            guard case let .string(text) = item else { throw APIError.invalid(field, "must be a string, not \(item.typeName)") }
            let bytes = Array(text.utf8)
            if bytes.contains(0) { throw APIError.invalid(field, "contains a NUL byte") }
            if bytes.count > maximumSecretBytes { throw APIError.invalid(field, "is \(bytes.count) bytes; at most \(maximumSecretBytes) are accepted") }
            values[name] = bytes
        }
        return SecretValues(values)
    }

    /// 400 naming `secrets.NAME` for a secret the tool does not declare: nothing is launched or recorded.
    /// `declared`: the tool's secrets (a registered tool's: those it took of its base tool's).
    public func checkSecrets(declared: [String]) throws(APIError) {
        for name in secrets.names where !declared.contains(name) {
            throw APIError.invalid(
                StrictObject.join("secrets", name),
                "tool '\(toolName)' does not declare this secret (\(declared.isEmpty ? "it declares none" : "it declares: " + declared.joined(separator: ", ")))")
        }
    }

    /// 404 for a tenant, tool or security context the policy does not have. The judge would deny these
    /// too; the API says which name is wrong.
    /// `registered`: the tenant has a registered tool of that name.
    public func checkNames(in policy: Policy, registered: Bool = false) throws(APIError) {
        guard policy.tenants[tenantID] != nil else { throw APIError.notFound("tenant_id", "unknown tenant '\(tenantID)'") }
        guard policy.tools[toolName] != nil || registered else { throw APIError.notFound("tool_name", "unknown tool '\(toolName)'") }
        guard policy.contexts[securityContext] != nil else {
            throw APIError.notFound("security_context", "unknown security context '\(securityContext)'")
        }
    }

    public func invocationRequest(executionID: String, traceID: String?) -> InvocationRequest {
        InvocationRequest(
            executionID: executionID, toolName: toolName, rawArguments: argv.map { Array($0.utf8) }, tenantID: tenantID,
            securityContext: securityContext, mounts: mounts, timeout: timeoutMilliseconds.map { .milliseconds($0) }, traceID: traceID,
            stdin: stdin, secrets: secrets)
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
