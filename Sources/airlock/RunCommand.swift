import AirlockCommandLine
import ArgumentParser
import Foundation

/// `airlock run`. A tool whose policy lists `egress` needs the egress proxy, which this executable
/// does not link: its run is handed to `airlock-worker` (exec, same pid), which runs the same code
/// with the proxy.
struct RunCommand: AsyncParsableCommand {
    static let configuration = RunOptions.configuration

    @OptionGroup var options: RunOptions

    func run() async throws {
        try await options.run(egress: .handOver(Self.handOver))
    }

    /// Becomes `airlock-worker` with argv[0] `airlock run`, which it reads as this command.
    @Sendable static func handOver(_ arguments: [String]) -> Never {
        let worker = ServeCommand.workerPath()
        var pointers = ([RunOptions.workerName] + arguments).map { strdup($0) }
        pointers.append(nil)
        execv(worker, pointers)
        StandardError.print("airlock: cannot start \(worker) for a tool with egress: \(String(cString: strerror(errno))); it is built with airlock and belongs beside it")
        Foundation.exit(ExitStatus.error.rawValue)
    }
}
