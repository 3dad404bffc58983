import AirlockCommandLine
import AirlockPolicy
import ArgumentParser

/// `airlock policy`: operators' tools for policy files.
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Validate, test, replay and diff policy files.",
        subcommands: [Check.self, Test.self, Replay.self, Diff.self]
    )
}

extension PolicyCommand {
    /// `airlock policy check`: loads each file as the worker would, and reports every error.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate policy files and print a summary of each; exit 1 if any has an error."
        )

        @Argument(help: "Policy files to check.")
        var files: [String]

        func validate() throws {
            if files.isEmpty { throw ValidationError("Name at least one policy file.") }
        }

        func run() throws {
            var failed = false
            for file in files {
                do {
                    let policy = try PolicyFiles.loader.load(path: file)
                    print(Self.summary(policy))
                } catch {
                    PolicyFiles.report(error)
                    StandardError.print("\(file): \(error.errors.count) error\(error.errors.count == 1 ? "" : "s")")
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }

        static func summary(_ policy: Policy) -> String {
            let allow = Set(policy.contexts.values.flatMap { $0.allowRules.map(\.id) }).count
            let deny = Set(policy.contexts.values.flatMap { $0.denyRules.map(\.id) }).count
            var lines = ["\(policy.file): ok"]
            lines.append("  tools: \(policy.tools.keys.sorted().joined(separator: ", "))")
            for name in policy.contexts.keys.sorted() {
                let context = policy.contexts[name]!
                let extends = context.extends.isEmpty ? "" : " (extends \(context.extends.joined(separator: ", ")))"
                lines.append("  context \(name)\(extends): \(context.allowRules.count) allow, \(context.denyRules.count) deny rules")
            }
            lines.append("  rules: \(allow + deny) (\(allow) allow, \(deny) deny)")
            lines.append("  tenants: " + (policy.tenants.isEmpty ? "none" : policy.tenants.keys.sorted().joined(separator: ", ")))
            lines.append("  digest: \(policy.digest)")
            lines += policy.warnings.map { "  warning: \($0)" }
            return lines.joined(separator: "\n")
        }
    }
}
