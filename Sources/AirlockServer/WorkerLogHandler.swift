import AirlockEvents
import AirlockInvocation
import Foundation
import Logging
import Synchronization

/// The worker's logs: one line per event on stderr, human-readable or JSON.
///
/// JSON lines follow the platform's envelope (`ts` RFC 3339, `service`, `level`, `msg`) with the
/// metadata as top-level fields (`method`, `code`, `duration_ms`, `tenant_id`, `execution_id`,
/// `trace_id`, ...). Callers never put stdin, stdout, stderr or environment values in metadata.
public struct WorkerLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case text
        case json
    }

    /// Where finished lines go (stderr; tests collect them).
    public typealias Sink = @Sendable (String) -> Void

    public var format: Format
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    private let sink: Sink

    public init(format: Format, level: Logger.Level, sink: @escaping Sink = WorkerLogHandler.standardError) {
        self.format = format
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// `AIRLOCK_LOG` (see `LogLevel`), else info.
    public static func level(fromEnvironment environment: [String: String] = ProcessInfo.processInfo.environment) -> Logger.Level {
        LogLevel.fromEnvironment(environment, default: .info)
    }

    /// Fields whose values are numbers in JSON lines.
    static let numericKeys: Set<String> = ["code", "duration_ms", "exit_code", "pid", "uid", "gid", "count", "port"]

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        fields["hb.request.id"] = nil  // Hummingbird's; the access log carries ours
        let now = Date()
        switch format {
        case .json:
            var object: [String: JSONValue] = [
                "ts": .string(Timestamp.rfc3339(now)), "service": "airlock", "level": .string(Self.platformLevel(event.level)),
                "msg": .string(event.message.description),
            ]
            for (key, value) in fields where object[key] == nil { object[key] = Self.json(value, key: key) }
            sink(String(decoding: JSONValue.object(object).encoded(), as: UTF8.self))
        case .text:
            var line = "\(Timestamp.rfc3339(now)) \(Self.platformLevel(event.level)) \(event.message)"
            for key in fields.keys.sorted() { line += " \(key)=\(Self.text(fields[key]!))" }
            sink(line)
        }
    }

    /// The platform's levels are debug, info, warn and error.
    static func platformLevel(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: "debug"
        case .info, .notice: "info"
        case .warning: "warn"
        case .error, .critical: "error"
        }
    }

    static func json(_ value: Logger.Metadata.Value, key: String) -> JSONValue {
        switch value {
        case let .string(text): return numericKeys.contains(key) ? Int64(text).map(JSONValue.integer) ?? .string(text) : .string(text)
        case let .stringConvertible(item):
            let text = item.description
            return numericKeys.contains(key) ? Int64(text).map(JSONValue.integer) ?? .string(text) : .string(text)
        case let .array(items): return .array(items.map { json($0, key: "") })
        case let .dictionary(members): return .object(members.mapValues { json($0, key: "") })
        }
    }

    static func text(_ value: Logger.Metadata.Value) -> String {
        let text = "\(value)"
        return text.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) || text.isEmpty
            ? String(decoding: JSONValue.string(text).encoded(), as: UTF8.self) : text
    }

    private static let lock = Mutex(())

    /// Whole lines to stderr; concurrent lines never interleave.
    public static let standardError: Sink = { line in
        let bytes = Array((line + "\n").utf8)
        lock.withLock { _ in
            bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(STDERR_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return
                    }
                    offset += written
                }
            }
        }
    }
}
