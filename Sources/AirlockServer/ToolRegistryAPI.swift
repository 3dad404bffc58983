import AirlockEvents
import AirlockPolicy
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// `/v1/cli-tools`: tools registered at run time, per tenant, with the gateway's fields. A tenant sees
/// and invokes its own tools and the global ones (the policy's), never another tenant's, and cannot
/// replace a global tool or another tenant's.
extension WorkerAPI {
    static let toolKeys: Set<String> = [
        "name", "description", "docker_image", "allowed_subcommands", "require_semantic_judge", "default_timeout_seconds", "grammar",
        "tenant_id", "secrets", "egress",
    ]

    var registry: any ToolRegistryStore {
        get throws(APIError) {
            guard let registry = store as? any ToolRegistryStore else {
                throw APIError(.serviceUnavailable, code: "audit_store_unavailable", "the store is unavailable: \(store.location)")
            }
            return registry
        }
    }

    @Sendable func registerTool(_ request: Request, context: Context) async throws -> Response {
        let object = try StrictObject(try JSONValue.parse(try await readBody(request).readableBytesView), path: "", keys: Self.toolKeys)
        let policy = self.policy.judge.policy
        let tenantID = try object.requiredString("tenant_id", nonEmpty: true)
        context.facts.update { $0.tenantID = tenantID }
        guard let tenant = policy.tenants[tenantID] else { throw APIError.notFound("tenant_id", "unknown tenant '\(tenantID)'") }
        guard let rules = policy.registry else {
            throw APIError(.forbidden, code: "registry_disabled", "this policy does not let tenants register tools (it has no registry section)")
        }
        let name = try object.requiredString("name", nonEmpty: true)
        guard ToolName.isValid(name) else {
            throw APIError.invalid("name", "must be 1 to 64 letters, digits, '-' and '_', starting with a letter")
        }
        if policy.tools[name] != nil {
            throw APIError(.conflict, code: "global_tool", "'\(name)' is a global tool of the policy; it cannot be replaced", field: "name")
        }
        let grammar = try object.requiredString("grammar", nonEmpty: true)
        guard rules.baseTools.contains(grammar), let base = policy.tools[grammar] else {
            throw APIError.invalid("grammar", "'\(grammar)' is not a tool registered tools may be based on (allowed: \(rules.baseTools.sorted().joined(separator: ", ")))")
        }
        if let tools = tenant.tools, !tools.contains(grammar) {
            throw APIError(.forbidden, code: "tenant_tool", "tenant '\(tenantID)' may not use tool '\(grammar)'", field: "grammar")
        }
        let image = try object.requiredString("docker_image", nonEmpty: true)
        if let problem = rules.imageProblem(image) { throw APIError.invalid("docker_image", problem) }
        guard let subcommands = try object.strings("allowed_subcommands"), !subcommands.isEmpty else {
            throw APIError.invalid("allowed_subcommands", "name at least one subcommand, e.g. [\"log\", \"remote show\"]")
        }
        for (index, subcommand) in subcommands.enumerated() {
            let words = InvocationBody.words(subcommand)
            guard !words.isEmpty, base.grammar.command(at: words) != nil else {
                throw APIError.invalid("allowed_subcommands[\(index)]", "'\(subcommand)' is not a subcommand of the \(grammar) grammar")
            }
        }
        let maximumTimeout = Int(base.container.timeoutSeconds.rounded(.down))
        let timeout = try object.integer("default_timeout_seconds").map(Int.init) ?? maximumTimeout
        guard (1...max(1, maximumTimeout)).contains(timeout) else {
            throw APIError.invalid("default_timeout_seconds", "must be from 1 to \(maximumTimeout) (the \(grammar) tool's timeout)")
        }
        let secrets = try object.strings("secrets") ?? []
        for (index, secret) in secrets.enumerated() where !base.container.secrets.contains(where: { $0.name == secret }) {
            let declared = base.container.secrets.map(\.name)
            throw APIError.invalid(
                "secrets[\(index)]",
                "'\(secret)' is not a secret of the \(grammar) tool (\(declared.isEmpty ? "it declares none" : "it declares: " + declared.joined(separator: ", ")))")
        }
        let description = try object.string("description") ?? ""
        guard description.utf8.count <= 1024 else { throw APIError.invalid("description", "must be at most 1024 bytes") }

        let requireSemanticJudge = try object.bool("require_semantic_judge") ?? true
        if !requireSemanticJudge && !rules.allowUnjudged {
            throw APIError(
                .forbidden, code: "judge_required",
                "this policy requires the semantic judge for registered tools (registry.allow_unjudged is not set)", field: "require_semantic_judge")
        }
        let egress = try Self.egressRules(object, base: base)
        let tool = RegisteredTool(
            name: name, tenantId: tenantID, description: description, dockerImage: image, allowedSubcommands: subcommands,
            requireSemanticJudge: requireSemanticJudge, defaultTimeoutSeconds: timeout, grammar: grammar,
            secrets: secrets.isEmpty ? nil : Array(Set(secrets)).sorted(), egress: egress)
        let outcome: RegistrationOutcome
        let registry = try self.registry
        do {
            outcome = try await registry.register(tool, limit: rules.maxPerTenant)
        } catch {
            throw APIError(.serviceUnavailable, code: "audit_store_unavailable", "the tool could not be registered: \(error.message)")
        }
        switch outcome {
        case .registered:
            logger.info("Tool registered", metadata: ["tenant_id": "\(tenantID)", "tool": "\(name)", "image": "\(image)"])
            return JSONResponse.make(status: .created, body: Self.describe(tool))
        case .nameTaken:
            throw APIError(.conflict, code: "already_registered", "tenant '\(tenantID)' already has a tool '\(name)'; delete it first", field: "name")
        case .limitReached:
            throw APIError(
                .conflict, code: "registry_limit", "tenant '\(tenantID)' has \(rules.maxPerTenant) registered tools, the policy's limit", field: "name")
        }
    }

