import AirlockPolicy

/// How one invocation's secrets enter its container: files bound read-only from a tmpfs on the
/// host (`SecretStaging`), and, for environment secrets, Airlock's launcher as the entrypoint,
/// which reads its file of `NAME=value` records, sets them and execs the tool. Nothing of a value
/// is on the engine's command line or in its stored configuration: only host paths are.
public struct SecretLaunch: Sendable, Hashable {
    public static let launcherTarget = "/airlock-secrets"
    public static let environmentTarget = "/airlock-secrets.env"
    /// Names another launcher than the one beside Airlock's executables.
    public static let launcherVariable = "AIRLOCK_SECRETS_LAUNCHER"

    /// Airlock's launcher and the file of environment records it reads, on the host.
    public struct Launcher: Sendable, Hashable {
        public var program: String
        public var environmentFile: String

        public init(program: String, environmentFile: String) {
            self.program = program
            self.environmentFile = environmentFile
        }
    }

    /// nil when the tool has no environment secret: then the tool is its own entrypoint.
    public var launcher: Launcher?
    /// Each file secret: its file on the host, bound read-only at its declared path.
    public var files: [Mount]

    public init(launcher: Launcher?, files: [Mount]) {
        self.launcher = launcher
        self.files = files
    }

    /// The container's entrypoint and extra mounts for these secrets: the one place a spec's
    /// secrets change what the engine is told.
    public func apply(to entrypoint: [String]) -> (entrypoint: [String], mounts: [Mount]) {
        guard let launcher else { return (entrypoint, files) }
        return (
            [Self.launcherTarget, Self.environmentTarget, "--"] + entrypoint,
            [
                Mount(hostPath: launcher.program, containerPath: Self.launcherTarget, writable: false),
                Mount(hostPath: launcher.environmentFile, containerPath: Self.environmentTarget, writable: false),
            ] + files
        )
    }

    /// The container paths the secrets a tool declares take: what its canary expects to find mounted.
    public static func targets(for secrets: [SecretDeclaration]) -> [String] {
        var targets: [String] = []
        for secret in secrets {
            if case let .file(path, _) = secret.delivery { targets.append(path) }
        }
        if secrets.contains(where: { if case .environment = $0.delivery { true } else { false } }) {
            targets += [launcherTarget, environmentTarget]
        }
        return targets.sorted()
    }
}
