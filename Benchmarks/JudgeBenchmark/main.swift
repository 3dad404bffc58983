// Judge benchmark: decisions per second and p50/p99 latency per decision, argv parsing included,
// on the default policy and on a generated policy of 1,000 rules. A naive string-prefix matcher
// (what the judge replaces) is measured in the same run as the baseline for the ratios.
// Also the whole load of the policy, as every `airlock run` does it: files read, grammars built.
//
//   swift run -c release JudgeBenchmark [--policy policies/default.yaml] [--rounds N] [--repeats N]
import AirlockPolicy
import Foundation

let arguments = CommandLine.arguments
func option(_ name: String, default value: String) -> String {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return value }
    return arguments[index + 1]
}
let policyPath = option("--policy", default: "policies/default.yaml")
let rounds = Int(option("--rounds", default: "20000"))!
let repeats = Int(option("--repeats", default: "5"))!

let loader = PolicyLoader { path in try String(contentsOfFile: path, encoding: .utf8) }

/// A realistic mix: allowed and denied, every tool, abbreviations, bundles, paths, secrets.
let requests: [JudgeRequest] = [
    ("readonly", "git log --oneline -n 20 --graph --decorate"),
    ("readonly", "git --no-pager -C repo status -sb -uno"),
    ("readonly", "git -c core.pager=less log"),
    ("readonly", "git diff --stat HEAD~3..HEAD -- src/main.swift"),
    ("developer", "git push --force-w origin main"),
    ("developer", "git push -u origin feature/x"),
    ("developer", "git commit -am message"),
    ("readonly", "kubectl get pods,secrets -n default -o wide"),
    ("readonly", "kubectl get deployments -n prod -o yaml"),
    ("readonly", "kubectl logs web-1 -c app --tail=100 -f"),
    ("readonly", "gh pr list -R owner/repo --state open -L 20"),
    ("readonly", "terraform -chdir=infra plan -out=/tmp/plan -var-file=prod.tfvars"),
    ("readonly", "terraform fmt -check -recursive"),
    ("readonly", "aws ec2 describe-instances --region us-east-1 --filters Name=tag:env,Values=prod"),
    ("readonly", "aws s3 ls s3://bucket --endpoint http://evil.example"),
    ("readonly", "git frobnicate --x"),
].map { context, command in
    let argv = command.split(separator: " ").map(String.init)
    return JudgeRequest(tool: argv[0], argv: Array(argv.dropFirst()), securityContext: context)
}

@inline(never)
func now() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

struct Figures {
    var perSecond: Double
    var p50: Double
    var p99: Double
}

/// Times every call on its own (for the percentiles) and the whole loop (for the rate), `repeats`
/// times; the machines are shared, so each figure is the best of the repeats (the least disturbed).
func measure(_ label: String, _ body: (Int) -> Bool) -> Figures {
    var sink = 0
    for index in 0..<2_000 where body(index) { sink += 1 }  // warm up
    var figures = Figures(perSecond: 0, p50: .infinity, p99: .infinity)
    for _ in 0..<repeats {
        sink = 0
        var samples = [UInt64](repeating: 0, count: rounds)
        let start = now()
        for index in 0..<rounds {
            let before = now()
            if body(index) { sink += 1 }
            samples[index] = now() - before
        }
        let total = Double(now() - start)
        samples.sort()
        figures.perSecond = max(figures.perSecond, Double(rounds) / (total / 1e9))
        figures.p50 = min(figures.p50, Double(samples[rounds / 2]) / 1000)
        figures.p99 = min(figures.p99, Double(samples[rounds * 99 / 100]) / 1000)
    }
    let rate = String(format: "%12.0f", figures.perSecond)
    print("\(label.padding(toLength: 36, withPad: " ", startingAt: 0)) \(rate) decisions/s   p50 \(String(format: "%6.2f", figures.p50)) µs   p99 \(String(format: "%6.2f", figures.p99)) µs   (allowed \(sink))")
    return figures
}

