import AirlockPolicy
import Synchronization

/// One connection attempt through the egress proxy; the worker records it in
/// `CliToolInvocationCompleted.egress` as AirlockEvents' `EgressConnection`.
public struct EgressRecord: Sendable, Hashable {
    /// As the tool asked for it, normalized (lower case, no trailing dot; an IPv6 address without
    /// brackets); for a request the proxy could not read, its first bytes (at most 255).
    public var host: String
    /// 0 when the request named none the proxy could read.
    public var port: Int
    /// Bytes from the tool toward the endpoint after the CONNECT exchange (the TLS handshake included).
    public var bytesSent: Int
    /// Bytes from the endpoint back to the tool.
    public var bytesReceived: Int
    public var allowed: Bool
    public var reason: EgressDenialReason?

    public init(host: String, port: Int, bytesSent: Int = 0, bytesReceived: Int = 0, allowed: Bool, reason: EgressDenialReason? = nil) {
        self.host = host
        self.port = port
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.allowed = allowed
        self.reason = reason
    }
}

/// What an invocation's proxy saw, returned by `EgressProxy.finish()`.
public struct EgressReport: Sendable, Hashable {
    /// The first `EgressLedger.capacity` attempts, in the order they were made.
    public var records: [EgressRecord]
    /// Attempts beyond those: counted, not kept, so a tool cannot fill Airlock's memory.
    public var droppedRecords: Int
}

/// The records of one invocation's connections, updated by the connections as they go (each on
/// its own event loop) and read once at the end: state under one lock.
final class EgressLedger: Sendable {
    static let capacity = 1_000
    static let hostLimit = 255

    /// An index into the records; nil for an attempt beyond the capacity.
    typealias Entry = Int?

    private struct State {
        var records: [EgressRecord] = []
        var dropped = 0
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int = EgressLedger.capacity) {
        self.capacity = capacity
    }

    func open(host: String, port: Int, allowed: Bool, reason: EgressDenialReason? = nil) -> Entry {
        let host = String(decoding: host.utf8.prefix(Self.hostLimit), as: UTF8.self)
        return state.withLock { state in
            guard state.records.count < capacity else {
                state.dropped += 1
                return nil
            }
            state.records.append(EgressRecord(host: host, port: port, allowed: allowed, reason: reason))
            return state.records.count - 1
        }
    }

    func deny(_ entry: Entry, _ reason: EgressDenialReason) {
        guard let entry else { return }
        state.withLock { state in
            state.records[entry].allowed = false
            state.records[entry].reason = reason
        }
    }

    func count(_ entry: Entry, sent: Int = 0, received: Int = 0) {
        guard let entry else { return }
        state.withLock { state in
            state.records[entry].bytesSent += sent
            state.records[entry].bytesReceived += received
        }
    }

    var report: EgressReport {
        state.withLock { EgressReport(records: $0.records, droppedRecords: $0.dropped) }
    }
}
