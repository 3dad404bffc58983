/// The structural half of `airlock policy diff`: tools, contexts, tenants and rules added, removed
/// or changed, and what changed in each.
extension PolicyDiff {
    /// Compares the definitions of two policies.
    ///
    /// Each entry is described as named fields (a tool's image, each environment variable, each
    /// limit, each mount, each command and option of its grammar; a rule's context, effect, tools,
    /// subcommands, conditions and reason) and the fields whose description differs are reported.
    /// Files are compared by what they say, not where they are: a grammar by its commands and
    /// options, a seccomp profile by its digest when `profileDigest` gives one.
    ///
    /// - Parameter profileDigest: the digest of a seccomp profile's content, by its path; nil where
    ///   unknown (the path is compared then). The caller reads the files: this module does no I/O.
    public static func structural(
        _ old: Policy, _ new: Policy, profileDigest: (String) -> String? = { _ in nil }
    ) -> StructuralDiff {
        StructuralDiff(
            policy: fieldChanges(policyFields(old), policyFields(new)),
            tools: entryChanges(old.tools, new.tools) { toolFields($0, profileDigest) },
            contexts: entryChanges(old.contexts, new.contexts, contextFields),
            tenants: entryChanges(old.tenants, new.tenants, tenantFields),
            rules: entryChanges(rulesByID(old), rulesByID(new), ruleFields))
    }

    /// Fields as (name, description) pairs, in the order they are reported.
    typealias Fields = [(name: String, value: String)]

    static func entryChanges<Entry>(
        _ old: [String: Entry], _ new: [String: Entry], _ fields: (Entry) -> Fields
    ) -> [EntryChange] {
        Set(old.keys).union(new.keys).sorted().compactMap { name in
            switch (old[name], new[name]) {
            case (nil, _?): return EntryChange(name: name, kind: .added, fields: [])
            case (_?, nil): return EntryChange(name: name, kind: .removed, fields: [])
            case let (before?, after?):
                let changes = fieldChanges(fields(before), fields(after))
                return changes.isEmpty ? nil : EntryChange(name: name, kind: .changed, fields: changes)
            case (nil, nil): return nil
            }
        }
    }

    /// The fields whose description differs, in the order of the old fields, then the new ones.
    static func fieldChanges(_ old: Fields, _ new: Fields) -> [FieldChange] {
        let before = Dictionary(old.map { ($0.name, $0.value) }) { first, _ in first }
        let after = Dictionary(new.map { ($0.name, $0.value) }) { first, _ in first }
        var seen: Set<String> = []
        return (old + new).compactMap { field in
            guard seen.insert(field.name).inserted, before[field.name] != after[field.name] else { return nil }
            return FieldChange(field: field.name, before: before[field.name], after: after[field.name])
        }
    }

    static func policyFields(_ policy: Policy) -> Fields {
        var fields: Fields = [
            ("arguments.max_count", "\(policy.argumentLimits.maxCount)"), ("arguments.max_bytes", "\(policy.argumentLimits.maxBytes)"),
        ]
        if let registry = policy.registry {
            fields += [
                ("registry.tools", Canonical.list(Array(registry.baseTools))),
                ("registry.images", Canonical.list(registry.images.map(\.pattern))),
                ("registry.max_per_tenant", "\(registry.maxPerTenant)"),
                ("registry.allow_unjudged", "\(registry.allowUnjudged)"),
            ]
        } else {
            fields.append(("registry", "none: no tool may be registered"))
        }
        return fields
    }

    static func toolFields(_ tool: ToolPolicy, _ profileDigest: (String) -> String?) -> Fields {
        let container = tool.container
        let limits = container.resources
        var fields: Fields = [
            ("image", container.image),
            ("image_provided_by", tool.imageProvider.rawValue),
            ("entrypoint", Canonical.sequence(container.entrypoint)),
            ("timeout", seconds(container.timeoutSeconds)),
            ("network", container.network),
            ("unrestricted", "\(container.unrestricted)"),
            ("egress", container.egress.map { Canonical.list($0.rules.map(\.description)) } ?? "none: no network"),
            // What the profile says, not where it lives: a copy of the policy elsewhere is no change.
            ("seccomp", profileDigest(container.seccompProfile) ?? container.seccompProfile),
            ("runtime", container.runtime ?? "the engine's default"),
        ]
        fields += container.environment.keys.sorted().map { ("environment.\($0)", Canonical.item(container.environment[$0]!)) }
        fields += [
            ("limits.memory", bytes(limits.memoryBytes)), ("limits.pids", "\(limits.pids)"), ("limits.cpus", number(limits.cpus)),
            ("limits.nofile", "\(limits.openFiles)"), ("limits.nproc", "\(limits.processes)"), ("limits.tmpfs", bytes(limits.tmpfsBytes)),
        ]
        fields += container.mountRoots.sorted { $0.path < $1.path }.map { ("mounts.\($0.path)", $0.writable ? "writable" : "read-only") }
        fields += container.secrets.map { ("secrets.\($0.name)", secretDescription($0.delivery)) }
        fields += [
            ("arguments.max_count", "\(tool.argumentLimits.maxCount)"), ("arguments.max_bytes", "\(tool.argumentLimits.maxBytes)"),
        ]
        return fields + grammarFields(tool.name, tool.grammar)
    }

