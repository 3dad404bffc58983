import AirlockTestSupport
import Foundation
import Testing

/// `airlock run` of a tool with egress: the built `airlock` hands the run to `airlock-worker`,
/// which has the proxy; and `airlock policy check` warns of an unrestricted tool.
@Suite("airlock run with egress", .serialized)
struct EgressRunCommandTests {
    /// `airlock ARGS`: its status, stdout and stderr.
    static func airlock(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = BuiltBinaries.airlock
        process.arguments = arguments
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    static func policy(_ internet: TestInternet, directory: String, tool: String) throws -> String {
        let root = EgressFixture.repositoryRoot
        let entrypoint = String(
            decoding: try JSONEncoder().encode(["/usr/bin/python3", "-c", EgressPipelineTests.fetchOneScript, internet.forbiddenName, internet.allowedName]),
            as: UTF8.self)
        let path = directory + "/policy.yaml"
        try """
            version: 1
            tools:
              fetch:
                grammar: \(root)/policies/grammars/git.yaml
                image: airlock/tools:1
                entrypoint: \(entrypoint)
                timeout: 60s
                seccomp: \(root)/policies/seccomp/hardened.json
                runtime: runc
                environment: {HOME: /tmp}
                mounts: [{root: \(internet.directory)}]
            \(tool)
            contexts:
              ro:
                allow:
                  - {id: run-log, tool: fetch, subcommand: [log], reason: egress tests}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("airlock run of a tool with egress reaches the allowed endpoint, through the worker executable, and records it", arguments: EgressContainerTests.engineNames)
    func run(engine: String) async throws {
        try await TestInternet.with { internet in
            let directory = NSTemporaryDirectory() + "airlock-egress-run-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let policy = try Self.policy(internet, directory: directory, tool: "    egress:\n      - {host: \(internet.allowedName), ports: [443]}")
            let run = try Self.airlock([
                "run", "--policy", policy, "--context", "ro", "--engine", engine, "--state-dir", directory + "/state",
                "--mount", "\(internet.caPath):/workspace/ca.pem:ro", "--", "fetch", "log",
            ])
            #expect(run.status == 0, "\(run.stderr)")
            // The script's `name` is the forbidden name and `cidr` the allowed one here.
            let outcomes = try JSONDecoder().decode([String: String].self, from: Data(run.stdout.utf8))
            #expect(outcomes["name"]?.contains("403") == true, "\(outcomes)")
            #expect(outcomes["cidr"]?.hasPrefix("failed") == true || outcomes["cidr"]?.hasPrefix("ok") == true, "\(outcomes)")
            let events = try Self.airlock(["events", "list", "--state-dir", directory + "/state", "--type", "CliToolInvocationCompleted"])
            #expect(events.status == 0, "\(events.stderr)")
            let completed = try #require(try JSONSerialization.jsonObject(with: Data(events.stdout.utf8)) as? [String: Any])
            let payload = try #require(completed["payload"] as? [String: Any], "\(completed)")
            let egress = try #require(payload["egress"] as? [[String: Any]], "\(payload)")
            #expect(egress.first?["host"] as? String == internet.forbiddenName && egress.first?["reason"] as? String == "not_allowed", "\(egress)")
        }
    }

    @Test("airlock policy check warns of each unrestricted tool")
    func unrestrictedWarning() throws {
        let directory = NSTemporaryDirectory() + "airlock-egress-check-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let path = directory + "/policy.yaml"
            let root = EgressFixture.repositoryRoot
            try """
                version: 1
                tools:
                  curl:
                    grammar: \(root)/policies/grammars/git.yaml
                    image: airlock/tools:1
                    entrypoint: [/usr/bin/curl]
                    network: bridge
                    unrestricted: true
                contexts: {ro: {allow: [{id: a, tool: curl, subcommand: log, reason: r}]}}
                """.write(toFile: path, atomically: true, encoding: .utf8)
            let check = try Self.airlock(["policy", "check", path])
            #expect(check.status == 0, "\(check.stderr)")
            #expect(check.stdout.contains("  warning: tool 'curl' is unrestricted: its container is on network 'bridge'"), "\(check.stdout)")
            // doctor says it too, whatever else it finds of a tool it cannot attest.
            let doctor = try Self.airlock(["doctor", "--policy", path])
            #expect(doctor.stdout.contains("WARN policy: tool 'curl' is unrestricted: its container is on network 'bridge'"), "\(doctor.stdout)")
            let refused = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "    unrestricted: true\n", with: "")
            try refused.write(toFile: path, atomically: true, encoding: .utf8)
            let error = try Self.airlock(["policy", "check", path])
            #expect(error.status == 1)
            #expect(error.stderr.contains("7:14: error: network 'bridge' of tool 'curl' would give the tool that network unfiltered"), "\(error.stderr)")
        }
    }
}
