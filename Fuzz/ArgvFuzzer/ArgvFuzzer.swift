// libFuzzer target: the argv parser and the judge, on every grammar the default policy ships.
//
// An input is lines: the first names the tool (a tool of the policy, else one is picked from its
// bytes), the others are argv, the subcommand first, as raw bytes (not necessarily UTF-8). Each is
// judged in every context of the policy, by `decide` and by `explain`, which must agree.
//
//   scripts/fuzz                       # builds with -sanitize=fuzzer and runs it
//   .build/debug/ArgvFuzzer DIR|FILE   # a normal build replays inputs once each
import AirlockPolicy
import FuzzDriver
import Foundation

let policy: Policy = {
    let loader = PolicyLoader { try String(contentsOfFile: $0, encoding: .utf8) }
    do {
        return try loader.load(path: repositoryRoot + "/policies/default.yaml")
    } catch {
        fatalError("the default policy does not load: \(error)")
    }
}()
let judge = Judge(policy: policy)
let tools = policy.tools.keys.sorted()
let contexts = policy.contexts.keys.sorted()

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let elements = fuzzElements(UnsafeBufferPointer(start: data, count: size))
    let first = elements.first ?? []
    let named = String(decoding: first, as: UTF8.self)
    let tool = policy.tools[named] != nil ? named : tools[first.reduce(0) { ($0 &+ Int($1)) } % tools.count]
    let argv = Array(elements.dropFirst())
    for context in contexts {
        let request = JudgeRequest(tool: tool, rawArgv: argv, securityContext: context)
        let decision = judge.decide(request)
        let explained = judge.explain(request)
        precondition(
            decision.allowed == explained.decision.allowed && decision.ruleID == explained.decision.ruleID,
            "decide and explain disagree on \(tool) \(request.argv) in \(context)")
    }
    // The parser alone, on the text the judge saw.
    _ = policy.tools[tool]!.parser.parse(JudgeRequest(tool: tool, rawArgv: argv, securityContext: "").argv)
    return 0
}

@main enum ArgvFuzzer {
    static func main() { FuzzDriver.main() }
}
