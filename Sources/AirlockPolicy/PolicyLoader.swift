import Dispatch
import Synchronization
import Yams

/// Loads and validates a policy file and the grammar files it names.
///
/// Reads files only through the injected `readFile`, so the module stays free of I/O.
/// Every problem is collected, with its file, line and column; a policy with any error is rejected whole.
public struct PolicyLoader: Sendable {
    public typealias FileReader = @Sendable (_ path: String) throws -> String

    private let readFile: FileReader

    public init(readFile: @escaping FileReader) {
        self.readFile = readFile
    }

    /// Reads the policy file and every grammar it names, and builds the whole policy from them.
    ///
    /// - Throws: `PolicyLoadError` with every error found; nothing else.
    public func load(path: String) throws(PolicyLoadError) -> Policy {
        let text: String
        do {
            text = try readFile(path)
        } catch {
            throw PolicyLoadError(errors: [
                PolicyError(.unreadableFile, "cannot read the policy file", at: SourceLocation(file: path, line: 0, column: 0), cause: "\(error)")
            ])
        }
        return try load(yaml: text, file: path)
    }

    /// Loads policy text; relative grammar and seccomp paths resolve against the file's directory.
    /// The whole policy, always: every tool, grammar and rule is built and checked, and the digest
    /// is computed from the files just read.
    ///
    /// - Throws: `PolicyLoadError` with every error found; nothing else.
    public func load(yaml text: String, file: String) throws(PolicyLoadError) -> Policy {
        var build = PolicyBuild(file: file, readFile: readFile)
        if let policy = build.run(text) { return policy }
        throw PolicyLoadError(errors: build.allErrors)
    }
}

/// One run of the loader: holds the readers and what was read so far.
struct PolicyBuild {
    let file: String
    let directory: String
    let readFile: PolicyLoader.FileReader
    let reader: YAMLReader
    var grammarErrors: [PolicyError] = []
    /// Grammar file path to its grammar and canonical form for the digest (nil when it failed).
    var grammars: [String: (grammar: ToolGrammar, canonical: [UInt8])?] = [:]
    /// Grammar files read ahead, in parallel, before the tools that name them are built.
    var prefetched: [String: GrammarFile] = [:]
    var ruleIDs: [String: SourceLocation] = [:]
    /// Tool name to every command of its grammar: each rule checks the names it uses against them.
    var commandsOfTool: [String: [CommandNode]] = [:]
    /// Each grammar file the tools name, resolved, and its text (nil: unreadable; its cause waits in `prefetched`).
    var grammarTexts: [(path: String, text: String?)] = []
    /// Tool name to its grammar file, resolved.
    var grammarPathOfTool: [String: String] = [:]

    init(file: String, readFile: @escaping PolicyLoader.FileReader) {
        self.file = file
        self.directory = Paths.directory(of: file)
        self.readFile = readFile
        self.reader = YAMLReader(file: file)
    }

    var allErrors: [PolicyError] { reader.errors + grammarErrors }

    static let topKeys = ["version", "description", "arguments", "tools", "contexts", "tenants", "registry"]
    static let toolKeys = [
        "description", "grammar", "image", "image_provided_by", "entrypoint", "timeout", "network", "seccomp", "runtime", "environment",
        "limits", "mounts", "arguments", "secrets", "egress", "unrestricted",
    ]
    static let contextKeys = ["description", "extends", "allow", "deny"]
    static let ruleKeys = ["id", "reason", "tool", "subcommand", "options", "option_values", "positionals", "resource_types", "paths", "examples"]

