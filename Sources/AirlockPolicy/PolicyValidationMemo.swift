import Crypto

/// The policies this build of Airlock has loaded whole and found valid, each with the digest that
/// load computed, named by the bytes of the policy file and of every grammar file it names.
///
/// With it, a one-shot command asked about one tool (`airlock run`, `airlock judge`) loads that
/// tool's grammar and the rules that name it, and takes the digest from the entry, instead of
/// loading every grammar at every start (~6 ms of a run under the shipped policy, about half its
/// own cost). What such a load decides is what the whole policy decides: the tool's entry, grammar and
/// rules are still read from the files and built, and no other tool's rule can decide for it.
/// What an entry stands for is the rest of the validation, and the digest:
/// - a policy with an error anywhere is never remembered, so it is rejected at every load;
/// - a byte changed in any of its files, a file that cannot be read, or another build of Airlock
///   gives another name, and the next load is whole again.
///
/// Entries live beside the engine probes and the compiled seccomp programs, in the user's cache
/// directory. An edited entry cannot change a decision: at worst a run records a wrong digest, or
/// does not report an error in another tool's part of the policy (`airlock policy check` and the
/// worker always load the whole policy). Whoever can write there, as that user, can already write
/// the audit trail's spool.
public struct PolicyValidationMemo: Sendable {
    /// The entry kept under a name, if any.
    public var read: @Sendable (_ name: String) -> [UInt8]?
    /// Keeps an entry under a name; best effort.
    public var write: @Sendable (_ name: String, _ contents: [UInt8]) -> Void
    /// Identifies this build of Airlock: another build may validate differently.
    public var build: String

    public init(build: String, read: @escaping @Sendable (String) -> [UInt8]?, write: @escaping @Sendable (String, [UInt8]) -> Void) {
        self.build = build
        self.read = read
        self.write = write
    }

    /// `policy-<sha256 hex>.digest`, over this build, the policy file's path and text, and each
    /// grammar file's path and text (or that it could not be read), every part length-prefixed.
    func name(policyFile: String, policyText: String, grammars: [(path: String, text: String?)]) -> String {
        var hasher = SHA256()
        func add(_ bytes: some Collection<UInt8>) {
            hasher.update(data: Array("\(bytes.count):".utf8))
            hasher.update(data: Array(bytes))
        }
        add(build.utf8)
        add(policyFile.utf8)
        add(policyText.utf8)
        for grammar in grammars.sorted(by: { $0.path < $1.path }) {
            add(grammar.path.utf8)
            if let text = grammar.text {
                add(text.utf8)
            } else {
                add("unreadable".utf8)
            }
        }
        return "policy-" + PolicyDigest.hex(hasher.finalize()) + ".digest"
    }

    /// The digest remembered under `name`; nil when there is none, or what is there is not a digest.
    func digest(named name: String) -> String? {
        guard let bytes = read(name), bytes.count == 71, bytes.starts(with: Array("sha256:".utf8)),
            bytes.dropFirst(7).allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    func remember(_ digest: String, named name: String) {
        write(name, Array(digest.utf8))
    }
}
