import AirlockSeccomp
import Testing

@Suite("Errors in seccomp profiles")
struct SeccompProfileErrorTests {
    /// Each broken entry, and what its error must say: the entry, the field and the problem.
    static let brokenEntries: [(entry: String, code: SeccompError.Code, text: String)] = [
        (
            #"{"names": ["ptrac"], "action": "SCMP_ACT_ERRNO"}"#, .unknownSyscall,
            "syscalls[1].names[0] (ptrac): unknown system call 'ptrac' on \(TestSupport.architecture) (did you mean 'ptrace'?)"
        ),
        (
            #"{"names": ["ptrace"], "action": "SCMP_ACT_DENY"}"#, .invalidValue,
            "syscalls[1].action (ptrace): unknown action 'SCMP_ACT_DENY'"
        ),
        (
            #"{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED"}]}"#,
            .invalidValue, "syscalls[1].args[0].op (clone): unknown comparison 'SCMP_CMP_MASKED' (did you mean 'SCMP_CMP_MASKED_EQ'?)"
        ),
        (
            #"{"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 40, "op": "SCMP_CMP_NE"}]}"#,
            .invalidValue, "syscalls[1].args[0].index (socket): must be an argument index from 0 to 5 (a system call has six arguments), found 6"
        ),
        (
            #"{"nmaes": ["mount"], "action": "SCMP_ACT_ERRNO"}"#, .unknownKey,
            "syscalls[1]: unknown key 'nmaes' in the entry (did you mean 'names'?); allowed keys: names, action, errnoRet, args, comment"
        ),
        (
            #"{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}"#, .unknownKey,
            "syscalls[1] (mount): 'includes' is not supported: conditional entries are not supported"
        ),
        (#"{"names": "mount", "action": "SCMP_ACT_ERRNO"}"#, .wrongType, "syscalls[1].names: must be a list, found a string"),
        (#"{"names": [], "action": "SCMP_ACT_ERRNO"}"#, .invalidValue, "syscalls[1].names: must name at least one system call"),
        (#"{"names": ["kill", "kill"], "action": "SCMP_ACT_ERRNO"}"#, .duplicate, "syscalls[1].names[1] (kill, kill): 'kill' is listed twice"),
        (
            #"{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5000}"#, .invalidValue,
            "syscalls[1].errnoRet (clone3): must be an errno from 0 to 4095, found 5000"
        ),
        (
            #"{"names": ["clone3"], "action": "SCMP_ACT_ALLOW", "errnoRet": 38}"#, .invalidValue,
            "syscalls[1].errnoRet (clone3): applies only when action is SCMP_ACT_ERRNO or SCMP_ACT_TRACE"
        ),
        (
            #"{"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": "40", "op": "SCMP_CMP_NE"}]}"#, .wrongType,
            "syscalls[1].args[0].value (socket): must be a whole number from 0 to 2^64-1, found a string"
        ),
        (
            #"{"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_NE"}]}"#, .invalidValue,
            "syscalls[1].args[0].value (socket): must be a whole number from 0 to 2^64-1, found -1"
        ),
        (
            #"{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 255, "valueTwo": 256, "op": "SCMP_CMP_MASKED_EQ"}]}"#,
            .invalidValue, "syscalls[1].args[0].valueTwo (clone): can never match"
        ),
        (#"{"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"value": 40, "op": "SCMP_CMP_NE"}]}"#, .missingKey, "syscalls[1].args[0] (socket): an argument filter needs 'index'"),
        (
            #"{"names": ["read"], "action": "SCMP_ACT_KILL_PROCESS"}"#, .conflict,
            "syscalls[1].names[0] (read): 'read' already has SCMP_ACT_ALLOW in syscalls[0]"
        ),
        (#""ptrace""#, .wrongType, "syscalls[1]: the entry must be an object, found a string"),
    ]

    @Test("a broken entry gives an error naming the file, the entry, the field and the problem", arguments: brokenEntries)
    func brokenEntry(entry: String, code: SeccompError.Code, text: String) throws {
        let errors = TestSupport.errors(TestSupport.profile(entry: entry))
        let error = try #require(errors.first, "no error for \(entry)")
        #expect(errors.count == 1, "\(errors)")
        #expect(error.code == code)
        #expect(error.file == "test.json")
        #expect(error.line == 7, "\(error)")
        #expect(error.description.hasPrefix("test.json:7:"), "\(error)")
        #expect(error.description.contains(": error: " + text), "\(error)")
    }

    @Test("the top level: missing defaultAction, unknown keys, wrong types, architectures")
    func topLevel() {
        let missing = TestSupport.errors(#"{"syscalls": []}"#)
        #expect(missing.map(\.description) == ["test.json:1:1: error: the profile needs 'defaultAction'"])
        #expect(missing.first?.code == .missingKey)

        let unknown = TestSupport.errors("{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"defaultAktion\": \"SCMP_ACT_ALLOW\"}")
        #expect(unknown.map(\.description) == [
            "test.json:2:2: error: unknown key 'defaultAktion' in the profile (did you mean 'defaultAction'?); allowed keys: defaultAction, defaultErrnoRet, architectures, archMap, syscalls"
        ])

        let wrong = TestSupport.errors(#"{"defaultAction": 1, "syscalls": {}}"#)
        #expect(wrong.map(\.code) == [.wrongType, .wrongType])
        #expect(wrong.first?.description.contains("defaultAction: must be one of SCMP_ACT_ALLOW,") == true)

        let architecture = TestSupport.errors(#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_46"]}"#)
        #expect(architecture.first?.code == .unknownArchitecture)
        #expect(architecture.first?.description.contains("architectures[0]: unknown architecture 'SCMP_ARCH_X86_46' (did you mean 'SCMP_ARCH_X86_64'?)") == true)

        let both = TestSupport.errors(
            #"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#)
        #expect(both.map(\.code) == [.invalidValue])

        let defaultErrno = TestSupport.errors(#"{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}"#)
        #expect(defaultErrno.first?.description.contains("defaultErrnoRet: applies only when defaultAction is SCMP_ACT_ERRNO") == true)
    }

    @Test(
        "malformed JSON is an error at its line and column",
        arguments: [
            ("{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [}", "test.json:2:16: error: invalid JSON: expected a value, found '}'"),
            ("{\"defaultAction\": \"SCMP_ACT_ERRNO\" \"syscalls\": []}", "test.json:1:36: error: invalid JSON: expected ',' or '}' after the value of \"defaultAction\", found '\"'"),
            ("{\"defaultAction\": \"SCMP_ACT_ERRNO\", }", "test.json:1:37: error: invalid JSON: expected a key in double quotes, found '}'"),
            ("", "test.json:1:1: error: invalid JSON: the file is empty"),
            ("{\"defaultAction\": \"SCMP_ACT_ERRNO\"} x", "test.json:1:37: error: invalid JSON: unexpected 'x' after the JSON value"),
            ("{\"defaultAction\": \"SCMP\tX\"}", "test.json:1:24: error: invalid JSON: a control character must be escaped inside a string"),
        ])
    func malformedJSON(json: String, expected: String) {
        let errors = TestSupport.errors(json)
        #expect(errors.map(\.description) == [expected])
        #expect(errors.first?.code == .jsonSyntax)
    }

    @Test("a duplicate key is an error, not a silent override")
    func duplicateKey() {
        let errors = TestSupport.errors(#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultAction": "SCMP_ACT_ALLOW"}"#)
        #expect(errors.map(\.description) == ["test.json:1:37: error: duplicate key 'defaultAction'"])
    }

    @Test("every error is reported, not only the first, in file order")
    func allErrors() {
        let json = """
            {
              "defaultAction": "SCMP_ACT_EROR",
              "syscalls": [
                {"names": ["read", "wrte"], "action": "SCMP_ACT_ALLOW"},
                {"nmaes": ["mount"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 40, "op": "SCMP_CMP_NEQ"}]},
                {"names": ["ptrace"], "action": "SCMP_ACT_NOPE"}
              ]
            }
            """
        let errors = TestSupport.errors(json)
        #expect(errors.map(\.path) == [
            "defaultAction", "syscalls[0].names[1]", "syscalls[1]", "syscalls[2].args[0].index", "syscalls[2].args[0].op", "syscalls[3].action",
        ])
        #expect(errors.map(\.line) == [2, 4, 5, 6, 6, 7])
        #expect(errors[0].message.hasPrefix("unknown action 'SCMP_ACT_EROR' (did you mean 'SCMP_ACT_ERRNO'?)"))
        #expect(errors[1].message == "unknown system call 'wrte' on \(TestSupport.architecture) (did you mean 'write'?)")
        #expect(errors[2].message.hasPrefix("unknown key 'nmaes' in the entry (did you mean 'names'?)"))
        #expect(errors[4].message.hasPrefix("unknown comparison 'SCMP_CMP_NEQ' (did you mean 'SCMP_CMP_NE'?)"))
    }

    @Test("what only libseccomp knows is wrong is reported by the entry it refused")
    func refusedByLibseccomp() {
        let json = """
            {
              "defaultAction": "SCMP_ACT_ERRNO",
              "syscalls": [
                {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 21505, "op": "SCMP_CMP_EQ"}]},
                {"names": ["read", "ioctl"], "action": "SCMP_ACT_KILL", "args": [{"index": 1, "value": 21505, "op": "SCMP_CMP_EQ"}]}
              ]
            }
            """
        let errors = TestSupport.errors(json)
        #expect(errors.map(\.code) == [.libseccomp])
        #expect(errors.first?.path == "syscalls[1].names[1]")
        #expect(errors.first?.line == 5)
        #expect(
            errors.first?.description.contains(
                "test.json:5:5: error: syscalls[1].names[1] (read, ioctl): libseccomp 2.5.4 refused the rule for 'ioctl': syscalls[0] gives it a different action for the same argument filters (File exists)"
            ) == true, "\(errors)")
    }

    @Test("a profile too large for the kernel is refused before libseccomp spends minutes on it")
    func tooLarge() {
        let entries = (0..<4097).map { #"{"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": \#($0), "op": "SCMP_CMP_EQ"}]}"# }
        let errors = TestSupport.errors(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": ["# + entries.joined(separator: ",\n") + "]}")
        #expect(errors.map(\.message) == [
            "the profile makes 4097 distinct filter rules, each at least one BPF instruction: more than the kernel's limit of 4096"
        ])
    }

    @Test("a file that cannot be read says why, in the reader's words")
    func unreadable() {
        struct Unreadable: Error, CustomStringConvertible { var description: String { "No such file or directory" } }
        do {
            _ = try SeccompProfile.load(path: "/nonexistent/profile.json") { _ in throw Unreadable() }
            Issue.record("an unreadable profile loaded")
        } catch {
            #expect(error.errors.map(\.description) == ["/nonexistent/profile.json: error: cannot read the profile (No such file or directory)"])
        }
    }

    @Test("null stands for an absent optional key, as Go writes it; not for a required one")
    func nulls() throws {
        let profile = try SeccompProfile.parse(
            Array(TestSupport.profile(entry: #"{"names": ["close"], "action": "SCMP_ACT_ALLOW", "args": null, "comment": null}"#).utf8), file: "t.json")
        #expect(profile.rules.last?.names == ["close"])
        #expect(TestSupport.errors(#"{"defaultAction": null}"#).first?.code == .wrongType)
    }

    @Test("a value beyond 2^53 is kept exactly")
    func largeValues() throws {
        let profile = try SeccompProfile.parse(
            Array(TestSupport.profile(entry: #"{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 18446744073709551615, "op": "SCMP_CMP_EQ"}]}"#).utf8),
            file: "t.json")
        #expect(profile.rules.last?.arguments.first?.value == UInt64.max)
    }
}
