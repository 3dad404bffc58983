import Foundation
import Testing

/// scripts/grammar-check against the real git in airlock/tools:1, on each engine: the shipped
/// grammar and its reviewed gaps pass, and a grammar that drifted from the real tool fails, naming
/// each difference. (`scripts/test` runs the whole check, every tool, after the policy suite.)
@Suite("Grammar check against the real tools", .serialized)
struct GrammarCheckTests {
    struct Outcome {
        let status: Int32
        let output: String
    }

    static func grammarCheck(engine: String, grammars: String? = nil) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: EngineFixture.repositoryRoot + "/scripts/grammar-check")
        process.arguments = ["--engine", engine, "--tool", "git"] + (grammars.map { ["--grammars", $0] } ?? [])
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self))
    }

    @Test("the shipped git grammar matches git, up to the reviewed gaps", arguments: EngineFixture.engineNames)
    func shippedGrammarPasses(engine: String) throws {
        let outcome = try Self.grammarCheck(engine: engine)
        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(outcome.output.contains("0 unreviewed or stale"), "\(outcome.output)")
    }

    @Test("a drifted grammar and a stale review fail, each named", arguments: EngineFixture.engineNames)
    func driftFails(engine: String) throws {
        let source = EngineFixture.repositoryRoot + "/policies/grammars"
        let copy = NSTemporaryDirectory() + "airlock-grammar-check-\(getpid())-\(engine)"
        try? FileManager.default.removeItem(atPath: copy)
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        var git = try String(contentsOfFile: source + "/git.yaml", encoding: .utf8)
        // status: an option git does not have, and a spelling of git's own dropped.
        let statusNull = "      - \"-z, --null\"\n      - \"--[no-]column[=<options>]\""
        #expect(git.contains(statusNull))
        git = git.replacingOccurrences(
            of: statusNull, with: "      - \"-z\"\n      - \"--no-such-option\"\n      - \"--[no-]column[=<options>]\"")
        try git.write(toFile: copy + "/git.yaml", atomically: true, encoding: .utf8)
        var gaps = try String(contentsOfFile: source + "/known-gaps.yaml", encoding: .utf8)
        // A reviewed gap removed, and a review of something that is not found.
        let reviewed = gaps.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("'grep -N: option'") }
            .joined(separator: "\n")
        #expect(reviewed != gaps)
        let gitGaps = try #require(reviewed.range(of: "\n  git:\n"), "the gaps section has git's entries")
        gaps = reviewed.replacingCharacters(
            in: gitGaps, with: "\n  git:\n    'blame --no-such-gap: option': a review of nothing\n")
        try gaps.write(toFile: copy + "/known-gaps.yaml", atomically: true, encoding: .utf8)

        let outcome = try Self.grammarCheck(engine: engine, grammars: copy)
        #expect(outcome.status == 1, "\(outcome.output)")
        for line in [
            "unreviewed mismatch: git: status --no-such-option: option not in git",
            "unreviewed gap: git: status --null: option",
            "unreviewed gap: git: grep -N: option",
            "stale entry (matches no finding; remove it from known-gaps.yaml): git: blame --no-such-gap: option",
        ] {
            #expect(outcome.output.contains(line), "\(line) in:\n\(outcome.output)")
        }
        #expect(outcome.output.contains("4 unreviewed or stale"), "\(outcome.output)")
    }
}