/// A policy of 1,000 rules over the default tools and grammars: many namespaces, subcommands, options.
func generatedPolicy(from defaultPolicyPath: String) throws -> Policy {
    var yaml = try String(contentsOfFile: defaultPolicyPath, encoding: .utf8)
    guard let contexts = yaml.range(of: "\ncontexts:\n") else { fatalError("no contexts in \(defaultPolicyPath)") }
    yaml = String(yaml[..<contexts.lowerBound]) + "\ncontexts:\n  generated:\n    deny:\n"
    let gitSubcommands = ["log", "show", "diff", "status", "blame", "grep", "ls-files", "rev-parse"]
    let kubectlSubcommands = ["get", "describe", "logs", "explain"]
    for index in 0..<500 {
        yaml += """
                  - id: deny-ns-\(index)
                    tool: kubectl
                    subcommand: \(kubectlSubcommands[index % kubectlSubcommands.count])
                    option_values: {namespace: {any: ["team-\(index)-*"]}}
                    reason: namespace \(index) is closed

            """
    }
    yaml += "    allow:\n"
    for index in 0..<500 {
        yaml += """
                  - id: allow-\(index)
                    tool: \(index % 2 == 0 ? "git" : "kubectl")
                    subcommand: \(index % 2 == 0 ? gitSubcommands[index % gitSubcommands.count] : kubectlSubcommands[index % kubectlSubcommands.count])
                    positionals: {none: ["forbidden-\(index)-*"]}
                    reason: rule \(index)

            """
    }
    return try loader.load(yaml: yaml, file: defaultPolicyPath)
}

/// The baseline: the string-prefix allow-list that a naive executor would use.
let prefixes = ["git log", "git status", "git diff", "git show", "kubectl get", "kubectl logs", "gh pr list", "terraform plan", "aws ec2 describe-"]
let joined = requests.map { ([$0.tool] + $0.argv).joined(separator: " ") }

do {
    let policy = try loader.load(path: policyPath)
    let judge = Judge(policy: policy)
    let generated = try generatedPolicy(from: policyPath)
    let generatedJudge = Judge(policy: generated)
    let generatedRequests = requests.map { request -> JudgeRequest in
        var request = request
        request.securityContext = "generated"
        return request
    }
    let ruleCount = generated.contexts["generated"].map { $0.allowRules.count + $0.denyRules.count } ?? 0
    print("Airlock judge benchmark: \(rounds) decisions per line, best of \(repeats) repeats, \(requests.count) distinct requests")
    print("policy \(policyPath) (\(policy.digest.prefix(19))…); generated policy: \(ruleCount) rules\n")
    let baseline = measure("baseline: string-prefix matcher") { index in
        let command = joined[index % joined.count]
        return prefixes.contains { command.hasPrefix($0) }
    }
    let parseOnly = measure("argv parse only (default grammars)") { index in
        let request = requests[index % requests.count]
        if case .success = policy.tools[request.tool]!.parser.parse(request.argv) { return true }
        return false
    }
    let onDefault = measure("judge, default policy") { index in judge.decide(requests[index % requests.count]).allowed }
    let onGenerated = measure("judge, generated 1,000-rule policy") { index in
        generatedJudge.decide(generatedRequests[index % generatedRequests.count]).allowed
    }
    // The slowest request type decides the tail; name it, so a regression is easy to find.
    var perRequest: [(command: String, p50: Double)] = []
    for (index, request) in requests.enumerated() {
        var samples: [UInt64] = []
        for _ in 0..<max(rounds / requests.count, 100) {
            let before = now()
            _ = judge.decide(request)
            samples.append(now() - before)
        }
        samples.sort()
        perRequest.append((joined[index], Double(samples[samples.count / 2]) / 1000))
    }
    print("")
    for (command, p50) in perRequest.sorted(by: { $0.p50 > $1.p50 }).prefix(3) {
        print(String(format: "slow request: p50 %6.2f µs  ", p50) + command)
    }
    print("")
    print(String(format: "ratio p50 to baseline: parse %.1fx, default policy %.1fx, 1,000 rules %.1fx", parseOnly.p50 / baseline.p50, onDefault.p50 / baseline.p50, onGenerated.p50 / baseline.p50))
    print(String(format: "target p99 < 10 µs on the default policy: %@ (p99 %.2f µs)", onDefault.p99 < 10 ? "met" : "NOT met", onDefault.p99))
    var loads: [UInt64] = []
    for _ in 0..<max(repeats * 10, 20) {
        let before = now()
        _ = try loader.load(path: policyPath)
        loads.append(now() - before)
    }
    loads.sort()
    print(String(format: "whole policy load (files read, grammars built, digest): p50 %.2f ms, min %.2f ms over %d loads", Double(loads[loads.count / 2]) / 1e6, Double(loads[0]) / 1e6, loads.count))
} catch let error as PolicyLoadError {
    FileHandle.standardError.write(Data((error.description + "\n").utf8))
    exit(2)
}
