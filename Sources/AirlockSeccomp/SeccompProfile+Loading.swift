import AirlockPolicy

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension SeccompProfile {
    /// Reads a file's bytes; the caller does the I/O (as with `PolicyLoader`), so this module has
    /// one reader to trust: the executable's.
    public typealias FileReader = (String) throws -> [UInt8]

    /// Reads, validates and compiles a profile file: every load is checked by libseccomp.
    ///
    /// - Throws: `SeccompProfileError` with every error found; nothing else.
    public static func load(path: String, readFile: FileReader) throws(SeccompProfileError) -> SeccompProfile {
        try parse(try read(path, readFile), file: path)
    }

    private static func read(_ path: String, _ readFile: FileReader) throws(SeccompProfileError) -> [UInt8] {
        do {
            return try readFile(path)
        } catch {
            throw SeccompProfileError(file: path, errors: [SeccompError(.unreadableFile, "cannot read the profile", file: path, cause: "\(error)")])
        }
    }

    /// Validates and compiles a profile's bytes; `file` names it in errors.
    ///
    /// Checks in order: the JSON syntax (the first syntax error stops there), then the shape and
    /// every value (all errors collected), then a compile by libseccomp, which refuses what the
    /// shape cannot show (all its refusals collected, each naming its entry).
    ///
    /// - Throws: `SeccompProfileError` with every error found; nothing else.
    public static func parse(_ bytes: [UInt8], file: String) throws(SeccompProfileError) -> SeccompProfile {
        let digest = digest(of: bytes)
        let root: JSONNode
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw SeccompProfileError(file: file, errors: [
                SeccompError(.jsonSyntax, "invalid JSON: \(error.message)", file: file, line: error.line, column: error.column)
            ])
        }
        var reader = SeccompProfileReader(file: file)
        guard var profile = reader.read(root, digest: digest) else { throw SeccompProfileError(file: file, errors: reader.errors) }
        profile.program = try compile(profile)
        return profile
    }

    /// `sha256:<hex>` of a profile's bytes. The bytes, not a canonical form: the engine hands the
    /// file itself to podman or docker, so any change to it is a change to what runs.
    public static func digest(of bytes: [UInt8]) -> String {
        PolicyDigest.sha256(bytes)
    }

    /// The largest program the kernel loads (BPF_MAXINSNS).
    static let maximumInstructions = 4096

    /// Compiles the profile as runc will: a rule whose action is the default one is skipped (runc
    /// does, and libseccomp refuses it); comparisons of the same argument go into separate rules.
    static func compile(_ profile: SeccompProfile) throws(SeccompProfileError) -> [UInt8] {
        let defaultAction = Libseccomp.action(profile.defaultAction, returnValue: profile.defaultErrnoRet)
        var rules: [Libseccomp.Rule] = []
        var origins: [(rule: SeccompRule, name: String, nameIndex: Int)] = []
        for rule in profile.rules {
            let action = Libseccomp.action(rule.action, returnValue: rule.errnoRet)
            if action == defaultAction { continue }
            for (nameIndex, name) in rule.names.enumerated() {
                guard let number = Libseccomp.syscallNumber(name) else { continue }  // the reader reported it
                for conditions in rule.conditionSets {
                    let converted = conditions.map {
                        Libseccomp.Condition(argument: UInt32($0.index), comparison: $0.comparison, a: $0.value, b: $0.valueTwo)
                    }
                    rules.append(Libseccomp.Rule(syscall: number, action: action, conditions: converted))
                    origins.append((rule, name, nameIndex))
                }
            }
        }
        // Each distinct rule costs at least one instruction, so past the kernel's limit the filter
        // cannot load; and libseccomp's time grows with the square of the rules of one system call
        // (50,000 take minutes). Refuse before compiling.
        let distinct = Set(rules).count
        if distinct > maximumInstructions {
            throw SeccompProfileError(file: profile.file, errors: [
                SeccompError(
                    .invalidValue, "the profile makes \(distinct) distinct filter rules, each at least one BPF instruction: more than the kernel's limit of \(maximumInstructions)",
                    file: profile.file)
            ])
        }
        let nameCount = profile.rules.reduce(0) { $0 + $1.names.count }
        let (program, failures) = Libseccomp.compile(
            defaultAction: defaultAction, architectures: profile.filterArchitectures.compactMap(SeccompArchitecture.token), rules: rules,
            optimize: nameCount > 32)
        var errors = failures.map { failure in
            guard let index = failure.rule else {
                return SeccompError(.libseccomp, "libseccomp \(Libseccomp.version) failed in \(failure.operation)", file: profile.file, cause: failure.reason)
            }
            let origin = origins[index]
            var message = "libseccomp \(Libseccomp.version) refused the rule for '\(origin.name)'"
            if failure.code == EEXIST {
                let same = rules[index]
                let earlier = rules[..<index].indices.first { rules[$0].syscall == same.syscall && rules[$0].conditions == same.conditions }
                message += ": " + (earlier.map { origins[$0].rule.path } ?? "another entry")
                message += " gives it a different action for the same argument filters"
            }
            return SeccompError(
                .libseccomp, message, file: profile.file, line: origin.rule.line, column: origin.rule.column,
                path: origin.rule.path + ".names[\(origin.nameIndex)]", syscalls: origin.rule.names, cause: failure.reason)
        }
        if let program, program.count / 8 > maximumInstructions {
            errors.append(
                SeccompError(
                    .libseccomp, "the compiled filter has \(program.count / 8) BPF instructions; the kernel loads at most \(maximumInstructions)",
                    file: profile.file))
        }
        guard errors.isEmpty, let program else { throw SeccompProfileError(file: profile.file, errors: errors) }
        return program
    }
}
