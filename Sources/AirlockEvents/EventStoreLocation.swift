import Foundation

/// Where the audit trail goes, as an operator writes it (`--events`):
///
/// - `sqlite:PATH` or a path: the embedded SQLite store (the default is `events.sqlite` under the
///   state directory);
/// - `postgresql://…` / `postgres://…`: a libpq URL;
/// - `postgresql:` followed by a libpq keyword/value string (`postgresql:host=/run/postgresql dbname=audit`),
///   or alone, to take everything from the `PG*` environment variables and service files.
public enum EventStoreLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(connection: String)

    public init(parsing text: String) throws(EventStoreError) {
        if text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") {
            self = .postgres(connection: text)
        } else if let rest = text.dropPrefix("postgresql:") ?? text.dropPrefix("postgres:") {
            self = .postgres(connection: rest)
        } else if let path = text.dropPrefix("sqlite:") {
            guard !path.isEmpty else { throw EventStoreError("--events sqlite: needs a path, e.g. sqlite:var/events.sqlite") }
            self = .sqlite(path: path)
        } else if text.contains("://") {
            throw EventStoreError("unknown event store '\(text)': use sqlite:PATH, postgresql://… or postgresql:KEY=VALUE…")
        } else if text.isEmpty {
            throw EventStoreError("--events is empty: use sqlite:PATH, postgresql://… or postgresql:KEY=VALUE…")
        } else {
            self = .sqlite(path: text)
        }
    }

    /// The embedded default.
    public static func standard(stateDirectory: String) -> EventStoreLocation {
        .sqlite(path: stateDirectory + "/events.sqlite")
    }

    /// Opens the store, creating and migrating its schema as needed. `use` says how long the
    /// caller keeps it: it decides how a SQLite store is opened (see `EventStoreUse`).
    public func open(_ use: EventStoreUse) async throws(EventStoreError) -> any EventStore {
        switch self {
        case let .sqlite(path): try SQLiteEventStore(path: path, use: use)
        case let .postgres(connection): try await PostgresEventStore(connection: connection)
        }
    }
}

/// How long a process keeps its event store open. A SQLite store is opened differently for each;
/// a PostgreSQL store is one session either way.
public enum EventStoreUse: String, Sendable, CaseIterable {
    /// A command that appends or reads a handful of events and exits (`airlock run`, `airlock
    /// events`): one connection, cheap to open, which leaves the WAL in place when it closes.
    /// Reads and appends take turns on it.
    case oneShot = "one-shot"
    /// The worker: a writer connection and a pool of readers, so that reads (`/v1/events`,
    /// `/readyz`, recovery, chain verification) never wait behind the appends of concurrent
    /// invocations; SQLite's default auto-checkpoint, and a checkpoint when the store closes.
    case longLived = "long-lived"
}

/// Stands in for a store that could not be opened: every call fails with the reason, so the
/// pipeline treats it as a store that is down (no launch; rejections and completions spooled).
public final class UnavailableEventStore: EventStore {
    public let location: String
    public let reason: String

    public init(location: String, reason: String) {
        self.location = location
        self.reason = reason
    }

    public func appendReportingOutcomes(_ records: [EventRecord]) async throws(EventStoreError) -> [AppendOutcome] { throw EventStoreError(reason) }
    public func chainLinks(afterID: Int64, limit: Int) async throws(EventStoreError) -> [ChainLink] { throw EventStoreError(reason) }
    public func events(matching query: EventQuery) async throws(EventStoreError) -> [StoredEvent] { throw EventStoreError(reason) }
    public func unfinishedInvocations() async throws(EventStoreError) -> [StoredEvent] { throw EventStoreError(reason) }
    public func close() async {}
}

extension String {
    fileprivate func dropPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}
