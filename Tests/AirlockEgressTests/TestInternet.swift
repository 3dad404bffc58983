import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A small "internet" for the egress tests: a network namespace behind a veth pair
/// (`10.213.X.0/29`, X random; the host is `.1`), holding HTTPS servers on ports 443 and 8443 of
/// `.2` and `.3` with certificates from a throwaway CA, and names for them in `/etc/hosts`
/// (the proxy resolves through the system resolver, as it will in production):
///
/// - `allowed-<id>.airlock.test` and `forbidden-<id>.airlock.test` -> `.2`
/// - `bycidr-<id>.airlock.test` -> `.3`, the address a test's `cidr` rule allows
///
/// Each server logs, per connection, the TCP bytes it received and sent (it runs TLS over memory
/// buffers to count them), so the proxy's counts can be compared with what really crossed.
///
/// `TestInternet.with { internet in ... }` removes the namespace, the veth pair, the `/etc/hosts`
/// lines and the files when the body ends, also when it throws; namespaces left by a test process
/// that was killed are removed by the next one.
struct TestInternet {
    let id: String
    let namespace: String
    let hostAddress: String
    /// The servers' addresses: `.2` (the names) and `.3` (the cidr rule's).
    let serverAddress: String
    let cidrAddress: String
    let directory: String
    var allowedName: String { "allowed-\(id).airlock.test" }
    var forbiddenName: String { "forbidden-\(id).airlock.test" }
    var cidrName: String { "bycidr-\(id).airlock.test" }
    var caPath: String { directory + "/ca.pem" }
    var logPath: String { directory + "/server.log" }
    private var hostsMarker: String { "# airlock-egress-test \(id)" }

    static let namespacePrefix = "airlock-egress-"

    static func with<T>(_ body: (TestInternet) async throws -> T) async throws -> T {
        // One internet at a time in this process: /etc/hosts is rewritten in place (it may be a
        // bind mount), and a proxy resolving a name while another test rewrites it finds nothing.
        await exclusive.acquire()
        defer { Task { await exclusive.release() } }
        removeAbandoned()
        let id = String(UUID().uuidString.lowercased().prefix(8))
        let subnet = Int.random(in: 0...255)
        let internet = TestInternet(
            id: id, namespace: "\(namespacePrefix)\(getpid())-\(id)", hostAddress: "10.213.\(subnet).1",
            serverAddress: "10.213.\(subnet).2", cidrAddress: "10.213.\(subnet).3",
            directory: NSTemporaryDirectory() + "airlock-egress-internet-\(id)")
        var server: Process?
        defer {
            if let server, server.isRunning {
                // SIGKILL: the test process blocks SIGTERM, and its children inherit the mask.
                kill(server.processIdentifier, SIGKILL)
                server.waitUntilExit()
            }
            internet.tearDown()
        }
        server = try internet.setUp()
        return try await body(internet)
    }

    /// Per connection, as the server logged it once the connection closed.
    struct ServerConnection: Decodable, Equatable {
        var port: Int
        var sni: String?
        var path: String?
        var received: Int
        var sent: Int
    }

