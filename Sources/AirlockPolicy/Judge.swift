/// Decides whether a command may run, on what it does: default deny, and a deny rule beats any allow.
///
/// Pure: the same policy and request always give the same decision.
public struct Judge: Sendable {
    public let policy: Policy
    /// For each context and tool, the rules that apply at each command of the tool's grammar: the
    /// subcommand patterns are matched once here, not on every decision.
    private let rulesByCommand: [String: [String: [ObjectIdentifier: CommandRules]]]

    struct CommandRules: Sendable {
        var deny: [Rule]
        var allow: [Rule]
    }

    public init(policy: Policy) {
        self.policy = policy
        var index: [String: [String: [ObjectIdentifier: CommandRules]]] = [:]
        for (contextName, context) in policy.contexts {
            for (toolName, tool) in policy.tools {
                var byNode: [ObjectIdentifier: CommandRules] = [:]
                var pending = [tool.grammar.root]
                while let node = pending.popLast() {
                    byNode[ObjectIdentifier(node)] = CommandRules(
                        deny: context.denyRules(for: toolName).filter { $0.appliesTo(node.path) },
                        allow: context.allowRules(for: toolName).filter { $0.appliesTo(node.path) })
                    pending += node.subcommands.values
                }
                index[contextName, default: [:]][toolName] = byNode
            }
        }
        self.rulesByCommand = index
    }

    public func decide(_ request: JudgeRequest) -> Decision {
        evaluate(request, explain: false, registered: nil).decision
    }

    /// Decides for a tool registered at run time (`request.tool` is its name): parsed with its base
    /// tool's grammar; the context's deny rules for the base tool apply; then the subcommand must be
    /// among its `allowedSubcommands`, and, when it requires the semantic judge, an allow rule of the
    /// context for the base tool must allow it too.
    public func decide(_ request: JudgeRequest, registered: RegisteredToolRules) -> Decision {
        evaluate(request, explain: false, registered: registered).decision
    }

    /// The decision with every rule of the tool in the context evaluated, for `--explain`.
    public func explain(_ request: JudgeRequest) -> (decision: Decision, evaluations: [RuleEvaluation]) {
        evaluate(request, explain: true, registered: nil)
    }

    private func evaluate(_ request: JudgeRequest, explain: Bool, registered: RegisteredToolRules?) -> (
        decision: Decision, evaluations: [RuleEvaluation]
    ) {
        func deny(_ rule: BuiltinRule, _ reason: String, subcommand: String? = nil) -> (Decision, [RuleEvaluation]) {
            (decision(request, allowed: false, ruleID: rule.rawValue, reason: reason, subcommand: subcommand, parsed: nil), [])
        }
        let toolName = registered?.baseTool ?? request.tool
        guard let tool = policy.tools[toolName] else {
            return deny(.unknownTool, "unknown tool '\(toolName)'; this policy has: \(policy.tools.keys.sorted().joined(separator: ", "))")
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
        let node: CommandNode
        switch tool.parser.parseToNode(request.argv) {
        case let .success(result):
            (parsed, node) = result
        case let .failure(failure):
            var path = failure.subcommandPath
            if failure.kind == .unknownSubcommand { path.append(request.argv[failure.argumentIndex]) }
            return deny(BuiltinRule(failure.kind), failure.message, subcommand: path.joined(separator: " "))
        }

        if !explain {
            guard let rules = rulesByCommand[context.name]?[tool.name]?[ObjectIdentifier(node)] else {
                preconditionFailure("the rule index misses a command of the \(tool.name) grammar")
            }
            if let registered {
                return (decideRegistered(request, registered, rules: rules, context: context, tool: tool, parsed: parsed), [])
            }
            let verdict: (allowed: Bool, rule: Rule)? =
                if let rule = rules.deny.first(where: { $0.conditionsHold(for: parsed) }) {
                    (false, rule)
                } else if let rule = rules.allow.first(where: { $0.conditionsHold(for: parsed) }) {
                    (true, rule)
                } else {
                    nil
                }
            return (finish(request, verdict, context: context, tool: tool, parsed: parsed), [])
        }

        // Explain: every rule of the tool, in order, with whether it matched.
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
        return (finish(request, verdict, context: context, tool: tool, parsed: parsed), evaluations)
    }

    private func decideRegistered(
        _ request: JudgeRequest, _ registered: RegisteredToolRules, rules: CommandRules, context: SecurityContext, tool: ToolPolicy,
        parsed: ParsedCommand
    ) -> Decision {
        if let rule = rules.deny.first(where: { $0.conditionsHold(for: parsed) }) {
            return finish(request, (false, rule), context: context, tool: tool, parsed: parsed)
        }
        let shown = parsed.subcommandPath.joined(separator: " ")
        guard registered.allows(parsed.subcommandPath) else {
            let reason =
                "'\(shown)' is not among the allowed_subcommands of registered tool '\(registered.name)' "
                + "(allowed: \(registered.allowedSubcommands.joined(separator: ", ")))"
            return decision(request, allowed: false, ruleID: BuiltinRule.registrySubcommand.rawValue, reason: reason, subcommand: nil, parsed: parsed)
        }
        if registered.requireSemanticJudge {
            let allow = rules.allow.first(where: { $0.conditionsHold(for: parsed) })
            return finish(request, allow.map { (true, $0) }, context: context, tool: tool, parsed: parsed)
        }
        let reason = "'\(shown)' is among the allowed_subcommands of registered tool '\(registered.name)'"
        return decision(request, allowed: true, ruleID: BuiltinRule.registryAllowed.rawValue, reason: reason, subcommand: nil, parsed: parsed)
    }

    /// The decision of the first matching deny rule, else of the first matching allow rule, else default deny.
    private func finish(
        _ request: JudgeRequest, _ verdict: (allowed: Bool, rule: Rule)?, context: SecurityContext, tool: ToolPolicy,
        parsed: ParsedCommand
    ) -> Decision {
        guard let verdict else {
            let shown = ([tool.name] + parsed.subcommandPath).joined(separator: " ")
            let reason = "no allow rule of security context '\(context.name)' matches '\(shown)'"
            return decision(request, allowed: false, ruleID: BuiltinRule.defaultDeny.rawValue, reason: reason, subcommand: nil, parsed: parsed)
        }
        return decision(request, allowed: verdict.allowed, ruleID: verdict.rule.id, reason: verdict.rule.reason, subcommand: nil, parsed: parsed)
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
