/// What changes between two policies (`airlock policy diff OLD NEW`): their definitions, and the
/// decisions they make over one generated probe set.
///
/// Pure: it takes two loaded policies and judges with `Judge.decide`, the call the worker makes,
/// so a decision reported here is the decision the worker would make.
public enum PolicyDiff {
    /// Has both policies judge every request of the probe set generated from them, and returns
    /// those decided differently: a flip of allow and deny, or the same outcome by another rule.
    ///
    /// - Parameters:
    ///   - context: probe only this context; nil: every context of either policy.
    ///   - tool: probe only this tool; nil: every tool of either policy.
    /// - Throws: `PolicyDiffError` when `context` or `tool` is in neither policy; never for a
    ///   decision, which is a result.
    public static func decisions(
        _ old: Policy, _ new: Policy, context: String? = nil, tool: String? = nil
    ) throws(PolicyDiffError) -> DecisionDiff {
        if let context, old.contexts[context] == nil, new.contexts[context] == nil {
            throw PolicyDiffError(
                "unknown context '\(context)': neither policy has it (contexts: \(names(old.contexts.keys, new.contexts.keys)))")
        }
        if let tool, old.tools[tool] == nil, new.tools[tool] == nil {
            throw PolicyDiffError("unknown tool '\(tool)': neither policy has it (tools: \(names(old.tools.keys, new.tools.keys)))")
        }
        let probes = ProbeSet([old, new], tools: tool.map { [$0] }, contexts: context.map { [$0] })
        let (oldJudge, newJudge) = (Judge(policy: old), Judge(policy: new))
        var changes: [DecisionChange] = []
        for (placement, command) in probes.requests {
            let request = JudgeRequest(
                tool: command.tool, argv: command.arguments, tenant: placement.tenant, securityContext: placement.context)
            let before = oldJudge.decide(request)
            let after = newJudge.decide(request)
            guard before.allowed != after.allowed || before.ruleID != after.ruleID else { continue }
            changes.append(DecisionChange(placement: placement, command: command, before: before, after: after))
        }
        return DecisionDiff(
            changes: changes, probed: probes.count, contexts: Set(probes.placements.map(\.context)).sorted())
    }

    private static func names(_ first: some Sequence<String>, _ second: some Sequence<String>) -> String {
        Set(first).union(second).sorted().joined(separator: ", ")
    }
}

/// A `--context` or `--tool` that neither policy has: nothing could be probed for it.
public struct PolicyDiffError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// The decisions two policies make differently over a probe set.
public struct DecisionDiff: Sendable {
    /// In probe order: by context and tenant, then tool, command path and option.
    public var changes: [DecisionChange]
    /// How many requests each policy judged.
    public var probed: Int
    /// The contexts probed.
    public var contexts: [String]

    public var newlyAllowed: [DecisionChange] { changes.filter { $0.kind == .newlyAllowed } }
    public var newlyDenied: [DecisionChange] { changes.filter { $0.kind == .newlyDenied } }
    public var ruleChanged: [DecisionChange] { changes.filter { $0.kind == .ruleChanged } }

    /// Decisions that flip between allow and deny. A decision by another rule with the same
    /// outcome is listed, but does not count: it changes nothing that runs.
    public var differ: Int { changes.count { $0.kind != .ruleChanged } }
}

/// How a decision changes from one policy to another: what `policy diff` and `policy replay` report.
public enum DecisionShift: String, Sendable, CaseIterable, Comparable {
    case newlyAllowed = "newly_allowed"
    case newlyDenied = "newly_denied"
    /// The same outcome, by another rule.
    case ruleChanged = "rule_changed"

    /// nil when both decide alike, by the same rule.
    public init?(beforeAllowed: Bool, beforeRule: String, afterAllowed: Bool, afterRule: String) {
        if beforeAllowed != afterAllowed {
            self = afterAllowed ? .newlyAllowed : .newlyDenied
        } else if beforeRule != afterRule {
            self = .ruleChanged
        } else {
            return nil
        }
    }

    /// Newly allowed first: they are the risky ones.
    public static func < (lhs: DecisionShift, rhs: DecisionShift) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// One request the two policies decide differently.
public struct DecisionChange: Sendable {
    public typealias Kind = DecisionShift

    public var placement: ProbeSet.Placement
    public var command: ProbeSet.Command
    public var before: Decision
    public var after: Decision

    public var kind: Kind {
        DecisionShift(beforeAllowed: before.allowed, beforeRule: before.ruleID, afterAllowed: after.allowed, afterRule: after.ruleID)
            ?? .ruleChanged
    }

    /// The tool first, then its arguments, as test files write an argv.
    public var argv: [String] { [command.tool] + command.arguments }
}
