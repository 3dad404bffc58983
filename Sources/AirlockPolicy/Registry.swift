/// What the policy lets tenants register at run time (`registry:` in the policy file). Without it,
/// no tool can be registered: the safe default.
public struct RegistryPolicy: Sendable, Hashable {
    /// Policy tools a registered tool may be based on: it borrows their grammar, their container
    /// (entrypoint, seccomp profile, limits, environment, mounts) and their deny rules.
    public var baseTools: Set<String>
    /// Globs the registered image must match (`airlock/*`); it must also be pinned.
    public var images: [Glob]
    /// Registered tools per tenant, at most.
    public var maxPerTenant: Int
    /// Whether a tool may be registered with `require_semantic_judge: false`, its own subcommand list
    /// then standing in for the context's allow rules. Off unless the policy says so: otherwise a
    /// tenant could register its way around the allow rules of its contexts.
    public var allowUnjudged: Bool

    public init(baseTools: Set<String>, images: [Glob], maxPerTenant: Int, allowUnjudged: Bool = false) {
        self.baseTools = baseTools
        self.images = images
        self.maxPerTenant = maxPerTenant
        self.allowUnjudged = allowUnjudged
    }

    /// Why `image` may not be registered, or nil when it may.
    public func imageProblem(_ image: String) -> String? {
        guard PolicyBuild.isPinned(image) else {
            return "docker_image '\(image)' must be pinned to a tag other than 'latest' or to a digest"
        }
        guard images.contains(where: { $0.matches(image) }) else {
            return "docker_image '\(image)' is not allowed by the policy's registry (allowed: \(images.map(\.description).joined(separator: ", ")))"
        }
        return nil
    }
}

/// A tool registered at run time, as the judge sees it: a name of its own, based on a policy tool,
/// narrowed to `allowedSubcommands`.
public struct RegisteredToolRules: Sendable, Hashable {
    public var name: String
    public var baseTool: String
    /// Subcommand paths (`log`, `remote show`); each also allows the paths below it.
    public var allowedSubcommands: [String]
    /// When true, the context's allow rules for the base tool must allow the command too; when
    /// false, `allowedSubcommands` is the allow list. The deny rules apply either way.
    public var requireSemanticJudge: Bool

    public init(name: String, baseTool: String, allowedSubcommands: [String], requireSemanticJudge: Bool) {
        self.name = name
        self.baseTool = baseTool
        self.allowedSubcommands = allowedSubcommands
        self.requireSemanticJudge = requireSemanticJudge
    }

    func allows(_ path: [String]) -> Bool {
        allowedSubcommands.contains { entry in
            let words = entry.split(separator: " ").map(String.init)
            return !words.isEmpty && path.count >= words.count && Array(path.prefix(words.count)) == words
        }
    }
}