    mutating func run(_ text: String) -> Policy? {
        guard let document = reader.compose(text),
            let top = reader.fields(document, "the policy", allowed: Self.topKeys, required: ["version", "tools", "contexts"])
        else { return nil }
        if let node = top["version"], let version = reader.integer(node, "version"), version != 1 {
            reader.error(.invalidValue, "unsupported policy version \(version); this Airlock reads version 1", at: node)
        }
        let limits = top["arguments"].flatMap { argumentLimits($0, "arguments", inherited: .default) } ?? .default

        if let node = top["tools"] { readGrammarFiles(named: node) }
        prefetchGrammars(grammarTexts.map(\.path))
        var tools: [String: ToolPolicy] = [:]
        var grammarDocuments: [String: [UInt8]] = [:]
        if let node = top["tools"], let entries = reader.entries(node, "tools") {
            for (name, keyNode, value) in entries {
                guard OptionSpec.isValidName(Substring(name)) else {
                    reader.error(.invalidValue, "invalid tool name '\(name)'", at: keyNode)
                    continue
                }
                if let (tool, grammarDocument) = self.tool(name, value, limits: limits) {
                    tools[name] = tool
                    grammarDocuments[name] = grammarDocument
                }
            }
        }
        let knownTools = tools
        var definitions: [String: (fields: Fields, keyNode: Node)] = [:]
        var contextOrder: [String] = []
        if let node = top["contexts"], let entries = reader.entries(node, "contexts") {
            for (name, keyNode, value) in entries {
                guard let fields = reader.fields(value, "context '\(name)'", allowed: Self.contextKeys) else { continue }
                definitions[name] = (fields, keyNode)
                contextOrder.append(name)
            }
        }
        var ownRules: [String: (allow: [Rule], deny: [Rule])] = [:]
        for name in contextOrder {
            let fields = definitions[name]!.fields
            let allow = fields["allow"].map { rules($0, effect: .allow, context: name, tools: knownTools) } ?? []
            let deny = fields["deny"].map { rules($0, effect: .deny, context: name, tools: knownTools) } ?? []
            ownRules[name] = (allow, deny)
        }
        var contexts: [String: SecurityContext] = [:]
        for name in contextOrder {
            let fields = definitions[name]!.fields
            let extends = fields["extends"].flatMap { reader.stringItems($0, "extends of context '\(name)'") } ?? []
            for (parent, node) in extends where definitions[parent] == nil {
                reader.error(.unknownReference, "context '\(name)' extends unknown context '\(parent)' (known: \(contextOrder.joined(separator: ", ")))", at: node)
            }
            guard let lineage = lineage(of: name, definitions: definitions) else { continue }
            var allow: [Rule] = []
            var deny: [Rule] = []
            for ancestor in lineage {
                allow += ownRules[ancestor]?.allow ?? []
                deny += ownRules[ancestor]?.deny ?? []
            }
            let description = fields["description"].flatMap { reader.string($0, "description of context '\(name)'") } ?? ""
            contexts[name] = SecurityContext(
                name: name, description: description, extends: extends.map(\.0), allowRules: allow, denyRules: deny)
        }
        var tenants: [String: Tenant] = [:]
        if let node = top["tenants"], let entries = reader.entries(node, "tenants") {
            for (name, _, value) in entries {
                if let tenant = tenant(name, value, contexts: Set(contextOrder), tools: Set(knownTools.keys)) {
                    tenants[name] = tenant
                }
            }
        }
        let registry = top["registry"].flatMap { self.registry($0, tools: Set(knownTools.keys)) }
        guard allErrors.isEmpty else { return nil }
        let digest = PolicyDigest.compute(policy: document, grammars: grammarDocuments)
        return Policy(
            file: file, digest: digest, argumentLimits: limits, tools: tools, contexts: contexts, tenants: tenants, registry: registry)
    }

    /// The context and its ancestors, ancestors first, each once; nil on a cycle (reported).
    func lineage(of name: String, definitions: [String: (fields: Fields, keyNode: Node)]) -> [String]? {
        var order: [String] = []
        var visiting: [String] = []
        func visit(_ context: String) -> Bool {
            if order.contains(context) { return true }
            if let start = visiting.firstIndex(of: context) {
                let cycle = (visiting[start...] + [context]).joined(separator: " -> ")
                reader.error(.cycle, "contexts extend each other in a cycle: \(cycle)", at: definitions[context]!.keyNode)
                return false
            }
            guard let definition = definitions[context] else { return true }  // unknown parent: reported by the caller
            visiting.append(context)
            let parents = definition.fields["extends"].flatMap { node -> [String]? in
                if case let .scalar(scalar) = node { return [scalar.string] }
                if case let .sequence(items) = node { return items.compactMap { $0.scalar?.string } }
                return nil
            } ?? []
            for parent in parents where !visit(parent) { return false }
            visiting.removeLast()
            order.append(context)
            return true
        }
        return visit(name) ? order : nil
    }

    // MARK: Tools

