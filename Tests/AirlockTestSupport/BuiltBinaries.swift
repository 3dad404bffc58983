import Foundation

/// The `airlock` binary the command-line and worker tests run: in `$AIRLOCK_TEST_BINARIES` when
/// set (scripts/test sets it to the release build, the one that ships), else the one built beside
/// the test bundle.
public enum BuiltBinaries {
    public static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    public static let airlock: URL = {
        if let directory = ProcessInfo.processInfo.environment["AIRLOCK_TEST_BINARIES"], !directory.isEmpty {
            return URL(fileURLWithPath: directory, relativeTo: URL(fileURLWithPath: repositoryRoot + "/"))
                .appendingPathComponent("airlock").standardizedFileURL
        }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if directory.lastPathComponent == "MacOS" || directory.pathExtension == "xctest" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("airlock")
    }()
}
