import CSeccomp

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one file that calls libseccomp: names of system calls and architectures, and compiling
/// rules into the BPF program the kernel would load.
///
/// A filter context lives only inside `compile` and is released on every path.
enum Libseccomp {
    /// A comparison of one argument, in libseccomp's terms.
    struct Condition: Sendable, Hashable {
        var argument: UInt32
        var comparison: SeccompComparison
        var a: UInt64
        var b: UInt64
    }

    struct Rule: Sendable, Hashable {
        var syscall: Int32
        var action: UInt32
        var conditions: [Condition]
    }

    /// Something libseccomp refused; `rule` is the index into the rules given to `compile`, nil when
    /// it was not about one rule.
    struct Failure: Sendable, Error {
        var rule: Int?
        var operation: String
        /// A positive errno value.
        var code: Int32

        var reason: String { String(cString: strerror(code)) }
    }

    // MARK: Actions

    /// The encoding of seccomp.h: SCMP_ACT_ERRNO(x) and SCMP_ACT_TRACE(x) are function-like macros,
    /// which Swift does not import, so the whole table is written here, in one place.

    static func action(_ action: SeccompAction, returnValue: UInt16?) -> UInt32 {
        switch action {
        case .allow: 0x7fff_0000
        case .errno: 0x0005_0000 | UInt32(returnValue ?? UInt16(EPERM))
        case .kill, .killThread: 0x0000_0000
        case .killProcess: 0x8000_0000
        case .trap: 0x0003_0000
        case .trace: 0x7ff0_0000 | UInt32(returnValue ?? UInt16(EPERM))
        case .log: 0x7ffc_0000
        }
    }

    // MARK: Names

    /// The number of a system call on this machine's architecture: negative for a pseudo-syscall
    /// (a name libseccomp knows from another architecture); nil for a name it does not know.
    static func syscallNumber(_ name: String) -> Int32? {
        let number = seccomp_syscall_resolve_name(name)
        return number == __NR_SCMP_ERROR ? nil : number
    }

    /// The token of an architecture by libseccomp's name (`x86_64`, `aarch64`); nil if unknown.
    static func architecture(_ name: String) -> UInt32? {
        let token = seccomp_arch_resolve_name(name)
        return token == 0 ? nil : token
    }

    static var nativeArchitecture: UInt32 { seccomp_arch_native() }

    /// Every system call of this machine's architecture, by name: the candidates for "did you mean".
    static let nativeSyscallNames: [String] = {
        var names: [String] = []
        for number in Int32(0)..<1024 {
            guard let name = seccomp_syscall_resolve_num_arch(UInt32(SCMP_ARCH_NATIVE), number) else { continue }
            names.append(String(cString: name))
            free(name)
        }
        return names
    }()

    static var version: String {
        guard let version = seccomp_version() else { return "unknown" }
        return "\(version.pointee.major).\(version.pointee.minor).\(version.pointee.micro)"
    }

    // MARK: Compiling

    /// Builds a filter as runc does (default action, extra architectures, one rule at a time, the
    /// binary-tree optimisation for long rule sets) and exports its BPF program.
    ///
    /// - Returns: the program, and every failure (the program is nil when there is any).
    static func compile(
        defaultAction: UInt32, architectures: [UInt32], rules: [Rule], optimize: Bool
    ) -> (program: [UInt8]?, failures: [Failure]) {
        guard let context = seccomp_init(defaultAction) else {
            return (nil, [Failure(rule: nil, operation: "seccomp_init with the default action", code: EINVAL)])
        }
        defer { seccomp_release(context) }
        var failures: [Failure] = []
        for token in architectures {
            let result = seccomp_arch_add(context, token)
            if result < 0 && result != -EEXIST {
                failures.append(Failure(rule: nil, operation: "seccomp_arch_add", code: -result))
            }
        }
        if optimize {
            // Not fatal, as in runc: an older libseccomp builds a linear filter instead.
            _ = seccomp_attr_set(context, SCMP_FLTATR_CTL_OPTIMIZE, 2)
        }
        for (index, rule) in rules.enumerated() {
            let conditions = rule.conditions.map { condition in
                scmp_arg_cmp(arg: condition.argument, op: comparisonOperator(condition.comparison), datum_a: condition.a, datum_b: condition.b)
            }
            let result: Int32 = conditions.withUnsafeBufferPointer { buffer in
                seccomp_rule_add_array(context, rule.action, rule.syscall, UInt32(buffer.count), buffer.baseAddress)
            }
            if result < 0 { failures.append(Failure(rule: index, operation: "seccomp_rule_add_array", code: -result)) }
        }
        guard failures.isEmpty else { return (nil, failures) }
        switch export(context) {
        case let .success(program): return (program, [])
        case let .failure(failure): return (nil, [failure])
        }
    }

    /// Exports into an unlinked temporary file: unlike a pipe, it cannot fill up and block on a long
    /// program. (Swift's Glibc module does not declare memfd_create.)
    private static func export(_ context: scmp_filter_ctx) -> Result<[UInt8], Failure> {
        guard let stream = tmpfile() else { return .failure(Failure(rule: nil, operation: "tmpfile", code: errno)) }
        defer { fclose(stream) }
        let descriptor = fileno(stream)
        let result: Int32 = seccomp_export_bpf(context, descriptor)
        guard result >= 0 else { return .failure(Failure(rule: nil, operation: "seccomp_export_bpf", code: -result)) }
        guard lseek(descriptor, 0, SEEK_SET) == 0 else { return .failure(Failure(rule: nil, operation: "lseek", code: errno)) }
        var program: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(Failure(rule: nil, operation: "read", code: errno))
            }
            if count == 0 { return .success(program) }
            program += buffer[0..<count]
        }
    }

    private static func comparisonOperator(_ comparison: SeccompComparison) -> scmp_compare {
        switch comparison {
        case .notEqual: SCMP_CMP_NE
        case .lessThan: SCMP_CMP_LT
        case .lessOrEqual: SCMP_CMP_LE
        case .equal: SCMP_CMP_EQ
        case .greaterOrEqual: SCMP_CMP_GE
        case .greaterThan: SCMP_CMP_GT
        case .maskedEqual: SCMP_CMP_MASKED_EQ
        }
    }
}