    mutating func tool(_ name: String, _ node: Node, limits: ArgumentLimits) -> (ToolPolicy, [UInt8])? {
        let what = "tool '\(name)'"
        guard let fields = reader.fields(node, what, allowed: Self.toolKeys, required: ["grammar", "image", "entrypoint"])
        else { return nil }
        let grammarPath = fields["grammar"].flatMap { reader.nonEmptyString($0, "grammar of \(what)") }
        let image = fields["image"].flatMap { reader.nonEmptyString($0, "image of \(what)") }
        if let image, let node = fields["image"], !Self.isPinned(image) {
            reader.error(.invalidValue, "image of \(what) must be pinned to a tag other than 'latest' or to a digest; found '\(image)'", at: node)
        }
        let imageProvider = fields["image_provided_by"].map { reader.choice($0, "image_provided_by of \(what)", as: ImageProvider.self) ?? .airlock } ?? .airlock
        var entrypoint: [String] = []
        if let node = fields["entrypoint"], let list = reader.stringList(node, "entrypoint of \(what)") {
            if list.isEmpty || !list[0].hasPrefix("/") {
                reader.error(.invalidValue, "entrypoint of \(what) must start with an absolute path to the program", at: node)
            }
            entrypoint = list
        }
        var timeout = 60.0
        if let node = fields["timeout"] {
            if let text = reader.string(node, "timeout of \(what)"), let seconds = Quantities.seconds(text), seconds > 0 {
                timeout = seconds
            } else {
                reader.error(.invalidValue, "timeout of \(what) must be a positive duration such as 30s, 5m or 500ms", at: node)
            }
        }
        let network = fields["network"].flatMap { reader.nonEmptyString($0, "network of \(what)") } ?? "none"
        let unrestricted = fields["unrestricted"].flatMap { reader.bool($0, "unrestricted of \(what)") } ?? false
        let egress = fields["egress"].flatMap { egressAllowList($0, what) }
        if let node = fields["network"], network != "none" {
            if fields["egress"] != nil {
                reader.error(
                    .invalidValue, "\(what) has both egress and network '\(network)': egress goes through Airlock's proxy with network none; drop one",
                    at: node)
            } else if !unrestricted {
                reader.error(
                    .invalidValue,
                    "network '\(network)' of \(what) would give the tool that network unfiltered; list the endpoints it needs under egress, or add unrestricted: true to mean it",
                    at: node)
            }
        }
        let seccomp = fields["seccomp"].flatMap { reader.nonEmptyString($0, "seccomp of \(what)") } ?? "seccomp/hardened.json"
        let runtime = fields["runtime"].flatMap { reader.nonEmptyString($0, "runtime of \(what)") }
        var environment: [String: String] = [:]
        if let node = fields["environment"], let entries = reader.entries(node, "environment of \(what)") {
            for (key, keyNode, value) in entries {
                if !Self.isEnvironmentName(key) {
                    reader.error(.invalidValue, "invalid environment variable name '\(key)' in \(what)", at: keyNode)
                }
                if let text = reader.string(value, "environment variable \(key) of \(what)") { environment[key] = text }
            }
        }
        let resources = fields["limits"].map { self.resources($0, what) } ?? ResourceLimits()
        var mounts: [MountRoot] = []
        if let node = fields["mounts"], let list = reader.sequence(node, "mounts of \(what)") {
            for item in list {
                guard let mount = reader.fields(item, "a mount root of \(what)", allowed: ["root", "writable"], required: ["root"]),
                    let rootNode = mount["root"], let root = reader.nonEmptyString(rootNode, "root of a mount of \(what)")
                else { continue }
                let components = root.split(separator: "/")
                guard root.hasPrefix("/"), !components.contains("."), !components.contains("..") else {
                    reader.error(.invalidValue, "mount root '\(root)' of \(what) must be a normalized absolute path", at: rootNode)
                    continue
                }
                let writable = mount["writable"].flatMap { reader.bool($0, "writable of a mount of \(what)") } ?? false
                mounts.append(MountRoot(path: PathConfinement.resolve(root) ?? root, writable: writable))
            }
        }
        let toolLimits = fields["arguments"].flatMap { argumentLimits($0, "arguments of \(what)", inherited: limits) } ?? limits
        let secrets = fields["secrets"].map { self.secrets($0, what, environment: environment) } ?? []

        guard let grammarPath, let grammarNode = fields["grammar"], let loaded = grammar(grammarPath, at: grammarNode),
            let image
        else { return nil }
        let container = ContainerSpec(
            image: image, entrypoint: entrypoint, timeoutSeconds: timeout, network: network,
            seccompProfile: Paths.join(directory, seccomp), runtime: runtime, environment: environment,
            resources: resources, mountRoots: mounts, secrets: secrets, egress: egress, unrestricted: unrestricted)
        let tool = ToolPolicy(name: name, grammarFile: grammarPath, grammar: loaded.grammar, container: container, argumentLimits: toolLimits,
            imageProvider: imageProvider)
        return (tool, loaded.canonical)
    }

