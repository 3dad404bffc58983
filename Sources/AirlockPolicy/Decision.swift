/// What the judge decided, and why: every decision names the rule that made it.
public struct Decision: Sendable, Hashable, Codable {
    public var allowed: Bool
    /// A policy rule id, or `airlock.*` for Airlock's own fail-closed reasons (see `BuiltinRule`).
    public var ruleID: String
    public var reason: String
    public var tool: String
    /// The subcommand path as understood (`remote add`), or as requested when it could not be parsed.
    public var requestedSubcommand: String
    public var securityContext: String
    public var tenant: String?
    public var policyDigest: String
    /// The parse the rules were evaluated on; nil when the judge denied before or while parsing.
    public var parsedCommand: ParsedCommand?

    public init(
        allowed: Bool, ruleID: String, reason: String, tool: String, requestedSubcommand: String,
        securityContext: String, tenant: String?, policyDigest: String, parsedCommand: ParsedCommand?
    ) {
        self.allowed = allowed
        self.ruleID = ruleID
        self.reason = reason
        self.tool = tool
        self.requestedSubcommand = requestedSubcommand
        self.securityContext = securityContext
        self.tenant = tenant
        self.policyDigest = policyDigest
        self.parsedCommand = parsedCommand
    }
}

/// Airlock's own rule ids, for decisions no policy rule made. All of them deny, except
/// `airlock.registry-allowed` (a registered tool's own allow list).
public enum BuiltinRule: String, Sendable, CaseIterable {
    case defaultDeny = "airlock.default-deny"
    case unknownTool = "airlock.unknown-tool"
    case unknownContext = "airlock.unknown-context"
    case unknownTenant = "airlock.unknown-tenant"
    case tenantContext = "airlock.tenant-context"
    case tenantTool = "airlock.tenant-tool"
    case invalidArgument = "airlock.invalid-argument"
    case argumentLimit = "airlock.argument-limit"
    case unknownSubcommand = "airlock.unknown-subcommand"
    case missingSubcommand = "airlock.missing-subcommand"
    case unknownOption = "airlock.unknown-option"
    case ambiguousOption = "airlock.ambiguous-option"
    case missingValue = "airlock.missing-value"
    case unexpectedValue = "airlock.unexpected-value"
    case registrySubcommand = "airlock.registry-subcommand"
    case registryAllowed = "airlock.registry-allowed"

    init(_ kind: ArgvParseFailure.Kind) {
        switch kind {
        case .unknownSubcommand: self = .unknownSubcommand
        case .missingSubcommand: self = .missingSubcommand
        case .unknownOption: self = .unknownOption
        case .ambiguousOption: self = .ambiguousOption
        case .missingValue: self = .missingValue
        case .unexpectedValue: self = .unexpectedValue
        }
    }
}

/// A request to judge: which tool, with which argv, for whom.
public struct JudgeRequest: Sendable, Hashable {
    public var tool: String
    /// `[subcommand] + args`, as the gateway sends them.
    public var argv: [String]
    /// nil for an operator's dry run of a context; the worker always names the tenant.
    public var tenant: String?
    public var securityContext: String
    /// Index of the first argument that was not valid UTF-8 when it arrived as bytes.
    public var undecodableArgument: Int?

    public init(tool: String, argv: [String], tenant: String? = nil, securityContext: String) {
        self.tool = tool
        self.argv = argv
        self.tenant = tenant
        self.securityContext = securityContext
    }

    /// From raw bytes (a process's argv, a socket): an argument that is not valid UTF-8 is kept
    /// as its repaired text for display, and the judge denies the request.
    public init(tool: String, rawArgv: [[UInt8]], tenant: String? = nil, securityContext: String) {
        self.tool = tool
        self.tenant = tenant
        self.securityContext = securityContext
        var argv: [String] = []
        for (index, bytes) in rawArgv.enumerated() {
            if let text = String(validating: bytes, as: UTF8.self) {
                argv.append(text)
            } else {
                argv.append(String(decoding: bytes, as: UTF8.self))
                if undecodableArgument == nil { undecodableArgument = index }
            }
        }
        self.argv = argv
    }
}

/// One rule's outcome in an explained decision.
public struct RuleEvaluation: Sendable, Hashable, Codable {
    public var ruleID: String
    public var effect: String
    public var context: String
    public var matched: Bool
}
