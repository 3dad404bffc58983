import AirlockCommandLine
import AirlockServer
import ArgumentParser

/// `airlock-worker` is `airlock serve`, or, under the name `airlock run`, the run of a tool with
/// egress that `airlock run` handed over: the same run, with the egress proxy this executable links.
@main
enum WorkerMain {
    static func main() async {
        if CommandLine.arguments.first == RunOptions.workerName {
            await WorkerRunCommand.main(Array(CommandLine.arguments.dropFirst()))
        } else {
            await ServeCommand.main()
        }
    }
}

/// `airlock run`, in the worker executable: with the egress proxy.
struct WorkerRunCommand: AsyncParsableCommand {
    static let configuration = RunOptions.configuration

    @OptionGroup var options: RunOptions

    func run() async throws {
        try await options.run(egress: .gateway(EgressProxyGateway()))
    }
}
