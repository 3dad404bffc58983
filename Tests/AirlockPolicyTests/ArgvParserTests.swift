import AirlockPolicy
import Testing

@Suite("Parsing argv with a tool's grammar")
struct ArgvParserTests {
    private func parsed(_ tool: String, _ argv: [String]) throws -> ParsedCommand {
        try TestSupport.parse(tool, argv).get()
    }

    private func failure(_ tool: String, _ argv: [String]) -> ArgvParseFailure? {
        if case let .failure(failure) = TestSupport.parse(tool, argv) { return failure }
        return nil
    }

    @Test("global options come before the subcommand; subcommand options after it")
    func globalAndSubcommandOptions() throws {
        let command = try parsed("git", ["--no-pager", "-C", "repo", "log", "--oneline", "HEAD"])
        #expect(command.subcommandPath == ["log"])
        #expect(command.options.map(\.name) == ["no-pager", "C", "oneline"])
        #expect(command.options.map(\.isGlobal) == [true, true, false])
        #expect(command.values(of: "C") == ["repo"])
        #expect(command.positionals == ["HEAD"])
    }

    @Test("a git global option after the subcommand is not a global option")
    func gitGlobalOptionAfterSubcommand() {
        #expect(failure("git", ["log", "--git-dir=/x"])?.kind == .unknownOption)
    }

    @Test(
        "every spelling of a valued option gives the same value",
        arguments: [
            ["log", "--max-count=5"], ["log", "--max-count", "5"], ["log", "-n5"], ["log", "-n", "5"], ["log", "-5"],
            ["log", "--max-c=5"], ["log", "--max-c", "5"],
        ])
    func valuedOptionSpellings(argv: [String]) throws {
        let command = try parsed("git", argv)
        #expect(command.values(of: "max-count") == ["5"])
        #expect(command.positionals.isEmpty)
    }

    @Test("bundled short flags are each an option; a valued one takes the rest of the bundle")
    func bundles() throws {
        let push = try parsed("git", ["push", "-fu", "origin", "main"])
        #expect(push.isPresent("force") && push.isPresent("set-upstream"))
        #expect(push.positionals == ["origin", "main"])
        let config = try parsed("git", ["-ccore.pager=less", "log"])
        #expect(config.values(of: "config") == ["core.pager=less"])
        let status = try parsed("git", ["status", "-suno"])
        #expect(status.isPresent("short"))
        #expect(status.values(of: "untracked-files") == ["no"])
    }

    @Test("an optional value is taken only when attached")
    func optionalValues() throws {
        let attached = try parsed("git", ["status", "-uno"])
        #expect(attached.values(of: "untracked-files") == ["no"])
        let separate = try parsed("git", ["status", "-u", "no"])
        #expect(separate.isPresent("untracked-files"))
        #expect(separate.values(of: "untracked-files").isEmpty)
        #expect(separate.positionals == ["no"])
    }

    @Test("after --, everything is a positional")
    func terminator() throws {
        let command = try parsed("git", ["log", "--", "--force", "-p"])
        #expect(command.options.isEmpty)
        #expect(command.positionals == ["--force", "-p"])
    }

    @Test("options may follow positionals, as in git's parse-options")
    func intermixed() throws {
        let command = try parsed("git", ["push", "origin", "main", "--force"])
        #expect(command.isPresent("force"))
    }

    @Test("unique prefixes resolve where the tool accepts them; ambiguous ones fail")
    func abbreviations() throws {
        #expect(try parsed("git", ["push", "--force-w"]).isPresent("force-with-lease"))
        #expect(try parsed("git", ["push", "--no-verif"]).options.first?.negated == true)
        #expect(failure("git", ["push", "--forc"])?.kind == .ambiguousOption)
        // git.c reads global options exactly.
        #expect(failure("git", ["--no-pag", "log"])?.kind == .unknownOption)
        // kubectl (pflag) has no abbreviations.
        #expect(failure("kubectl", ["get", "pods", "--namesp", "x"])?.kind == .unknownOption)
    }

    @Test("the last occurrence of a negatable flag wins")
    func negation() throws {
        #expect(try parsed("git", ["push", "--force", "--no-force"]).isPresent("force") == false)
        #expect(try parsed("git", ["push", "--no-force", "--force"]).isPresent("force"))
        #expect(failure("git", ["push", "--no-force=x"])?.kind == .unexpectedValue)
    }

    @Test("subcommands nest, aliases resolve to the primary name")
    func nestedSubcommands() throws {
        #expect(try parsed("git", ["remote", "-v", "add", "o", "url"]).subcommandPath == ["remote", "add"])
        #expect(try parsed("git", ["remote", "rm", "origin"]).subcommandPath == ["remote", "remove"])
        #expect(try parsed("git", ["remote"]).subcommandPath == ["remote"])
    }

    @Test("fail-closed parse errors name what is wrong")
    func failures() {
        #expect(failure("git", ["frobnicate"])?.kind == .unknownSubcommand)
        #expect(failure("git", [])?.kind == .missingSubcommand)
        #expect(failure("git", ["--no-pager"])?.kind == .missingSubcommand)
        #expect(failure("git", ["log", "--bogus"])?.message == "unknown option '--bogus' for git log")
        #expect(failure("git", ["push", "-fZ"])?.message == "unknown option '-Z' in '-fZ'")
        #expect(failure("git", ["log", "-n"])?.kind == .missingValue)
        #expect(failure("git", ["log", "--oneline=yes"])?.kind == .unexpectedValue)
    }

    @Test("terraform's words removed from anywhere in argv are not values of other options")
    func anywhereFlags() throws {
        let command = try parsed("terraform", ["plan", "-out", "-no-color", "/tmp/plan"])
        #expect(command.values(of: "out") == ["/tmp/plan"])
        #expect(command.isPresent("no-color"))
    }

    @Test("Go's flag: one or two dashes, booleans take =false, the first positional ends options")
    func goStyle() throws {
        #expect(try parsed("terraform", ["fmt", "--check"]).isPresent("check"))
        #expect(try parsed("terraform", ["fmt", "-check=false"]).isPresent("check") == false)
        let stopped = try parsed("terraform", ["plan", "dir", "-destroy"])
        #expect(stopped.isPresent("destroy") == false)
        #expect(stopped.positionals == ["dir", "-destroy"])
    }

    @Test("argparse: a value in the next argument never starts with a dash")
    func argparseValues() {
        #expect(failure("aws", ["s3", "ls", "--page-size", "--endpoint-url", "http://x"])?.kind == .missingValue)
    }

    @Test("kubectl's TYPE NAME form: the first positional names the types, TYPE/NAME its own; unmarked commands count every positional")
    func resourceTypes() throws {
        func types(_ argv: [String]) throws -> [String] {
            let parsed = try TestSupport.defaultPolicy.tools["kubectl"]!.parser.parse(argv).get()
            return parsed.resourceTypes
        }
        #expect(try types(["get", "pods", "secrets"]) == ["pods"])
        #expect(try types(["get", "pods,secrets", "web"]) == ["pods,secrets"])
        #expect(try types(["get", "pods/web", "secret/db"]) == ["pods", "secret"])
        #expect(try types(["describe", "-n", "x", "secret", "db"]) == ["secret"])
        #expect(try types(["get"]) == [])
        // logs has no TYPE NAME form in the grammar: every positional, and each TYPE/NAME's type.
        #expect(try types(["logs", "secret/db"]) == ["secret", "secret/db"])
    }
}
