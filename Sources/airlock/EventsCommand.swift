import AirlockCommandLine
import AirlockEvents
import ArgumentParser
import Foundation
import Logging

/// `airlock events`: read the audit trail; `tail` ships it.
struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Read the audit trail (gateway_events).",
        subcommands: [ListEvents.self, TailEvents.self, VerifyEvents.self]
    )
}

/// Filters and output shared by `list` and `tail`.
struct EventFilterOptions: ParsableArguments {
    enum Format: String, ExpressibleByArgument, CaseIterable { case json, text }

    @Option(name: .customLong("after-id"), help: "Only events with an id greater than N (a shipper's cursor).")
    var afterID: Int64?

    @Option(name: .customLong("type"), help: "Only this event type (repeatable), e.g. CliToolSemanticRejected.")
    var types: [String] = []

    @Option(name: .customLong("execution-id"), help: "Only the events of this execution.")
    var executionID: String?

    @Option(help: "Only the events of this tenant.")
    var tenant: String?

    @Option(help: "Only events newer than this: 90s, 15m, 1h, 7d.")
    var since: String?

    @Option(help: "json: one object per line (payload as an object); text: one summary line per event.")
    var format: Format = .json

    func validate() throws {
        for type in types where EventType(rawValue: type) == nil {
            throw ValidationError("--type \(type) is not an Airlock event type; one of \(EventType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let since, Self.seconds(since) == nil {
            throw ValidationError("--since \(since) is not a duration: a number followed by s, m, h or d, e.g. 15m")
        }
        if let afterID, afterID < 0 { throw ValidationError("--after-id cannot be negative") }
    }

    func query(afterID cursor: Int64?, limit: Int) -> EventQuery {
        EventQuery(
            afterID: cursor ?? afterID, types: types.compactMap(EventType.init(rawValue:)), executionID: executionID, tenantID: tenant,
            since: since.flatMap(Self.seconds).map { Date().addingTimeInterval(-$0) }, limit: limit)
    }

    static func seconds(_ text: String) -> Double? {
        guard let unit = text.last, let value = Double(text.dropLast()), value >= 0 else { return nil }
        switch unit {
        case "s": return value
        case "m": return value * 60
        case "h": return value * 3600
        case "d": return value * 86400
        default: return nil
        }
    }

    func print(_ event: StoredEvent) {
        switch format {
        case .json:
            let payload = (try? JSONSerialization.jsonObject(with: Data(event.payload.utf8))) ?? event.payload
            let line: [String: Any] = [
                "id": event.id, "event_type": event.eventType, "created_at": Timestamp.rfc3339(event.createdAt), "payload": payload,
            ]
            let data = (try? JSONSerialization.data(withJSONObject: line, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            Swift.print(String(decoding: data, as: UTF8.self))
        case .text:
            let fields = (try? JSONSerialization.jsonObject(with: Data(event.payload.utf8)) as? [String: Any]) ?? [:]
            var line = "\(event.id)  \(Timestamp.rfc3339(event.createdAt))  \(event.eventType)"
            for key in ["execution_id", "tenant_id", "tool_name", "name", "exit_code", "rule_id", "rejection_reason", "abandoned"] {
                if let value = fields[key], !(value is NSNull) { line += "  \(key)=\(value)" }
            }
            Swift.print(line)
        }
    }
}

struct ListEvents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Print the matching events, in id order.")

    @OptionGroup var filter: EventFilterOptions
    @OptionGroup var audit: AuditOptions

    @Option(help: "At most this many events.")
    var limit: Int = 1000

    func validate() throws {
        // SQLite reads a negative LIMIT as none at all, PostgreSQL refuses it: neither is what was asked.
        if limit < 1 { throw ValidationError("--limit must be a positive number of events") }
    }

    func run() async throws {
        let store = try await EventsAccess.open(audit)
        do {
            for event in try await store.events(matching: filter.query(afterID: nil, limit: limit)) { filter.print(event) }
        } catch {
            StandardError.print("airlock: \(error.message)")
            throw ExitStatus.error
        }
    }
}

struct TailEvents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print the matching events, then follow new ones as they are written, in id order.",
        discussion: """
            For shipping to a SIEM: remember the last id printed and restart with --after-id. The \
            table is append-only and ids become visible in order, so nothing is skipped or repeated.
            """)

    @OptionGroup var filter: EventFilterOptions
    @OptionGroup var audit: AuditOptions

    @Option(help: "Seconds between polls.")
    var interval: Double = 1

    func validate() throws {
        if !(interval > 0) { throw ValidationError("--interval must be a positive number of seconds") }
    }

    func run() async throws {
        let store = try await EventsAccess.open(audit)
        var cursor = filter.afterID
        var failing = false
        while !Task.isCancelled {
            do {
                let batch = try await store.events(matching: filter.query(afterID: cursor, limit: 1000))
                for event in batch { filter.print(event) }
                fflush(nil)
                if let last = batch.last { cursor = last.id }
                if failing { StandardError.print("airlock: event store reachable again; following from id \(cursor ?? 0)") }
                failing = false
                if batch.count == 1000 { continue }
            } catch {
                if !failing { StandardError.print("airlock: \(error.message); retrying") }
                failing = true
            }
            try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
        }
    }
}

struct VerifyEvents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the audit chain: every event Airlock wrote, unchanged, in place, none removed or inserted between.",
        discussion: """
            Walks gateway_events in id order and recomputes each event's chain_hash from the one \
            before it. Exit 0: intact (the count of events verified and the newest one's hash are \
            printed; keep the hash elsewhere to tell later that events were not removed from the \
            end). Exit 1: the first broken link, by id, and what it looks like (edited, deleted, \
            reordered, forged). Exit 2: the store cannot be read. Rows other writers made (the \
            gateway's own events) have no chain_hash and are skipped.
            """)

    /// A broken chain: a finding, not a failure of the command.
    static let broken = ExitCode(1)

    @OptionGroup var audit: AuditOptions

    func run() async throws {
        let store = try await EventsAccess.open(audit)
        let result: ChainVerification
        do {
            result = try await AuditChainVerifier(store: store).verify()
        } catch {
            StandardError.print("airlock: \(error.message)")
            throw ExitStatus.error
        }
        await store.close()
        let skipped = result.skipped == 0 ? "" : "; \(result.skipped) rows outside the chain skipped (other writers', or older than it)"
        guard let breach = result.breach else {
            let head = result.head.map { "; head: id \($0.id) chain_hash \($0.chainHash)" } ?? ""
            print("intact: \(result.verified) events verified in \(store.location)\(skipped)\(head)")
            return
        }
        print("broken at id \(breach.id) (\(breach.kind.rawValue)): \(breach.message)")
        print("\(result.verified) events verified before it in \(store.location)\(skipped)")
        throw Self.broken
    }
}

enum EventsAccess {
    /// Reading never creates a SQLite store: a mistyped `--state-dir` or `--events` path must say
    /// so, not show an empty trail (or a shipper follow one forever).
    static func open(_ audit: AuditOptions) async throws -> any EventStore {
        do throws(EventStoreError) {
            let location = try audit.location()
            if case let .sqlite(path) = location, !FileManager.default.fileExists(atPath: path) {
                throw EventStoreError(
                    "no event store at \(path): nothing has been recorded there (airlock run and airlock serve create it on first use);"
                        + " check --events and --state-dir")
            }
            return try await location.open(.oneShot)
        } catch {
            StandardError.print("airlock: \(error.message)")
            throw ExitStatus.error
        }
    }
}
