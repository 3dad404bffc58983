import AirlockCommandLine
import AirlockEvents
import AirlockPolicy
import ArgumentParser
import Foundation

extension PolicyCommand {
    /// `airlock policy replay`: what a candidate policy would have decided for every recorded call.
    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replay",
            abstract: "Judge every decision of the audit trail again under a candidate policy, and report what would change.",
            discussion: """
                Replays each CliToolInvocationStarted (allowed) and CliToolSemanticRejected (denied), with tools \
                registered at run time as the trail recorded them. Exit status: 0 no decision flips (a changed rule \
                alone is no flip), 1 some do, 2 on errors, 64 bad usage.
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

        @Option(help: "The candidate policy.")
        var policy: String

        @OptionGroup var audit: AuditOptions

        @Option(help: "Only decisions recorded in this last duration: a number followed by s, m, h or d (e.g. 7d).")
        var since: String?

        @Option(help: "Only decisions recorded before this time (RFC 3339, e.g. 2026-12-07T12:00:00Z) or this long ago (e.g. 1d).")
        var until: String?

        @Option(help: "Only this tenant's decisions.")
        var tenant: String?

        @Option(help: "Only decisions about this tool.")
        var tool: String?

        @Option(help: "Only decisions in this security context.")
        var context: String?

        @Option(help: "text or json.")
        var format: Format = .text

        @Option(help: "List at most N changes (every change is counted).")
        var limit: Int = 100

        func validate() throws {
            if let since, EventFilterOptions.seconds(since) == nil {
                throw ValidationError("--since \(since) is not a duration: a number followed by s, m, h or d, e.g. 7d")
            }
            if let until, Self.moment(until) == nil {
                throw ValidationError("--until \(until) is neither an RFC 3339 time (2026-12-07T12:00:00Z) nor a duration (1d)")
            }
            if limit < 0 { throw ValidationError("--limit must be 0 or more") }
        }

        /// Pages through the trail in id order (a thousand events at a time, so memory stays bounded),
        /// judging each recorded decision again; keeps the first `limit` changes.
        func replayTrail(_ store: any EventStore, judge: Judge) async throws(EventStoreError) -> (PolicyReplay, [ReplayChange]) {
            var replay = PolicyReplay(judge: judge)
            var changes: [ReplayChange] = []
            let until = until.flatMap(Self.moment)
            let since = since.flatMap(EventFilterOptions.seconds).map { Date().addingTimeInterval(-$0) }
            var reader = RecordedDecisions(policyTenants: Set(judge.policy.tenants.keys))
            var cursor: Int64?
            while true {
                let page = try await store.events(
                    matching: EventQuery(
                        afterID: cursor, types: [.cliToolRegistered, .cliToolInvocationStarted, .cliToolSemanticRejected], tenantID: tenant,
                        since: since, limit: 1000))
                for event in page {
                    cursor = event.id
                    if let until, event.createdAt >= until { return (replay, changes) }
                    switch reader.read(event) {
                    case .registration: continue
                    case let .notReplayable(reason): replay.skip(reason)
                    case let .decision(recorded):
                        if let tool, recorded.tool != tool { continue }
                        if let context, recorded.securityContext != context { continue }
                        if var change = replay.replay(recorded), changes.count < limit {
                            change.recorded.createdAt = Timestamp.rfc3339(event.createdAt)
                            changes.append(change)
                        }
                    }
                }
                if page.count < 1000 { return (replay, changes) }
            }
        }

        /// An RFC 3339 time, or a duration before now.
        static func moment(_ text: String) -> Date? {
            if let seconds = EventFilterOptions.seconds(text) { return Date().addingTimeInterval(-seconds) }
            return Timestamp.parseRFC3339(text)
        }

        func run() async throws {
            let candidate: Policy
            do {
                candidate = try PolicyFiles.loader.load(path: policy)
            } catch {
                PolicyFiles.report(error)
                throw ExitStatus.error
            }
            let store = try await EventsAccess.open(audit)
            defer { Task { await store.close() } }
            let replay: PolicyReplay
            let changes: [ReplayChange]
            do {
                (replay, changes) = try await replayTrail(store, judge: Judge(policy: candidate))
            } catch {
                StandardError.print("airlock: \(error.message)")
                throw ExitStatus.error
            }
            let report = ReplayReport(replay: replay, changes: changes, candidate: candidate)
            switch format {
            case .text: print(report.text())
            case .json: print(try report.json())
            }
            if replay.flipped { throw ExitCode(1) }
        }
    }
}

/// Turns recorded events into decisions to replay, keeping the tools registered so far.
struct RecordedDecisions {
    enum Item {
        case registration
        case decision(RecordedDecision)
        case notReplayable(String)
    }

    static let operatorTenant = "operator"
    /// The candidate policy's tenants.
    let policyTenants: Set<String>
    /// Tenant and name to the registered tool's rules, as registered (in id order, so before its calls).
    var registered: [String: [String: RegisteredToolRules]] = [:]
    /// Registrations the trail has without what replay needs.
    var incomplete: Set<String> = []

    /// The fields replay reads; the rest of a payload is skipped unread.
    struct Payload: Decodable {
        var name: String?
        var grammar: String?
        var allowedSubcommands: [String]?
        var requireSemanticJudge: Bool?
        var toolName: String?
        var executionId: String?
        var args: [String]?
        var securityContext: String?
        var ruleId: String?
        var policyDigest: String?
        var tenantId: String?

        enum CodingKeys: String, CodingKey {
            case name, grammar, args
            case allowedSubcommands = "allowed_subcommands"
            case requireSemanticJudge = "require_semantic_judge"
            case toolName = "tool_name"
            case executionId = "execution_id"
            case securityContext = "security_context"
            case ruleId = "rule_id"
            case policyDigest = "policy_digest"
            case tenantId = "tenant_id"
        }
    }

    let decoder = JSONDecoder()

    /// `createdAt` is left empty: it is formatted only for the changes listed.
    mutating func read(_ event: StoredEvent) -> Item {
        guard let payload = try? decoder.decode(Payload.self, from: Data(event.payload.utf8)) else {
            return .notReplayable("payload is not a JSON object of the recorded fields")
        }
        if event.eventType == EventType.cliToolRegistered.rawValue {
            guard let name = payload.name, let owner = payload.tenantId else { return .notReplayable("registration without name or tenant") }
            guard let base = payload.grammar, let allowed = payload.allowedSubcommands, let semantic = payload.requireSemanticJudge else {
                incomplete.insert(owner + "/" + name)
                return .registration
            }
            registered[owner, default: [:]][name] = RegisteredToolRules(
                name: name, baseTool: base, allowedSubcommands: allowed, requireSemanticJudge: semantic)
            return .registration
        }
        let allowed = event.eventType == EventType.cliToolInvocationStarted.rawValue
        guard let tool = payload.toolName, let executionID = payload.executionId else {
            return .notReplayable("event without tool_name or execution_id")
        }
        guard let argv = payload.args else { return .notReplayable("no args recorded") }
        guard let securityContext = payload.securityContext, let ruleID = payload.ruleId, let digest = payload.policyDigest else {
            return .notReplayable("no security_context, rule_id or policy_digest recorded")
        }
        // `airlock run` without --tenant records its calls as the tenant "operator" and judges them
        // without a tenant (an operator's own call); a policy that names a tenant "operator" has
        // its calls judged as that tenant.
        var tenant = payload.tenantId
        if tenant == Self.operatorTenant, !policyTenants.contains(Self.operatorTenant) { tenant = nil }
        var rules: RegisteredToolRules?
        if let tenant, let found = registered[tenant]?[tool] {
            rules = found
        } else if let tenant, incomplete.contains(tenant + "/" + tool) {
            return .notReplayable("registered tool recorded without require_semantic_judge")
        }
        return .decision(
            RecordedDecision(
                executionID: executionID, createdAt: "", tenant: tenant, securityContext: securityContext,
                tool: tool, argv: argv, allowed: allowed, ruleID: ruleID, policyDigest: digest, registered: rules))
    }
}

/// The summary and the changes, as people and CI read them.
struct ReplayReport {
    var replay: PolicyReplay
    var changes: [ReplayChange]
    var candidate: Policy

    struct Summary: Encodable {
        var replayed, unchanged, newlyAllowed, newlyDenied, ruleChanged, notReplayable: Int
        var notReplayableReasons: [String: Int]
        var candidatePolicyDigest: String
        var listedChanges: Int
    }

    struct Change: Encodable {
        struct Side: Encodable {
            var allowed: Bool
            var ruleId: String
            var policyDigest: String
            var reason: String?
        }
        var kind: String
        var executionId: String
        var createdAt: String
        var tenantId: String?
        var securityContext: String
        var toolName: String
        var args: [String]
        var recorded: Side
        var candidate: Side
    }

    var summary: Summary {
        Summary(
            replayed: replay.replayed, unchanged: replay.unchanged, newlyAllowed: replay.newlyAllowed, newlyDenied: replay.newlyDenied,
            ruleChanged: replay.ruleChanged, notReplayable: replay.notReplayable.values.reduce(0, +),
            notReplayableReasons: replay.notReplayable, candidatePolicyDigest: candidate.digest, listedChanges: changes.count)
    }

    func json() throws -> String {
        struct Body: Encodable {
            var summary: Summary
            var changes: [Change]
        }
        let listed = changes.map { change in
            let recorded = change.recorded
            return Change(
                kind: change.kind.rawValue, executionId: recorded.executionID, createdAt: recorded.createdAt, tenantId: recorded.tenant,
                securityContext: recorded.securityContext, toolName: recorded.tool, args: recorded.argv,
                recorded: .init(allowed: recorded.allowed, ruleId: recorded.ruleID, policyDigest: recorded.policyDigest),
                candidate: .init(
                    allowed: change.decision.allowed, ruleId: change.decision.ruleID, policyDigest: change.decision.policyDigest,
                    reason: change.decision.reason))
        }
        return try DecisionReport.snakeCaseJSON(Body(summary: summary, changes: listed))
    }

    /// The summary, then the changes grouped by (context, tool, subcommand), newly allowed first.
    func text() -> String {
        let s = summary
        var lines = [
            "replayed \(s.replayed) decisions under \(candidate.file) (\(candidate.digest)):",
            "  unchanged \(s.unchanged), newly allowed \(s.newlyAllowed), newly denied \(s.newlyDenied), rule changed \(s.ruleChanged), not replayable \(s.notReplayable)",
        ]
        for (reason, count) in s.notReplayableReasons.sorted(by: { $0.key < $1.key }) {
            lines.append("  not replayable (\(reason)): \(count)")
        }
        let groups = Dictionary(grouping: changes) { change in
            GroupKey(kind: change.kind, context: change.recorded.securityContext, tool: change.recorded.tool,
                subcommand: change.decision.requestedSubcommand)
        }
        for key in groups.keys.sorted() {
            lines.append("")
            lines.append("\(key.kind.rawValue.replacingOccurrences(of: "_", with: " ")): \(key.tool) \(key.subcommand) in \(key.context)")
            for change in groups[key]! {
                let recorded = change.recorded
                let before = "\(recorded.allowed ? "allow" : "deny") (\(recorded.ruleID))"
                let after = "\(change.decision.allowed ? "allow" : "deny") (\(change.decision.ruleID))"
                lines.append(
                    "  \(recorded.createdAt) \(recorded.executionID) \(recorded.tenant.map { "tenant \($0) " } ?? "")\(([recorded.tool] + recorded.argv).joined(separator: " ")): \(before) -> \(after)")
            }
        }
        if changes.count < s.newlyAllowed + s.newlyDenied + s.ruleChanged {
            lines.append("")
            lines.append("(\(changes.count) changes listed; --limit lists more)")
        }
        return lines.joined(separator: "\n")
    }

    struct GroupKey: Hashable, Comparable {
        var kind: DecisionShift
        var context: String
        var tool: String
        var subcommand: String

        static func < (lhs: GroupKey, rhs: GroupKey) -> Bool {
            (lhs.kind, lhs.context, lhs.tool, lhs.subcommand) < (rhs.kind, rhs.context, rhs.tool, rhs.subcommand)
        }
    }
}
