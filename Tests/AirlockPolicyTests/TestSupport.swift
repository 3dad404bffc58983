import AirlockPolicy
import Foundation

/// Where the repository is, and the shipped policy loaded once for all tests.
enum TestSupport {
    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static let defaultPolicyPath = repositoryRoot + "/policies/default.yaml"

    static let fileLoader = PolicyLoader { path in try String(contentsOfFile: path, encoding: .utf8) }

    static let defaultPolicy: Policy = {
        do {
            return try fileLoader.load(path: defaultPolicyPath)
        } catch {
            fatalError("the default policy does not load:\n\(error)")
        }
    }()

    static let judge = Judge(policy: defaultPolicy)

    /// Loads policy text with grammars read from the repository (relative paths resolve against
    /// `policies/`), and extra in-memory files by name.
    static func load(_ yaml: String, files: [String: String] = [:]) throws(PolicyLoadError) -> Policy {
        let loader = PolicyLoader { path in
            if let text = files[path] { return text }
            return try String(contentsOfFile: path, encoding: .utf8)
        }
        return try loader.load(yaml: yaml, file: repositoryRoot + "/policies/test.yaml")
    }

    static func grammar(_ tool: String) -> ToolGrammar {
        defaultPolicy.tools[tool]!.grammar
    }

    static func parse(_ tool: String, _ argv: [String]) -> Result<ParsedCommand, ArgvParseFailure> {
        defaultPolicy.tools[tool]!.parser.parse(argv)
    }
}
