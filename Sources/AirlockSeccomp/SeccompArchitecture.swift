/// An `archMap` entry: an architecture, and the sub-architectures (other ABIs of the same machine,
/// such as 32-bit x86 on x86_64) that go into the filter with it.
public struct SeccompArchitectureMapping: Sendable, Hashable {
    public var architecture: String
    public var subArchitectures: [String]

    public init(architecture: String, subArchitectures: [String] = []) {
        self.architecture = architecture
        self.subArchitectures = subArchitectures
    }
}

/// Architecture names as profiles spell them (`SCMP_ARCH_X86_64`), and libseccomp's tokens for them.
enum SeccompArchitecture {
    static let prefix = "SCMP_ARCH_"

    /// The names the OCI runtime spec lists; `known` keeps those this libseccomp supports.
    static let candidates = [
        "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",
        "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
        "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC",
        "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
    ]

    static let known: [String] = candidates.filter { token($0) != nil }

    /// This machine's architecture: `SCMP_ARCH_X86_64` on the build machines.
    static let native: String = known.first { token($0) == Libseccomp.nativeArchitecture } ?? "SCMP_ARCH_NATIVE"

    /// libseccomp's token for a profile's name; nil for a name it does not know.
    static func token(_ name: String) -> UInt32? {
        guard name.hasPrefix(prefix), name.count > prefix.count else { return nil }
        return Libseccomp.architecture(shortName(name))
    }

    /// libseccomp's own spelling, as people say it: `x86_64` for `SCMP_ARCH_X86_64`.
    static func shortName(_ name: String) -> String {
        String(name.dropFirst(name.hasPrefix(prefix) ? prefix.count : 0)).lowercased()
    }
}