    mutating func grammar(_ path: String, at node: Node) -> (grammar: ToolGrammar, canonical: [UInt8])? {
        let resolved = Paths.join(directory, path)
        if let cached = grammars[resolved] { return cached }
        let result: (grammar: ToolGrammar, canonical: [UInt8])?
        switch prefetched.removeValue(forKey: resolved) ?? loadGrammar(resolved) {
        case let .unreadable(cause):
            reader.append(PolicyError(.unreadableFile, "cannot read grammar file '\(resolved)'", at: reader.location(node), cause: cause))
            result = nil
        case let .read(grammar, canonical, errors):
            grammarErrors += errors
            result = grammar.flatMap { grammar in canonical.map { (grammar, $0) } }
        }
        grammars[resolved] = .some(result)
        return result
    }

    /// Reads every grammar file the tools name, once; the grammars are loaded from these texts. Only reads: what is wrong with a tool entry or a file
    /// is reported by `tool` and `grammar`, in the order they meet it.
    mutating func readGrammarFiles(named tools: Node) {
        guard case let .mapping(entries) = tools else { return }
        for (key, value) in entries {
            guard case let .mapping(fields) = value, let path = fields["grammar"]?.scalar?.string, !path.isEmpty else { continue }
            let resolved = Paths.join(directory, path)
            if let name = key.scalar?.string { grammarPathOfTool[name] = resolved }
            if grammarTexts.contains(where: { $0.path == resolved }) { continue }
            do {
                grammarTexts.append((resolved, try readFile(resolved)))
            } catch {
                grammarTexts.append((resolved, nil))
                prefetched[resolved] = .unreadable(cause: "\(error)")
            }
        }
    }

    /// Loads, in parallel, the grammar files at `paths` from the texts read: they are independent
    /// files, and the shipped ones (100 KB of YAML) are most of the policy's load time.
    mutating func prefetchGrammars(_ paths: [String]) {
        let files = grammarTexts.compactMap { file in file.text.flatMap { paths.contains(file.path) ? (file.path, $0) : nil } }
        guard files.count > 1 else { return }
        // The largest first: one large file (aws) is much of the work, and started last it would
        // run alone on one core while the other idles.
        let ordered = files.sorted { $0.1.utf8.count > $1.1.utf8.count }
        let loaded = Mutex<[String: GrammarFile]>([:])
        DispatchQueue.concurrentPerform(iterations: ordered.count) { index in
            let file = GrammarFile.load(ordered[index].0, text: ordered[index].1)
            loaded.withLock { $0[ordered[index].0] = file }
        }
        prefetched.merge(loaded.withLock { $0 }) { $1 }
    }

    /// A grammar file not loaded ahead: from the text read, else read now.
    func loadGrammar(_ path: String) -> GrammarFile {
        if let text = grammarTexts.first(where: { $0.path == path })?.text { return GrammarFile.load(path, text: text) }
        return GrammarFile.load(path, readFile: readFile)
    }

    /// `egress:`, a list of `{host | cidr, ports}`; each problem placed at its node.
    func egressAllowList(_ node: Node, _ what: String) -> EgressAllowList? {
        guard let items = reader.sequence(node, "egress of \(what)") else { return nil }
        var rules: [EgressRule] = []
        var ok = true
        for item in items {
            guard let fields = reader.fields(item, "an egress rule of \(what)", allowed: ["host", "cidr", "ports"], required: ["ports"]) else {
                ok = false
                continue
            }
            let host = fields["host"].flatMap { reader.string($0, "host of an egress rule of \(what)") }
            let cidr = fields["cidr"].flatMap { reader.string($0, "cidr of an egress rule of \(what)") }
            guard let portsNode = fields["ports"], let portItems = reader.sequence(portsNode, "ports of an egress rule of \(what)") else {
                ok = false
                continue
            }
            var ports: [Int] = []
            for portNode in portItems {
                guard let port = reader.integer(portNode, "a port of an egress rule of \(what)") else { continue }
                guard (1...65535).contains(port) else {
                    reader.error(.invalidValue, "port \(port) of an egress rule of \(what) is outside 1..65535", at: portNode)
                    continue
                }
                ports.append(port)
            }
            guard ports.count == portItems.count else {
                ok = false
                continue
            }
            do {
                rules.append(try EgressRule.parse(host: host, cidr: cidr, ports: ports))
            } catch {
                // Placed at the value that is wrong: the host or cidr, else the ports or the rule.
                let at: Node =
                    switch error.code {
                    case .malformedHost: fields["host"] ?? item
                    case .malformedCIDR: fields["cidr"] ?? item
                    case .emptyPorts, .portOutOfRange: fields["ports"] ?? item
                    case .ambiguousDestination, .missingDestination, .emptyList: item
                    }
                reader.error(.invalidValue, "egress rule of \(what): \(error.message)", at: at)
                ok = false
            }
        }
        guard ok else { return nil }
        do {
            return try EgressAllowList(rules)
        } catch {
            reader.error(.invalidValue, "egress of \(what): \(error.message)", at: node)
            return nil
        }
    }

