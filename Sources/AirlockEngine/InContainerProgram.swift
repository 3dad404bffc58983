import Foundation

/// Airlock's own static programs that run inside containers, bound read-only: the canary's probe,
/// the egress forwarder and the secrets launcher. Each is found the same way: a variable naming
/// one, else beside this executable, where `scripts/build-probe` puts them.
public enum InContainerProgram: String, Sendable, CaseIterable {
    case probe = "airlock-probe"
    case egressForwarder = "airlock-egress"
    case secretsLauncher = "airlock-secrets"

    /// The variable that names another binary.
    public var variable: String {
        switch self {
        case .probe: "AIRLOCK_PROBE"
        case .egressForwarder: "AIRLOCK_EGRESS_FORWARDER"
        case .secretsLauncher: "AIRLOCK_SECRETS_LAUNCHER"
        }
    }

    /// `$VARIABLE`, else the program beside this executable.
    ///
    /// - Throws: `EngineError` saying where it was looked for and how to build it.
    public func locate() throws(EngineError) -> String {
        if let path = ProcessInfo.processInfo.environment[variable], !path.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw EngineError("\(variable)=\(path) is not an executable file")
            }
            return path
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let beside = (executable as NSString).deletingLastPathComponent + "/" + rawValue
        guard FileManager.default.isExecutableFile(atPath: beside) else {
            throw EngineError("\(rawValue) is not beside \(executable) (build it with scripts/build-probe DIRECTORY, or set \(variable))")
        }
        return beside
    }
}
