import AirlockTestSupport
import Foundation
import Testing

/// Runs the built `airlock` binary as an operator would.
@Suite("The airlock command line")
struct CommandLineTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static let repositoryRoot = BuiltBinaries.repositoryRoot
    static let binary = BuiltBinaries.airlock

    /// Where the binary keeps its state (events, spool) during the tests, unless a test says otherwise.
    static let stateDirectory = NSTemporaryDirectory() + "airlock-cli-state-\(UUID().uuidString)"

    static func airlock(_ arguments: [String], environment: [String: String] = [:], executable: URL = binary, stdin: Data? = nil) throws -> Run {
        try airlock(raw: arguments.map { Array($0.utf8) }, environment: environment, executable: executable, stdin: stdin)
    }

    /// Arguments as raw bytes, so that a test can pass what is not valid UTF-8.
    static func airlock(raw arguments: [[UInt8]], environment: [String: String] = [:], executable binary: URL = binary, stdin: Data? = nil) throws -> Run {
        let process = Process()
        process.executableURL = binary
        process.environment = ProcessInfo.processInfo.environment.merging(["AIRLOCK_STATE_DIR": stateDirectory]) { $1 }
            .merging(environment) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
        // Foundation's Process takes Strings; bytes that are not UTF-8 are made by printf in
        // /bin/sh, which then execs airlock (so the exit status is airlock's own).
        if arguments.allSatisfy({ String(validating: $0, as: UTF8.self) != nil }) {
            process.arguments = arguments.map { String(decoding: $0, as: UTF8.self) }
        } else {
            let octal = arguments.map { argument in
                "\"$(printf '" + argument.map { "\\" + String($0, radix: 8) }.joined() + "')\""
            }
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "exec \"$0\" " + octal.joined(separator: " "), binary.path]
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        if stdin != nil { process.standardInput = input }
        try process.run()
        if let stdin {
            // Written from a thread of its own: a pipe holds 64 KiB, and airlock reads it only once started.
            Thread.detachNewThread {
                input.fileHandleForWriting.write(stdin)
                try? input.fileHandleForWriting.close()
            }
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    @Test("serve runs the worker beside airlock: its options, its errors; without it, a clear error")
    func serveIsTheWorker() throws {
        let help = try Self.airlock(["serve", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("USAGE: airlock serve"), "\(help.stdout)")
        #expect(help.stdout.contains("--socket") && help.stdout.contains("--allow-uid") && help.stdout.contains("--grace"))
        let bad = try Self.airlock(["serve", "--no-such-option"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("Unknown option '--no-such-option'"), "\(bad.stderr)")

        // An airlock copied somewhere without airlock-worker.
        let directory = NSTemporaryDirectory() + "airlock-alone-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: Self.binary.path, toPath: directory + "/airlock")
        let alone = try Self.airlock(["serve"], executable: URL(fileURLWithPath: directory + "/airlock"))
        #expect(alone.status == 2)
        #expect(alone.stderr.contains("cannot start the worker \(directory)/airlock-worker: No such file or directory"), "\(alone.stderr)")
        // The other commands do not need it.
        let judged = try Self.airlock(["judge", "--context", "readonly", "--", "git", "log"], executable: URL(fileURLWithPath: directory + "/airlock"))
        #expect(judged.status == 0)
    }

    @Test("judge: allowed exits 0 and prints the rule")
    func allowed() throws {
        let run = try Self.airlock(["judge", "--context", "readonly", "--", "git", "log", "--oneline"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("allowed: git log"))
        #expect(run.stdout.contains("rule: git-inspect"))
    }

    @Test("judge: denied exits 3 with the rule and reason")
    func denied() throws {
        let run = try Self.airlock(["judge", "--context", "developer", "--", "git", "push", "-f", "origin", "main"])
        #expect(run.status == 3)
        #expect(run.stdout.contains("rule: git-no-force-push"))
        #expect(run.stdout.contains("force push rewrites shared history"))
    }

    @Test("judge --format json has the documented fields")
    func json() throws {
        let run = try Self.airlock([
            "judge", "--policy", "policies/default.yaml", "--context", "readonly", "--format", "json", "--",
            "kubectl", "get", "pods,secrets",
        ])
        #expect(run.status == 3)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["allowed"] as? Bool == false)
        #expect(object["tool"] as? String == "kubectl")
        #expect(object["requested_subcommand"] as? String == "get")
        #expect(object["rule_id"] as? String == "kubectl-no-secrets")
        #expect(object["security_context"] as? String == "readonly")
        #expect((object["reason"] as? String)?.isEmpty == false)
        #expect((object["policy_digest"] as? String)?.hasPrefix("sha256:") == true)
    }

    @Test("judge --explain shows the parse and the rules that matched")
    func explain() throws {
        let run = try Self.airlock(["judge", "--context", "developer", "--explain", "--", "git", "push", "--forc"])
        #expect(run.status == 3)
        #expect(run.stdout.contains("airlock.ambiguous-option"))
        let allowed = try Self.airlock(["judge", "--context", "developer", "--explain", "--", "git", "-P", "push", "-u", "origin", "main"])
        #expect(allowed.status == 0)
        #expect(allowed.stdout.contains("global options: no-pager [-P]"))
        #expect(allowed.stdout.contains("subcommand: push"))
        #expect(allowed.stdout.contains("options: set-upstream [-u]"))
        #expect(allowed.stdout.contains("positionals: 'origin' 'main'"))
        #expect(allowed.stdout.contains("git-sync (developer): matches  <- decided"))
        #expect(allowed.stdout.contains("git-no-force-push (developer): no match"))
    }

    @Test("judge: an argument that is not valid UTF-8 is denied")
    func invalidUTF8() throws {
        let run = try Self.airlock(raw: [
            Array("judge".utf8), Array("--context".utf8), Array("readonly".utf8), Array("--".utf8), Array("git".utf8),
            Array("log".utf8), [0x66, 0xFF, 0x6F],
        ])
        #expect(run.status == 3)
        #expect(run.stdout.contains("airlock.invalid-argument"))
        #expect(run.stdout.contains("argument 2 is not valid UTF-8"))
    }

    @Test("judge: a broken policy is an error (exit 2) with its location, not a decision")
    func brokenPolicy() throws {
        let path = NSTemporaryDirectory() + "airlock-broken-\(UUID().uuidString).yaml"
        try "version: 1\ntools: {}\ncontexts:\n  readonly:\n    alow: []\n".write(toFile: path, atomically: true, encoding: .utf8)
        let run = try Self.airlock(["judge", "--policy", path, "--context", "readonly", "--", "git", "log"])
        #expect(run.status == 2)
        #expect(run.stderr.contains("\(path):5:5: error: unknown key 'alow' in context 'readonly' (did you mean 'allow'?)"))
        #expect(run.stdout.isEmpty)
    }

    /// One loading path: every call reads and checks the whole policy from its files, so a broken
    /// grammar of another tool is an error at every call, and nothing is remembered between calls.
    @Test("judge and run load the whole policy at every call: another tool's broken grammar is rejected", arguments: [["judge", "--format", "json"], ["run"]])
    func wholePolicyEveryCall(_ command: [String]) throws {
        let root = NSTemporaryDirectory() + "airlock-whole-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/cache", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.repositoryRoot + "/policies", toPath: root + "/policies")
        let environment = ["XDG_CACHE_HOME": root + "/cache"]
        // A denial: run needs no engine for it, and both print the rule and reason.
        let arguments = command + ["--policy", root + "/policies/default.yaml", "--context", "developer", "--", "git", "push", "--force", "origin", "main"]
        let first = try Self.airlock(arguments, environment: environment)
        #expect(first.status == 3, "\(first.stderr)")
        #expect((first.stdout + first.stderr).contains("git-no-force-push"), "\(first.stdout) \(first.stderr)")
        let aws = root + "/policies/grammars/aws.yaml"
        try (try String(contentsOfFile: aws, encoding: .utf8) + "\nbogus_key: 1\n").write(toFile: aws, atomically: true, encoding: .utf8)
        for _ in 0..<2 {
            let broken = try Self.airlock(arguments, environment: environment)
            #expect(broken.status == 2)
            #expect(broken.stderr.contains("aws.yaml") && broken.stderr.contains("bogus_key"), "\(broken.stderr)")
            #expect(!broken.stderr.contains("git-no-force-push"))
        }
        let cached = (try? FileManager.default.subpathsOfDirectory(atPath: root + "/cache")) ?? []
        #expect(cached.filter { $0.contains("policy") || $0.contains("seccomp") }.isEmpty, "\(cached)")
    }

    @Test("judge: usage errors exit with 64 and say what is missing")
    func usage() throws {
        let run = try Self.airlock(["judge", "--context", "readonly"])
        #expect(run.status == 64)
        #expect(run.stderr.contains("Name the command after '--'"))
    }

    @Test("policy check: a summary for a good file, every error with its location for a bad one")
    func policyCheck() throws {
        let good = try Self.airlock(["policy", "check", "policies/default.yaml"])
        #expect(good.status == 0)
        #expect(good.stdout.contains("policies/default.yaml: ok"))
        #expect(good.stdout.contains("tools: aws, gh, git, kubectl, terraform"))
        #expect(good.stdout.contains("context developer (extends readonly)"))
        #expect(good.stdout.contains("digest: sha256:"))

        let path = NSTemporaryDirectory() + "airlock-bad-\(UUID().uuidString).yaml"
        try """
            version: 1
            tools:
              git: {grammar: grammars/nope.yaml, image: x:1, entrypoint: [/usr/bin/git]}
            contexts:
              a:
                extends: b
                allow:
                  - {id: r, tool: svn, reason: x}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let bad = try Self.airlock(["policy", "check", path])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("\(path):3:18: error: cannot read grammar file"))
        #expect(bad.stderr.contains("\(path):6:14: error: context 'a' extends unknown context 'b'"))
        #expect(bad.stderr.contains("\(path):8:23: error: rule 'r' names unknown tool 'svn'"))
    }

    @Test("a file is read whole whatever it is: a profile through a pipe (no size to go by) as from its path")
    func pipedFile() throws {
        let profile = try Data(contentsOf: URL(fileURLWithPath: Self.repositoryRoot + "/policies/seccomp/hardened.json"))
        #expect(profile.count > 8192, "the pipe must take more than one read buffer")
        let direct = try Self.airlock(["seccomp", "check", "policies/seccomp/hardened.json"])
        let piped = try Self.airlock(["seccomp", "check", "/dev/stdin"], stdin: profile)
        #expect(direct.status == 0 && piped.status == 0, "\(piped.stderr)")
        let summary = { (run: Run) in run.stdout.split(separator: "\n").dropFirst().joined(separator: "\n") }
        #expect(!summary(direct).isEmpty)
        #expect(summary(piped) == summary(direct))
        // Cut short, it is not the same profile: the bytes read are all the bytes there are.
        let cut = try Self.airlock(["seccomp", "check", "/dev/stdin"], stdin: profile.prefix(profile.count - 3))
        #expect(cut.status != 0)
    }

    @Test("help text names the commands and the exit statuses")
    func help() throws {
        let root = try Self.airlock(["--help"])
        #expect(root.stdout.contains("judge"))
        #expect(root.stdout.contains("policy"))
        let judge = try Self.airlock(["judge", "--help"])
        #expect(judge.stdout.contains("Exit status: 0 allowed, 3 denied"))
        #expect(judge.stdout.contains("--explain"))
    }
}
