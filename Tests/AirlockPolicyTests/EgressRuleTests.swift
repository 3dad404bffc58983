import AirlockPolicy
import Testing

@Suite("Egress allow-lists: matching and rule validation")
struct EgressRuleTests {
    static let list = try! EgressAllowList([
        EgressRule(host: "kube.internal.example", ports: [6443]),
        EgressRule(host: "*.example.com", ports: [443, 8443]),
        EgressRule(host: "Mixed.Case.Example.", ports: [443]),
        EgressRule(cidr: "10.20.0.0/16", ports: [443]),
        EgressRule(cidr: "2001:db8:ab00::/40", ports: [443]),
        EgressRule(cidr: "192.0.2.7", ports: [22]),
    ])

    static func decide(_ authority: String) -> EgressVerdict? {
        EgressTarget(authority: authority).map { list.decide($0) }
    }

    @Test(
        "allowed: exact names, names strictly below a wildcard at any depth, any case, a trailing dot, addresses in a cidr",
        arguments: [
            "kube.internal.example:6443", "KUBE.Internal.Example:6443", "kube.internal.example.:6443",
            "a.example.com:443", "a.b.c.example.com:8443", "A.EXAMPLE.COM.:443", "mixed.case.example:443",
            "10.20.0.0:443", "10.20.255.255:443", "10.20.3.4:443", "[2001:db8:ab00::1]:443", "[2001:db8:abff:ffff::]:443",
            "[2001:DB8:AB00::1]:443", "192.0.2.7:22",
        ])
    func allowed(authority: String) {
        #expect(Self.decide(authority) == .allowed)
    }

    @Test(
        "not allowed: other names, the wildcard's own suffix, look-alikes, addresses outside every cidr, names for addresses",
        arguments: [
            "example.com:443", "badexample.com:443", "example.com.evil.net:443", "internal.example:6443",
            "kube.internal.example.evil:6443", "10.21.0.1:443", "10.19.255.255:443", "[2001:db8:ac00::1]:443",
            "192.0.2.8:22", "[::ffff:10.20.0.1]:443", "ten.twenty.example:443",
        ])
    func notAllowed(authority: String) {
        #expect(Self.decide(authority) == .denied(.notAllowed))
    }

    @Test(
        "a listed host on a port its rules do not list",
        arguments: ["kube.internal.example:443", "a.example.com:80", "10.20.0.1:80", "[2001:db8:ab00::1]:80", "192.0.2.7:443"])
    func portNotAllowed(authority: String) {
        #expect(Self.decide(authority) == .denied(.portNotAllowed))
    }

    @Test(
        "CONNECT authorities that are not host:port are unreadable",
        arguments: [
            "example.com", "example.com:", "example.com:0", "example.com:65536", "example.com:+443", "example.com:443x",
            ":443", "2001:db8::1:443", "[2001:db8::1]", "[10.0.0.1]:443", "[fe80::1%eth0]:443", "exa mple.com:443",
            "http://example.com:443", "a..example.com:443", "-a.example.com:443", "2130706433:443", "127.1:443",
            "0x7f.0x1:443", "a.b.123:443", String(repeating: "a", count: 64) + ".example.com:443",
        ])
    func unreadable(authority: String) {
        #expect(EgressTarget(authority: authority) == nil)
    }

    @Test("the ClientHello must name the CONNECT's name; an address accepts any")
    func serverNames() throws {
        let name = try #require(EgressTarget(authority: "a.example.com:443"))
        #expect(name.acceptsServerName("a.example.com"))
        #expect(name.acceptsServerName("A.Example.COM."))
        #expect(!name.acceptsServerName(nil))
        #expect(!name.acceptsServerName("b.example.com"))
        #expect(!name.acceptsServerName("example.com"))
        let address = try #require(EgressTarget(authority: "10.20.0.1:443"))
        #expect(address.acceptsServerName(nil))
        #expect(address.acceptsServerName("anything.example"))
    }

    @Test(
        "rules that are refused, and what the error says",
        arguments: [
            (nil, nil, [443], EgressRuleError.Code.missingDestination, "needs host"),
            ("a.example", "10.0.0.0/8", [443], .ambiguousDestination, "not both"),
            ("https://a.example", nil, [443], .malformedHost, "is a URL"),
            ("a.example/api", nil, [443], .malformedHost, "has a path"),
            ("a.example:443", nil, [443], .malformedHost, "has a port"),
            ("10.0.0.1", nil, [443], .malformedHost, "use cidr"),
            ("[2001:db8::1]", nil, [443], .malformedHost, "use cidr"),
            ("a.*.example", nil, [443], .malformedHost, "'*'"),
            ("*", nil, [443], .malformedHost, "'*'"),
            ("*.", nil, [443], .malformedHost, "not a host name"),
            ("", nil, [443], .malformedHost, "not a host name"),
            ("a_b..example", nil, [443], .malformedHost, "not a host name"),
            ("bücher.example", nil, [443], .malformedHost, "not a host name"),
            ("a.example", nil, [], .emptyPorts, "at least one port"),
            ("a.example", nil, [0], .portOutOfRange, "port 0 is outside 1..65535"),
            ("a.example", nil, [443, 65536], .portOutOfRange, "port 65536"),
            (nil, "10.20.1.0/16", [443], .malformedCIDR, "the range is 10.20.0.0/16"),
            (nil, "10.20.0.0/33", [443], .malformedCIDR, "0..32"),
            (nil, "10.20.0.0/", [443], .malformedCIDR, "prefix length"),
            (nil, "10.20.0.0/-1", [443], .malformedCIDR, "prefix length"),
            (nil, "2001:db8::/129", [443], .malformedCIDR, "0..128"),
            (nil, "2001:db8::1/32", [443], .malformedCIDR, "the range is 2001:db8::/32"),
            (nil, "10.20/16", [443], .malformedCIDR, "not an IPv4 or IPv6 address"),
            (nil, "kube.example/32", [443], .malformedCIDR, "not an IPv4 or IPv6 address"),
            (nil, "10.20.0.0/16", [-1], .portOutOfRange, "port -1"),
        ] as [(String?, String?, [Int], EgressRuleError.Code, String)])
    func refused(host: String?, cidr: String?, ports: [Int], code: EgressRuleError.Code, message: String) {
        #expect {
            try EgressRule.parse(host: host, cidr: cidr, ports: ports)
        } throws: { error in
            guard let error = error as? EgressRuleError else { return false }
            return error.code == code && error.message.contains(message)
        }
    }

    @Test("an empty list is refused: no egress key means no network")
    func emptyList() {
        #expect(throws: EgressRuleError(.emptyList, "egress lists no rule; leave egress out for no network at all")) {
            try EgressAllowList([])
        }
    }

    @Test("rules normalize: names to lower case without a trailing dot, ports sorted without duplicates")
    func normalized() throws {
        let rule = try EgressRule(host: "*.Example.COM.", ports: [8443, 443, 443])
        #expect(rule.destination == .host(try EgressHostPattern(parsing: "*.example.com")))
        #expect(rule.ports == [443, 8443])
        #expect(rule.description == "host *.example.com ports [443, 8443]")
        #expect(try EgressRule(cidr: "0.0.0.0/0", ports: [1]).description == "cidr 0.0.0.0/0 ports [1]")
        #expect(try EgressRule(cidr: "2001:DB8::", ports: [1]).description == "cidr 2001:db8::/128 ports [1]")
    }
}