    /// `env GH_TOKEN`, `file /run/secrets/kubeconfig mode 0400`.
    static func secretDescription(_ delivery: SecretDeclaration.Delivery) -> String {
        switch delivery {
        case let .environment(name): "env \(name)"
        case let .file(path, mode): "file \(path) mode 0\(String(mode, radix: 8))"
        }
    }

    /// The grammar's settings, each command (`command 'git remote add'`) and each option of each
    /// command (`option 'git push' force`, its synopsis as the grammar writes it).
    static func grammarFields(_ tool: String, _ grammar: ToolGrammar) -> Fields {
        var fields: Fields = [
            ("grammar.description", grammar.description), ("grammar.style", grammar.style.rawValue),
            ("grammar.abbreviations", grammar.abbreviations.rawValue),
            ("grammar.global_options_anywhere", "\(grammar.globalOptionsAnywhere)"),
            ("grammar.options_after_positionals", "\(grammar.optionsAfterPositionals)"),
            ("grammar.anywhere_flags", Canonical.list(Array(grammar.anywhereFlags))),
        ]
        for node in grammar.allCommands {
            let shown = "'" + ([tool] + node.path).joined(separator: " ") + "'"
            var traits = [node.runnable ? "runnable" : "needs a subcommand", "positionals: \(node.positionalKind.rawValue)"]
            if !node.aliases.isEmpty { traits.append("aliases: \(Canonical.list(node.aliases))") }
            if let number = node.numberOption { traits.append("-<number>: \(number)") }
            fields.append(("command \(shown)", traits.joined(separator: ", ")))
            for spec in node.options.specs.sorted(by: { $0.name < $1.name }) {
                fields.append(("option \(shown) \(spec.name)", spec.synopsis + (spec.valueKind == .path ? " (a path)" : "")))
            }
        }
        return fields
    }

    static func contextFields(_ context: SecurityContext) -> Fields {
        [("description", context.description), ("extends", Canonical.list(context.extends))]
    }

    static func tenantFields(_ tenant: Tenant) -> Fields {
        [("contexts", Canonical.list(Array(tenant.contexts))), ("tools", tenant.tools.map { Canonical.list(Array($0)) } ?? "every tool")]
    }

    /// Each rule once, from the context that defines it (the others only inherit it).
    static func rulesByID(_ policy: Policy) -> [String: Rule] {
        var rules: [String: Rule] = [:]
        for context in policy.contexts.values {
            for rule in context.denyRules + context.allowRules where rule.context == context.name { rules[rule.id] = rule }
        }
        return rules
    }

    static func ruleFields(_ rule: Rule) -> Fields {
        [
            ("context", rule.context),
            ("effect", rule.effect.rawValue),
            ("tools", Canonical.list(Array(rule.tools))),
            ("subcommands", rule.subcommands.map { Canonical.list($0.map(\.description)) } ?? "every subcommand"),
            ("conditions", rule.conditions.isEmpty ? "none" : rule.conditions.map(\.description).sorted().joined(separator: "; ")),
            ("reason", rule.reason),
        ]
    }

    /// `512m`, `1g`: as the policy file writes limits, when the size is a whole number of them.
    static func bytes(_ count: Int64) -> String {
        for (unit, shift) in [("g", 30), ("m", 20), ("k", 10)] where count >= 1 << shift && count % (1 << shift) == 0 {
            return "\(count >> shift)\(unit)"
        }
        return "\(count)"
    }

    static func seconds(_ value: Double) -> String { number(value) + "s" }

    /// `60`, `0.5`: without a fractional part when there is none.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? "\(Int64(value))" : "\(value)"
    }
}

/// Tools, contexts, tenants and rules added, removed or changed, and policy-wide settings changed.
public struct StructuralDiff: Sendable, Hashable {
    /// Settings of the whole policy: argument limits, the registry.
    public var policy: [FieldChange]
    public var tools: [EntryChange]
    public var contexts: [EntryChange]
    public var tenants: [EntryChange]
    /// By rule id.
    public var rules: [EntryChange]

    public var isEmpty: Bool { policy.isEmpty && tools.isEmpty && contexts.isEmpty && tenants.isEmpty && rules.isEmpty }
}

/// A tool, context, tenant or rule that one policy has and the other has not, or has otherwise.
public struct EntryChange: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case added, removed, changed }

    public var name: String
    public var kind: Kind
    /// What changed; empty for an entry added or removed.
    public var fields: [FieldChange]
}

/// One field of an entry, as each policy describes it; nil where that policy has no such field
/// (an environment variable, mount, command or option added or removed).
public struct FieldChange: Sendable, Hashable {
    public var field: String
    public var before: String?
    public var after: String?
}
