import AirlockPolicy
import CLinuxMount

#if canImport(Glibc)
import Glibc
#endif

/// Why an invocation's secrets could not be handed in. The message names the secret, never its value.
public struct SecretError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// A name the tool does not declare: the caller's to fix.
        case undeclared
        /// A value an environment variable cannot hold (a NUL byte): the caller's to fix.
        case malformed
        /// Airlock cannot make the files safely (not root, no tmpfs, an unsafe directory): the operator's.
        case staging
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Puts one invocation's secrets where its container can read them and nothing else can: a
/// directory of its own on a tmpfs (never the disk), `<parent>/<owner pid>-<execution id>`, root's
/// and 0700 below a parent only root can write (the checks of `MountStaging`), holding one file per
/// file secret (owned by the container's user, with the declared mode) and one file of `NAME=value`
/// records, each ended by a NUL byte, for the environment secrets, which the launcher reads.
///
/// Every secret the tool declares gets its file, empty when the caller gave no value, so the
/// container has the same mounts as the canary attested. The directory is removed when the
/// invocation ends (`StagedMounts.release`); one a killed process left behind is removed by
/// `removeAbandoned` at the worker's start and by `airlock reap`.
public struct SecretStaging: Sendable {
    public static let defaultParent = "/run/airlock/secrets"
    /// The container's user, who must be able to read the files.
    static let containerUser: uid_t = 65534
    /// The tmpfs Airlock mounts when the parent is on a disk: small, and nothing on it may run.
    static let tmpfsOptions = "mode=0755,size=16m"

    public var parent: String
    /// The launcher on the host; nil: found at the first invocation with an environment secret
    /// (`InContainerProgram.secretsLauncher`).
    public var launcher: String?

    public init(parent: String = Self.defaultParent, launcher: String? = nil) {
        self.parent = MountStaging(parent: parent).parent
        self.launcher = launcher
    }

    /// The staged files and how the container gets them; `launch` is nil when the tool declares no secret.
    public struct Staged: Sendable {
        public var files: StagedMounts
        public var launch: SecretLaunch?
    }

    /// Checks `values` against what the tool declares, and writes them.
    ///
    /// - Throws: `SecretError`; nothing is left on the host then.
    public func stage(_ values: SecretValues, declared: [SecretDeclaration], executionID: String) throws(SecretError) -> Staged {
        let byName = Dictionary(declared.map { ($0.name, $0) }) { first, _ in first }
        for name in values.names where byName[name] == nil {
            let known = declared.isEmpty ? "it declares none" : "it declares: " + declared.map(\.name).joined(separator: ", ")
            throw SecretError(.undeclared, "secret '\(name)' is not declared by the tool (\(known))")
        }
        guard !declared.isEmpty else { return Staged(files: .none, launch: nil) }
        for secret in declared {
            if case .environment = secret.delivery, values[secret.name]?.contains(0) == true {
                throw SecretError(.malformed, "secret '\(secret.name)' holds a NUL byte, which an environment variable cannot hold")
            }
        }
        guard geteuid() == 0 else {
            throw SecretError(.staging, "secrets need root, so that their files belong to the container's user alone; run Airlock as root or invoke the tool without secrets")
        }
        guard ExecutionDirectory.isSafeName(executionID) else {
            throw SecretError(.staging, "execution id '\(executionID)' cannot name a directory (letters, digits, '_', '.', '-')")
        }
        var launcherProgram: String?
        if declared.contains(where: { if case .environment = $0.delivery { true } else { false } }) {
            if let launcher {
                launcherProgram = launcher
            } else {
                do {
                    launcherProgram = try InContainerProgram.secretsLauncher.locate()
                } catch {
                    throw SecretError(.staging, "the secrets launcher cannot be found: \(error.description)")
                }
            }
        }
        let directory = try makeDirectory(executionID: executionID)
        var entries: [StagedMounts.Entry] = []
        do throws(SecretError) {
            var records: [UInt8] = []
            var files: [Mount] = []
            for secret in declared {
                switch secret.delivery {
                case let .environment(variable):
                    guard let value = values[secret.name] else { continue }
                    records += Array(variable.utf8) + [UInt8(ascii: "=")] + value + [0]
                case let .file(path, mode):
                    let file = directory + "/\(entries.count + 1)"
                    try write(values[secret.name] ?? [], to: file, mode: mode_t(mode), recording: &entries, target: path)
                    files.append(Mount(hostPath: file, containerPath: path, writable: false))
                }
            }
            var launcher: SecretLaunch.Launcher?
            if let launcherProgram {
                let file = directory + "/0"
                try write(records, to: file, mode: 0o400, recording: &entries, target: SecretLaunch.environmentTarget)
                launcher = SecretLaunch.Launcher(program: launcherProgram, environmentFile: file)
            }
            return Staged(files: StagedMounts(directory: directory, entries: entries), launch: SecretLaunch(launcher: launcher, files: files))
        } catch {
            StagedMounts(directory: directory, entries: entries).release()
            throw error
        }
    }

