import Logging

/// The log level both executables take from `AIRLOCK_LOG`: trace, debug, info, notice, warning
/// (or warn), error, critical. Anything else, or nothing, is the caller's default.
public enum LogLevel {
    public static let variable = "AIRLOCK_LOG"

    public static func fromEnvironment(_ environment: [String: String], default fallback: Logger.Level) -> Logger.Level {
        guard let text = environment[variable]?.lowercased() else { return fallback }
        return text == "warn" ? .warning : Logger.Level(rawValue: text) ?? fallback
    }
}
