import AirlockPolicy
import Foundation
import Testing

@Suite("Loading and validating policies")
struct PolicyLoaderTests {
    static let gitTool = """
        tools:
          git: {grammar: grammars/git.yaml, image: "airlock/tools:1", entrypoint: [/usr/bin/git]}

        """

    /// The errors of loading `yaml`, as `line:column: message` with the file name dropped.
    private func errors(_ yaml: String, files: [String: String] = [:]) -> [String] {
        do {
            _ = try TestSupport.load(yaml, files: files)
            return []
        } catch {
            return error.errors.map { "\($0.location.line):\($0.location.column): \($0.message)" }
        }
    }

    private func codes(_ yaml: String) -> [PolicyError.Code] {
        do {
            _ = try TestSupport.load(yaml)
            return []
        } catch {
            return error.errors.map(\.code)
        }
    }

    @Test("a minimal policy loads")
    func minimal() throws {
        let policy = try TestSupport.load("version: 1\n" + Self.gitTool + "contexts: {ro: {allow: [{id: a, tool: git, subcommand: log, reason: r}]}}\n")
        #expect(policy.tools["git"]?.container.network == "none")
        #expect(policy.contexts["ro"]?.allowRules.map(\.id) == ["a"])
    }

    @Test("an unknown key is an error at its location, with the likely intent")
    func unknownKey() {
        let yaml = "version: 1\n" + Self.gitTool + """
            contexts:
              ro:
                alow:
                  - {id: a, tool: git, subcommand: log, reason: r}
            """
        #expect(errors(yaml) == ["6:5: unknown key 'alow' in context 'ro' (did you mean 'allow'?); allowed keys: description, extends, allow, deny"])
    }

    @Test("a typo inside a rule's condition is an error, never a weaker rule")
    func typoInCondition() {
        let yaml = "version: 1\n" + Self.gitTool + """
            contexts:
              ro:
                deny:
                  - {id: d, tool: git, subcommand: push, options: {anny: [force]}, reason: r}
            """
        let found = errors(yaml)
        #expect(found.first?.hasPrefix("7:56: unknown key 'anny' in options of rule 'd' (did you mean 'any'?)") == true, "\(found)")
    }

    @Test(
        "every kind of error is reported with its code",
        arguments: [
            ("version: 1\ntools: [\n", PolicyError.Code.yamlSyntax),
            ("version: 1\nversion: 2\ntools: {}\ncontexts: {}\n", .duplicate),
            ("version: 1\ntools: {}\n", .missingKey),
            ("version: 1\ntools: []\ncontexts: {}\n", .wrongType),
            ("version: 2\ntools: {}\ncontexts: {}\n", .invalidValue),
            ("version: 1\ntools: {}\ncontexts: {a: {extends: b}}\n", .unknownReference),
            ("version: 1\ntools: {}\ncontexts: {a: {extends: b}, b: {extends: a}}\n", .cycle),
            ("version: 1\ntools: {g: {grammar: none.yaml, image: x:1, entrypoint: [/g]}}\ncontexts: {}\n", .unreadableFile),
        ])
    func errorCodes(yaml: String, code: PolicyError.Code) {
        #expect(codes(yaml).contains(code))
    }

    @Test("rules may only name tools, subcommands and options the grammars have")
    func unknownReferences() {
        let yaml = "version: 1\n" + Self.gitTool + """
            contexts:
              ro:
                allow:
                  - {id: a, tool: svn, reason: r}
                  - {id: b, tool: git, subcommand: frobnicate, reason: r}
                  - {id: c, tool: git, subcommand: push, options: {any: [forse]}, reason: r}
                  - {id: d, tool: git, subcommand: log, options: {any: [force]}, reason: r}
                  - {id: e, tool: git, option_values: {oneline: {any: [x]}}, reason: r}
            """
        let found = errors(yaml)
        #expect(found.contains("7:23: rule 'a' names unknown tool 'svn' (known: git)"))
        #expect(found.contains { $0.hasPrefix("8:40: rule 'b' names subcommand 'frobnicate', which the git grammar") })
        #expect(found.contains { $0.hasPrefix("9:62: rule 'c' names option 'forse', which 'git push' does not have") })
        #expect(found.contains { $0.hasPrefix("10:61: rule 'd' names option 'force', which 'git log' does not have") })
        #expect(found.contains("11:44: rule 'e' tests values of option 'oneline', which takes no value"))
    }

