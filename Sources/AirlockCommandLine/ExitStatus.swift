import ArgumentParser

/// Exit statuses shared by the operator commands.
public enum ExitStatus {
    public static let allowed = ExitCode(0)
    /// A policy error, or anything else that kept Airlock from deciding.
    public static let error = ExitCode(2)
    public static let denied = ExitCode(3)
}
