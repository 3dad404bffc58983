import AirlockSeccomp
import Foundation

/// Where the repository is, and the shipped profile loaded once for all tests.
enum TestSupport {
    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static let hardenedPath = repositoryRoot + "/policies/seccomp/hardened.json"

    static let hardened: SeccompProfile = {
        do {
            return try SeccompProfile.load(path: hardenedPath)
        } catch {
            fatalError("the hardened profile does not load:\n\(error)")
        }
    }()

    /// The errors of parsing `json` as the profile `test.json`; empty when it loads.
    static func errors(_ json: String) -> [SeccompError] {
        do {
            _ = try SeccompProfile.parse(Array(json.utf8), file: "test.json")
            return []
        } catch {
            return error.errors
        }
    }

    /// A small valid profile with one entry `entry` (JSON object text) after an allow-list that keeps
    /// a shell running.
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
