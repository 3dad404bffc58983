import AirlockPolicy
import Foundation

/// Runs the canary: a container with a tool's exact settings whose entrypoint is Airlock's own
/// probe, bound read-only at `/airlock-probe`, and compares what the probe finds with what the
/// policy asked for. A host's engine configuration, an older engine, or cgroups that cannot apply
/// a limit each drop a setting without an error; the canary notices.
public struct SandboxCanary: Sendable {
    public static let probeTarget = "/airlock-probe"

    public var engine: any ContainerEngine
    public var probePath: String
    /// The egress forwarder, for tools with egress: their canary runs the probe under it, as the
    /// tool runs; nil: such a tool cannot be attested.
    public var forwarderPath: String?
    public var timeout: Duration = .seconds(60)

    public init(engine: any ContainerEngine, probePath: String, forwarderPath: String? = nil) {
        self.engine = engine
        self.probePath = probePath
        self.forwarderPath = forwarderPath
    }

    /// The canary's container: the tool's, with the probe as its entrypoint and no caller input.
    /// The probe's one argument is the tool's program, which it looks for in the image. A tool with
    /// egress gets the forwarder, its mounts and variables as it will at each call; no proxy is
    /// behind its socket (`/dev/null` stands in: the probe connects nowhere).
    public func spec(tool: String, container: ContainerSpec, runtimeOverride: String? = nil) -> ContainerRunSpec {
        var canary = container
        canary.entrypoint = [Self.probeTarget]
        // The tool's own deadline is not a setting of its sandbox, and may be shorter than a
        // container start on a busy host.
        canary.timeoutSeconds = Double(timeout.components.seconds)
        // A tool with secrets has them bound in at run time: the canary has the same mount points,
        // each holding the probe (a file that is there, and no secret), and expects them.
        let secretMounts = SecretLaunch.targets(for: container.secrets).map { Mount(hostPath: probePath, containerPath: $0, writable: false) }
        return ContainerRunSpec(
            executionID: "canary-" + UUID().uuidString.lowercased(), toolName: tool, tenant: "airlock-canary", container: canary,
            arguments: Array(container.entrypoint.prefix(1)),
            mounts: [Mount(hostPath: probePath, containerPath: Self.probeTarget, writable: false)] + secretMounts,
            runtimeOverride: runtimeOverride,
            egress: container.egress == nil ? nil : EgressAttachment(forwarderPath: forwarderPath ?? "", socketPath: "/dev/null"))
    }

    /// Attests one tool's sandbox. Throws when the canary could not run or report (engine failure,
    /// image missing); a sandbox that differs from the policy is an attestation that does not hold.
    public func attest(tool: String, container: ContainerSpec, runtimeOverride: String? = nil) async throws(EngineError) -> SandboxAttestation {
        if container.egress != nil, forwarderPath == nil {
            throw EngineError("the sandbox canary for \(tool) needs the egress forwarder, which was not found")
        }
        let spec = spec(tool: tool, container: container, runtimeOverride: runtimeOverride)
        let result = try await ContainerRunner(engine: engine, retentionBytes: 64 << 10).run(spec)
        let output = String(decoding: result.stdout.keptHead + result.stdout.keptTail, as: UTF8.self)
        guard result.outcome == .exited(0) else {
            let detail: String
            switch result.outcome {
            case let .engineFailure(_, message): detail = message
            case .timedOut: detail = "it did not finish in \(timeout)"
            default:
                detail = "exit \(result.exitCode): " + String(decoding: result.stderr.keptHead.prefix(300), as: UTF8.self)
            }
            throw EngineError("the sandbox canary for \(tool) did not run: \(detail)")
        }
        let report = try SandboxReport(parsing: output)
        return SandboxAttestation(tool: tool, checks: SandboxExpectation.checks(for: container, report: report), digest: report.digest)
    }
}
