import AirlockPolicy
import Foundation

/// A CLI tool a tenant registered at run time, with the gateway's fields (`POST /v1/cli-tools`).
public struct RegisteredTool: Codable, Sendable, Equatable {
    public var name: String
    public var tenantId: String
    public var description: String
    public var dockerImage: String
    public var allowedSubcommands: [String]
    public var requireSemanticJudge: Bool
    public var defaultTimeoutSeconds: Int
    /// The policy tool whose grammar, container and deny rules it borrows.
    public var grammar: String
    public var registeredAt: Date
    /// The secrets of its base tool it accepts, by name; nil or empty: none (a tenant's image gets
    /// no credential it did not ask for at registration).
    public var secrets: [String]?
    /// Endpoints it may reach, within its base tool's egress; nil: its base tool's.
    public var egress: [EgressRule]?

    public init(
        name: String, tenantId: String, description: String, dockerImage: String, allowedSubcommands: [String],
        requireSemanticJudge: Bool, defaultTimeoutSeconds: Int, grammar: String, registeredAt: Date = Date(), secrets: [String]? = nil,
        egress: [EgressRule]? = nil
    ) {
        self.secrets = secrets
        self.egress = egress
        self.name = name
        self.tenantId = tenantId
        self.description = description
        self.dockerImage = dockerImage
        self.allowedSubcommands = allowedSubcommands
        self.requireSemanticJudge = requireSemanticJudge
        self.defaultTimeoutSeconds = defaultTimeoutSeconds
        self.grammar = grammar
        self.registeredAt = registeredAt
    }

    /// Stored as JSON in `airlock_cli_tools.definition`, under these names.
    enum CodingKeys: String, CodingKey {
        case name, tenantId = "tenant_id", description, dockerImage = "docker_image", allowedSubcommands = "allowed_subcommands"
        case requireSemanticJudge = "require_semantic_judge", defaultTimeoutSeconds = "default_timeout_seconds", grammar
        case registeredAt = "registered_at", secrets, egress
    }

    /// Its `CliToolRegistered` event.
    public var registeredEvent: CliToolRegistered {
        CliToolRegistered(
            name: name, dockerImage: dockerImage, registeredAt: registeredAt, tenantId: tenantId, description: description,
            allowedSubcommands: allowedSubcommands, grammar: grammar, requireSemanticJudge: requireSemanticJudge)
    }
}

/// What a registration did.
public enum RegistrationOutcome: Sendable, Equatable {
    case registered
    /// The tenant already has a tool of that name; it is not replaced.
    case nameTaken
    /// The tenant has as many tools as the policy allows.
    case limitReached
}

/// Registered tools, per tenant, in the same database as the audit trail (table `airlock_cli_tools`).
/// A registration and its `CliToolRegistered` event commit together, or neither does.
public protocol ToolRegistryStore: AnyObject, Sendable {
    func register(_ tool: RegisteredTool, limit: Int) async throws(EventStoreError) -> RegistrationOutcome
    /// The tenant's tools, by name.
    func registeredTools(tenantID: String) async throws(EventStoreError) -> [RegisteredTool]
    /// Removes the tenant's tool; false when it has none of that name.
    func removeRegisteredTool(name: String, tenantID: String) async throws(EventStoreError) -> Bool
}

extension ToolRegistryStore {
    public func registeredTool(name: String, tenantID: String) async throws(EventStoreError) -> RegisteredTool? {
        try await registeredTools(tenantID: tenantID).first { $0.name == name }
    }
}

extension RegisteredTool {
    /// The stored form: the whole definition as JSON.
    var definitionJSON: String { (try? EventJSON.encode(self)) ?? "{}" }

    init(definitionJSON: String) throws(EventStoreError) {
        do {
            self = try EventJSON.decoder.decode(RegisteredTool.self, from: Data(definitionJSON.utf8))
        } catch {
            throw EventStoreError("a stored tool definition is unreadable: \(error)")
        }
    }
}
