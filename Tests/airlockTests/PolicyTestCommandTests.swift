import Foundation
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// `airlock policy test` as an operator and a CI system run it.
@Suite("airlock policy test")
struct PolicyTestCommandTests {
    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "airlock-policy-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static let failing = """
        policy: \(CommandLineTests.repositoryRoot)/policies/default.yaml
        cases:
          - name: force push in any spelling is refused
            context: developer
            argv: [git, push, --force-w, origin, main]
            expect: allow
            rule: git-sync
          - context: readonly
            argv: [git, log]
            expect: allow
        """

    @Test("the shipped suite passes, and --coverage finds every rule of the default policy exercised")
    func shippedSuite() throws {
        let run = try CommandLineTests.airlock(["policy", "test", "--coverage"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("cases in 5 files:") && run.stdout.contains(" 0 failed"), "\(run.stdout)")
        #expect(run.stdout.contains("coverage: 45 of 45 rules exercised"), "\(run.stdout)")
        #expect(!run.stdout.contains("unexercised"))
        let json = try CommandLineTests.airlock(["policy", "test", "--coverage", "--format", "json", "policies/tests"])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let summary = try #require(object["summary"] as? [String: Any])
        #expect((summary["cases"] as? Int ?? 0) >= 200 && summary["failed"] as? Int == 0, "\(summary)")
        let coverage = try #require(object["coverage"] as? [String: Any])
        #expect((coverage["unexercised"] as? [String])?.isEmpty == true)
        #expect((coverage["rules"] as? [[String: Any]])?.count == 45)
    }

    @Test("a failing case: exit 1, its location, expected and actual decision and rule, and the judge's explanation")
    func failingCase() throws {
        let directory = try Self.directory()
        try Self.failing.write(toFile: directory + "/push.yaml", atomically: true, encoding: .utf8)
        let run = try CommandLineTests.airlock(["policy", "test", directory])
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("\(directory)/push.yaml:3:5: FAIL force push in any spelling is refused"), "\(run.stdout)")
        #expect(run.stdout.contains("expected: allow (rule git-sync)"))
        #expect(run.stdout.contains("actual:   deny (rule git-no-force-push): force push rewrites shared history"))
        #expect(run.stdout.contains("deny  git-no-force-push (developer): matches  <- decided"), "the explanation: \(run.stdout)")
        #expect(run.stdout.contains("2 cases in 1 file: 1 passed, 1 failed"))

        // JUnit: well-formed XML a CI system reads, with the failure and its message.
        let junit = try CommandLineTests.airlock(["policy", "test", "--format", "junit", directory + "/push.yaml"])
        #expect(junit.status == 1)
        let document = try XMLDocument(data: Data(junit.stdout.utf8))
        let suites = try #require(document.rootElement())
        #expect(suites.attribute(forName: "tests")?.stringValue == "2" && suites.attribute(forName: "failures")?.stringValue == "1")
        let failures = try document.nodes(forXPath: "//testcase/failure")
        #expect(failures.count == 1)
        let message = (failures.first as? XMLElement)?.attribute(forName: "message")?.stringValue
        #expect(message == "expected allow (rule git-sync), got deny (rule git-no-force-push)", "\(junit.stdout)")
    }

    @Test("invalid input: exit 2 with every error located, or 64 for bad usage; never a silent pass")
    func invalidInput() throws {
        let directory = try Self.directory()
        try "cases:\n  - context: developr\n    argv: [git, log]\n    expect: allow\n".write(
            toFile: directory + "/unknown.yaml", atomically: true, encoding: .utf8)
        let unknown = try CommandLineTests.airlock(["policy", "test", directory + "/unknown.yaml"])
        #expect(unknown.status == 2, "\(unknown.stdout)\(unknown.stderr)")
        #expect(unknown.stderr.contains("\(directory)/unknown.yaml:2:5: error: the case 'git log' names unknown context 'developr'"), "\(unknown.stderr)")

        try "cases:\n  - context: readonly\n    argv: [git, log]\n    expct: allow\n".write(
            toFile: directory + "/typo.yaml", atomically: true, encoding: .utf8)
        let typo = try CommandLineTests.airlock(["policy", "test", directory + "/typo.yaml"])
        #expect(typo.status == 2)
        #expect(typo.stderr.contains("typo.yaml:4:5: error: unknown key 'expct' in a test case (did you mean 'expect'?)"), "\(typo.stderr)")

        let brokenPolicy = directory + "/broken.yaml"
        try "version: 1\ntools: {}\ncontexts: {ro: {alow: []}}\n".write(toFile: brokenPolicy, atomically: true, encoding: .utf8)
        let policy = try CommandLineTests.airlock(["policy", "test", "--policy", brokenPolicy, directory + "/typo.yaml"])
        #expect(policy.status == 2)

        let empty = try Self.directory()
        let nothing = try CommandLineTests.airlock(["policy", "test", empty])
        #expect(nothing.status == 2 && nothing.stderr.contains("no *.yaml test file"), "\(nothing.stderr)")
        let missing = try CommandLineTests.airlock(["policy", "test", empty + "/absent.yaml"])
        #expect(missing.status == 2 && missing.stderr.contains("no such test file or directory"), "\(missing.stderr)")
        let usage = try CommandLineTests.airlock(["policy", "test", "--format", "xml"])
        #expect(usage.status == 64, "\(usage.stderr)")
    }

    @Test("--policy wins over the files' own policy")
    func policyOverride() throws {
        let directory = try Self.directory()
        try Self.failing.write(toFile: directory + "/push.yaml", atomically: true, encoding: .utf8)
        let root = CommandLineTests.repositoryRoot
        // The same policy with force pushes allowed: the failing case now passes.
        let permissive = try String(contentsOfFile: root + "/policies/default.yaml", encoding: .utf8)
            .replacingOccurrences(of: "grammars/", with: root + "/policies/grammars/")
            .replacingOccurrences(of: "seccomp/hardened.json", with: root + "/policies/seccomp/hardened.json")
            .replacingOccurrences(of: "options: {any: [force, force-with-lease, force-if-includes]}", with: "options: {any: [force-if-includes]}")
            .replacingOccurrences(of: "[git, push, --force-with-lease, origin, main], ", with: "")
            .replacingOccurrences(of: "match: [[git, push, -f], [git, push, --force-w, origin, main]]", with: "match: [[git, push, --force-if-includes]]")
        try permissive.write(toFile: directory + "/permissive.yaml", atomically: true, encoding: .utf8)
        let run = try CommandLineTests.airlock(["policy", "test", "--policy", directory + "/permissive.yaml", directory + "/push.yaml"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
    }
}
