import AirlockEngine
import AirlockPolicy
import Testing

/// A tool with egress as the engine is told it, and as the canary must find it.
@Suite("Egress in the container: the forwarder, its mounts and variables, and their attestation")
struct EgressAttachmentTests {
    static let attachment = EgressAttachment(forwarderPath: "/opt/airlock/airlock-egress", socketPath: "/run/airlock/egress/7-e1/proxy.sock")

    static func egressSpec() throws -> ContainerRunSpec {
        var spec = RunArgumentsTests.spec()
        spec.container.egress = try EgressAllowList([EgressRule(host: "kube.example", ports: [6443])])
        spec.egress = attachment
        return spec
    }

    @Test("the forwarder wraps the entrypoint, both binds are read-only, the proxy variables are set, and the network stays none", arguments: EngineKind.allCases)
    func argv(engine: EngineKind) throws {
        let argv = RunArguments.build(try Self.egressSpec(), for: engine)
        let plain = RunArguments.build(RunArgumentsTests.spec(), for: engine)
        #expect(RunArgumentsTests.values(argv, "--network") == ["none"])
        #expect(RunArgumentsTests.values(argv, "--entrypoint") == ["/airlock-egress"])
        #expect(Array(argv.drop { $0 != "airlock/tools:1" }.dropFirst()) == ["3128", "/airlock-egress.sock", "--", "/usr/bin/git", "--no-pager", "log", "--oneline", "--rm"])
        #expect(RunArgumentsTests.values(argv, "--mount").suffix(2) == [
            "type=bind,source=/opt/airlock/airlock-egress,target=/airlock-egress,readonly",
            "type=bind,source=/run/airlock/egress/7-e1/proxy.sock,target=/airlock-egress.sock,readonly",
        ])
        let proxy = "http://127.0.0.1:3128"
        let added = Set(RunArgumentsTests.values(argv, "--env")).subtracting(RunArgumentsTests.values(plain, "--env"))
        #expect(added == ["HTTPS_PROXY=\(proxy)", "HTTP_PROXY=\(proxy)", "https_proxy=\(proxy)", "http_proxy=\(proxy)", "NO_PROXY=", "no_proxy="])
        // Every other flag is the tool's own.
        let flags = { (argv: [String]) in argv.prefix { $0 != "airlock/tools:1" }.filter { $0.hasPrefix("--") } }
        #expect(flags(argv).filter { $0 != "--mount" && $0 != "--env" } == flags(plain).filter { $0 != "--mount" && $0 != "--env" })
    }

    /// A probe's report of a tool's sandbox, with the given mounts, interfaces and variables.
    static func report(mounts: [String], interfaces: [String] = ["lo"], environment: [String]) throws -> SandboxReport {
        let limits = ResourceLimits()
        var lines = ["probe=1", "uid=65534", "euid=65534", "gid=65534", "groups=65534", "entrypoint=executable"]
        lines += ["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"].map { "\($0)=0000000000000000" }
        lines += ["no_new_privs=1", "seccomp=2", "root_writable=0", "writable=/tmp noexec"]
        lines += mounts.map { "mount=\($0)" }
        lines += ["full", "null", "random", "tty", "urandom", "zero"].map { "device=\($0)" }
        lines += interfaces.map { "interface=\($0)" }
        lines += ["memory_max=\(limits.memoryBytes)", "pids_max=\(limits.pids)", "nofile=1024:1024", "nproc=128:128"]
        lines += environment.map { "env=\($0)" }
        return try SandboxReport(parsing: lines.joined(separator: "\n"))
    }

    static func container(egress: Bool) throws -> ContainerSpec {
        ContainerSpec(
            image: "airlock/tools:1", entrypoint: ["/usr/bin/kubectl"], timeoutSeconds: 30, network: "none", seccompProfile: "/p.json",
            runtime: nil, environment: ["HOME": "/tmp"], resources: ResourceLimits(), mountRoots: [],
            egress: egress ? try EgressAllowList([EgressRule(host: "kube.example", ports: [6443])]) : nil)
    }

    static let egressMounts = ["/airlock-egress", "/airlock-egress.sock"]
    static let egressEnvironment = ["HOME", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "PATH", "http_proxy", "https_proxy", "no_proxy"]

    static func differences(_ container: ContainerSpec, _ report: SandboxReport) -> [String] {
        SandboxExpectation.checks(for: container, report: report).filter { !$0.holds }.map(\.setting)
    }

    @Test("the canary expects the forwarder's mounts and variables for a tool with egress, and only for it")
    func expected() throws {
        let egressReport = try Self.report(mounts: Self.egressMounts, environment: Self.egressEnvironment)
        #expect(Self.differences(try Self.container(egress: true), egressReport).isEmpty)
        #expect(Self.differences(try Self.container(egress: false), egressReport) == ["other mounts", "environment"])
        let plainReport = try Self.report(mounts: [], environment: ["HOME", "PATH"])
        #expect(Self.differences(try Self.container(egress: false), plainReport).isEmpty)
        #expect(Self.differences(try Self.container(egress: true), plainReport) == ["other mounts", "environment"])
    }

    @Test(
        "a widened sandbox of a tool with egress is still caught",
        arguments: [
            (["/airlock-egress", "/airlock-egress.sock", "/var/lib/extra"], ["lo"], [String](), "other mounts"),
            (["/airlock-egress", "/airlock-egress.sock"], ["eth0", "lo"], [String](), "network interfaces"),
            (["/airlock-egress", "/airlock-egress.sock"], ["lo"], ["AWS_SECRET_ACCESS_KEY"], "environment"),
        ] as [([String], [String], [String], String)])
    func widened(mounts: [String], interfaces: [String], extraVariables: [String], setting: String) throws {
        let report = try Self.report(mounts: mounts, interfaces: interfaces, environment: (Self.egressEnvironment + extraVariables).sorted())
        #expect(Self.differences(try Self.container(egress: true), report) == [setting])
    }
}
