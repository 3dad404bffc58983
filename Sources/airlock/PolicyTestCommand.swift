import AirlockCommandLine
import AirlockPolicy
import ArgumentParser
import Foundation

extension PolicyCommand {
    /// `airlock policy test`: runs policy test files with the judge the worker decides with.
    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "test",
            abstract: "Run policy test files: each case's decision and deciding rule, as the worker would decide.",
            discussion: """
                PATHs are test files or directories searched for *.yaml (default: tests/ beside the policy file). \
                Exit status: 0 every case passes, 1 a case fails, 2 a policy or test file is invalid, 64 bad usage.
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, junit }

        @Option(help: "The policy to test (default: each file's `policy`, else policies/default.yaml); wins over the files' own.")
        var policy: String?

        @Option(help: "text, json or junit (JUnit XML for CI systems).")
        var format: Format = .text

        @Flag(help: "Report how many cases each rule of the policy decided, and the rules no case exercised.")
        var coverage = false

        @Argument(help: "Test files, or directories searched for *.yaml.")
        var paths: [String] = []

        static let defaultPolicy = "policies/default.yaml"

        func run() throws {
            let files: [String]
            var suites: [PolicyTestSuite] = []
            var errors: [PolicyError] = []
            do {
                files = try Self.testFiles(paths.isEmpty ? [Self.directory(of: policy ?? Self.defaultPolicy) + "/tests"] : paths)
            } catch {
                StandardError.print("airlock: \(error)")
                throw ExitStatus.error
            }
            for file in files {
                do {
                    suites.append(try PolicyTestSuite.parse(PolicyFiles.readText(file), file: file))
                } catch let error as PolicyLoadError {
                    errors += error.errors
                } catch {
                    errors.append(PolicyError(.unreadableFile, "cannot read the test file", at: SourceLocation(file: file, line: 0, column: 0), cause: "\(error)"))
                }
            }
            // Each policy the files name is loaded once, in full, as the worker loads it.
            var judges: [String: Judge] = [:]
            var run = PolicyTestRun()
            for suite in suites {
                let path = policy ?? suite.policy ?? Self.defaultPolicy
                if judges[path] == nil {
                    do {
                        judges[path] = Judge(policy: try PolicyFiles.loader.load(path: path))
                    } catch {
                        PolicyFiles.report(error)
                        StandardError.print("\(path): the policy of \(suite.file) does not load")
                        throw ExitStatus.error
                    }
                }
                do {
                    try run.run(suite, judge: judges[path]!)
                } catch {
                    errors += error.errors
                }
            }
            if !errors.isEmpty {
                PolicyFiles.report(PolicyLoadError(errors: errors))
                throw ExitStatus.error
            }
            let report = PolicyTestReport(run: run, files: files, judges: judges, coverage: coverage)
            switch format {
            case .text: print(report.text())
            case .json: print(try report.json())
            case .junit: print(report.junit())
            }
            if !run.failures.isEmpty { throw ExitCode(1) }
        }

        static func directory(of file: String) -> String {
            (file as NSString).deletingLastPathComponent.isEmpty ? "." : (file as NSString).deletingLastPathComponent
        }

        /// The files named, and the `*.yaml` files under the directories named, in path order. A
        /// path that does not exist, or a directory without a test file, is an error: a suite
        /// that silently runs nothing would pass.
        static func testFiles(_ paths: [String]) throws -> [String] {
            var files: [String] = []
            for path in paths {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    throw ValidationError("\(path): no such test file or directory")
                }
                guard isDirectory.boolValue else {
                    files.append(path)
                    continue
                }
                let found = (FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? [])
                    .filter { $0.hasSuffix(".yaml") }.sorted().map { (path as NSString).appendingPathComponent($0) }
                if found.isEmpty { throw ValidationError("\(path): no *.yaml test file in this directory") }
                files += found
            }
            return files
        }
    }
}

/// The results of a test run, as people, scripts and CI systems read them.
struct PolicyTestReport {
    var run: PolicyTestRun
    var files: [String]
    var judges: [String: Judge]
    var coverage: Bool

    /// The judge that decided the case (policies with the same digest decide alike).
    func judge(for result: PolicyTestResult) -> Judge? {
        judges.values.first { $0.policy.digest == result.decision.policyDigest }
    }

    /// What `judge --explain` prints for the case: the parse and every rule's outcome.
    func explanation(_ result: PolicyTestResult) -> String {
        guard let judge = judge(for: result) else { return "" }
        let (decision, evaluations) = judge.explain(result.testCase.request)
        return DecisionReport(decision, evaluations: evaluations).text()
    }

    static func describe(allowed: Bool, rule: String?) -> String {
        (allowed ? "allow" : "deny") + (rule.map { " (rule \($0))" } ?? "")
    }

    func text() -> String {
        var lines: [String] = []
        for result in run.failures {
            let testCase = result.testCase
            lines.append("\(testCase.location): FAIL \(testCase.name)")
            lines.append("  argv: \(testCase.argv.joined(separator: " "))  context: \(testCase.context)" + (testCase.tenant.map { "  tenant: \($0)" } ?? ""))
            lines.append("  expected: \(Self.describe(allowed: testCase.expectAllowed, rule: testCase.rule))")
            lines.append("  actual:   \(Self.describe(allowed: result.decision.allowed, rule: result.decision.ruleID)): \(result.decision.reason)")
            lines += explanation(result).split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }
        }
        let failed = run.failures.count
        lines.append(
            "\(run.results.count) cases in \(files.count) file\(files.count == 1 ? "" : "s"): \(run.results.count - failed) passed, \(failed) failed")
        if coverage {
            let rules = run.casesByRule.sorted { $0.key < $1.key }
            lines.append("coverage: \(rules.count - run.unexercised.count) of \(rules.count) rules exercised")
            let width = rules.map(\.key.count).max() ?? 0
            for (rule, count) in rules {
                lines.append("  \(rule.padding(toLength: width, withPad: " ", startingAt: 0))  \(count) case\(count == 1 ? "" : "s")")
            }
            if !run.unexercised.isEmpty { lines.append("unexercised: \(run.unexercised.joined(separator: ", "))") }
        }
        return lines.joined(separator: "\n")
    }

    struct JSONReport: Encodable {
        struct Case: Encodable {
            var file: String
            var line: Int
            var column: Int
            var name: String
            var context: String
            var tenant: String?
            var argv: [String]
            var expect: String
            var expectedRule: String?
            var passed: Bool
            var allowed: Bool
            var ruleId: String
            var reason: String
            var policyDigest: String
            var explain: String?
        }
        struct Summary: Encodable {
            var cases: Int
            var passed: Int
            var failed: Int
            var files: Int
        }
        struct Coverage: Encodable {
            struct Rule: Encodable {
                var id: String
                var cases: Int
            }
            var rules: [Rule]
            var unexercised: [String]
        }
        var results: [Case]
        var summary: Summary
        var coverage: Coverage?
    }

    func json() throws -> String {
        let cases = run.results.map { result in
            let testCase = result.testCase
            return JSONReport.Case(
                file: testCase.location.file, line: testCase.location.line, column: testCase.location.column, name: testCase.name,
                context: testCase.context, tenant: testCase.tenant, argv: testCase.argv, expect: testCase.expectAllowed ? "allow" : "deny",
                expectedRule: testCase.rule, passed: result.passed, allowed: result.decision.allowed, ruleId: result.decision.ruleID,
                reason: result.decision.reason, policyDigest: result.decision.policyDigest,
                explain: result.passed ? nil : explanation(result))
        }
        let failed = run.failures.count
        let report = JSONReport(
            results: cases, summary: .init(cases: cases.count, passed: cases.count - failed, failed: failed, files: files.count),
            coverage: coverage
                ? .init(rules: run.casesByRule.sorted { $0.key < $1.key }.map { .init(id: $0.key, cases: $0.value) }, unexercised: run.unexercised)
                : nil)
        return try DecisionReport.snakeCaseJSON(report)
    }

    /// JUnit XML: one testsuite per file, one testcase per case, a failure with the explanation.
    func junit() -> String {
        var lines = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>"]
        let failed = run.failures.count
        lines.append("<testsuites name=\"airlock policy test\" tests=\"\(run.results.count)\" failures=\"\(failed)\">")
        for file in files {
            let results = run.results.filter { $0.testCase.location.file == file }
            let failures = results.filter { !$0.passed }.count
            lines.append("  <testsuite name=\"\(Self.escape(file))\" tests=\"\(results.count)\" failures=\"\(failures)\">")
            for result in results {
                let testCase = result.testCase
                let opening = "    <testcase name=\"\(Self.escape(testCase.name))\" classname=\"\(Self.escape(file))\""
                if result.passed {
                    lines.append(opening + "/>")
                    continue
                }
                let message =
                    "expected \(Self.describe(allowed: testCase.expectAllowed, rule: testCase.rule)), got \(Self.describe(allowed: result.decision.allowed, rule: result.decision.ruleID))"
                lines.append(opening + ">")
                lines.append("      <failure message=\"\(Self.escape(message))\">\(Self.escape("\(testCase.location)\n" + explanation(result)))</failure>")
                lines.append("    </testcase>")
            }
            lines.append("  </testsuite>")
        }
        lines.append("</testsuites>")
        return lines.joined(separator: "\n")
    }

    /// Text for an XML attribute or element: the five reserved characters as entities, and
    /// control characters XML 1.0 cannot carry replaced.
    static func escape(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            case "\n", "\t": result.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20: result += "\u{FFFD}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