    @Test("rule ids are unique, reasons required, airlock.* reserved")
    func ruleIdentity() {
        let yaml = "version: 1\n" + Self.gitTool + """
            contexts:
              ro:
                allow:
                  - {id: a, tool: git, reason: r}
                  - {id: a, tool: git, reason: r}
                  - {id: b, tool: git}
                  - {id: airlock.x, tool: git, reason: r}
            """
        let found = errors(yaml)
        #expect(found.contains { $0.hasPrefix("8:14: rule id 'a' is already used at") })
        #expect(found.contains("9:9: rule 'b' needs 'reason'"))
        #expect(found.contains("10:14: rule ids starting with 'airlock.' are reserved for Airlock's own decisions"))
    }

    @Test("images must be pinned; quantities must parse")
    func toolFields() {
        let yaml = """
            version: 1
            tools:
              git:
                grammar: grammars/git.yaml
                image: airlock/tools
                entrypoint: [git]
                timeout: soon
                limits: {memory: lots, pids: 0}
                mounts: [{root: ../x}]
            contexts: {}
            """
        let found = errors(yaml)
        #expect(found.contains { $0.hasPrefix("5:12: image of tool 'git' must be pinned") })
        #expect(found.contains("6:17: entrypoint of tool 'git' must start with an absolute path to the program"))
        #expect(found.contains { $0.hasPrefix("7:14: timeout of tool 'git' must be a positive duration") })
        #expect(found.contains { $0.hasPrefix("8:22: memory of tool 'git' must be a positive size") })
        #expect(found.contains("8:34: pids of tool 'git' must be at least 1, found 0"))
        #expect(found.contains("9:21: mount root '../x' of tool 'git' must be a normalized absolute path"))
    }

    @Test("tenants may only name contexts and tools the policy has")
    func tenants() {
        let yaml = "version: 1\n" + Self.gitTool + """
            contexts: {ro: {}}
            tenants:
              acme: {contexts: [ro, rw], tools: [git, svn]}
            """
        let found = errors(yaml)
        #expect(found.contains("6:25: tenant 'acme' names unknown context 'rw' (known: ro)"))
        #expect(found.contains("6:43: tenant 'acme' names unknown tool 'svn' (known: git)"))
    }

    @Test("grammar errors name the grammar file and line")
    func grammarErrors() {
        let grammar = """
            style: gnu
            options:
              - "-f, --force"
              - "--force"
              - "-x, --bad <"
            subcommands:
              log:
                include: [nope]
                number_option: max-count
            """
        let path = TestSupport.repositoryRoot + "/policies/grammars/broken.yaml"
        let yaml = "version: 1\ntools:\n  b: {grammar: grammars/broken.yaml, image: x:1, entrypoint: [/b]}\ncontexts: {}\n"
        do {
            _ = try TestSupport.load(yaml, files: [path: grammar])
            Issue.record("a broken grammar loaded")
        } catch {
            let found = error.errors.map { "\($0.location.file.split(separator: "/").last!):\($0.location.line):\($0.location.column): \($0.message)" }
            #expect(found.contains { $0.hasPrefix("broken.yaml:4:5: option name 'force' is used twice") })
            #expect(found.contains { $0.hasPrefix("broken.yaml:5:5: an option of the root command '-x, --bad <':") })
            #expect(found.contains { $0.hasPrefix("broken.yaml:8:15: unknown option set 'nope'") }, "\(found)")
            #expect(found.contains { $0.hasPrefix("broken.yaml:9:20: number_option 'max-count' of command 'log'") })
        }
    }

