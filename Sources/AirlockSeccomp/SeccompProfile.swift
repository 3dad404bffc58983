/// A seccomp profile in the OCI/Docker JSON format that passed every check: its JSON shape, every
/// system call name resolved on this machine's architecture, and a compile by libseccomp itself.
///
/// Load one with `SeccompProfile.load(path:)`; the engine passes the same file, byte for byte, to
/// podman or docker, and `digest` identifies those bytes.
public struct SeccompProfile: Sendable, Hashable {
    public var file: String
    /// `sha256:<hex>` of the file's bytes.
    public var digest: String
    public var defaultAction: SeccompAction
    /// The errno of the default action (`SCMP_ACT_ERRNO`, `SCMP_ACT_TRACE`); nil means EPERM.
    public var defaultErrnoRet: UInt16?
    /// `architectures` as written: runc adds every one to the filter.
    public var architectures: [String]
    /// `archMap` as written: podman adds the entry for this machine's architecture, with its
    /// sub-architectures.
    public var archMap: [SeccompArchitectureMapping]
    /// The entries of `syscalls`, in file order.
    public var rules: [SeccompRule]
    /// The architectures the filter covers on this machine, this machine's own first.
    public var filterArchitectures: [String]
    /// Names libseccomp knows from other architectures that are no system call on this one: rules
    /// for them do nothing here.
    public var absentSyscalls: [String]
    /// The BPF program libseccomp compiled for this machine, 8 bytes an instruction.
    public var program: [UInt8]

    /// System calls a CLI tool never needs and a container escape often does: namespaces and mounts,
    /// tracing, kernel keyrings, BPF and perf, userfaultfd and io_uring, kexec and kernel modules.
    public static let dangerousSyscalls = [
        "ptrace", "mount", "umount", "umount2", "unshare", "setns", "pivot_root", "keyctl", "add_key", "request_key",
        "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load",
        "kexec_file_load", "init_module", "finit_module", "delete_module",
    ]

    /// The `clone` flags that create namespaces: CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
    /// CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP.
    public static let namespaceFlags: UInt64 = 0x7E02_0000

    /// What a run needs of a profile: the file the engine is handed, and the digest recorded.
    public struct Reference: Sendable, Hashable {
        public var file: String
        /// `sha256:<hex>` of the file's bytes.
        public var digest: String

        public init(file: String, digest: String) {
            self.file = file
            self.digest = digest
        }
    }

    public var reference: Reference { Reference(file: file, digest: digest) }

    /// What the profile lets a container do, for an operator to review.
    public var summary: SeccompSummary { SeccompSummary(self) }

    /// The number of instructions of `program`.
    public var instructionCount: Int { program.count / 8 }
}
