import AirlockPolicy
import Foundation
import Testing

/// `egress:`, `network:` and `unrestricted:` in a tool entry: what loads, what is refused and where.
@Suite("Egress in the policy")
struct EgressPolicyTests {
    static func policy(_ tool: String) -> String {
        """
        version: 1
        tools:
          kubectl:
            grammar: grammars/git.yaml
            image: "airlock/tools:1"
            entrypoint: [/usr/bin/git]
        \(tool.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n"))
        contexts: {ro: {allow: [{id: a, tool: kubectl, subcommand: log, reason: r}]}}

        """
    }

    /// `line:column: message` of each error, the file name dropped.
    static func errors(_ tool: String) -> [String] {
        do {
            _ = try TestSupport.load(policy(tool))
            return []
        } catch {
            return error.errors.map { "\($0.location.line):\($0.location.column): \($0.message)" }
        }
    }

    @Test("a list of host and cidr rules loads; no egress key is no network")
    func loads() throws {
        let loaded = try TestSupport.load(Self.policy("""
            egress:
              - host: kube.internal.example
                ports: [6443]
              - {host: "*.example.com", ports: [443, 80]}
              - cidr: 10.20.0.0/16
                ports: [443]
            """))
        let container = try #require(loaded.tools["kubectl"]?.container)
        #expect(container.network == "none")
        #expect(container.egress?.rules.map(\.description) == ["host kube.internal.example ports [6443]", "host *.example.com ports [80, 443]", "cidr 10.20.0.0/16 ports [443]"])
        #expect(try TestSupport.load(Self.policy("")).tools["kubectl"]?.container.egress == nil)
        #expect(loaded.warnings.isEmpty)
    }

    @Test(
        "each mistake is an error at its line and column",
        arguments: [
            ("egress:\n  - {host: a.example, ports: [443], proto: tcp}", "8:41: unknown key 'proto' in an egress rule of tool 'kubectl'"),
            ("egress:\n  - {host: \"https://a.example\", ports: [443]}", "8:16: egress rule of tool 'kubectl': egress host 'https://a.example' is a URL"),
            ("egress:\n  - {cidr: 10.0.0.1/8, ports: [443]}", "8:16: egress rule of tool 'kubectl': egress cidr '10.0.0.1/8' has bits set"),
            ("egress:\n  - {cidr: 10.0.0.0/33, ports: [443]}", "8:16: egress rule of tool 'kubectl': egress cidr '10.0.0.0/33': the prefix length must be 0..32"),
            ("egress:\n  - {host: a.example, ports: [0]}", "8:35: port 0 of an egress rule of tool 'kubectl' is outside 1..65535"),
            ("egress:\n  - {host: a.example, ports: [65536]}", "8:35: port 65536 of an egress rule"),
            ("egress:\n  - {host: a.example, ports: []}", "8:34: egress rule of tool 'kubectl': an egress rule needs at least one port"),
            ("egress:\n  - {host: a.example, cidr: 10.0.0.0/8, ports: [1]}", "8:9: egress rule of tool 'kubectl': an egress rule has either host or cidr"),
            ("egress:\n  - {ports: [443]}", "8:9: egress rule of tool 'kubectl': an egress rule needs host"),
            ("egress: []", "7:13: egress of tool 'kubectl': egress lists no rule"),
            ("network: host", "7:14: network 'host' of tool 'kubectl' would give the tool that network unfiltered"),
            ("network: bridge\negress:\n  - {host: a.example, ports: [443]}", "7:14: tool 'kubectl' has both egress and network 'bridge'"),
            ("network: bridge\nunrestricted: true\negress:\n  - {host: a.example, ports: [443]}", "7:14: tool 'kubectl' has both egress and network 'bridge'"),
        ] as [(String, String)])
    func mistakes(tool: String, expected: String) {
        let found = Self.errors(tool)
        #expect(found.count == 1 && found[0].hasPrefix(expected), "\(found)")
    }

    @Test("another network only with unrestricted: true, and then a warning")
    func unrestricted() throws {
        let loaded = try TestSupport.load(Self.policy("network: bridge\nunrestricted: true"))
        #expect(loaded.tools["kubectl"]?.container.network == "bridge")
        #expect(loaded.warnings == [
            "tool 'kubectl' is unrestricted: its container is on network 'bridge', which reaches whatever that network reaches, unfiltered and unrecorded"
        ])
    }

    @Test("the digest and the structural diff change with egress")
    func digestAndDiff() throws {
        let before = try TestSupport.load(Self.policy("egress:\n  - {host: a.example, ports: [443]}"))
        let after = try TestSupport.load(Self.policy("egress:\n  - {host: a.example, ports: [443, 8443]}"))
        #expect(before.digest != after.digest)
        let diff = PolicyDiff.structural(before, after)
        #expect(diff.tools.map(\.name) == ["kubectl"])
        #expect(diff.tools.first?.fields.map(\.field) == ["egress"])
        #expect(diff.tools.first?.fields.first?.after == #"["host a.example ports [443, 8443]"]"#)
    }

    @Test(
        "a registered tool's list is within its base tool's only where every destination and port is",
        arguments: [
            ([("host", "a.example", [443])], []),
            ([("host", "x.svc.example", [443])], []),
            ([("host", "*.deep.svc.example", [443])], []),
            ([("host", "*.svc.example", [443])], []),
            ([("cidr", "10.20.3.0/24", [443])], []),
            ([("cidr", "10.20.3.4", [443])], []),
            ([("host", "a.example", [8443])], ["host a.example ports [8443]"]),
            ([("host", "b.example", [443])], ["host b.example ports [443]"]),
            ([("host", "svc.example", [443])], ["host svc.example ports [443]"]),
            ([("host", "*.example", [443])], ["host *.example ports [443]"]),
            ([("cidr", "10.0.0.0/8", [443])], ["cidr 10.0.0.0/8 ports [443]"]),
            ([("cidr", "10.20.3.4", [22])], ["cidr 10.20.3.4/32 ports [22]"]),
        ] as [([(String, String, [Int])], [String])])
    func subset(rules: [(String, String, [Int])], beyond: [String]) throws {
        let base = try EgressAllowList([
            EgressRule(host: "a.example", ports: [443]), EgressRule(host: "*.svc.example", ports: [443]), EgressRule(cidr: "10.20.0.0/16", ports: [443]),
        ])
        let narrower = try EgressAllowList(try rules.map { kind, value, ports in
            kind == "host" ? try EgressRule(host: value, ports: ports) : try EgressRule(cidr: value, ports: ports)
        })
        #expect(narrower.rules(beyond: base).map(\.description) == beyond)
    }

    @Test("rules read back from their stored JSON through the same checks")
    func codable() throws {
        let list = try EgressAllowList([EgressRule(host: "*.a.example", ports: [443]), EgressRule(cidr: "10.0.0.0/8", ports: [1, 2])])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = try encoder.encode(list)
        #expect(String(decoding: data, as: UTF8.self) == #"[{"host":"*.a.example","ports":[443]},{"cidr":"10.0.0.0\/8","ports":[1,2]}]"#)
        #expect(try JSONDecoder().decode(EgressAllowList.self, from: data) == list)
        #expect(throws: (any Error).self) { try JSONDecoder().decode(EgressAllowList.self, from: Data(#"[{"host":"a.example/x","ports":[1]}]"#.utf8)) }
    }
}