    /// Removes the directories of processes that died without removing theirs.
    @discardableResult
    public func removeAbandoned() -> [String] {
        MountStaging(parent: parent).removeAbandoned()
    }

    static let purpose = ExecutionDirectory.Purpose(directory: "secrets directory", use: "for secrets", content: "a secret")

    /// The invocation's directory, 0700, on a tmpfs below a parent only root can change.
    private func makeDirectory(executionID: String) throws(SecretError) -> String {
        do {
            try ExecutionDirectory.prepare(parent: parent, purpose: Self.purpose)
            try ensureTmpfs()
            // Checked again from `/` down, now that the tmpfs is there.
            return try ExecutionDirectory.create(parent: parent, executionID: executionID, purpose: Self.purpose).path
        } catch let error as SecretError {
            throw error
        } catch let error as ExecutionDirectory.Failure {
            throw SecretError(.staging, "cannot prepare the secrets directory: \(error.message)")
        } catch {
            throw SecretError(.staging, "cannot prepare the secrets directory: \(error)")
        }
    }

    /// The parent is a tmpfs, or is made one: secrets never touch a disk. Under a lock, so that two
    /// processes never stack two mounts (the second would hide the first one's files).
    func ensureTmpfs() throws(SecretError) {
        if isTmpfs(parent) { return }
        let lockPath = parent + ".lock"
        let lock = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw SecretError(.staging, "cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 {
            guard errno == EINTR else { throw SecretError(.staging, "cannot lock \(lockPath): \(String(cString: strerror(errno)))") }
        }
        if isTmpfs(parent) { return }
        let mounted = Self.tmpfsOptions.withCString { mount("tmpfs", parent, "tmpfs", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), $0) }
        guard mounted == 0 else {
            throw SecretError(.staging, "'\(parent)' is not a tmpfs and one cannot be mounted there (\(String(cString: strerror(errno)))); secrets are never written to a disk")
        }
        guard isTmpfs(parent) else { throw SecretError(.staging, "'\(parent)' is still not a tmpfs after mounting one") }
    }

    func isTmpfs(_ path: String) -> Bool {
        airlock_is_tmpfs(path) == 1
    }

    /// A new file holding `bytes`, then owned by the container's user with `mode`; recorded first,
    /// so that a failure midway is removed with the rest.
    private func write(_ bytes: [UInt8], to path: String, mode: mode_t, recording entries: inout [StagedMounts.Entry], target: String) throws(SecretError) {
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SecretError(.staging, "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        entries.append(StagedMounts.Entry(mount: Mount(hostPath: path, containerPath: target, writable: false), isDirectory: false))
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SecretError(.staging, "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        guard fchown(fd, Self.containerUser, Self.containerUser) == 0, fchmod(fd, mode) == 0 else {
            throw SecretError(.staging, "cannot hand \(path) to the container's user: \(String(cString: strerror(errno)))")
        }
    }
}
