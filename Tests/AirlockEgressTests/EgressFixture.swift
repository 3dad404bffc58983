import AirlockEgress
import AirlockPolicy
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What the egress tests share: the forwarder built from its source, and ways to run clients.
enum EgressFixture {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// `airlock-egress`, built static once per test process from images/egress/airlock-egress.c, in
    /// a directory the containers' user can read (it is bound read-only into them).
    static func forwarder() throws -> String { try builtForwarder.get() }

    private static let builtForwarder = Result<String, any Error> {
        let directory = NSTemporaryDirectory() + "airlock-egress-forwarder-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o755)
        let binary = directory + "/airlock-egress"
        try TestInternet.run(
            "/usr/bin/gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", binary, repositoryRoot + "/images/egress/airlock-egress.c")
        return binary
    }

    /// What the test tools' Python clients share: `attempt(name, action)` records "ok …" or the
    /// failure in `outcomes`; `fetch(url)` through the proxy (with `context`, the test CA's);
    /// `udp(address, port)` sends a DNS query. The script defines `context` before these.
    static let clientHelpers = #"""
        outcomes = {}
        def attempt(name, action):
            try:
                outcomes[name] = "ok " + str(action())
            except Exception as error:
                outcomes[name] = "failed %s: %s" % (type(error).__name__, error)
        def fetch(url):
            return len(urllib.request.urlopen(url, context=context, timeout=20).read())
        query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
        def udp(address, port):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.settimeout(2)
            udp.sendto(query, (address, port))
            return udp.recv(512)
        """# + "\n"

    static func executionID() -> String { "egress-test-" + UUID().uuidString.lowercased().prefix(8) }

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    struct Finished {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a program the way a tool runs in its container: as the forwarder's child, with the
    /// forwarder relaying 127.0.0.1:`port` to the proxy's socket.
    static func throughForwarder(socket: String, port: Int, _ arguments: [String]) throws -> Finished {
        try run([try forwarder(), "\(port)", socket, "--"] + arguments)
    }

    /// curl through the forwarder, with the test CA, printing the body's size.
    static func curl(socket: String, _ url: String, internet: TestInternet) throws -> Finished {
        let port = freePort()
        return try throughForwarder(
            socket: socket, port: port,
            [
                "/usr/bin/curl", "--silent", "--show-error", "--max-time", "20", "--proxy", "http://127.0.0.1:\(port)", "--cacert",
                internet.caPath, "--output", "/dev/null", "--write-out", "%{size_download}", url,
            ])
    }

    /// A hand-made client straight on the proxy's socket: `CONNECT target`, then a TLS handshake
    /// naming `serverName` (`-` for none). Prints the proxy's status line, then how the handshake went.
    static func handshake(socket: String, target: String, serverName: String, internet: TestInternet) throws -> Finished {
        try run(["/usr/bin/python3", "-c", handshakeScript, socket, target, serverName, internet.caPath])
    }

    /// Sends raw bytes to the proxy's socket and prints the first line of the answer.
    static func raw(socket: String, _ request: String) throws -> Finished {
        try run(["/usr/bin/python3", "-c", rawScript, socket, request])
    }

    static func run(_ arguments: [String]) throws -> Finished {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = ["PATH": "/usr/bin:/bin"]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Both pipes drained at once: a full one would stall the child.
        nonisolated(unsafe) var errors = Data()
        let drained = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            errors = err.fileHandleForReading.readDataToEndOfFile()
            drained.signal()
        }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        process.waitUntilExit()
        return Finished(
            status: process.terminationStatus, stdout: String(decoding: output, as: UTF8.self), stderr: String(decoding: errors, as: UTF8.self))
    }

    static let handshakeScript = #"""
        import socket, ssl, sys
        path, target, server_name, ca = sys.argv[1:5]
        connection = socket.socket(socket.AF_UNIX)
        connection.connect(path)
        connection.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, target)).encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = connection.recv(1)
            if not data:
                break
            answer += data
        print(answer.split(b"\r\n")[0].decode())
        context = ssl.create_default_context(cafile=ca)
        context.check_hostname = False
        try:
            tls = context.wrap_socket(connection, server_hostname=None if server_name == "-" else server_name)
            print("handshake done")
        except (OSError, ssl.SSLError) as error:
            print("handshake failed: " + type(error).__name__)
        """#

    static let rawScript = #"""
        import socket, sys
        connection = socket.socket(socket.AF_UNIX)
        connection.connect(sys.argv[1])
        connection.sendall(sys.argv[2].encode())
        answer = b""
        while b"\r\n" not in answer:
            data = connection.recv(1)
            if not data:
                break
            answer += data
        print(answer.split(b"\r\n")[0].decode())
        """#
}
