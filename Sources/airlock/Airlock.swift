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
