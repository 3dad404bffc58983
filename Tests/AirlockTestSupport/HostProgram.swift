import Foundation

/// Programs run on the host by tests that look for what must not be there (ps, inspect, grep).
public enum HostProgram {
    /// What the program writes, as text; its stderr too unless `errors` is false (grep's
    /// complaints about files that vanished while it read).
    public static func output(_ executable: String, _ arguments: [String], errors: Bool = true) -> String {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = pipe
        process.standardError = errors ? pipe : FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