    func resources(_ node: Node, _ what: String) -> ResourceLimits {
        var limits = ResourceLimits()
        guard let fields = reader.fields(node, "limits of \(what)", allowed: ["memory", "pids", "cpus", "nofile", "nproc", "tmpfs"])
        else { return limits }
        func size(_ key: String) -> Int64? {
            guard let node = fields[key], let text = reader.string(node, "\(key) of \(what)") else { return nil }
            guard let bytes = Quantities.bytes(text), bytes > 0 else {
                reader.error(.invalidValue, "\(key) of \(what) must be a positive size such as 512m or 1g; found '\(text)'", at: node)
                return nil
            }
            return bytes
        }
        limits.memoryBytes = size("memory") ?? limits.memoryBytes
        limits.tmpfsBytes = size("tmpfs") ?? limits.tmpfsBytes
        limits.pids = fields["pids"].flatMap { reader.integer($0, "pids of \(what)", minimum: 1) } ?? limits.pids
        limits.openFiles = fields["nofile"].flatMap { reader.integer($0, "nofile of \(what)", minimum: 1) } ?? limits.openFiles
        limits.processes = fields["nproc"].flatMap { reader.integer($0, "nproc of \(what)", minimum: 1) } ?? limits.processes
        if let node = fields["cpus"] {
            if let text = reader.string(node, "cpus of \(what)"), let cpus = Double(text), cpus > 0 {
                limits.cpus = cpus
            } else {
                reader.error(.invalidValue, "cpus of \(what) must be a positive number such as 0.5 or 2", at: node)
            }
        }
        return limits
    }

    func argumentLimits(_ node: Node, _ what: String, inherited: ArgumentLimits) -> ArgumentLimits? {
        guard let fields = reader.fields(node, what, allowed: ["max_count", "max_bytes"]) else { return nil }
        var limits = inherited
        limits.maxCount = fields["max_count"].flatMap { reader.integer($0, "max_count of \(what)", minimum: 1) } ?? limits.maxCount
        limits.maxBytes = fields["max_bytes"].flatMap { reader.integer($0, "max_bytes of \(what)", minimum: 1) } ?? limits.maxBytes
        return limits
    }

    static func isPinned(_ image: String) -> Bool {
        if image.contains("@sha256:") { return true }
        let lastComponent = image.split(separator: "/").last ?? ""
        guard let colon = lastComponent.lastIndex(of: ":") else { return false }
        let tag = lastComponent[lastComponent.index(after: colon)...]
        return !tag.isEmpty && tag != "latest"
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || (first | 0x20) >= 97 && (first | 0x20) <= 122 else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || ($0 >= 48 && $0 <= 57) || ($0 | 0x20) >= 97 && ($0 | 0x20) <= 122 }
    }

    // MARK: Tenants

    func tenant(_ name: String, _ node: Node, contexts: Set<String>, tools: Set<String>) -> Tenant? {
        let what = "tenant '\(name)'"
        guard let fields = reader.fields(node, what, allowed: ["description", "contexts", "tools"], required: ["contexts"]),
            let contextNode = fields["contexts"], let allowedContexts = reader.stringItems(contextNode, "contexts of \(what)")
        else { return nil }
        var ok = true
        for (context, item) in allowedContexts where !contexts.contains(context) {
            reader.error(.unknownReference, "\(what) names unknown context '\(context)' (known: \(contexts.sorted().joined(separator: ", ")))", at: item)
            ok = false
        }
        var allowedTools: Set<String>?
        if let node = fields["tools"], let items = reader.stringItems(node, "tools of \(what)") {
            for (tool, item) in items where !tools.contains(tool) {
                reader.error(.unknownReference, "\(what) names unknown tool '\(tool)' (known: \(tools.sorted().joined(separator: ", ")))", at: item)
                ok = false
            }
            allowedTools = Set(items.map(\.0))
        }
        return ok ? Tenant(name: name, contexts: Set(allowedContexts.map(\.0)), tools: allowedTools) : nil
    }
}

