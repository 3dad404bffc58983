/// Programs libseccomp compiled before, kept by the executable between processes (this module does
/// no I/O), so that a one-shot `airlock run` does not compile the same profile again: ~3 ms a run.
///
/// A program is kept under the profile's digest, libseccomp's version and the architecture: the
/// checks and the compile are deterministic in those, so they would pass again, and an entry stands
/// for them (`SeccompProfile.reference` does not read such bytes again). The program is
/// informational (podman and docker compile the JSON file themselves), so an edited cache entry
/// cannot weaken a container: at worst a profile they cannot load reaches them, and the run ends
/// as an engine failure. An entry that is not a whole number of instructions is ignored.
public struct SeccompProgramCache: Sendable {
    /// The program kept under a name, if any.
    public var read: @Sendable (_ name: String) -> [UInt8]?
    /// Keeps a program under a name; best effort.
    public var write: @Sendable (_ name: String, _ program: [UInt8]) -> Void

    public init(read: @escaping @Sendable (String) -> [UInt8]?, write: @escaping @Sendable (String, [UInt8]) -> Void) {
        self.read = read
        self.write = write
    }

    /// `seccomp-<sha256 hex>-libseccomp<version>-<architecture>.bpf`: usable as a file name.
    static func name(for digest: String) -> String {
        let hex = digest.hasPrefix("sha256:") ? String(digest.dropFirst(7)) : digest
        return "seccomp-\(hex)-libseccomp\(Libseccomp.version)-\(SeccompArchitecture.native).bpf"
    }

    func program(for digest: String) -> [UInt8]? {
        guard let program = read(Self.name(for: digest)), !program.isEmpty, program.count % 8 == 0 else { return nil }
        return program
    }

    func store(_ program: [UInt8], for digest: String) {
        write(Self.name(for: digest), program)
    }
}
