// libFuzzer target: the policy loader (YAML reader, grammar loader, rules, digest).
//
// An input is the text of a policy file at /fuzz/policy.yaml. If it holds a NUL byte, what
// follows the first one is the text of every grammar file the policy names other than the shipped
// ones; those (`grammars/git.yaml`, ...) are served from the repository, read once, so that a
// policy can name both. Every other path is unreadable. A policy that loads is also judged, each
// of its first tools in each of its first contexts.
//
//   scripts/fuzz                              # builds with -sanitize=fuzzer and runs it
//   .build/debug/PolicyLoaderFuzzer DIR|FILE  # a normal build replays inputs once each
import AirlockPolicy
import FuzzDriver
import Foundation

/// The shipped grammars, as the policy at /fuzz/policy.yaml names them.
let shippedGrammars: [String: String] = {
    let directory = repositoryRoot + "/policies/grammars"
    var texts: [String: String] = [:]
    for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasSuffix(".yaml") {
        texts["/fuzz/grammars/" + name] = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)
    }
    precondition(!texts.isEmpty, "no grammars in \(directory)")
    return texts
}()

struct Unreadable: Error {}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let split = bytes.firstIndex(of: 0)
    let policyText = String(decoding: bytes[..<(split ?? bytes.endIndex)], as: UTF8.self)
    let grammarText = split.map { String(decoding: bytes[($0 + 1)...], as: UTF8.self) }
    let grammars = shippedGrammars
    let loader = PolicyLoader { path in
        if let text = grammars[path] { return text }
        guard let grammarText else { throw Unreadable() }
        return grammarText
    }
    guard let policy = try? loader.load(yaml: policyText, file: "/fuzz/policy.yaml") else { return 0 }
    let judge = Judge(policy: policy)
    for tool in policy.tools.keys.sorted().prefix(4) {
        for context in policy.contexts.keys.sorted().prefix(4) {
            _ = judge.explain(JudgeRequest(tool: tool, argv: ["status", "--help"], securityContext: context))
        }
    }
    return 0
}

@main enum PolicyLoaderFuzzer {
    static func main() { FuzzDriver.main() }
}
