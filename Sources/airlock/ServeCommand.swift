import AirlockCommandLine
import ArgumentParser
import Foundation

/// `airlock serve`: replaces this process (same pid, same signals) with the worker, `airlock-worker`,
/// installed beside `airlock`, handing it every argument. The worker is an executable of its own so
/// that the one-shot commands, `airlock run` above all, do not load the HTTP server and SwiftNIO:
/// fewer runtime conformance records to scan and relocations to apply at every start.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the worker: the HTTP/JSON API on a Unix socket (airlock serve --help lists its options).",
        // --help too goes to the worker, which knows its options.
        helpNames: []
    )

    @Argument(parsing: .captureForPassthrough, help: "The worker's options.")
    var arguments: [String] = []

    func run() throws {
        let worker = Self.workerPath()
        // argv[0] "airlock serve": ps and pgrep -f show the worker as it was started.
        let argv = ["airlock serve"] + arguments
        var pointers = argv.map { strdup($0) }
        pointers.append(nil)
        execv(worker, pointers)
        let reason = String(cString: strerror(errno))
        StandardError.print("airlock: cannot start the worker \(worker): \(reason); it is built with airlock (swift build) and belongs beside it")
        throw ExitStatus.error
    }

    /// `airlock-worker` in the directory of this executable (symbolic links resolved).
    static func workerPath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let executable = count > 0 ? String(cString: buffer) : CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("airlock-worker").path
    }
}
