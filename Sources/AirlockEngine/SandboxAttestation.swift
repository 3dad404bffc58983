import AirlockPolicy
import Foundation

/// What the canary's probe (`airlock-probe`) reported from inside a container: its `key=value`
/// lines, in the probe's fixed order. The same settings on the same engine give the same lines, so
/// their digest names the sandbox a tool really runs in (`sandbox_digest` on `Started`).
public struct SandboxReport: Sendable, Hashable {
    public var lines: [String]

    public init(parsing text: String) throws(EngineError) {
        let lines = text.split(separator: "\n").map(String.init)
        guard lines.first == "probe=1", lines.allSatisfy({ $0.contains("=") }) else {
            let start = String(text.prefix(200))
            throw EngineError("the sandbox probe did not report (its output began: \(start.isEmpty ? "nothing" : start))")
        }
        self.lines = lines
    }

    /// Every value of `key`, in order.
    public func values(_ key: String) -> [String] {
        lines.compactMap { line in
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return parts[0] == key ? String(parts[1]) : nil
        }
    }

    public func value(_ key: String) -> String { values(key).first ?? "missing" }

    /// `sha256:…` over the report's lines.
    public var digest: String { PolicyDigest.sha256(Array(lines.joined(separator: "\n").utf8)) }
}

/// One setting of the sandbox as the policy asked for it and as the probe found it.
public struct SandboxCheck: Sendable, Hashable {
    public var setting: String
    public var expected: String
    public var found: String
    public var holds: Bool { expected == found }

    public init(setting: String, expected: String, found: String) {
        self.setting = setting
        self.expected = expected
        self.found = found
    }
}

/// A tool's sandbox, attested: every check, and the report's digest.
public struct SandboxAttestation: Sendable, Hashable {
    public var tool: String
    public var checks: [SandboxCheck]
    public var digest: String

    public init(tool: String, checks: [SandboxCheck], digest: String) {
        self.tool = tool
        self.checks = checks
        self.digest = digest
    }

    public var holds: Bool { checks.allSatisfy(\.holds) }

    /// The settings that differ, as a person reads them: `memory limit: expected 536870912, found max`.
    public var differences: String {
        checks.filter { !$0.holds }.map { "\($0.setting): expected \($0.expected), found \($0.found)" }.joined(separator: "; ")
    }
}

/// What a tool's sandbox must be, setting by setting, for its container settings.
public enum SandboxExpectation {
    /// Variables the engine itself may add: the container's host name, and a home directory when
    /// the policy names none (docker's `/`). Any other name the policy did not set is a widening.
    static let engineVariables: Set<String> = ["HOSTNAME", "HOME"]
    /// The device nodes both engines give every container (OCI's default set).
    static let standardDevices = ["full", "null", "random", "tty", "urandom", "zero"]

    public static func checks(for container: ContainerSpec, report: SandboxReport) -> [SandboxCheck] {
        let limits = container.resources
        var checks = [
            SandboxCheck(setting: "user", expected: "uid=65534 euid=65534 gid=65534 groups=65534", found: [
                "uid=\(report.value("uid"))", "euid=\(report.value("euid"))", "gid=\(report.value("gid"))", "groups=\(report.value("groups"))",
            ].joined(separator: " ")),
        ]
        for (key, name) in [("CapEff", "effective"), ("CapPrm", "permitted"), ("CapInh", "inheritable"), ("CapBnd", "bounding"), ("CapAmb", "ambient")] {
            checks.append(SandboxCheck(setting: "capabilities (\(name))", expected: "none", found: capabilities(report.value(key))))
        }
        if let program = container.entrypoint.first {
            checks.append(SandboxCheck(setting: "entrypoint \(program)", expected: "executable", found: report.value("entrypoint")))
        }
        checks.append(SandboxCheck(setting: "no_new_privs", expected: "1", found: report.value("no_new_privs")))
        checks.append(SandboxCheck(setting: "seccomp", expected: "filter", found: seccompMode(report.value("seccomp"))))
        checks.append(SandboxCheck(setting: "root filesystem", expected: "read-only", found: report.value("root_writable") == "0" ? "read-only" : "writable"))
        checks.append(SandboxCheck(setting: "writable places", expected: "/tmp noexec", found: list(report.values("writable"))))
        // The secrets' files and launcher, and with egress the forwarder and the socket; nothing else.
        let expectedMounts =
            SecretLaunch.targets(for: container.secrets)
            + (container.egress == nil ? [] : [EgressAttachment.forwarderTarget, EgressAttachment.socketTarget])
        checks.append(SandboxCheck(setting: "other mounts", expected: list(expectedMounts.sorted()), found: list(report.values("mount").sorted())))
        checks.append(SandboxCheck(setting: "devices", expected: list(standardDevices), found: list(report.values("device"))))
        if container.network == "none" {
            checks.append(SandboxCheck(setting: "network interfaces", expected: "lo", found: list(report.values("interface"))))
        }
        // The kernel keeps a memory limit in whole pages.
        checks.append(SandboxCheck(setting: "memory limit", expected: "\(limits.memoryBytes / 4096 * 4096)", found: report.value("memory_max")))
        checks.append(SandboxCheck(setting: "pids limit", expected: "\(limits.pids)", found: report.value("pids_max")))
        checks.append(SandboxCheck(setting: "open files (nofile)", expected: "\(limits.openFiles):\(limits.openFiles)", found: report.value("nofile")))
        checks.append(SandboxCheck(setting: "processes (nproc)", expected: "\(limits.processes):\(limits.processes)", found: report.value("nproc")))
        let policyNames = Set(container.environment.keys).union(["PATH"]).union(container.egress == nil ? [] : Array(EgressAttachment.environment.keys))
        let found = Set(report.values("env")).subtracting(engineVariables.subtracting(policyNames))
        checks.append(SandboxCheck(setting: "environment", expected: list(policyNames.sorted()), found: list(found.sorted())))
        return checks
    }

    static func list(_ values: [String]) -> String { values.isEmpty ? "nothing" : values.joined(separator: ", ") }

    static func capabilities(_ mask: String) -> String {
        guard let value = UInt64(mask, radix: 16) else { return mask }
        return value == 0 ? "none" : "0x\(mask)"
    }

    static func seccompMode(_ value: String) -> String {
        switch value {
        case "0": "disabled"
        case "1": "strict"
        case "2": "filter"
        default: value
        }
    }
}
