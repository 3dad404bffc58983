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

    /// The files under `roots` written since `since` that hold any of `values`, one path a line.
    /// Only files written meanwhile can hold a value handed in meanwhile; reading only those keeps
    /// the search from reading every image layer the engines keep while other tests run.
    public static func filesHolding(_ values: [String], under roots: [String], writtenSince since: Date) -> String {
        let marker = NSTemporaryDirectory() + "airlock-since-\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: marker, contents: nil, attributes: [.modificationDate: since]) else { return "cannot make \(marker)" }
        defer { try? FileManager.default.removeItem(atPath: marker) }
        let existing = roots.filter { FileManager.default.fileExists(atPath: $0) }
        return output(
            "/usr/bin/find", existing + ["-type", "f", "-newer", marker, "-exec", "/bin/grep", "-lF"] + values.flatMap { ["-e", $0] } + ["--", "{}", "+"],
            errors: false)
    }
}
