/// A decision as the audit trail recorded it: enough to judge the same call again.
public struct RecordedDecision: Sendable {
    public var executionID: String
    /// As recorded (RFC 3339).
    public var createdAt: String
    public var tenant: String?
    public var securityContext: String
    /// The tool as called: a policy tool, or a registered tool's name.
    public var tool: String
    /// The arguments after the tool, the subcommand first.
    public var argv: [String]
    public var allowed: Bool
    public var ruleID: String
    public var policyDigest: String
    /// For a registered tool: its rules as registered at the time of the call.
    public var registered: RegisteredToolRules?

    public init(
        executionID: String, createdAt: String, tenant: String?, securityContext: String, tool: String, argv: [String], allowed: Bool,
        ruleID: String, policyDigest: String, registered: RegisteredToolRules? = nil
    ) {
        self.executionID = executionID
        self.createdAt = createdAt
        self.tenant = tenant
        self.securityContext = securityContext
        self.tool = tool
        self.argv = argv
        self.allowed = allowed
        self.ruleID = ruleID
        self.policyDigest = policyDigest
        self.registered = registered
    }

    public var request: JudgeRequest {
        JudgeRequest(tool: tool, argv: argv, tenant: tenant, securityContext: securityContext)
    }
}

/// What a candidate policy would have decided for one recorded call, when it differs.
public struct ReplayChange: Sendable {
    public enum Kind: String, Sendable, Comparable {
        case newlyAllowed = "newly_allowed"
        case newlyDenied = "newly_denied"
        /// The same outcome, decided by another rule.
        case ruleChanged = "rule_changed"

        /// Newly allowed first: they are the risky ones.
        public static func < (lhs: Kind, rhs: Kind) -> Bool {
            let order: [Kind] = [.newlyAllowed, .newlyDenied, .ruleChanged]
            return order.firstIndex(of: lhs)! < order.firstIndex(of: rhs)!
        }
    }

    public var kind: Kind
    public var recorded: RecordedDecision
    public var decision: Decision
}

/// Re-judges recorded decisions under a candidate policy with the worker's `Judge`, one at a time:
/// the counts grow, nothing else is kept here, so a trail of any length replays in bounded memory.
public struct PolicyReplay: Sendable {
    public let judge: Judge
    public private(set) var replayed = 0
    public private(set) var unchanged = 0
    public private(set) var newlyAllowed = 0
    public private(set) var newlyDenied = 0
    public private(set) var ruleChanged = 0
    /// Recorded events that cannot be judged again, counted by reason.
    public private(set) var notReplayable: [String: Int] = [:]

    public init(judge: Judge) {
        self.judge = judge
    }

    /// Whether any decision flips (a changed rule alone is no flip).
    public var flipped: Bool { newlyAllowed + newlyDenied > 0 }

    /// The change, if the candidate decides otherwise.
    public mutating func replay(_ recorded: RecordedDecision) -> ReplayChange? {
        replayed += 1
        let decision = recorded.registered.map { judge.decide(recorded.request, registered: $0) } ?? judge.decide(recorded.request)
        let kind: ReplayChange.Kind
        switch (recorded.allowed, decision.allowed) {
        case (false, true):
            kind = .newlyAllowed
            newlyAllowed += 1
        case (true, false):
            kind = .newlyDenied
            newlyDenied += 1
        default:
            guard decision.ruleID != recorded.ruleID else {
                unchanged += 1
                return nil
            }
            kind = .ruleChanged
            ruleChanged += 1
        }
        return ReplayChange(kind: kind, recorded: recorded, decision: decision)
    }

    public mutating func skip(_ reason: String) {
        notReplayable[reason, default: 0] += 1
    }
}
