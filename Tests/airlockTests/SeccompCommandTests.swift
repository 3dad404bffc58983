import Foundation
import Testing

/// `airlock seccomp check`, run as an operator would.
@Suite("airlock seccomp check")
struct SeccompCommandTests {
    @Test("the shipped profile: a summary and its digest, exit 0")
    func hardened() throws {
        let run = try CommandLineTests.airlock(["seccomp", "check", "policies/seccomp/hardened.json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.hasPrefix("policies/seccomp/hardened.json: ok\n"))
        #expect(run.stdout.contains("  default action: SCMP_ACT_ERRNO (errno 1)\n"))
        #expect(run.stdout.contains("  clone: allowed only without namespace flags\n"))
        #expect(run.stdout.contains("  dangerous system calls not allowed: 21 of 21 ("))
        #expect(run.stdout.contains("  digest: sha256:"))
        #expect(run.stderr.isEmpty)
    }

    @Test("a broken profile: every error on stderr with file, line and entry, exit 1")
    func broken() throws {
        let path = NSTemporaryDirectory() + "airlock-seccomp-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try """
            {
              "defaultAction": "SCMP_ACT_ERRNO",
              "syscalls": [
                {"names": ["read", "ptrac"], "action": "SCMP_ACT_ALLOW"},
                {"nmaes": ["mount"], "action": "SCMP_ACT_ERRNO"}
              ]
            }
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let run = try CommandLineTests.airlock(["seccomp", "check", "policies/seccomp/hardened.json", path])
        #expect(run.status == 1)
        #expect(run.stdout.hasPrefix("policies/seccomp/hardened.json: ok\n"), "the good file is still checked")
        #expect(run.stderr.contains("\(path):4:24: error: syscalls[0].names[1] (read, ptrac): unknown system call 'ptrac' on x86_64 (did you mean 'ptrace'?)"))
        #expect(run.stderr.contains("\(path):5:6: error: syscalls[1]: unknown key 'nmaes' in the entry (did you mean 'names'?)"))
        #expect(run.stderr.hasSuffix("\(path): 2 errors\n"))
    }

    @Test("seccomp check: a missing file is an error with the system's reason")
    func missingFile() throws {
        let run = try CommandLineTests.airlock(["seccomp", "check", "/nonexistent/profile.json"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("/nonexistent/profile.json: error: cannot read the profile (No such file or directory)"), "\(run.stderr)")
    }
}
