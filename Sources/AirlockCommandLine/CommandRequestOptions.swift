import ArgumentParser
import Foundation

/// What `judge` and `run` both take: the policy, who asks and in which context, the output format,
/// and the command after `--`.
public struct CommandRequestOptions: ParsableArguments, Sendable {
    public enum Format: String, ExpressibleByArgument, CaseIterable, Sendable { case text, json }

    @Option(help: "The policy file.")
    public var policy: String = "policies/default.yaml"

    @Option(help: "The security context to judge in.")
    public var context: String

    @Option(help: "The tenant asking; omitted, tenant restrictions are not applied (an operator's request).")
    public var tenant: String?

    @Option(help: "Output format: text or json.")
    public var format: Format = .text

    @Argument(parsing: .postTerminator, help: "After --: the tool and its arguments.")
    public var command: [String] = []

    /// Usage errors name the subcommand, e.g. `airlock judge --context readonly -- git log`.
    public init() {}

    public func validate(example subcommand: String) throws {
        guard !command.isEmpty else {
            throw ValidationError("Name the command after '--', e.g. airlock \(subcommand) --context readonly -- git log")
        }
    }

    /// The tool's arguments as the bytes the process received, so that invalid UTF-8 is seen
    /// (Swift's `CommandLine.arguments` repairs it silently). The tool name itself is dropped.
    public static func rawArguments(expected: [String]) -> [[UInt8]] {
        let raw = (1..<Int(CommandLine.argc)).map { index -> [UInt8] in
            guard let pointer = CommandLine.unsafeArgv[index] else { return [] }
            return Array(UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: strlen(pointer)))
        }
        if let terminator = raw.firstIndex(of: Array("--".utf8)), raw.count - terminator - 1 == expected.count {
            return Array(raw[(terminator + 2)...])
        }
        return expected.dropFirst().map { Array($0.utf8) }
    }
}
