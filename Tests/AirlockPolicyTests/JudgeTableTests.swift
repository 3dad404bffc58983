import AirlockPolicy
import Foundation
import Testing

/// The judge table: the shipped suite `policies/tests/*.yaml`, the cases operators run with
/// `airlock policy test`, read and run here by the same code.
enum ShippedSuite {
    static let directory = TestSupport.repositoryRoot + "/policies/tests"

    static let suites: [PolicyTestSuite] = {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter { $0.hasSuffix(".yaml") }.sorted() ?? []
        return files.map { name in
            do {
                return try PolicyTestSuite.parse(String(contentsOfFile: directory + "/" + name, encoding: .utf8), file: directory + "/" + name)
            } catch {
                fatalError("policies/tests/\(name) does not parse:\n\(error)")
            }
        }
    }()

    static let cases: [PolicyTestCase] = suites.flatMap(\.cases)
}

extension PolicyTestCase: CustomTestStringConvertible {
    public var testDescription: String {
        "\(expectAllowed ? "allow" : "deny ") \(context)\(tenant.map { "/\($0)" } ?? ""): \(argv.joined(separator: " ")) [\(rule ?? "any rule")]"
    }
}

@Suite("The judge on the default policy")
struct JudgeTableTests {
    @Test("the shipped suite covers at least 200 cases over the five tools and both contexts, each naming its rule")
    func coverage() {
        #expect(ShippedSuite.cases.count >= 200)
        #expect(ShippedSuite.cases.allSatisfy { $0.rule != nil })
        for tool in ["git", "kubectl", "gh", "terraform", "aws"] {
            for context in ["readonly", "developer"] {
                #expect(ShippedSuite.cases.contains { $0.argv.first == tool && $0.context == context }, "\(tool) in \(context)")
            }
        }
    }

    @Test("decision and deciding rule", arguments: ShippedSuite.cases)
    func decide(_ row: PolicyTestCase) {
        let decision = TestSupport.judge.decide(row.request)
        #expect(decision.allowed == row.expectAllowed, "\(row.location) \(decision.ruleID): \(decision.reason)")
        #expect(decision.ruleID == row.rule, "\(row.location) \(decision.reason)")
        #expect(decision.policyDigest == TestSupport.defaultPolicy.digest)
        #expect(!decision.reason.isEmpty)
        #expect(decision.securityContext == row.context)
        // --explain walks every rule of the tool; the decision path uses the per-command index.
        #expect(TestSupport.judge.explain(row.request).decision == decision)
    }

    @Test("the test runner passes the shipped suite, and every rule of the default policy decides some case")
    func everyRuleIsExercised() throws {
        var run = PolicyTestRun()
        for suite in ShippedSuite.suites {
            #expect(suite.policy == ShippedSuite.directory + "/../default.yaml")
            try run.run(suite, judge: TestSupport.judge)
        }
        #expect(run.results.count == ShippedSuite.cases.count)
        #expect(run.failures.isEmpty, "\(run.failures.map(\.testCase.location))")
        #expect(run.unexercised.isEmpty, "rules no case decides: \(run.unexercised)")
        let rules = Set(TestSupport.defaultPolicy.contexts.values.flatMap { ($0.denyRules + $0.allowRules).map(\.id) })
        #expect(Set(run.casesByRule.keys) == rules)
    }

    @Test("an argument that arrives as invalid UTF-8 is denied")
    func invalidUTF8() {
        let request = JudgeRequest(tool: "git", rawArgv: [Array("log".utf8), [0xC3, 0x28]], securityContext: "readonly")
        let decision = TestSupport.judge.decide(request)
        #expect(!decision.allowed)
        #expect(decision.ruleID == "airlock.invalid-argument")
        #expect(decision.reason == "argument 2 is not valid UTF-8")
    }

    @Test("the requested subcommand is reported as understood, also when denied")
    func requestedSubcommand() {
        func subcommand(_ tool: String, _ argv: [String]) -> String {
            TestSupport.judge.decide(JudgeRequest(tool: tool, argv: argv, securityContext: "readonly")).requestedSubcommand
        }
        #expect(subcommand("git", ["--no-pager", "remote", "-v", "add", "x", "y"]) == "remote add")
        #expect(subcommand("git", ["frobnicate", "--x"]) == "frobnicate")
        #expect(subcommand("git", ["push", "--bogus"]) == "push")
        #expect(subcommand("kubectl", ["top", "pods"]) == "top pod")
        #expect(subcommand("aws", ["ec2", "describe-instances"]) == "ec2 describe-instances")
    }
}
