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
    public var kind: DecisionShift
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
        guard
            let kind = DecisionShift(
                beforeAllowed: recorded.allowed, beforeRule: recorded.ruleID, afterAllowed: decision.allowed, afterRule: decision.ruleID)
        else {
            unchanged += 1
            return nil
        }
        switch kind {
        case .newlyAllowed: newlyAllowed += 1
        case .newlyDenied: newlyDenied += 1
        case .ruleChanged: ruleChanged += 1
        }
        return ReplayChange(kind: kind, recorded: recorded, decision: decision)
    }

    public mutating func skip(_ reason: String) {
        notReplayable[reason, default: 0] += 1
    }
}
