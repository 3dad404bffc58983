import Foundation
import Subprocess
import SystemPackage

/// A short engine command (`--version`, `kill`, `ps`, `rm`) run to completion, output captured.
struct CommandOutput: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String

    struct TimedOut: Error, CustomStringConvertible {
        var command: String
        var description: String { "\(command) did not finish in time" }
    }

    /// Runs `path arguments...` (no shell) and waits at most `timeout`.
    static func run(_ path: String, _ arguments: [String], timeout: Duration) async throws -> CommandOutput {
        try await withThrowingTaskGroup(of: CommandOutput?.self) { group in
            group.addTask {
                var options = PlatformOptions()
                options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(2))]
                let result = try await Subprocess.run(
                    .path(FilePath(path)), arguments: Arguments(arguments), environment: EngineEnvironment.subprocess, platformOptions: options,
                    output: .string(limit: 4 << 20), error: .string(limit: 4 << 20))
                let status: Int32 =
                    switch result.terminationStatus {
                    case let .exited(code): code
                    case let .signaled(signal): 128 + signal
                    }
                return CommandOutput(status: status, stdout: result.standardOutput, stderr: result.standardError)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let output = first else {
                throw TimedOut(command: ([path] + arguments).joined(separator: " "))
            }
            return output
        }
    }
}
