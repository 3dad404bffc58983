import AirlockEngine
import AirlockPolicy
import Crypto
import Foundation

/// Short, keyed fingerprints of secret values for the audit trail: the first 8 hex digits of
/// HMAC-SHA256 of the value. Two calls with the same token show the same fingerprint; without the
/// key, a fingerprint cannot be checked against guessed values, and 32 bits say nothing of a value.
///
/// The key is 32 random bytes made once per state directory (`STATE_DIR/secret-fingerprint-key`,
/// 0600, like `instance-id`), so fingerprints compare across restarts of the worker and across
/// `airlock run`s. The key is not a secret value, but it is never logged or recorded.
public struct SecretFingerprints: Sendable {
    public static let fileName = "secret-fingerprint-key"
    /// The key's bytes (`SymmetricKey` is not `Sendable`).
    private let key: [UInt8]

    /// A key of this process only: fingerprints compare within it (tests, embedders without a state directory).
    public init() {
        key = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    init(key: [UInt8]) {
        self.key = key
    }

    /// The key kept in `directory` (made on first use, 0600).
    ///
    /// - Throws: `EngineError` when the directory cannot hold it or the file is not 32 bytes.
    public static func load(stateDirectory directory: String) throws(EngineError) -> SecretFingerprints {
        let path = directory + "/" + fileName
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw EngineError("cannot create the state directory \(directory): \(error.localizedDescription)")
        }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if descriptor >= 0 {
            let made = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
            // One write of 32 bytes to a new file: a reader sees all of it or an error below.
            let written = made.withUnsafeBytes { write(descriptor, $0.baseAddress, 32) }
            close(descriptor)
            guard written == 32 else {
                unlink(path)
                throw EngineError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
        }
        for _ in 0..<50 {
            if let bytes = FileManager.default.contents(atPath: path), bytes.count == 32 {
                return SecretFingerprints(key: Array(bytes))
            }
            // Another process made it a moment ago and is writing it.
            usleep(10_000)
        }
        throw EngineError("\(path) does not hold a 32-byte key; remove it to make a new one")
    }

    /// `NAME: fingerprint` for each secret given; nil when none was.
    public func fingerprints(of secrets: SecretValues) -> [String: String]? {
        guard !secrets.isEmpty else { return nil }
        let key = SymmetricKey(data: self.key)
        var result: [String: String] = [:]
        for name in secrets.names {
            let code = HMAC<SHA256>.authenticationCode(for: secrets[name] ?? [], using: key)
            result[name] = PolicyDigest.hex(code.prefix(4))
        }
        return result
    }
}
