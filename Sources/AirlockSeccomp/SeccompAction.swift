/// What the kernel does with a system call: for a rule that matches it, or by default.
///
/// The spellings are the OCI runtime spec's. `SCMP_ACT_NOTIFY` is left out on purpose: it needs a
/// listener process, which Airlock does not run.
public enum SeccompAction: String, Sendable, Hashable, CaseIterable, Codable {
    case allow = "SCMP_ACT_ALLOW"
    /// Fail the call with `errnoRet` (EPERM when it is not given, as runc does).
    case errno = "SCMP_ACT_ERRNO"
    /// The same as `SCMP_ACT_KILL_THREAD` (libseccomp's historical name).
    case kill = "SCMP_ACT_KILL"
    case killProcess = "SCMP_ACT_KILL_PROCESS"
    case killThread = "SCMP_ACT_KILL_THREAD"
    case trap = "SCMP_ACT_TRAP"
    /// Hand the call to a ptrace tracer; without one it fails with ENOSYS.
    case trace = "SCMP_ACT_TRACE"
    /// Run the call, and log it.
    case log = "SCMP_ACT_LOG"

    /// Whether the system call runs when this action applies.
    public var letsCallRun: Bool {
        self == .allow || self == .log
    }

    /// Whether `errnoRet` means something for this action (the errno, or the tracer's message).
    public var takesReturnValue: Bool {
        self == .errno || self == .trace
    }

    /// The action as a person reads it: `SCMP_ACT_ERRNO (errno 38)`.
    public func describe(returnValue: UInt16?) -> String {
        switch self {
        case .errno: "\(rawValue) (errno \(returnValue ?? 1))"
        case .trace: "\(rawValue) (message \(returnValue ?? 1))"
        default: rawValue
        }
    }

    /// The largest `errnoRet` the action carries: the kernel caps an errno at 4095; a trace message
    /// has 16 bits.
    var maximumReturnValue: UInt16 {
        self == .trace ? UInt16.max : 4095
    }
}
