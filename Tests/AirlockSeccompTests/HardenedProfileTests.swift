import AirlockSeccomp
import Testing

@Suite("The shipped hardened profile")
struct HardenedProfileTests {
    let profile = TestSupport.hardened

    @Test("loads, and libseccomp compiles it into a program the kernel accepts")
    func compiles() {
        #expect(profile.defaultAction == .errno)
        #expect(profile.defaultErrnoRet == 1)
        #expect(profile.instructionCount > 0)
        #expect(profile.instructionCount <= 4096)
        #expect(profile.program.count == profile.instructionCount * 8)
        #expect(profile.digest.hasPrefix("sha256:"))
        #expect(profile.digest.count == "sha256:".count + 64)
    }

    /// On aarch64 the legacy x86_64 names (open, stat, fork, ...) are absent by design.
    @Test("every name is a system call of x86_64, none only of another architecture", .enabled(if: TestSupport.architecture == "x86_64"))
    func namesAreNative() {
        #expect(profile.absentSyscalls.isEmpty, "\(profile.absentSyscalls)")
    }

    @Test("the filter covers this machine's architecture alone: no 32-bit ABI beside it")
    func architectures() {
        #expect(profile.filterArchitectures.count == 1)
        #expect(profile.archMap.allSatisfy { $0.subArchitectures.isEmpty })
    }

    @Test("a dangerous system call is in no rule that lets it run", arguments: SeccompProfile.dangerousSyscalls)
    func dangerousNotAllowed(name: String) {
        let allowing = profile.rules.filter { $0.action.letsCallRun && $0.names.contains(name) }
        #expect(allowing.isEmpty, "\(name) allowed by \(allowing.map(\.path))")
        #expect(!profile.defaultAction.letsCallRun)
        #expect(profile.summary.dangerousNotAllowed.contains(name))
    }

    @Test("clone is allowed only when its flags carry no namespace flag")
    func cloneWithoutNamespaces() throws {
        let rules = profile.rules.filter { $0.names.contains("clone") }
        #expect(!rules.isEmpty)
        for rule in rules {
            #expect(rule.action == .allow)
            let flags = try #require(rule.conditionSets.first?.first)
            #expect(rule.conditionSets.count == 1)
            #expect(flags == SeccompArgument(index: 0, value: 2_114_060_288, valueTwo: 0, comparison: .maskedEqual))
            // fork, threads (glibc's pthread_create), vfork: all pass.
            for allowed: UInt64 in [0x11, 0x3D0F00, 0x4111] { #expect(flags.holds(for: allowed)) }
            // CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID alone and with SIGCHLD: none passes.
            for denied: UInt64 in [0x1000_0000, 0x0002_0000, 0x4000_0000, 0x2000_0011, 0x1000_0011] { #expect(!flags.holds(for: denied)) }
        }
        #expect(profile.summary.clone == .withoutNamespaceFlags)
    }

    @Test("clone3 fails with ENOSYS, so that libc falls back to clone")
    func clone3() {
        let rules = profile.rules.filter { $0.names.contains("clone3") }
        #expect(rules.count == 1)
        #expect(rules.first?.action == .errno)
        #expect(rules.first?.errnoRet == 38)
        #expect(rules.first?.arguments.isEmpty == true)
        #expect(profile.summary.otherActions == ["clone3: SCMP_ACT_ERRNO (errno 38)"])
    }

    @Test("a shell and a dynamic linker have what they need")
    func essentials() {
        let allowed = Set(profile.summary.allowed)
        for name in ["read", "write", "openat", "mmap", "mprotect", "execve", "wait4", "exit_group", "rt_sigaction", "arch_prctl", "fstat", "newfstatat", "getdents64", "pipe2", "dup2", "fork", "vfork", "futex", "set_robust_list", "rseq", "prlimit64"] {
            #expect(allowed.contains(name), "\(name)")
        }
    }

    @Test("the summary counts what is allowed and names what is not")
    func summary() {
        let summary = profile.summary
        #expect(summary.defaultAction == "SCMP_ACT_ERRNO (errno 1)")
        #expect(summary.allowedWithArgumentFilters == ["clone", "mknod", "mknodat", "personality", "socket"])
        #expect(summary.dangerousAllowed.isEmpty)
        #expect(summary.dangerousNotAllowed.count == SeccompProfile.dangerousSyscalls.count)
        let text = summary.description
        #expect(text.contains("allowed: \(summary.allowed.count) system calls, 5 of them only with argument filters (clone, mknod, mknodat, personality, socket)"))
        #expect(text.contains("dangerous system calls not allowed: 21 of 21 (add_key, bpf, delete_module,"))
        #expect(text.contains("clone: allowed only without namespace flags"))
    }
}
