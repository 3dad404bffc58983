import AirlockCommandLine
import AirlockSeccomp
import ArgumentParser

/// `airlock seccomp`: operators' tools for seccomp profiles.
struct SeccompCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seccomp",
        abstract: "Validate seccomp profiles.",
        subcommands: [Check.self]
    )
}

extension SeccompCommand {
    /// `airlock seccomp check`: validates each profile and compiles it with libseccomp, as the
    /// container runtime will; reports every error.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate and compile seccomp profiles (OCI/Docker JSON) and print a summary of each; exit 1 if any has an error."
        )

        @Argument(help: "Seccomp profiles to check.")
        var profiles: [String]

        func validate() throws {
            if profiles.isEmpty { throw ValidationError("Name at least one seccomp profile.") }
        }

        func run() throws {
            var failed = false
            for path in profiles {
                do {
                    let profile = try PolicyFiles.seccompProfile(path)
                    print(Self.summary(profile))
                } catch {
                    for item in error.errors { StandardError.print(item.description) }
                    StandardError.print("\(path): \(error.errors.count) error\(error.errors.count == 1 ? "" : "s")")
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }

        static func summary(_ profile: SeccompProfile) -> String {
            var lines = ["\(profile.file): ok"]
            lines += profile.summary.lines.map { "  " + $0 }
            lines.append("  digest: \(profile.digest)")
            return lines.joined(separator: "\n")
        }
    }
}