    /// The server's log, waiting up to `timeout` for `count` connections to have ended.
    func serverConnections(atLeast count: Int, timeout: Duration = .seconds(10)) async throws -> [ServerConnection] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let lines = ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n")
            let connections = try lines.map { try JSONDecoder().decode(ServerConnection.self, from: Data($0.utf8)) }
            if connections.count >= count || ContinuousClock.now >= deadline { return connections }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    private func setUp() throws -> Process {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (hostLink, namespaceLink) = ("ae\(id.prefix(6))h", "ae\(id.prefix(6))n")
        try Self.run("/usr/sbin/ip", "netns", "add", namespace)
        try Self.run("/usr/sbin/ip", "link", "add", hostLink, "type", "veth", "peer", "name", namespaceLink)
        try Self.run("/usr/sbin/ip", "link", "set", namespaceLink, "netns", namespace)
        try Self.run("/usr/sbin/ip", "addr", "add", hostAddress + "/29", "dev", hostLink)
        try Self.run("/usr/sbin/ip", "link", "set", hostLink, "up")
        for address in [serverAddress, cidrAddress] {
            try Self.run("/usr/sbin/ip", "netns", "exec", namespace, "ip", "addr", "add", address + "/29", "dev", namespaceLink)
        }
        try Self.run("/usr/sbin/ip", "netns", "exec", namespace, "ip", "link", "set", namespaceLink, "up")
        try Self.run("/usr/sbin/ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up")

        try makeCertificates()
        let hosts = try String(contentsOfFile: "/etc/hosts", encoding: .utf8)
        let lines = [
            "\(serverAddress) \(allowedName) \(hostsMarker)", "\(serverAddress) \(forbiddenName) \(hostsMarker)",
            "\(cidrAddress) \(cidrName) \(hostsMarker)",
        ]
        try (hosts + (hosts.hasSuffix("\n") ? "" : "\n") + lines.joined(separator: "\n") + "\n").write(toFile: "/etc/hosts", atomically: false, encoding: .utf8)

        let script = directory + "/server.py"
        try Self.serverScript.write(toFile: script, atomically: true, encoding: .utf8)
        let ready = directory + "/ready"
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        server.arguments = [
            "netns", "exec", namespace, "/usr/bin/python3", script, directory + "/server.pem", directory + "/server.key", logPath, ready,
        ]
        server.standardOutput = FileHandle.nullDevice
        try server.run()
        let deadline = ContinuousClock.now + .seconds(10)
        while !FileManager.default.fileExists(atPath: ready) {
            guard server.isRunning, ContinuousClock.now < deadline else {
                throw TestInternetError("the test HTTPS server in \(namespace) did not start")
            }
            usleep(20_000)
        }
        return server
    }

    private func makeCertificates() throws {
        let d = directory
        try Self.run(
            "/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=Airlock egress test CA \(id)", "-keyout", "\(d)/ca.key", "-out", "\(d)/ca.pem")
        try Self.run(
            "/usr/bin/openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=\(allowedName)", "-keyout", "\(d)/server.key", "-out", "\(d)/server.csr")
        let names = "subjectAltName=DNS:\(allowedName),DNS:\(forbiddenName),DNS:\(cidrName),IP:\(serverAddress),IP:\(cidrAddress)"
        try names.write(toFile: "\(d)/server.ext", atomically: true, encoding: .utf8)
        try Self.run(
            "/usr/bin/openssl", "x509", "-req", "-in", "\(d)/server.csr", "-CA", "\(d)/ca.pem", "-CAkey", "\(d)/ca.key",
            "-CAcreateserial", "-days", "1", "-extfile", "\(d)/server.ext", "-out", "\(d)/server.pem")
        // The containers' user (65534) reads the CA through a bind mount.
        chmod(directory, 0o755)
        chmod(caPath, 0o644)
    }

