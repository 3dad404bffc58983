/// A secret a tool accepts from its caller, and how it reaches the tool: as an environment
/// variable, or as a read-only file on a tmpfs. Declared in the policy's tool entry (`secrets:`);
/// a caller may hand in only the names its tool declares.
public struct SecretDeclaration: Sendable, Hashable, Codable {
    /// How the value reaches the tool.
    public enum Delivery: Sendable, Hashable, Codable {
        /// The variable `name`, set by Airlock's launcher in the container just before it runs the tool.
        case environment(name: String)
        /// A file at `path` in the container, owned by the tool's user, with `mode` (read bits only).
        case file(path: String, mode: UInt16)
    }

    /// The name the caller hands the value under (`secrets.NAME`), and the events record.
    public var name: String
    public var delivery: Delivery

    public init(name: String, delivery: Delivery) {
        self.name = name
        self.delivery = delivery
    }

    /// `0400` when the policy names no mode: readable by the tool's user only.
    public static let defaultFileMode: UInt16 = 0o400

    /// Variables Airlock, the engines or the dynamic loader set or read themselves: a secret may not
    /// take their place (`PATH` and the proxy variables are Airlock's; `LD_*` would let a value
    /// change the program that runs).
    public static func reservedEnvironmentName(_ name: String) -> Bool {
        let reserved: Set<String> = [
            "PATH", "HOME", "HOSTNAME", "TERM", "container", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy",
            "https_proxy", "no_proxy", "all_proxy", "FTP_PROXY", "ftp_proxy",
        ]
        return reserved.contains(name) || name.hasPrefix("LD_") || name.hasPrefix("AIRLOCK_")
    }

    /// Container paths a secret file may not take: the engine's own mounts, Airlock's programs, the
    /// workspace and `/tmp` (writable, or the caller's), and the kernel's interfaces.
    public static func reservedPath(_ path: String) -> String? {
        for root in ["/workspace", "/tmp", "/proc", "/sys", "/dev"] where path == root || path.hasPrefix(root + "/") {
            return "it is inside \(root)"
        }
        if ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run/.containerenv"].contains(path) {
            return "the engine mounts its own file there"
        }
        if path.hasPrefix("/airlock-") { return "Airlock's own programs live at /airlock-*" }
        return nil
    }

    /// `0400`, `0440`, `0444` and the like: octal, read bits only, and readable by the tool's user.
    public static func parseMode(_ text: String) -> UInt16? {
        let digits = text.utf8.count == 4 && text.hasPrefix("0") ? Substring(text.dropFirst()) : Substring(text)
        guard digits.utf8.count == 3, let mode = UInt16(digits, radix: 8), digits.allSatisfy({ ("0"..."7").contains($0) }) else { return nil }
        guard mode & ~0o444 == 0, mode & 0o400 != 0 else { return nil }
        return mode
    }
}
