/// What a profile lets a container do, in the terms an operator reviews it by: the default, what is
/// allowed and on which conditions, and which dangerous system calls stay out of reach.
public struct SeccompSummary: Sendable, Hashable, CustomStringConvertible {
    /// Whether `clone` can create namespaces.
    public enum CloneNamespaces: String, Sendable, Hashable {
        case notAllowed = "not allowed"
        /// Every rule that allows `clone` requires `flags & namespaceFlags == 0`.
        case withoutNamespaceFlags = "allowed only without namespace flags"
        case unrestricted = "allowed with any flags, namespaces included"
    }

    /// `SCMP_ACT_ERRNO (errno 1)`.
    public var defaultAction: String
    /// Whether the default action lets system calls run: then `allowed` is "all but the rest".
    public var defaultLetsCallsRun: Bool
    public var architectures: [String]
    /// System calls a rule lets run (`SCMP_ACT_ALLOW`, `SCMP_ACT_LOG`), sorted.
    public var allowed: [String]
    /// Those of `allowed` that run only when their argument filters match.
    public var allowedWithArgumentFilters: [String]
    /// Rules with another action than the default that do not let the call run, as
    /// `clone3: SCMP_ACT_ERRNO (errno 38)`.
    public var otherActions: [String]
    /// Of `SeccompProfile.dangerousSyscalls`, those the profile never lets run.
    public var dangerousNotAllowed: [String]
    /// Of `SeccompProfile.dangerousSyscalls`, those it may let run.
    public var dangerousAllowed: [String]
    public var clone: CloneNamespaces
    public var absentSyscalls: [String]
    public var instructionCount: Int

    public init(_ profile: SeccompProfile) {
        let defaultAction = Libseccomp.action(profile.defaultAction, returnValue: profile.defaultErrnoRet)
        self.defaultAction = profile.defaultAction.describe(returnValue: profile.defaultErrnoRet)
        self.defaultLetsCallsRun = profile.defaultAction.letsCallRun
        self.architectures = profile.filterArchitectures
        // Rules with the default action are skipped when compiling; they change nothing.
        let rules = profile.rules.filter { Libseccomp.action($0.action, returnValue: $0.errnoRet) != defaultAction }

        var unconditional: Set<String> = []
        var filtered: Set<String> = []
        var other: [String: Set<String>] = [:]
        for rule in rules {
            for name in rule.names {
                if rule.action.letsCallRun {
                    if rule.arguments.isEmpty { unconditional.insert(name) } else { filtered.insert(name) }
                } else {
                    let text = rule.action.describe(returnValue: rule.errnoRet) + (rule.arguments.isEmpty ? "" : " with argument filters")
                    other[name, default: []].insert(text)
                }
            }
        }
        self.allowed = unconditional.union(filtered).sorted()
        self.allowedWithArgumentFilters = filtered.subtracting(unconditional).sorted()
        self.otherActions = other.keys.sorted().map { "\($0): " + other[$0]!.sorted().joined(separator: ", ") }

        func mayRun(_ name: String) -> Bool {
            let own = rules.filter { $0.names.contains(name) }
            if own.contains(where: { $0.action.letsCallRun }) { return true }
            guard profile.defaultAction.letsCallRun else { return false }
            return !own.contains { $0.arguments.isEmpty }
        }
        self.dangerousNotAllowed = SeccompProfile.dangerousSyscalls.filter { !mayRun($0) }.sorted()
        self.dangerousAllowed = SeccompProfile.dangerousSyscalls.filter(mayRun).sorted()
        self.clone = Self.cloneNamespaces(profile, rules: rules)
        self.absentSyscalls = profile.absentSyscalls
        self.instructionCount = profile.instructionCount
    }

    /// `clone` cannot create namespaces when each way it is allowed requires the namespace flags to
    /// be clear. (`clone3` passes its flags in memory, where no filter can see them: a profile must
    /// refuse it, which `otherActions` shows.)
    static func cloneNamespaces(_ profile: SeccompProfile, rules: [SeccompRule]) -> CloneNamespaces {
        let own = rules.filter { $0.names.contains("clone") }
        if profile.defaultAction.letsCallRun {
            return own.contains { !$0.action.letsCallRun && $0.arguments.isEmpty } ? .notAllowed : .unrestricted
        }
        let allowing = own.filter(\.action.letsCallRun).flatMap(\.conditionSets)
        if allowing.isEmpty { return .notAllowed }
        // The flags are the first argument, except on s390, where clone takes the stack first.
        let flagsIndex = SeccompArchitecture.native.hasPrefix("SCMP_ARCH_S390") ? 1 : 0
        let flags = SeccompProfile.namespaceFlags
        let guarded = allowing.allSatisfy { conditions in
            conditions.contains {
                $0.index == flagsIndex && $0.comparison == .maskedEqual && $0.value & flags == flags && $0.valueTwo & flags == 0
            }
        }
        return guarded ? .withoutNamespaceFlags : .unrestricted
    }

    /// One fact a line, for `airlock seccomp check`.
    public var lines: [String] {
        var lines = ["default action: \(defaultAction)"]
        lines.append("architectures: \(architectures.joined(separator: ", "))")
        if defaultLetsCallsRun {
            lines.append("allowed: every system call without a rule of its own")
        } else {
            var line = "allowed: \(allowed.count) system call\(allowed.count == 1 ? "" : "s")"
            if !allowedWithArgumentFilters.isEmpty {
                line += ", \(allowedWithArgumentFilters.count) of them only with argument filters (\(allowedWithArgumentFilters.joined(separator: ", ")))"
            }
            lines.append(line)
        }
        if !otherActions.isEmpty { lines.append("other actions: \(otherActions.joined(separator: "; "))") }
        lines.append("clone: \(clone.rawValue)")
        let total = SeccompProfile.dangerousSyscalls.count
        lines.append(
            "dangerous system calls not allowed: \(dangerousNotAllowed.count) of \(total)"
                + (dangerousNotAllowed.isEmpty ? "" : " (\(dangerousNotAllowed.joined(separator: ", ")))"))
        if !dangerousAllowed.isEmpty { lines.append("dangerous system calls ALLOWED: \(dangerousAllowed.joined(separator: ", "))") }
        if !absentSyscalls.isEmpty {
            let architecture = SeccompArchitecture.shortName(SeccompArchitecture.native)
            lines.append("not system calls on \(architecture) (their rules do nothing here): \(absentSyscalls.joined(separator: ", "))")
        }
        lines.append("filter: \(instructionCount) BPF instructions (libseccomp \(Libseccomp.version))")
        return lines
    }

    public var description: String { lines.joined(separator: "\n") }
}
