import AirlockPolicy
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything the engine is told about one container. It is built from the policy's tool entry;
/// from the caller come only the argv (already judged), the tenant and mounts staged by `MountStaging`.
public struct ContainerRunSpec: Sendable, Hashable {
    public var executionID: String
    public var toolName: String
    public var tenant: String
    public var container: ContainerSpec
    /// The judged arguments, after the policy's entrypoint.
    public var arguments: [String]
    public var mounts: [Mount]
    /// Overrides the policy's runtime (`runc`, `crun`, `/usr/bin/runsc`), when set.
    public var runtimeOverride: String?
    /// Overrides the policy's timeout, when set (callers may only shorten it; see `effectiveTimeout`).
    public var timeoutOverride: Duration?
    /// Identifies this process as the owner, so the reaper never removes a live invocation's container.
    public var owner: ContainerOwner
    /// Bytes for the tool's standard input (bounded by the caller); nil: no input, stdin at EOF.
    public var stdin: [UInt8]?
    /// How the invocation's secrets are bound in (`SecretStaging`, see `launched`); nil: the tool
    /// declares none.
    public var secretLaunch: SecretLaunch?
    /// The forwarder and proxy socket of a tool with egress (see `launched`); nil: no network.
    public var egress: EgressAttachment?

    public init(
        executionID: String, toolName: String, tenant: String, container: ContainerSpec, arguments: [String],
        mounts: [Mount] = [], runtimeOverride: String? = nil, timeoutOverride: Duration? = nil,
        owner: ContainerOwner = .current, stdin: [UInt8]? = nil, secretLaunch: SecretLaunch? = nil, egress: EgressAttachment? = nil
    ) {
        self.secretLaunch = secretLaunch
        self.egress = egress
        self.stdin = stdin
        self.executionID = executionID
        self.toolName = toolName
        self.tenant = tenant
        self.container = container
        self.arguments = arguments
        self.mounts = mounts
        self.runtimeOverride = runtimeOverride
        self.timeoutOverride = timeoutOverride
        self.owner = owner
    }

    /// `airlock-<execution_id>`: the name the deadline kills by.
    public var containerName: String { "airlock-\(executionID)" }

    public var runtime: String? { runtimeOverride ?? container.runtime }

    /// The policy's timeout, or a shorter one the caller asked for; never longer.
    public var effectiveTimeout: Duration {
        let policy = Duration.milliseconds(Int64(container.timeoutSeconds * 1000))
        guard let timeoutOverride else { return policy }
        return min(timeoutOverride, policy)
    }
}

extension ContainerSpec {
    /// The same settings with the seccomp profile's path absolute: the engine runs in a working
    /// directory of its own, and the canary and the tool must name the same file.
    public var resolvingSeccompProfile: ContainerSpec {
        guard !seccompProfile.hasPrefix("/") else { return self }
        var resolved = self
        resolved.seccompProfile = FileManager.default.currentDirectoryPath + "/" + seccompProfile
        return resolved
    }
}

/// A host path bound into the container.
public struct Mount: Sendable, Hashable {
    /// The absolute host path the engine binds. For a caller's mount, a staging path that
    /// `MountStaging` bound the checked directory onto: a path only root can change.
    public var hostPath: String
    /// Absolute path inside the container.
    public var containerPath: String
    public var writable: Bool

    public init(hostPath: String, containerPath: String, writable: Bool) {
        self.hostPath = hostPath
        self.containerPath = containerPath
        self.writable = writable
    }
}

enum ProcessInfoHost {
    static let name: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()
}
