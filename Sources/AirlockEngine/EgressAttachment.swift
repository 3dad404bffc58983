import AirlockPolicy

/// What a tool with egress gets in its container: Airlock's forwarder as the entrypoint, running
/// the tool as its child, and the invocation's proxy socket.
///
/// `/airlock-egress PORT /airlock-egress.sock -- <the tool's entrypoint and arguments>`: the
/// forwarder listens on 127.0.0.1:PORT inside the container (still `--network none`) and relays
/// each connection to the socket, behind which the invocation's own proxy decides it. The tool is
/// pointed there by the standard proxy variables; one that ignores them has no network.
public struct EgressAttachment: Sendable, Hashable {
    /// Where the worker's proxies put their sockets, each in a root-only directory of its own.
    public static let defaultSocketParent = "/run/airlock/egress"
    public static let forwarderTarget = "/airlock-egress"
    public static let socketTarget = "/airlock-egress.sock"
    /// Inside the container's own network namespace: no other container shares it.
    public static let port = 3128

    /// The static forwarder on the host (`InContainerProgram.egressForwarder`).
    public var forwarderPath: String
    /// The invocation's proxy socket on the host.
    public var socketPath: String

    public init(forwarderPath: String, socketPath: String) {
        self.forwarderPath = forwarderPath
        self.socketPath = socketPath
    }

    /// Removes the socket directories of processes that died without closing their proxies
    /// (SIGKILL, a crash); a live owner's stay. Returns the paths removed.
    @discardableResult
    public static func removeAbandoned(parent: String = defaultSocketParent) -> [String] {
        ExecutionDirectory.removeAbandoned(in: parent, emptying: ExecutionDirectory.removeFiles)
    }

    /// `HTTPS_PROXY` and its kin, both spellings (curl reads only the lower-case `http_proxy`), and
    /// an empty `NO_PROXY`: nothing bypasses the proxy, and there is nothing to bypass it to.
    public static let environment: [String: String] = {
        let url = "http://127.0.0.1:\(port)"
        return ["HTTPS_PROXY": url, "HTTP_PROXY": url, "https_proxy": url, "http_proxy": url, "NO_PROXY": "", "no_proxy": ""]
    }()

    /// The two binds, both read-only (connecting to a socket needs no writable mount).
    public var mounts: [Mount] {
        [
            Mount(hostPath: forwarderPath, containerPath: Self.forwarderTarget, writable: false),
            Mount(hostPath: socketPath, containerPath: Self.socketTarget, writable: false),
        ]
    }
}

extension ContainerRunSpec {
    /// The spec as the engine is told it. With secrets, their launcher wraps the entrypoint and
    /// their files are bound in; with egress, the forwarder wraps that in turn, and its mounts and
    /// variables are added: `/airlock-egress PORT SOCKET -- /airlock-secrets ENV -- TOOL...`. Every
    /// setting the policy gave stays as it was.
    public var launched: ContainerRunSpec {
        var spec = self
        if let secretLaunch {
            let secrets = secretLaunch.apply(to: spec.container.entrypoint)
            spec.secretLaunch = nil
            spec.container.entrypoint = secrets.entrypoint
            spec.mounts += secrets.mounts
        }
        if let egress {
            spec.egress = nil
            spec.container.entrypoint =
                [EgressAttachment.forwarderTarget, "\(EgressAttachment.port)", EgressAttachment.socketTarget, "--"] + spec.container.entrypoint
            spec.container.environment.merge(EgressAttachment.environment) { _, proxy in proxy }
            spec.mounts += egress.mounts
        }
        return spec
    }
}