    @Test("an option name or spelling used twice where both are visible is an error naming both")
    func ambiguousSpellings() {
        let grammar = """
            style: gnu
            global_options: anywhere
            options:
              - "-v, --verbose"
            subcommands:
              log:
                options:
                  - "-n, --max-count <n>"
                  - "count: --max-count <n>"
                  - "-v, --invert"
                  - "--max-count"
            """
        let path = TestSupport.repositoryRoot + "/policies/grammars/broken.yaml"
        let yaml = "version: 1\ntools:\n  b: {grammar: grammars/broken.yaml, image: x:1, entrypoint: [/b]}\ncontexts: {}\n"
        #expect(
            errors(yaml, files: [path: grammar]) == [
                "9:9: '--max-count' of option 'count' is already option 'max-count' in command 'log'",
                "10:9: '-v' of option 'invert' is already the global option 'verbose' in command 'log'",
                "11:9: option name 'max-count' is used twice in command 'log' ('-n, --max-count <n>' and '--max-count')",
                "11:9: '--max-count' of option 'max-count' is already option 'count' in command 'log'",
            ])
    }

    /// Grammar files are read in parallel; their errors still come in the order of the tools that
    /// name them (a file named twice reported once), then the policy file's own.
    @Test("errors in several grammar files are all reported, each with its file, in a stable order")
    func errorsAcrossGrammarFiles() {
        let directory = TestSupport.repositoryRoot + "/policies/grammars/"
        let files = [
            directory + "one.yaml": "style: gnu\noptions: [\"--x\", \"--x\"]\n",
            directory + "two.yaml": "style: gnu\nsubcommands:\n  log: {runnable: maybe}\n",
            directory + "fine.yaml": "style: gnu\nrunnable: true\n",
        ]
        let yaml = """
            version: 1
            tools:
              a: {grammar: grammars/one.yaml, image: x:1, entrypoint: [/a]}
              b: {grammar: grammars/missing.yaml, image: x:1, entrypoint: [/b]}
              c: {grammar: grammars/two.yaml, image: x:1, entrypoint: [/c]}
              d: {grammar: grammars/fine.yaml, image: x:1, entrypoint: [/d]}
              e: {grammar: grammars/one.yaml, image: x:1, entrypoint: [/e]}
            contexts: {}
            """
        do {
            _ = try TestSupport.load(yaml, files: files)
            Issue.record("broken grammars loaded")
        } catch {
            let found = error.errors.map { "\($0.location.file.split(separator: "/").last!):\($0.location.line): \($0.message)" }
            #expect(
                found == [
                    "one.yaml:2: option name 'x' is used twice in the root command ('--x' and '--x')",
                    "one.yaml:2: '--x' of option 'x' is already option 'x' in the root command",
                    "two.yaml:3: runnable of command 'log' must be true or false",
                    "test.yaml:4: cannot read grammar file '\(directory)missing.yaml'",
                ], "\(found)")
        }
    }

    @Test("all errors are reported, not only the first")
    func allErrors() {
        let yaml = "version: 1\n" + Self.gitTool + """
            contexts:
              ro:
                allow:
                  - {id: a, tool: svn, reason: r}
                deny:
                  - {id: b, tool: git, subcommand: nope, reason: r}
                  - {id: c, tool: git, oops: 1, reason: r}
            """
        #expect(errors(yaml).count == 3)
    }

    @Test("random mutations of the default policy never crash the loader", arguments: 0..<8)
    func mutations(seed: Int) throws {
        let original = try String(contentsOfFile: TestSupport.defaultPolicyPath, encoding: .utf8)
        var generator = SeededGenerator(seed: UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1)
        let alphabet = Array(" :-[]{}\n#&*!|>'\"%@`,?abcxyz019\t")
        for _ in 0..<60 {
            var bytes = Array(original)
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                let position = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: bytes.remove(at: position)
                case 1: bytes.insert(alphabet.randomElement(using: &generator)!, at: position)
                case 2: bytes[position] = alphabet.randomElement(using: &generator)!
                default:
                    let end = min(bytes.count, position + Int.random(in: 1...40, using: &generator))
                    bytes.removeSubrange(position..<end)
                }
            }
            // Either it loads or it fails with located errors; it never traps.
            do {
                let policy = try TestSupport.fileLoader.load(yaml: String(bytes), file: TestSupport.defaultPolicyPath)
                #expect(policy.digest.hasPrefix("sha256:"))
            } catch {
                #expect(!error.errors.isEmpty)
                #expect(error.errors.allSatisfy { $0.location.file.hasSuffix(".yaml") })
            }
        }
    }
}

/// SplitMix64: reproducible randomness for the mutation and property tests.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
