import Foundation

/// Airlock's own static programs that run inside a tool's container (`airlock-probe`,
/// `airlock-secrets`), bound read-only from the host: each found the same way.
public enum InContainerProgram {
    /// `$variable`, else `name` beside this executable (where the build scripts put it).
    public static func locate(_ name: String, variable: String) throws(EngineError) -> String {
        if let path = ProcessInfo.processInfo.environment[variable], !path.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw EngineError("\(variable)=\(path) is not an executable file")
            }
            return path
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let beside = (executable as NSString).deletingLastPathComponent + "/" + name
        guard FileManager.default.isExecutableFile(atPath: beside) else {
            throw EngineError("\(name) is not beside \(executable) (build it with scripts/build-probe DIRECTORY, or set \(variable))")
        }
        return beside
    }
}
