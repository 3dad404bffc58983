import AirlockCommandLine
import AirlockPolicy
import ArgumentParser
import Foundation

/// `airlock judge`: the operators' dry run of the judge. Nothing is launched or recorded.
struct JudgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "judge",
        abstract: "Decide whether a command would be allowed, without running it.",
        discussion: """
            Exit status: 0 allowed, 3 denied, 2 when the policy cannot be loaded, 64 on bad usage.
            Example: airlock judge --policy policies/default.yaml --context readonly -- git log --oneline
            """
    )

    @OptionGroup var request: CommandRequestOptions

    @Flag(help: "Show the parse and every rule's outcome.")
    var explain = false

    func validate() throws {
        try request.validate(example: "judge")
    }

    func run() throws {
        let loaded: Policy
        do {
            loaded = try PolicyFiles.loader.load(path: request.policy)
        } catch {
            PolicyFiles.report(error)
            throw ExitStatus.error
        }
        let judgeRequest = JudgeRequest(
            tool: request.command[0], rawArgv: CommandRequestOptions.rawArguments(expected: request.command), tenant: request.tenant,
            securityContext: request.context)
        let judge = Judge(policy: loaded)
        let (decision, evaluations) = explain ? judge.explain(judgeRequest) : (judge.decide(judgeRequest), [])
        switch request.format {
        case .json: print(try DecisionReport(decision, evaluations: explain ? evaluations : nil).json())
        case .text: print(DecisionReport(decision, evaluations: explain ? evaluations : nil).text())
        }
        if !decision.allowed { throw ExitStatus.denied }
    }
}
