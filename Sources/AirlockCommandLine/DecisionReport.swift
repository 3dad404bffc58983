import AirlockPolicy
import Foundation

/// A decision as operators read it: text for people, JSON for scripts.
public struct DecisionReport: Encodable {
    var allowed: Bool
    var tool: String
    var requestedSubcommand: String
    var ruleId: String
    var reason: String
    var securityContext: String
    var tenant: String?
    var policyDigest: String
    var explain: Explanation?

    public struct Explanation: Encodable {
        var parsed: ParsedCommand?
        var rules: [RuleEvaluation]
    }

    public init(_ decision: Decision, evaluations: [RuleEvaluation]?) {
        allowed = decision.allowed
        tool = decision.tool
        requestedSubcommand = decision.requestedSubcommand
        ruleId = decision.ruleID
        reason = decision.reason
        securityContext = decision.securityContext
        tenant = decision.tenant
        policyDigest = decision.policyDigest
        explain = evaluations.map { Explanation(parsed: decision.parsedCommand, rules: $0) }
    }

    public static func snakeCaseJSON(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public func json() throws -> String { try Self.snakeCaseJSON(self) }

    public func text() -> String {
        let command = ([tool] + (requestedSubcommand.isEmpty ? [] : [requestedSubcommand])).joined(separator: " ")
        var lines = ["\(allowed ? "allowed" : "denied"): \(command)", "  rule: \(ruleId)", "  reason: \(reason)"]
        lines.append("  context: \(securityContext)" + (tenant.map { ", tenant: \($0)" } ?? ""))
        lines.append("  policy: \(policyDigest)")
        guard let explain else { return lines.joined(separator: "\n") }
        if let parsed = explain.parsed {
            lines.append("parse:")
            let global = parsed.options.filter(\.isGlobal)
            let own = parsed.options.filter { !$0.isGlobal }
            lines.append("  global options: " + (global.isEmpty ? "none" : global.map(Self.describe).joined(separator: " ")))
            lines.append("  subcommand: " + (parsed.subcommandPath.isEmpty ? "none" : parsed.subcommand))
            lines.append("  options: " + (own.isEmpty ? "none" : own.map(Self.describe).joined(separator: " ")))
            lines.append("  positionals: " + (parsed.positionals.isEmpty ? "none" : parsed.positionals.map { "'\($0)'" }.joined(separator: " ")))
        }
        if !explain.rules.isEmpty {
            lines.append("rules:")
            for rule in explain.rules {
                let mark = rule.ruleID == ruleId && rule.matched ? "  <- decided" : ""
                lines.append("  \(rule.effect.padding(toLength: 5, withPad: " ", startingAt: 0)) \(rule.ruleID) (\(rule.context)): \(rule.matched ? "matches" : "no match")\(mark)")
            }
        }
        return lines.joined(separator: "\n")
    }

    public static func describe(_ option: ParsedOption) -> String {
        var text = option.negated ? "no-\(option.name)" : option.name
        if let value = option.value { text += "='\(value)'" }
        return text + (option.spelling.hasPrefix("-") ? " [\(option.spelling)]" : "")
    }
}
