import AirlockEvents
import ArgumentParser
import Dispatch
import Foundation
import Logging

/// Where the audit trail goes, for every command that records or reads events.
public struct AuditOptions: ParsableArguments, Sendable {
    public init() {}

    @Option(
        help: ArgumentHelp(
            "Event store: sqlite:PATH, postgresql://…, or postgresql:KEY=VALUE… (libpq; PG* variables apply).",
            discussion: "Default: $AIRLOCK_EVENTS, else SQLite at STATE_DIR/events.sqlite."))
    public var events: String?

    @Option(name: .customLong("state-dir"), help: "State directory: the default event store and the spool (default: $AIRLOCK_STATE_DIR, else ./var).")
    public var stateDirectory: String?

    public var resolvedStateDirectory: String {
        Self.stateDirectory(stateDirectory)
    }

    /// The state directory a command was given, else `$AIRLOCK_STATE_DIR`, else `./var`.
    public static func stateDirectory(_ given: String?) -> String {
        given ?? ProcessInfo.processInfo.environment["AIRLOCK_STATE_DIR"] ?? "var"
    }

    public func location() throws(EventStoreError) -> EventStoreLocation {
        if let text = events ?? ProcessInfo.processInfo.environment["AIRLOCK_EVENTS"] {
            return try EventStoreLocation(parsing: text)
        }
        return .standard(stateDirectory: resolvedStateDirectory)
    }

    /// Opens the store, as `use` says (the worker `.longLived`, `airlock run` `.oneShot`), and the
    /// spool. A store that cannot be opened stands in as unavailable, so nothing is launched and
    /// what must not be lost goes to the spool; a bad `--events` or a spool that cannot be created
    /// is an error.
    public func openTrail(_ use: EventStoreUse, logger: Logger) async throws -> AuditTrail {
        let spool: EventSpool
        let location: EventStoreLocation
        do {
            location = try self.location()
            spool = try EventSpool(directory: resolvedStateDirectory + "/spool")
        } catch {
            StandardError.print("airlock: \(error.message)")
            throw ExitStatus.error
        }
        let store: any EventStore
        do {
            store = try await location.open(use)
        } catch {
            logger.error("Event store unavailable", metadata: ["error": "\(error.message)"])
            store = UnavailableEventStore(location: "\(location)", reason: error.message)
        }
        return AuditTrail(store: store, spool: spool, logger: logger)
    }
}

/// While alive, SIGINT and SIGTERM call `handler` instead of ending the process, so that a running
/// invocation is cancelled properly: container killed, its end recorded.
public final class CancellationSignals: @unchecked Sendable {  // immutable after init; dispatch sources are thread-safe
    private let sources: [any DispatchSourceSignal]

    public init(handler: @escaping @Sendable () -> Void) {
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            return source
        }
    }

    public func stop() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