extension PolicyBuild {
    // MARK: Registry

    func registry(_ node: Node, tools: Set<String>) -> RegistryPolicy? {
        let what = "registry"
        guard let fields = reader.fields(node, what, allowed: ["tools", "images", "max_per_tenant", "allow_unjudged"], required: ["tools", "images"]),
            let toolNode = fields["tools"], let toolItems = reader.stringItems(toolNode, "tools of \(what)"),
            let imageNode = fields["images"], let imageItems = reader.stringItems(imageNode, "images of \(what)")
        else { return nil }
        var ok = true
        for (tool, item) in toolItems where !tools.contains(tool) {
            reader.error(.unknownReference, "\(what) names unknown tool '\(tool)' (known: \(tools.sorted().joined(separator: ", ")))", at: item)
            ok = false
        }
        if imageItems.isEmpty {
            reader.error(.invalidValue, "images of \(what) is empty: name the image patterns registered tools may use", at: imageNode)
            ok = false
        }
        let maxPerTenant = fields["max_per_tenant"].flatMap { reader.integer($0, "max_per_tenant of \(what)", minimum: 1) } ?? 32
        let allowUnjudged = fields["allow_unjudged"].flatMap { reader.bool($0, "allow_unjudged of \(what)") } ?? false
        guard ok else { return nil }
        return RegistryPolicy(
            baseTools: Set(toolItems.map(\.0)), images: imageItems.map { Glob($0.0, ignoreCase: false) }, maxPerTenant: maxPerTenant,
            allowUnjudged: allowUnjudged)
    }
}

/// Pure path arithmetic for the files a policy names.
enum Paths {
    static func directory(of file: String) -> String {
        guard let slash = file.lastIndex(of: "/") else { return "." }
        return slash == file.startIndex ? "/" : String(file[..<slash])
    }

    static func join(_ directory: String, _ path: String) -> String {
        if path.hasPrefix("/") || directory == "." { return path }
        return directory.hasSuffix("/") ? directory + path : directory + "/" + path
    }
}

/// Durations and sizes as operators write them.
enum Quantities {
    /// `30s`, `5m`, `1h`, `500ms`, or a number of seconds.
    static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)), value.isFinite { return value * factor }
        }
        return Double(text).flatMap { $0.isFinite ? $0 : nil }
    }

    /// `512m`, `1g`, `64k`, `512MiB`, or a number of bytes.
    static func bytes(_ text: String) -> Int64? {
        var body = Substring(text.lowercased())
        if body.hasSuffix("b") { body = body.dropLast() }
        if body.hasSuffix("i") { body = body.dropLast() }
        let factors: [Character: Int64] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        var factor: Int64 = 1
        if let last = body.last, let unit = factors[last] {
            factor = unit
            body = body.dropLast()
        }
        guard let value = Int64(body), value >= 0 else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: factor)
        return overflow ? nil : product
    }
}

/// One grammar file, read and loaded: what `PolicyBuild` needs of it, all of it `Sendable` (the
/// YAML tree is not, so the digest's canonical form is made where the file is read).
enum GrammarFile: Sendable {
    case unreadable(cause: String)
    /// `grammar` and `canonical` are nil when `errors` says why.
    case read(grammar: ToolGrammar?, canonical: [UInt8]?, errors: [PolicyError])

    static func load(_ path: String, readFile: PolicyLoader.FileReader) -> GrammarFile {
        do {
            return load(path, text: try readFile(path))
        } catch {
            return .unreadable(cause: "\(error)")
        }
    }

    static func load(_ path: String, text: String) -> GrammarFile {
        var loader = GrammarLoader(file: path)
        let (grammar, document) = loader.load(text)
        return .read(grammar: grammar, canonical: document.map(PolicyDigest.canonical), errors: loader.reader.errors)
    }
}
