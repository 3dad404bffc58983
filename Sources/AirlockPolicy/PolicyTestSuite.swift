import Yams

/// One case of a policy test file: a command, where it is judged, and what must be decided.
public struct PolicyTestCase: Sendable, Hashable {
    /// The case's name, or its argv when it has none.
    public var name: String
    public var context: String
    public var tenant: String?
    /// The tool first, then its arguments.
    public var argv: [String]
    public var expectAllowed: Bool
    /// The rule that must decide, when the case names one.
    public var rule: String?
    public var location: SourceLocation

    public var request: JudgeRequest {
        JudgeRequest(tool: argv[0], argv: Array(argv.dropFirst()), tenant: tenant, securityContext: context)
    }
}

/// A policy test file: the policy it is written for (optional) and its cases.
///
/// ```yaml
/// policy: ../default.yaml          # optional, relative to this file
/// cases:
///   - name: force push in any spelling is refused
///     context: developer
///     tenant: acme                 # optional
///     argv: [git, push, --forc, origin, main]
///     expect: deny                 # allow | deny
///     rule: airlock.ambiguous-option   # optional
/// ```
public struct PolicyTestSuite: Sendable {
    public var file: String
    /// The `policy` key, resolved against the file's directory.
    public var policy: String?
    public var cases: [PolicyTestCase]

    enum Expectation: String, CaseIterable {
        case allow, deny
    }

    /// Parses a test file's text; every problem is reported with its location, as for a policy.
    public static func parse(_ text: String, file: String) throws(PolicyLoadError) -> PolicyTestSuite {
        let reader = YAMLReader(file: file)
        var suite = PolicyTestSuite(file: file, policy: nil, cases: [])
        if let document = reader.compose(text),
            let top = reader.fields(document, "the test file", allowed: ["policy", "cases"], required: ["cases"])
        {
            suite.policy = top["policy"].flatMap { reader.nonEmptyString($0, "policy") }.map {
                Paths.join(Paths.directory(of: file), $0)
            }
            if let node = top["cases"], let items = reader.sequence(node, "cases") {
                suite.cases = items.compactMap { testCase($0, reader) }
            }
        }
        guard reader.errors.isEmpty else { throw PolicyLoadError(errors: reader.errors) }
        return suite
    }

    private static func testCase(_ node: Node, _ reader: YAMLReader) -> PolicyTestCase? {
        let errorsBefore = reader.errors.count
        let what = "a test case"
        guard
            let fields = reader.fields(
                node, what, allowed: ["name", "context", "tenant", "argv", "expect", "rule"], required: ["context", "argv", "expect"])
        else { return nil }
        let context = fields["context"].flatMap { reader.nonEmptyString($0, "context of \(what)") }
        let tenant = fields["tenant"].flatMap { reader.nonEmptyString($0, "tenant of \(what)") }
        var argv: [String]?
        if let argvNode = fields["argv"], let list = reader.stringList(argvNode, "argv of \(what)") {
            if case .scalar = argvNode {
                reader.error(.wrongType, "argv of \(what) must be a list: the tool first, then its arguments", at: argvNode)
            } else if list.isEmpty {
                reader.error(.invalidValue, "argv of \(what) must name the tool", at: argvNode)
            } else {
                argv = list
            }
        }
        let expectation = fields["expect"].flatMap { reader.choice($0, "expect of \(what)", as: Expectation.self) }
        let rule = fields["rule"].flatMap { reader.nonEmptyString($0, "rule of \(what)") }
        let name = fields["name"].flatMap { reader.nonEmptyString($0, "name of \(what)") }
        guard reader.errors.count == errorsBefore, let context, let argv, let expectation else { return nil }
        return PolicyTestCase(
            name: name ?? argv.joined(separator: " "), context: context, tenant: tenant, argv: argv,
            expectAllowed: expectation == .allow, rule: rule, location: reader.location(node))
    }
}

/// The outcome of one case.
public struct PolicyTestResult: Sendable {
    public var testCase: PolicyTestCase
    public var decision: Decision
    public var passed: Bool {
        decision.allowed == testCase.expectAllowed && (testCase.rule == nil || testCase.rule == decision.ruleID)
    }
}

/// Runs test cases with the judge the worker decides with, and counts which rule decided each.
public struct PolicyTestRun: Sendable {
    public var results: [PolicyTestResult] = []
    /// Each rule id of the policies run, with how many cases it decided (Airlock's own rules aside).
    public var casesByRule: [String: Int] = [:]

    public init() {}

    public var failures: [PolicyTestResult] { results.filter { !$0.passed } }

    /// Rules no case decided, in id order.
    public var unexercised: [String] { casesByRule.filter { $0.value == 0 }.map(\.key).sorted() }

    /// Judges every case of `suite` under `judge`'s policy. A case naming a context, tenant or
    /// tool the policy does not have is an error at its location, not a silent deny, unless it
    /// expects exactly that denial (`expect: deny` with the `airlock.unknown-…` rule).
    public mutating func run(_ suite: PolicyTestSuite, judge: Judge) throws(PolicyLoadError) {
        let policy = judge.policy
        for context in policy.contexts.values {
            for rule in context.denyRules + context.allowRules where casesByRule[rule.id] == nil {
                casesByRule[rule.id] = 0
            }
        }
        var errors: [PolicyError] = []
        for testCase in suite.cases {
            let expectsUnknown = !testCase.expectAllowed && testCase.rule?.hasPrefix("airlock.unknown-") == true
            var unknown: [String] = []
            if policy.tools[testCase.argv[0]] == nil {
                unknown.append("tool '\(testCase.argv[0])' (known: \(policy.tools.keys.sorted().joined(separator: ", ")))")
            }
            if policy.contexts[testCase.context] == nil {
                unknown.append("context '\(testCase.context)' (known: \(policy.contexts.keys.sorted().joined(separator: ", ")))")
            }
            if let tenant = testCase.tenant, policy.tenants[tenant] == nil {
                unknown.append("tenant '\(tenant)' (known: \(policy.tenants.keys.sorted().joined(separator: ", ")))")
            }
            if !unknown.isEmpty, !expectsUnknown {
                errors.append(
                    PolicyError(
                        .unknownReference, "the case '\(testCase.name)' names unknown \(unknown.joined(separator: " and ")) of \(policy.file)",
                        at: testCase.location))
                continue
            }
            let decision = judge.decide(testCase.request)
            if let count = casesByRule[decision.ruleID] { casesByRule[decision.ruleID] = count + 1 }
            results.append(PolicyTestResult(testCase: testCase, decision: decision))
        }
        if !errors.isEmpty { throw PolicyLoadError(errors: errors) }
    }
}