    /// `egress`: `[{"host" | "cidr", "ports"}]`, each rule within the base tool's egress; absent:
    /// the base tool's.
    static func egressRules(_ object: StrictObject, base: ToolPolicy) throws(APIError) -> [EgressRule]? {
        guard let items = try object.array("egress") else { return nil }
        var rules: [EgressRule] = []
        for (index, item) in items.enumerated() {
            let field = "egress[\(index)]"
            let rule = try StrictObject(item, path: field, keys: ["host", "cidr", "ports"])
            let ports = try (rule.array("ports") ?? []).enumerated().map { (portIndex, port) throws(APIError) -> Int in
                guard case let .integer(value) = port, let port = Int(exactly: value) else {
                    throw APIError.invalid("\(field).ports[\(portIndex)]", "must be a port number")
                }
                return port
            }
            let host = try rule.string("host")
            let cidr = try rule.string("cidr")
            do {
                rules.append(try EgressRule.parse(host: host, cidr: cidr, ports: ports))
            } catch {
                throw APIError.invalid(field, error.message)
            }
        }
        let allowList: EgressAllowList
        do {
            allowList = try EgressAllowList(rules)
        } catch {
            throw APIError.invalid("egress", error.message)
        }
        guard let baseEgress = base.container.egress else {
            throw APIError.invalid("egress", "the \(base.name) tool has no egress: a tool registered on it cannot reach anything")
        }
        let beyond = allowList.rules(beyond: baseEgress)
        guard beyond.isEmpty else {
            throw APIError.invalid(
                "egress",
                "goes beyond the \(base.name) tool's egress (\(baseEgress.rules.map(\.description).joined(separator: "; "))): \(beyond.map(\.description).joined(separator: "; "))")
        }
        return rules
    }

    @Sendable func listTools(_ request: Request, context: Context) async throws -> Response {
        let policy = self.policy.judge.policy
        let tenantID = try ToolQuery.tenant(request, policy: policy)
        context.facts.update { $0.tenantID = tenantID }
        let global = policy.tools.values.filter { policy.tenants[tenantID]?.tools?.contains($0.name) ?? true }
            .sorted { $0.name < $1.name }.map(Self.describe)
        let own = try await registeredTools(tenantID).map(Self.describe)
        return JSONResponse.make(status: .ok, body: ["tools": .array(global + own)])
    }

    @Sendable func showTool(_ request: Request, context: Context) async throws -> Response {
        let policy = self.policy.judge.policy
        let tenantID = try ToolQuery.tenant(request, policy: policy)
        context.facts.update { $0.tenantID = tenantID }
        let name = try context.parameters.require("name")
        if let tool = policy.tools[name], policy.tenants[tenantID]?.tools?.contains(name) ?? true {
            return JSONResponse.make(status: .ok, body: Self.describe(tool))
        }
        guard let tool = try await registeredTools(tenantID).first(where: { $0.name == name }) else {
            throw APIError.notFound("name", "tenant '\(tenantID)' has no tool '\(name)'")
        }
        return JSONResponse.make(status: .ok, body: Self.describe(tool))
    }

