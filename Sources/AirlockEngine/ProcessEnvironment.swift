#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Variables of this process's environment, read one by one with `getenv`.
/// `ProcessInfo.processInfo.environment` copies the whole environment into a new dictionary at
/// every access; `airlock run` asked it four times before launching (~0.1 ms each).
public enum ProcessEnvironment {
    public static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// The named variables that are set.
    public static func values(_ names: [String]) -> [String: String] {
        var values: [String: String] = [:]
        for name in names {
            if let value = value(name) { values[name] = value }
        }
        return values
    }
}
