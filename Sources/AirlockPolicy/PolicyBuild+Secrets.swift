import Yams

extension PolicyBuild {
    // MARK: Secrets

    static let secretKeys = ["env", "file", "mode"]

    /// A tool's `secrets:` entries: each name with exactly one of `env` and `file`. An environment
    /// name Airlock sets itself, or the tool's `environment` sets, is an error, as is a file path
    /// that is not a normalized absolute path of plain characters, lies where the engine or the
    /// caller mounts (`/workspace`, `/tmp`, ...), or shares its place with another secret's.
    func secrets(_ node: Node, _ what: String, environment: [String: String]) -> [SecretDeclaration] {
        guard let entries = reader.entries(node, "secrets of \(what)") else { return [] }
        var declarations: [SecretDeclaration] = []
        var variables: [String: String] = [:]
        var paths: [(path: String, name: String)] = []
        for (name, keyNode, value) in entries {
            let secret = "secret \(name) of \(what)"
            guard Self.isEnvironmentName(name), name.utf8.count <= 128 else {
                reader.error(.invalidValue, "invalid secret name '\(name)' in \(what): letters, digits and '_', not starting with a digit", at: keyNode)
                continue
            }
            guard let fields = reader.fields(value, secret, allowed: Self.secretKeys) else { continue }
            switch (fields["env"], fields["file"]) {
            case let (envNode?, nil):
                if let modeNode = fields["mode"] {
                    reader.error(.invalidValue, "mode of \(secret) applies to a file only; this secret is delivered as env", at: modeNode)
                }
                guard let variable = reader.nonEmptyString(envNode, "env of \(secret)") else { continue }
                if let problem = environmentProblem(variable, environment: environment) {
                    reader.error(.invalidValue, "env '\(variable)' of \(secret) \(problem)", at: envNode)
                } else if let other = variables[variable] {
                    reader.error(.invalidValue, "env '\(variable)' of \(secret) is also where secret \(other) goes", at: envNode)
                } else {
                    variables[variable] = name
                    declarations.append(SecretDeclaration(name: name, delivery: .environment(name: variable)))
                }
            case let (nil, fileNode?):
                var mode = SecretDeclaration.defaultFileMode
                if let modeNode = fields["mode"], let text = reader.string(modeNode, "mode of \(secret)") {
                    guard let parsed = SecretDeclaration.parseMode(text) else {
                        reader.error(
                            .invalidValue,
                            "mode of \(secret) must be octal read bits readable by the tool's user, such as \"0400\", \"0440\" or \"0444\" (no write, execute or special bits); found '\(text)'",
                            at: modeNode)
                        continue
                    }
                    mode = parsed
                }
                guard let path = reader.nonEmptyString(fileNode, "file of \(secret)") else { continue }
                if let problem = Self.secretPathProblem(path) {
                    reader.error(.invalidValue, "file '\(path)' of \(secret) \(problem)", at: fileNode)
                } else if let other = paths.first(where: { Self.overlaps($0.path, path) }) {
                    reader.error(.invalidValue, "file '\(path)' of \(secret) collides with '\(other.path)' of secret \(other.name)", at: fileNode)
                } else {
                    paths.append((path, name))
                    declarations.append(SecretDeclaration(name: name, delivery: .file(path: path, mode: mode)))
                }
            case (_?, _?):
                reader.error(.invalidValue, "\(secret) names both env and file; a secret goes one way", at: keyNode)
            case (nil, nil):
                reader.error(.invalidValue, "\(secret) names neither env nor file: say how it reaches the tool", at: keyNode)
            }
        }
        return declarations
    }

    func environmentProblem(_ variable: String, environment: [String: String]) -> String? {
        if !Self.isEnvironmentName(variable) { return "is not a valid environment variable name" }
        if SecretDeclaration.reservedEnvironmentName(variable) { return "is a variable Airlock, the engine or the loader sets or reads itself" }
        if environment[variable] != nil { return "is already set by the tool's environment" }
        return nil
    }

    /// Why `path` cannot hold a secret file; nil when it can. Plain characters only: the path goes
    /// into the engine's `--mount` option, whose syntax reads `,`, `=`, `:` and quotes.
    static func secretPathProblem(_ path: String) -> String? {
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        guard path.hasPrefix("/"), path.count > 1, !path.hasSuffix("/"),
            !components.dropFirst().contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
        else { return "must be a normalized absolute path of a file" }
        guard path.utf8.count <= 1024, path.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "/._-".unicodeScalars.contains($0) })
        else { return "may hold only letters, digits, '/', '.', '_' and '-'" }
        return SecretDeclaration.reservedPath(path).map { "cannot be used: \($0)" }
    }

    /// One is the other or lies below it: two mounts at one place, or a file where a directory must be.
    static func overlaps(_ first: String, _ second: String) -> Bool {
        first == second || first.hasPrefix(second + "/") || second.hasPrefix(first + "/")
    }
}
