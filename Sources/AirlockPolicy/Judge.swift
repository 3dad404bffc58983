/// Decides whether a command may run, on what it does: default deny, and a deny rule beats any allow.
///
/// Pure: the same policy and request always give the same decision.
public struct Judge: Sendable {
    public let policy: Policy

    public init(policy: Policy) {
        self.policy = policy
    }

    public func decide(_ request: JudgeRequest) -> Decision {
        evaluate(request, explain: false).decision
    }

    /// The decision with every rule of the tool in the context evaluated, for `--explain`.
    public func explain(_ request: JudgeRequest) -> (decision: Decision, evaluations: [RuleEvaluation]) {
        evaluate(request, explain: true)
    }

    private func evaluate(_ request: JudgeRequest, explain: Bool) -> (decision: Decision, evaluations: [RuleEvaluation]) {
        func deny(_ rule: BuiltinRule, _ reason: String, subcommand: String? = nil) -> (Decision, [RuleEvaluation]) {
            (decision(request, allowed: false, ruleID: rule.rawValue, reason: reason, subcommand: subcommand, parsed: nil), [])
        }
        guard let tool = policy.tools[request.tool] else {
            return deny(.unknownTool, "unknown tool '\(request.tool)'; this policy has: \(policy.tools.keys.sorted().joined(separator: ", "))")
        }
        guard let context = policy.contexts[request.securityContext] else {
            return deny(.unknownContext, "unknown security context '\(request.securityContext)'; this policy has: \(policy.contexts.keys.sorted().joined(separator: ", "))")
        }
        if let tenantName = request.tenant {
            guard let tenant = policy.tenants[tenantName] else {
                return deny(.unknownTenant, "unknown tenant '\(tenantName)'")
            }
            guard tenant.contexts.contains(context.name) else {
                return deny(.tenantContext, "tenant '\(tenantName)' may not use security context '\(context.name)'")
            }
            if let tools = tenant.tools, !tools.contains(tool.name) {
                return deny(.tenantTool, "tenant '\(tenantName)' may not use tool '\(tool.name)'")
            }
        }
        if let reason = argumentProblem(request, limits: tool.argumentLimits) {
            return deny(reason.rule, reason.text)
        }

        let parsed: ParsedCommand
        switch tool.parser.parse(request.argv) {
        case let .success(command):
            parsed = command
        case let .failure(failure):
            var path = failure.subcommandPath
            if failure.kind == .unknownSubcommand { path.append(request.argv[failure.argumentIndex]) }
            return deny(BuiltinRule(failure.kind), failure.message, subcommand: path.joined(separator: " "))
        }

        var evaluations: [RuleEvaluation] = []
        var verdict: (allowed: Bool, rule: Rule)?
        for rule in context.denyRules(for: tool.name) {
            let matched = rule.matches(parsed)
            if explain { evaluations.append(RuleEvaluation(ruleID: rule.id, effect: "deny", context: rule.context, matched: matched)) }
            if matched, verdict == nil {
                verdict = (false, rule)
                if !explain { break }
            }
        }
        for rule in context.allowRules(for: tool.name) where explain || verdict == nil {
            let matched = rule.matches(parsed)
            if explain { evaluations.append(RuleEvaluation(ruleID: rule.id, effect: "allow", context: rule.context, matched: matched)) }
            if matched, verdict == nil {
                verdict = (true, rule)
            }
        }
        guard let verdict else {
            let shown = ([tool.name] + parsed.subcommandPath).joined(separator: " ")
            let reason = "no allow rule of security context '\(context.name)' matches '\(shown)'"
            return (decision(request, allowed: false, ruleID: BuiltinRule.defaultDeny.rawValue, reason: reason, subcommand: nil, parsed: parsed), evaluations)
        }
        return (decision(request, allowed: verdict.allowed, ruleID: verdict.rule.id, reason: verdict.rule.reason, subcommand: nil, parsed: parsed), evaluations)
    }

    private func argumentProblem(_ request: JudgeRequest, limits: ArgumentLimits) -> (rule: BuiltinRule, text: String)? {
        if let index = request.undecodableArgument {
            return (.invalidArgument, "argument \(index + 1) is not valid UTF-8")
        }
        if request.argv.count > limits.maxCount {
            return (.argumentLimit, "\(request.argv.count) arguments; the policy allows at most \(limits.maxCount)")
        }
        for (index, argument) in request.argv.enumerated() {
            if argument.utf8.contains(0) {
                return (.invalidArgument, "argument \(index + 1) contains a NUL byte")
            }
            if argument.utf8.count > limits.maxBytes {
                return (.argumentLimit, "argument \(index + 1) is \(argument.utf8.count) bytes; the policy allows at most \(limits.maxBytes)")
            }
        }
        return nil
    }

    private func decision(_ request: JudgeRequest, allowed: Bool, ruleID: String, reason: String, subcommand: String?, parsed: ParsedCommand?) -> Decision {
        Decision(
            allowed: allowed, ruleID: ruleID, reason: reason, tool: request.tool,
            requestedSubcommand: subcommand ?? parsed?.subcommand ?? request.argv.first ?? "",
            securityContext: request.securityContext, tenant: request.tenant, policyDigest: policy.digest,
            parsedCommand: parsed)
    }
}
