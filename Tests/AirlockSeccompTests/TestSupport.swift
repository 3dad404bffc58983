import AirlockSeccomp
import Foundation

/// Where the repository is, and the shipped profile loaded once for all tests.
enum TestSupport {
    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// libseccomp's name for this machine's architecture, as errors say it.
    static let architecture: String = {
        #if arch(x86_64)
        return "x86_64"
        #elseif arch(arm64)
        return "aarch64"
        #else
        return "unknown"
        #endif
    }()

    static let hardenedPath = repositoryRoot + "/policies/seccomp/hardened.json"

    static let hardened: SeccompProfile = {
        do {
            return try load(hardenedPath)
        } catch {
            fatalError("the hardened profile does not load:\n\(error)")
        }
    }()

    /// Loads a profile file as the command line does (it hands the loader its bytes).
    static func load(_ path: String) throws(SeccompProfileError) -> SeccompProfile {
        try SeccompProfile.load(path: path) { path in
            guard let data = FileManager.default.contents(atPath: path) else { throw CocoaError(.fileReadNoSuchFile) }
            return Array(data)
        }
    }

    /// The errors of parsing `json` as the profile `test.json`; empty when it loads.
    static func errors(_ json: String) -> [SeccompError] {
        do {
            _ = try SeccompProfile.parse(Array(json.utf8), file: "test.json")
            return []
        } catch {
            return error.errors
        }
    }

    /// A small profile whose second entry is `entry` (JSON text): it is `syscalls[1]`, on line 7.
    static func profile(entry: String) -> String {
        """
        {
          "defaultAction": "SCMP_ACT_ERRNO",
          "defaultErrnoRet": 1,
          "architectures": ["SCMP_ARCH_X86_64"],
          "syscalls": [
            {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
            \(entry)
          ]
        }
        """
    }
}
