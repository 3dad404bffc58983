import AirlockEgress
import AirlockPolicy
import Foundation
import Testing

/// The proxy against a test internet (`TestInternet`: a network namespace with HTTPS servers,
/// names in /etc/hosts), with real clients: curl run as the forwarder's child, as a tool in its
/// container would be, and small Python clients for what curl will not do (another server name in
/// the ClientHello, none, a request that is not a CONNECT). Needs root (namespaces, /etc/hosts,
/// the root-only socket directory).
@Suite("Egress proxy against a test internet", .serialized)
struct EgressProxyTests {
    @Test("an allowed name and an address in a cidr are reached; bytes are counted exactly as the server counted them")
    func allowed() async throws {
        try await TestInternet.with { internet in
            let proxy = try await EgressProxy.start(
                allowList: EgressAllowList([
                    EgressRule(host: internet.allowedName, ports: [443]), EgressRule(cidr: internet.cidrAddress + "/32", ports: [443]),
                ]),
                executionID: EgressFixture.executionID())
            let byName = try EgressFixture.curl(socket: proxy.socketPath, "https://\(internet.allowedName)/bytes/100000", internet: internet)
            let byAddress = try EgressFixture.curl(socket: proxy.socketPath, "https://\(internet.cidrAddress)/bytes/1234", internet: internet)
            let served = try await internet.serverConnections(atLeast: 2)
            let report = await proxy.finish()

            #expect(byName.status == 0 && byName.stdout == "100000", "\(byName)")
            #expect(byAddress.status == 0 && byAddress.stdout == "1234", "\(byAddress)")
            try #require(served.count == 2, "\(served)")
            #expect(served[0].sni == internet.allowedName && served[0].path == "/bytes/100000")
            #expect(served[1].sni == nil && served[1].path == "/bytes/1234")
            #expect(report.records.map(\.host) == [internet.allowedName, internet.cidrAddress])
            #expect(report.records.allSatisfy { $0.port == 443 && $0.allowed && $0.reason == nil }, "\(report.records)")
            for (record, server) in zip(report.records, served) {
                // Every byte the tool sent reached the server; the tool's own TLS close_notify (one
                // alert record) may be relayed after the server stopped reading, and is then counted
                // by the proxy but not by the server.
                #expect(record.bytesSent >= server.received && record.bytesSent <= server.received + 64, "\(record) \(server)")
                // Every byte the tool received came from the server; the server's TLS close_notify
                // (one alert record) may arrive after the tool closed its side, and is then
                // neither delivered nor counted.
                #expect(record.bytesReceived <= server.sent && record.bytesReceived >= server.sent - 64, "\(record) \(server)")
            }
            // The body alone is 100,000 bytes; TLS adds its handshake and framing.
            #expect(served[0].sent > 100_000 && served[0].received > 0)
            #expect(report.droppedRecords == 0)
            #expect(!FileManager.default.fileExists(atPath: (proxy.socketPath as NSString).deletingLastPathComponent))
        }
    }

