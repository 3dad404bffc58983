import ArgumentParser

/// The `airlock` command: the worker and the operators' tools.
@main
struct Airlock: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "airlock",
        abstract: "A container-sandboxed executor for CLI tool calls, with a semantic policy judge.",
        subcommands: [JudgeCommand.self, PolicyCommand.self, SeccompCommand.self, RunCommand.self, ServeCommand.self, EventsCommand.self, DoctorCommand.self, ReapCommand.self]
    )
}

/// Exit statuses shared by the operator commands.
enum ExitStatus {
    static let allowed = ExitCode(0)
    /// A policy error, or anything else that kept Airlock from deciding.
    static let error = ExitCode(2)
    static let denied = ExitCode(3)
}
