/// One entry of a profile's `syscalls`: an action for some system calls, optionally only when
/// their arguments compare as the entry says.
public struct SeccompRule: Sendable, Hashable {
    /// The entry's position in `syscalls`, counted from 0 as in errors (`syscalls[3]`).
    public var entry: Int
    public var names: [String]
    public var action: SeccompAction
    /// The errno of `SCMP_ACT_ERRNO` or the message of `SCMP_ACT_TRACE`; nil means EPERM.
    public var errnoRet: UInt16?
    /// All must hold for the rule to match (but see `conditionSets`).
    public var arguments: [SeccompArgument]
    public var comment: String?
    /// Where the entry starts in the file (1-based).
    public var line: Int
    public var column: Int

    public init(
        entry: Int, names: [String], action: SeccompAction, errnoRet: UInt16? = nil, arguments: [SeccompArgument] = [],
        comment: String? = nil, line: Int = 0, column: Int = 0
    ) {
        self.entry = entry
        self.names = names
        self.action = action
        self.errnoRet = errnoRet
        self.arguments = arguments
        self.comment = comment
        self.line = line
        self.column = column
    }

    /// The argument filters as runc applies them: one rule with every comparison (all must hold),
    /// unless two compare the same argument, which libseccomp cannot put in one rule; then runc adds
    /// one rule per comparison, so that any one of them is enough. `[[]]` for an entry without
    /// arguments.
    public var conditionSets: [[SeccompArgument]] {
        let indexes = arguments.map(\.index)
        if Set(indexes).count == indexes.count { return [arguments] }
        return arguments.map { [$0] }
    }

    /// The entry as errors name it: `syscalls[3]`.
    public var path: String { "syscalls[\(entry)]" }
}

/// A comparison of one system call argument: `args` of an entry.
public struct SeccompArgument: Sendable, Hashable {
    /// Which argument, 0 to 5.
    public var index: Int
    public var value: UInt64
    /// Only `SCMP_CMP_MASKED_EQ` uses it: the argument matches when `argument & value == valueTwo`.
    public var valueTwo: UInt64
    /// `op` in the file.
    public var comparison: SeccompComparison

    public init(index: Int, value: UInt64, valueTwo: UInt64 = 0, comparison: SeccompComparison) {
        self.index = index
        self.value = value
        self.valueTwo = valueTwo
        self.comparison = comparison
    }

    /// Whether the comparison holds for an argument value, as the kernel filter decides it.
    public func holds(for argument: UInt64) -> Bool {
        switch comparison {
        case .notEqual: argument != value
        case .lessThan: argument < value
        case .lessOrEqual: argument <= value
        case .equal: argument == value
        case .greaterOrEqual: argument >= value
        case .greaterThan: argument > value
        case .maskedEqual: argument & value == valueTwo
        }
    }
}

/// `op` of an argument filter, in the OCI runtime spec's spelling.
public enum SeccompComparison: String, Sendable, Hashable, CaseIterable, Codable {
    case notEqual = "SCMP_CMP_NE"
    case lessThan = "SCMP_CMP_LT"
    case lessOrEqual = "SCMP_CMP_LE"
    case equal = "SCMP_CMP_EQ"
    case greaterOrEqual = "SCMP_CMP_GE"
    case greaterThan = "SCMP_CMP_GT"
    case maskedEqual = "SCMP_CMP_MASKED_EQ"
}