    @Sendable func removeTool(_ request: Request, context: Context) async throws -> Response {
        let policy = self.policy.judge.policy
        let tenantID = try ToolQuery.tenant(request, policy: policy)
        context.facts.update { $0.tenantID = tenantID }
        let name = try context.parameters.require("name")
        if policy.tools[name] != nil {
            throw APIError(.forbidden, code: "global_tool", "'\(name)' is a global tool of the policy; only the policy file changes it", field: "name")
        }
        let removed: Bool
        let registry = try self.registry
        do {
            removed = try await registry.removeRegisteredTool(name: name, tenantID: tenantID)
        } catch {
            throw APIError(.serviceUnavailable, code: "audit_store_unavailable", "the registry cannot be changed: \(error.message)")
        }
        guard removed else { throw APIError.notFound("name", "tenant '\(tenantID)' has no tool '\(name)'") }
        logger.info("Tool removed", metadata: ["tenant_id": "\(tenantID)", "tool": "\(name)"])
        return JSONResponse.make(status: .ok, body: ["name": .string(name), "tenant_id": .string(tenantID), "removed": true])
    }

    /// The tenant's registered tool called `name`, if the policy has no tool of that name.
    func registeredTool(_ name: String, tenantID: String, policy: Policy) async throws(APIError) -> RegisteredTool? {
        guard policy.tools[name] == nil, policy.registry != nil else { return nil }
        return try await registeredTools(tenantID).first { $0.name == name }
    }

    private func registeredTools(_ tenantID: String) async throws(APIError) -> [RegisteredTool] {
        let registry = try self.registry
        do {
            return try await registry.registeredTools(tenantID: tenantID)
        } catch {
            throw APIError(.serviceUnavailable, code: "audit_store_unavailable", "the registry cannot be read: \(error.message)")
        }
    }

    static func describe(_ tool: ToolPolicy) -> JSONValue {
        .object([
            "name": .string(tool.name), "scope": "global", "docker_image": .string(tool.container.image),
            "grammar": .string(tool.name), "default_timeout_seconds": .integer(Int64(tool.container.timeoutSeconds)),
            "require_semantic_judge": true, "allowed_subcommands": .array(tool.grammar.root.subcommands.keys.sorted().map { .string($0) }),
            "description": .string(tool.grammar.description), "secrets": .array(tool.container.secrets.map { .string($0.name) }),
        ])
    }

    static func describe(_ tool: RegisteredTool) -> JSONValue {
        .object([
            "name": .string(tool.name), "scope": "tenant", "tenant_id": .string(tool.tenantId), "docker_image": .string(tool.dockerImage),
            "grammar": .string(tool.grammar), "default_timeout_seconds": .integer(Int64(tool.defaultTimeoutSeconds)),
            "require_semantic_judge": .bool(tool.requireSemanticJudge), "allowed_subcommands": .array(tool.allowedSubcommands.map { .string($0) }),
            "description": .string(tool.description), "registered_at": .string(Timestamp.rfc3339(tool.registeredAt)),
            "secrets": .array((tool.secrets ?? []).map { .string($0) }),
        ])
    }
}

/// `GET`/`DELETE /v1/cli-tools…` name their tenant as the events API does; nothing else is accepted.
enum ToolQuery {
    static func tenant(_ request: Request, policy: Policy) throws(APIError) -> String {
        for (key, _) in request.uri.queryParameters where key != "tenant_id" {
            throw APIError.invalid(APIError.fieldName(String(key)), "unknown query parameter; expected: tenant_id")
        }
        return try EventsQuery.tenant(of: request, policy: policy)
    }
}

/// Registered names go into container labels and events: a conservative alphabet.
enum ToolName {
    static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...64).contains(bytes.count), let first = bytes.first, (first | 0x20) >= 97 && (first | 0x20) <= 122 else { return false }
        return bytes.allSatisfy { ($0 | 0x20) >= 97 && ($0 | 0x20) <= 122 || (48...57).contains($0) || $0 == 45 || $0 == 95 }
    }
}
