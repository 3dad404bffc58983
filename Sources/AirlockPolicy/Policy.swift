/// A loaded, validated policy: the tools, the security contexts with their rules, and the tenants.
public struct Policy: Sendable {
    /// The file it was loaded from.
    public var file: String
    /// `sha256:<hex>` of the canonical content of the policy and its grammars.
    public var digest: String
    public var argumentLimits: ArgumentLimits
    public var tools: [String: ToolPolicy]
    public var contexts: [String: SecurityContext]
    public var tenants: [String: Tenant]
    /// What tenants may register at run time; nil: nothing.
    public var registry: RegistryPolicy?

    public init(
        file: String, digest: String, argumentLimits: ArgumentLimits, tools: [String: ToolPolicy],
        contexts: [String: SecurityContext], tenants: [String: Tenant], registry: RegistryPolicy? = nil
    ) {
        self.registry = registry
        self.file = file
        self.digest = digest
        self.argumentLimits = argumentLimits
        self.tools = tools
        self.contexts = contexts
        self.tenants = tenants
    }
}

extension Policy {
    /// What `policy check` and `doctor` warn of: each tool whose container has a network of its own
    /// (`unrestricted: true`), which no allow-list filters.
    public var warnings: [String] {
        tools.keys.sorted().compactMap { name in
            let container = tools[name]!.container
            guard container.unrestricted else { return nil }
            return "tool '\(name)' is unrestricted: its container is on network '\(container.network)', which reaches whatever that network reaches, unfiltered and unrecorded"
        }
    }
}

/// Bounds on the argv a caller may send; past them the judge denies before parsing.
public struct ArgumentLimits: Sendable, Hashable, Codable {
    /// Most arguments in argv (subcommand included).
    public var maxCount: Int
    /// Most bytes in one argument.
    public var maxBytes: Int

    public init(maxCount: Int, maxBytes: Int) {
        self.maxCount = maxCount
        self.maxBytes = maxBytes
    }

    public static let `default` = ArgumentLimits(maxCount: 256, maxBytes: 8192)
}

/// A tool the policy allows to be run: its grammar and the container it runs in.
public final class ToolPolicy: Sendable {
    public let name: String
    /// The grammar file, as written in the policy.
    public let grammarFile: String
    public let grammar: ToolGrammar
    public let parser: ArgvParser
    public let container: ContainerSpec
    public let argumentLimits: ArgumentLimits
    /// Who builds the tool's image: `images/build`, or the operator (an image Airlock cannot ship).
    public let imageProvider: ImageProvider

    public init(
        name: String, grammarFile: String, grammar: ToolGrammar, container: ContainerSpec, argumentLimits: ArgumentLimits,
        imageProvider: ImageProvider = .airlock
    ) {
        self.imageProvider = imageProvider
        self.name = name
        self.grammarFile = grammarFile
        self.grammar = grammar
        self.parser = ArgvParser(tool: name, grammar: grammar)
        self.container = container
        self.argumentLimits = argumentLimits
    }
}

/// Who provides a tool's image. A missing image Airlock builds is a fault of the installation; a
/// missing image the operator provides is a tool not installed yet, and `doctor` says which.
public enum ImageProvider: String, Sendable, Hashable, CaseIterable {
    case airlock
    case `operator`
}

/// What the container of a tool is made of. It comes from the policy, never from the caller.
public struct ContainerSpec: Sendable, Hashable, Codable {
    /// A pinned image reference: a tag other than `latest`, or a digest.
    public var image: String
    public var entrypoint: [String]
    public var timeoutSeconds: Double
    /// `none` unless the policy explicitly names another network.
    public var network: String
    /// Seccomp profile path, resolved against the policy file's directory.
    public var seccompProfile: String
    /// OCI runtime (`runc`, `crun`, `runsc`), or nil for the engine's default.
    public var runtime: String?
    /// The only environment the tool sees.
    public var environment: [String: String]
    public var resources: ResourceLimits
    public var mountRoots: [MountRoot]
    /// The secrets a caller may hand in, by name, sorted: each reaches the tool as the policy says.
    public var secrets: [SecretDeclaration]
    /// The endpoints the tool may reach through Airlock's egress proxy (`network` stays `none`);
    /// nil: none at all.
    public var egress: EgressAllowList?
    /// `unrestricted: true`: the policy means a `network` other than `none`, unfiltered.
    public var unrestricted: Bool

    public init(
        image: String, entrypoint: [String], timeoutSeconds: Double, network: String, seccompProfile: String,
        runtime: String?, environment: [String: String], resources: ResourceLimits, mountRoots: [MountRoot],
        secrets: [SecretDeclaration] = [], egress: EgressAllowList? = nil, unrestricted: Bool = false
    ) {
        self.secrets = secrets.sorted { $0.name < $1.name }
        self.egress = egress
        self.unrestricted = unrestricted
        self.image = image
        self.entrypoint = entrypoint
        self.timeoutSeconds = timeoutSeconds
        self.network = network
        self.seccompProfile = seccompProfile
        self.runtime = runtime
        self.environment = environment
        self.resources = resources
        self.mountRoots = mountRoots
    }
}

/// Resource limits of a tool's container. The defaults are the hardened ones of DESIGN.md.
public struct ResourceLimits: Sendable, Hashable, Codable {
    public var memoryBytes: Int64 = 512 << 20
    public var pids: Int = 128
    public var cpus: Double = 1
    public var openFiles: Int = 1024
    public var processes: Int = 128
    public var tmpfsBytes: Int64 = 64 << 20

    public init() {}
}

/// A host directory under which callers may mount paths into the tool's container.
public struct MountRoot: Sendable, Hashable, Codable {
    public var path: String
    /// Whether mounts under it may be writable; read-only otherwise.
    public var writable: Bool

    public init(path: String, writable: Bool) {
        self.path = path
        self.writable = writable
    }
}

/// A named set of allow and deny rules, with those of the contexts it extends.
public final class SecurityContext: Sendable {
    public let name: String
    public let description: String
    /// Direct parents, as written.
    public let extends: [String]
    /// Own and inherited rules, parents' first, each with the context that defined it.
    public let allowRules: [Rule]
    public let denyRules: [Rule]
    private let allowByTool: [String: [Rule]]
    private let denyByTool: [String: [Rule]]

    public init(name: String, description: String, extends: [String], allowRules: [Rule], denyRules: [Rule]) {
        self.name = name
        self.description = description
        self.extends = extends
        self.allowRules = allowRules
        self.denyRules = denyRules
        self.allowByTool = Self.index(allowRules)
        self.denyByTool = Self.index(denyRules)
    }

    private static func index(_ rules: [Rule]) -> [String: [Rule]] {
        var byTool: [String: [Rule]] = [:]
        for rule in rules {
            for tool in rule.tools { byTool[tool, default: []].append(rule) }
        }
        return byTool
    }

    public func allowRules(for tool: String) -> [Rule] { allowByTool[tool] ?? [] }
    public func denyRules(for tool: String) -> [Rule] { denyByTool[tool] ?? [] }
}

/// Who may use which contexts and tools.
public struct Tenant: Sendable, Hashable {
    public var name: String
    public var contexts: Set<String>
    /// nil: every tool of the policy.
    public var tools: Set<String>?

    public init(name: String, contexts: Set<String>, tools: Set<String>?) {
        self.name = name
        self.contexts = contexts
        self.tools = tools
    }
}
