import ArgumentParser

/// What `judge` and `run` both take: the policy, who asks and in which context, the output format,
/// and the command after `--`.
struct CommandRequestOptions: ParsableArguments {
    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @Option(help: "The policy file.")
    var policy: String = "policies/default.yaml"

    @Option(help: "The security context to judge in.")
    var context: String

    @Option(help: "The tenant asking; omitted, tenant restrictions are not applied (an operator's request).")
    var tenant: String?

    @Option(help: "Output format: text or json.")
    var format: Format = .text

    @Argument(parsing: .postTerminator, help: "After --: the tool and its arguments.")
    var command: [String] = []

    /// Usage errors name the subcommand, e.g. `airlock judge --context readonly -- git log`.
    func validate(example subcommand: String) throws {
        guard !command.isEmpty else {
            throw ValidationError("Name the command after '--', e.g. airlock \(subcommand) --context readonly -- git log")
        }
    }
}
