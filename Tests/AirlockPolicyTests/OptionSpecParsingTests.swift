@testable import AirlockPolicy
import Testing

/// The man-page form of an option (`-n, --max-count <number>`), read by `OptionSpec.parse`: what
/// each form means, and the message for each way of writing one wrong.
@Suite("Option specs in grammars")
struct OptionSpecParsingTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var text: String
        var style: ToolGrammar.Style = .gnu
        var expected: Outcome
        var testDescription: String { "'\(text)' (\(style.rawValue))" }
    }

    enum Outcome: Equatable, Sendable {
        case spec(OptionSpec)
        case error(String)

        init(_ result: Result<OptionSpec, SpecSyntaxError>) {
            switch result {
            case let .success(spec): self = .spec(spec)
            case let .failure(error): self = .error(error.message)
            }
        }
    }

    static func spec(
        _ name: String, shorts: [String] = [], longs: [String] = [], negatable: Bool = false, arity: OptionSpec.Arity = .none,
        kind: OptionSpec.ValueKind = .text, placeholder: String? = nil
    ) -> Outcome {
        .spec(OptionSpec(name: name, shorts: shorts, longs: longs, negatable: negatable, arity: arity, valueKind: kind, placeholder: placeholder))
    }

    static let accepted: [Case] = [
        Case(text: "-f, --force", expected: spec("force", shorts: ["f"], longs: ["force"])),
        Case(text: "-a,-b", expected: spec("a", shorts: ["a", "b"])),
        Case(text: "--[no-]verify", expected: spec("verify", longs: ["verify"], negatable: true)),
        Case(text: "-n, --max-count <number>", expected: spec("max-count", shorts: ["n"], longs: ["max-count"], arity: .required, placeholder: "<number>")),
        Case(text: "-u, --untracked-files[=<mode>]", expected: spec("untracked-files", shorts: ["u"], longs: ["untracked-files"], arity: .optional, placeholder: "<mode>")),
        Case(text: "-o [<x>]", expected: spec("o", shorts: ["o"], arity: .optional, placeholder: "<x>")),
        Case(text: "--git-dir=<path>", expected: spec("git-dir", longs: ["git-dir"], arity: .required, kind: .path, placeholder: "<path>")),
        Case(text: "-C <dir>", expected: spec("C", shorts: ["C"], arity: .required, kind: .path, placeholder: "<dir>")),
        Case(text: "--config <config_file>", expected: spec("config", longs: ["config"], arity: .required, kind: .path, placeholder: "<config_file>")),
        Case(text: "--kubeconfig <KUBE-DIR>", expected: spec("kubeconfig", longs: ["kubeconfig"], arity: .required, kind: .path, placeholder: "<KUBE-DIR>")),
        Case(text: "--profile <profile>", expected: spec("profile", longs: ["profile"], arity: .required, placeholder: "<profile>")),
        Case(text: "verbose: -v", expected: spec("verbose", shorts: ["v"])),
        Case(text: " \tname :  -x, --ex \t", expected: spec("name", shorts: ["x"], longs: ["ex"])),
        Case(text: "--[no-]color[=<when>]", expected: spec("color", longs: ["color"], negatable: true, arity: .optional, placeholder: "<when>")),
        Case(text: "-chdir <dir>", style: .go, expected: spec("chdir", longs: ["chdir"], arity: .required, kind: .path, placeholder: "<dir>")),
        Case(text: "--help, -h", style: .go, expected: spec("help", longs: ["help", "h"])),
        Case(text: "-x:y", expected: .error("invalid spelling '-x:y': write -x or --long")),
    ]

    static let refused: [Case] = [
        Case(text: "bad name: -x", expected: .error("invalid option name 'bad name'")),
        Case(text: ": -x", expected: .error("invalid option name ''")),
        Case(text: "--[no-]x", style: .go, expected: .error("'[no-]' is not available in the go style")),
        Case(text: "-x [<y>", expected: .error("'[' without a closing ']'")),
        Case(text: "-x <", expected: .error("a value must be written <name>, [<name>] or [=<name>]; found '<'")),
        Case(text: "-x <>", expected: .error("a value must be written <name>, [<name>] or [=<name>]; found '<>'")),
        Case(text: "-x [=value]", expected: .error("a value must be written <name>, [<name>] or [=<name>]; found 'value'")),
        Case(text: "-x y", expected: .error("invalid spelling '-x y': write -x or --long")),
        Case(text: "--", expected: .error("invalid long option '--'")),
        Case(text: "--bad!", expected: .error("invalid long option '--bad!'")),
        Case(text: "x", expected: .error("invalid spelling 'x': write -x or --long")),
        Case(text: "-a, ,-b", expected: .error("invalid spelling '': write -x or --long")),
        Case(text: "-é", expected: .error("invalid spelling '-é': write -x or --long")),
        Case(text: "-=", expected: .error("a value must be written <name>, [<name>] or [=<name>]; found ''")),
        Case(text: "--=<v>", expected: .error("invalid long option '--'")),
        Case(text: "", expected: .error("no spelling: write at least one of -x or --long")),
        Case(text: "name:", expected: .error("no spelling: write at least one of -x or --long")),
        Case(text: "x", style: .go, expected: .error("invalid spelling 'x': the go style writes -name")),
        Case(text: "-no spaces", style: .go, expected: .error("invalid spelling '-no spaces': the go style writes -name")),
    ]

    @Test("well-formed specs", arguments: accepted)
    func wellFormed(_ entry: Case) {
        #expect(Outcome(OptionSpec.parse(entry.text, style: entry.style)) == entry.expected)
    }

    @Test("malformed specs say what is wrong", arguments: refused)
    func malformed(_ entry: Case) {
        #expect(Outcome(OptionSpec.parse(entry.text, style: entry.style)) == entry.expected)
    }

    @Test("every option of the shipped grammars reads back from its synopsis")
    func shippedGrammarsRoundTrip() throws {
        var checked = 0
        for grammar in TestSupport.defaultPolicy.tools.values.map(\.grammar) {
            var pending = [grammar.root]
            while let node = pending.popLast() {
                pending += node.subcommands.values
                for spec in node.options.specs {
                    let reread = OptionSpec.parse(spec.synopsis, style: grammar.style)
                    var expected = spec
                    if spec.name != (spec.longs.first ?? spec.shorts[0]) { expected.name = spec.longs.first ?? spec.shorts[0] }
                    #expect(Outcome(reread) == .spec(expected), "\(spec.synopsis)")
                    checked += 1
                }
            }
        }
        #expect(checked > 1000)
    }
}