    @Test("everything else fails, and each attempt is recorded denied with its reason")
    func denied() async throws {
        try await TestInternet.with { internet in
            let missingName = "missing-\(internet.id).airlock.test"
            let proxy = try await EgressProxy.start(
                allowList: EgressAllowList([
                    // 9443: nothing listens there.
                    EgressRule(host: internet.allowedName, ports: [443, 9443]), EgressRule(host: missingName, ports: [443]),
                    EgressRule(cidr: internet.cidrAddress + "/32", ports: [443]),
                ]),
                executionID: EgressFixture.executionID())
            let socket = proxy.socketPath
            var refused: [EgressFixture.Finished] = []
            for url in [
                "https://\(internet.forbiddenName)/", "https://\(internet.allowedName):8443/", "https://\(internet.serverAddress)/",
                // Its address is in the cidr, but a name is never matched by resolving it.
                "https://\(internet.cidrName)/", "https://\(missingName)/", "https://\(internet.allowedName):9443/",
            ] {
                refused.append(try EgressFixture.curl(socket: socket, url, internet: internet))
            }
            let otherName = try EgressFixture.handshake(
                socket: socket, target: "\(internet.allowedName):443", serverName: internet.forbiddenName, internet: internet)
            let noName = try EgressFixture.handshake(socket: socket, target: "\(internet.allowedName):443", serverName: "-", internet: internet)
            let notConnect = try EgressFixture.raw(socket: socket, "GET http://\(internet.allowedName)/ HTTP/1.1\r\nHost: \(internet.allowedName)\r\n\r\n")
            let garbage = try EgressFixture.raw(socket: socket, "\u{16}\u{03}\u{01}not http at all\r\n\r\n")
            // The two handshakes reached the server's port before the ClientHello was read.
            let served = try await internet.serverConnections(atLeast: 2)
            let report = await proxy.finish()

            for (index, attempt) in refused.enumerated() {
                // curl: 56, the CONNECT was answered with an error (7 when the proxy closes).
                #expect(attempt.status != 0 && attempt.stdout == "0", "attempt \(index): \(attempt)")
                #expect(attempt.stderr.contains("403"), "attempt \(index): \(attempt)")
            }
            // The tunnel was granted, then closed at the ClientHello (an EOF, or a reset on a Unix socket).
            #expect(otherName.stdout.hasPrefix("HTTP/1.1 200 OK\nhandshake failed: "), "\(otherName)")
            #expect(noName.stdout.hasPrefix("HTTP/1.1 200 OK\nhandshake failed: "), "\(noName)")
            #expect(notConnect.stdout == "HTTP/1.1 403 Forbidden\n", "\(notConnect)")
            #expect(garbage.stdout == "HTTP/1.1 403 Forbidden\n", "\(garbage)")
            // Nothing the tool sent reached a server.
            #expect(served.count == 2 && served.allSatisfy { $0.received == 0 && $0.sent == 0 }, "\(served)")
            #expect(
                report.records == [
                    EgressRecord(host: internet.forbiddenName, port: 443, allowed: false, reason: .notAllowed),
                    EgressRecord(host: internet.allowedName, port: 8443, allowed: false, reason: .portNotAllowed),
                    EgressRecord(host: internet.serverAddress, port: 443, allowed: false, reason: .notAllowed),
                    EgressRecord(host: internet.cidrName, port: 443, allowed: false, reason: .notAllowed),
                    EgressRecord(host: missingName, port: 443, allowed: false, reason: .resolveFailed),
                    EgressRecord(host: internet.allowedName, port: 9443, allowed: false, reason: .connectFailed),
                    EgressRecord(host: internet.allowedName, port: 443, allowed: false, reason: .sniMismatch),
                    EgressRecord(host: internet.allowedName, port: 443, allowed: false, reason: .sniMismatch),
                    EgressRecord(host: "http://\(internet.allowedName)/", port: 0, allowed: false, reason: .malformedRequest),
                    EgressRecord(host: "", port: 0, allowed: false, reason: .malformedRequest),
                ], "\(report.records)")
        }
    }

    @Test("finish() closes a connection in use, removes the socket and its directory, and counts what crossed")
    func finishClosesOpenConnections() async throws {
        try await TestInternet.with { internet in
            let proxy = try await EgressProxy.start(
                allowList: EgressAllowList([EgressRule(host: internet.allowedName, ports: [443])]), executionID: EgressFixture.executionID())
            let directory = (proxy.socketPath as NSString).deletingLastPathComponent
            #expect(FileManager.default.fileExists(atPath: proxy.socketPath))
            // A client that completes its handshake, then waits for data that never comes.
            let client = Process()
            client.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            client.arguments = ["-c", Self.waitingClient, proxy.socketPath, "\(internet.allowedName):443", internet.allowedName, internet.caPath]
            let out = Pipe()
            client.standardOutput = out
            try client.run()
            let first = out.fileHandleForReading.availableLine()
            #expect(first == "waiting")
            let report = await proxy.finish()
            let second = out.fileHandleForReading.availableLine()
            client.waitUntilExit()

            #expect(second == "closed", "the client was not cut off: \(second ?? "nothing")")
            #expect(report.records.count == 1 && report.records[0].allowed && report.records[0].bytesSent > 0 && report.records[0].bytesReceived > 0)
            #expect(!FileManager.default.fileExists(atPath: proxy.socketPath))
            #expect(!FileManager.default.fileExists(atPath: directory))
            #expect(await proxy.finish() == report)
        }
    }

    static let waitingClient = #"""
        import socket, ssl, sys
        path, target, server_name, ca = sys.argv[1:5]
        connection = socket.socket(socket.AF_UNIX)
        connection.connect(path)
        connection.sendall(("CONNECT %s HTTP/1.1\r\n\r\n" % target).encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += connection.recv(1)
        tls = ssl.create_default_context(cafile=ca).wrap_socket(connection, server_hostname=server_name)
        print("waiting", flush=True)
        # Bounded, so that a proxy that does not cut it off fails the test instead of hanging it.
        tls.settimeout(10)
        try:
            data = tls.recv(1)
            print("closed" if not data else "data", flush=True)
        except socket.timeout:
            print("still open", flush=True)
        except (OSError, ssl.SSLError):
            print("closed", flush=True)
        """#
}

extension FileHandle {
    /// One line, read byte by byte (so nothing after it is consumed); nil at the end.
    func availableLine() -> String? {
        var line = Data()
        while true {
            let byte = readData(ofLength: 1)
            if byte.isEmpty { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            if byte == Data("\n".utf8) { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
    }
}
