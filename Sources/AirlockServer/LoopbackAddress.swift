import Foundation

/// A TCP listen address that is guaranteed to be loopback: `127.x.x.x:PORT`, `[::1]:PORT`, or
/// `localhost:PORT` (127.0.0.1). Anything else is refused: the API has no authentication of its own.
public struct LoopbackAddress: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(parsing text: String) throws(ListenError) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ListenError("--listen \(text): expected [::1]:PORT")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw ListenError("--listen \(text): expected HOST:PORT, e.g. 127.0.0.1:8787") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw ListenError("--listen \(text): the port must be a number from 0 to 65535")
        }
        let resolved = host == "localhost" ? "127.0.0.1" : String(host)
        guard Self.isLoopback(resolved) else {
            throw ListenError("--listen \(text): refusing a non-loopback address; only 127.0.0.0/8, ::1 and localhost are allowed")
        }
        self.host = resolved
        self.port = port
    }

    static func isLoopback(_ host: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return UInt32(bigEndian: v4.s_addr) >> 24 == 127
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { bytes in bytes.prefix(15).allSatisfy { $0 == 0 } && bytes[15] == 1 }
        }
        return false
    }
}