    private func tearDown() {
        _ = try? Self.run("/usr/sbin/ip", "link", "del", "ae\(id.prefix(6))h")
        _ = try? Self.run("/usr/sbin/ip", "netns", "del", namespace)
        Self.removeHostsLines { $0.hasSuffix(hostsMarker) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// What a killed test process left: its server, its namespace (with its end of the veth pair,
    /// which takes the host's end with it) and its `/etc/hosts` lines.
    private static func removeAbandoned() {
        let namespaces = (try? output("/usr/sbin/ip", "netns", "list")) ?? ""
        for line in namespaces.split(separator: "\n") {
            let name = String(line.split(separator: " ")[0])
            guard name.hasPrefix(namespacePrefix), let pid = Int32(name.dropFirst(namespacePrefix.count).split(separator: "-")[0]),
                pid != getpid(), kill(pid, 0) != 0, errno == ESRCH
            else { continue }
            // Its server outlived it, and keeps the namespace (and the veth pair) alive.
            for pid in ((try? output("/usr/sbin/ip", "netns", "pids", name)) ?? "").split(separator: "\n").compactMap({ Int32($0) }) {
                kill(pid, SIGKILL)
            }
            _ = try? run("/usr/sbin/ip", "netns", "del", name)
            let id = name.split(separator: "-").last.map(String.init) ?? ""
            removeHostsLines { $0.hasSuffix("# airlock-egress-test \(id)") }
        }
    }

    private static func removeHostsLines(where matches: (Substring) -> Bool) {
        guard let hosts = try? String(contentsOfFile: "/etc/hosts", encoding: .utf8) else { return }
        let kept = hosts.split(separator: "\n", omittingEmptySubsequences: false).filter { !matches($0) }
        if kept.count != hosts.split(separator: "\n", omittingEmptySubsequences: false).count {
            try? kept.joined(separator: "\n").write(toFile: "/etc/hosts", atomically: false, encoding: .utf8)
        }
    }

    @discardableResult
    static func run(_ arguments: String...) throws -> String {
        try output(arguments)
    }

    static func output(_ arguments: String...) throws -> String {
        try output(arguments)
    }

    static func output(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestInternetError("\(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(String(decoding: errors, as: UTF8.self))")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// HTTPS on 443 and 8443 of every address: `GET /bytes/N` answers N bytes. TLS runs over
    /// memory buffers so that every TCP byte is counted; each connection is logged (JSON) when it
    /// ends, after the client closed its side.
    static let serverScript = #"""
        import json, socket, ssl, sys, threading
        cert, key, log_path, ready = sys.argv[1:5]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        def remember_server_name(tls, name, _):
            tls.requested_name = name
        context.sni_callback = remember_server_name
        lock = threading.Lock()

        def serve(conn, port):
            record = {"port": port, "sni": None, "path": None, "received": 0, "sent": 0}
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = context.wrap_bio(incoming, outgoing, server_side=True)
            def flush():
                data = outgoing.read()
                if data:
                    conn.sendall(data)
                    record["sent"] += len(data)
            def fill():
                data = conn.recv(65536)
                if not data:
                    raise EOFError
                record["received"] += len(data)
                incoming.write(data)
            def call(operation):
                while True:
                    try:
                        result = operation()
                        flush()
                        return result
                    except ssl.SSLWantReadError:
                        flush()
                        fill()
            try:
                call(tls.do_handshake)
                record["sni"] = getattr(tls, "requested_name", None)
                request = b""
                while b"\r\n\r\n" not in request:
                    request += call(lambda: tls.read(65536))
                path = request.split(b" ")[1].decode()
                record["path"] = path
                size = int(path.rsplit("/", 1)[1]) if path.startswith("/bytes/") else 0
                body = bytes(i % 251 for i in range(size))
                call(lambda: tls.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size + body))
                try:
                    tls.unwrap()
                except ssl.SSLError:
                    pass
                flush()
                conn.shutdown(socket.SHUT_WR)
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    record["received"] += len(data)
            except (EOFError, OSError, ssl.SSLError):
                pass
            finally:
                conn.close()
                with lock, open(log_path, "a") as log:
                    log.write(json.dumps(record) + "\n")

        def listen(port):
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("0.0.0.0", port))
            server.listen(64)
            return server

        def accept(server, port):
            while True:
                conn, _ = server.accept()
                threading.Thread(target=serve, args=(conn, port), daemon=True).start()

        servers = [(listen(port), port) for port in (443, 8443)]
        for server, port in servers:
            threading.Thread(target=accept, args=(server, port), daemon=True).start()
        open(ready, "w").close()
        threading.Event().wait()
        """#
}

/// Lets one holder at a time through, in the order they came.
private actor TestInternetTurn {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}

private let exclusive = TestInternetTurn()

struct TestInternetError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
