import AirlockCommandLine
import AirlockPolicy
import ArgumentParser

extension PolicyCommand {
    /// `airlock policy diff OLD NEW`: what changes between two policies, in their definitions and
    /// in the decisions they make over a probe set generated from their grammars and rules.
    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff",
            abstract: "Compare two policies: tools, contexts, tenants and rules changed, and the decisions that differ.",
            discussion: """
                Both policies judge one probe set generated from their grammars and rules (every command of every tool, \
                each option alone with values drawn from the rules' patterns, each positional the rules name; in every \
                context, with and without each tenant), as the worker would judge it. Exit status: 0 no decision differs, \
                1 some are newly allowed or denied, 2 a policy does not load or --context/--tool is in neither, 64 bad usage.
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

        @Argument(help: "The policy in force.")
        var old: String

        @Argument(help: "The policy that would replace it.")
        var new: String

        @Option(help: "Probe only this security context.")
        var context: String?

        @Option(help: "Probe only this tool.")
        var tool: String?

        @Option(help: "text or json.")
        var format: Format = .text

        func run() throws {
            // Both are loaded before either is reported, so every error of both is shown at once.
            var policies: [Policy] = []
            var failed = false
            for path in [old, new] {
                do {
                    policies.append(try PolicyFiles.loader.load(path: path))
                } catch {
                    PolicyFiles.report(error)
                    StandardError.print("\(path): the policy does not load (\(error.errors.count) error\(error.errors.count == 1 ? "" : "s"))")
                    failed = true
                }
            }
            if failed { throw ExitStatus.error }
            let structural = PolicyDiff.structural(policies[0], policies[1], profileDigest: Self.profileDigest)
            let decisions: DecisionDiff
            do {
                decisions = try PolicyDiff.decisions(policies[0], policies[1], context: context, tool: tool)
            } catch {
                StandardError.print("airlock: \(error)")
                throw ExitStatus.error
            }
            let report = PolicyDiffReport(structural: structural, decisions: decisions)
            switch format {
            case .text: print(report.text())
            case .json: print(try report.json())
            }
            if decisions.differ > 0 { throw ExitCode(1) }
        }

        /// The sha256 of a seccomp profile's bytes; the loader has just read and compiled it.
        static func profileDigest(_ path: String) -> String? {
            (try? PolicyFiles.readBytes(path)).map(PolicyDigest.sha256)
        }
    }
}

/// A policy diff as operators and scripts read it.
struct PolicyDiffReport {
    var structural: StructuralDiff
    var decisions: DecisionDiff

    /// Changes by (context, tool, subcommand), in that order, each group's argv in probe order.
    static func groups(_ changes: [DecisionChange]) -> [(key: String, changes: [DecisionChange])] {
        var order: [String] = []
        var byKey: [String: [DecisionChange]] = [:]
        for change in changes {
            let key = "\(change.placement.context)  \(([change.command.tool] + change.command.path).joined(separator: " "))"
            if byKey[key] == nil { order.append(key) }
            byKey[key, default: []].append(change)
        }
        return order.sorted().map { ($0, byKey[$0]!) }
    }

    static func describe(_ decision: Decision) -> String {
        "\(decision.allowed ? "allow" : "deny") (\(decision.ruleID))"
    }

    static func tenant(_ name: String?) -> String { name.map { "tenant \($0)" } ?? "no tenant" }

    func text() -> String {
        var lines: [String] = []
        let sections: [(String, [EntryChange])] = [
            ("tool", structural.tools), ("context", structural.contexts), ("tenant", structural.tenants), ("rule", structural.rules),
        ]
        if structural.isEmpty {
            lines.append("structure: no change")
        } else {
            lines.append("structure:")
            if !structural.policy.isEmpty {
                lines.append("  policy: changed")
                lines += structural.policy.map(Self.field)
            }
            for (what, entries) in sections {
                for entry in entries {
                    lines.append("  \(what) \(entry.name): \(entry.kind.rawValue)")
                    lines += entry.fields.map(Self.field)
                }
            }
        }
        // The same change in several tenants is one line, naming them.
        for (title, kind) in [("newly allowed", DecisionChange.Kind.newlyAllowed), ("newly denied", .newlyDenied)] {
            let changes = decisions.changes.filter { $0.kind == kind }
            guard !changes.isEmpty else { continue }
            lines.append("\(title): \(changes.count)")
            for (key, group) in Self.groups(changes) {
                lines.append("  \(key)")
                var order: [String] = []
                var tenants: [String: [String]] = [:]
                for change in group {
                    let line = "    \(change.argv.joined(separator: " ")): \(Self.describe(change.before)) -> \(Self.describe(change.after))"
                    if tenants[line] == nil { order.append(line) }
                    tenants[line, default: []].append(Self.tenant(change.placement.tenant))
                }
                lines += order.map { "\($0)  [\(tenants[$0]!.joined(separator: ", "))]" }
            }
        }
        // Another rule with the same outcome changes nothing that runs: counted by rules, not listed.
        let ruleChanged = decisions.ruleChanged
        if !ruleChanged.isEmpty {
            lines.append("same outcome, another rule: \(ruleChanged.count)")
            for (key, group) in Self.groups(ruleChanged) {
                var counts: [String: Int] = [:]
                for change in group { counts["\(Self.describe(change.before)) -> \(Self.describe(change.after))", default: 0] += 1 }
                for (rules, count) in counts.sorted(by: { $0.key < $1.key }) {
                    lines.append("  \(key): \(rules): \(count) argv")
                }
            }
        }
        let contexts = decisions.contexts.count
        lines.append(
            "probed \(decisions.probed) argv in \(contexts) context\(contexts == 1 ? "" : "s"): \(decisions.differ) decision\(decisions.differ == 1 ? "" : "s") differ"
                + " (\(decisions.newlyAllowed.count) newly allowed, \(decisions.newlyDenied.count) newly denied)"
                + (ruleChanged.isEmpty ? "" : "; \(ruleChanged.count) by another rule"))
        return lines.joined(separator: "\n")
    }

    static func field(_ change: FieldChange) -> String {
        "    \(change.field): \(change.before ?? "(none)") -> \(change.after ?? "(none)")"
    }

    struct JSONReport: Encodable {
        struct Field: Encodable {
            var field: String
            var before: String?
            var after: String?
        }
        struct Entry: Encodable {
            var name: String
            var change: String
            var fields: [Field]
        }
        struct Structural: Encodable {
            var policy: [Field]
            var tools: [Entry]
            var contexts: [Entry]
            var tenants: [Entry]
            var rules: [Entry]
        }
        struct Verdict: Encodable {
            var allowed: Bool
            var ruleId: String
            var reason: String
        }
        struct Change: Encodable {
            var change: String
            var context: String
            var tenant: String?
            var tool: String
            var subcommand: String
            var argv: [String]
            var before: Verdict
            var after: Verdict
        }
        struct Summary: Encodable {
            var probed: Int
            var contexts: Int
            var differ: Int
            var newlyAllowed: Int
            var newlyDenied: Int
            var ruleChanged: Int
        }
        var structural: Structural
        var decisions: [Change]
        var summary: Summary
    }

    func json() throws -> String {
        func fields(_ changes: [FieldChange]) -> [JSONReport.Field] {
            changes.map { .init(field: $0.field, before: $0.before, after: $0.after) }
        }
        func entries(_ changes: [EntryChange]) -> [JSONReport.Entry] {
            changes.map { .init(name: $0.name, change: $0.kind.rawValue, fields: fields($0.fields)) }
        }
        func verdict(_ decision: Decision) -> JSONReport.Verdict {
            .init(allowed: decision.allowed, ruleId: decision.ruleID, reason: decision.reason)
        }
        let report = JSONReport(
            structural: .init(
                policy: fields(structural.policy), tools: entries(structural.tools), contexts: entries(structural.contexts),
                tenants: entries(structural.tenants), rules: entries(structural.rules)),
            decisions: decisions.changes.map { change in
                .init(
                    change: change.kind.rawValue, context: change.placement.context, tenant: change.placement.tenant,
                    tool: change.command.tool, subcommand: change.command.path.joined(separator: " "), argv: change.argv,
                    before: verdict(change.before), after: verdict(change.after))
            },
            summary: .init(
                probed: decisions.probed, contexts: decisions.contexts.count, differ: decisions.differ,
                newlyAllowed: decisions.newlyAllowed.count, newlyDenied: decisions.newlyDenied.count,
                ruleChanged: decisions.ruleChanged.count))
        return try DecisionReport.snakeCaseJSON(report)
    }
}
