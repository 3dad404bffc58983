import AirlockInvocation
import AirlockPolicy
import Foundation
import Synchronization

/// `airlock serve --shadow-policy FILE`: a candidate policy that judges every request beside the
/// live one and decides nothing. `reload()` (SIGHUP) loads and validates the file again as the live
/// policy's is: a valid one replaces it and its counts start again; an invalid one changes nothing.
public final class ShadowPolicy: Sendable {
    /// What `GET /v1/shadow` reports: the candidate's digest and how its decisions compared since
    /// it was loaded.
    public struct Counts: Sendable, Equatable {
        public var policyDigest: String
        public var file: String
        public var loadedAt: Date
        public var agreements = 0
        public var newlyAllowed = 0
        public var newlyDenied = 0
        /// The same outcome, by another rule.
        public var ruleChanged = 0

        public var disagreements: Int { newlyAllowed + newlyDenied + ruleChanged }
    }

    private let state: Mutex<(judge: Judge, counts: Counts)>
    private let load: LivePolicy.Loader

    public init(_ policy: Policy, load: @escaping LivePolicy.Loader) {
        self.state = Mutex((Judge(policy: policy), Self.fresh(policy)))
        self.load = load
    }

    private static func fresh(_ policy: Policy) -> Counts {
        Counts(policyDigest: policy.digest, file: policy.file, loadedAt: Date())
    }

    /// The candidate for one request, counting its comparisons while it is still the one loaded.
    public var judge: ShadowJudge {
        let judge = state.withLock { $0.judge }
        let digest = judge.policy.digest
        return ShadowJudge(judge: judge) { [self] live, shadow in
            let shift = DecisionShift(beforeAllowed: live.allowed, beforeRule: live.ruleID, afterAllowed: shadow.allowed, afterRule: shadow.ruleID)
            state.withLock { state in
                guard state.counts.policyDigest == digest else { return }  // reloaded meanwhile
                switch shift {
                case nil: state.counts.agreements += 1
                case .newlyAllowed: state.counts.newlyAllowed += 1
                case .newlyDenied: state.counts.newlyDenied += 1
                case .ruleChanged: state.counts.ruleChanged += 1
                }
            }
        }
    }

    public var counts: Counts { state.withLock { $0.counts } }

    /// - Returns: the new candidate, or why the file was rejected (the old candidate stays).
    public func reload() -> Result<Policy, PolicyRejection> {
        do {
            let policy = try load()
            state.withLock { $0 = (Judge(policy: policy), Self.fresh(policy)) }
            return .success(policy)
        } catch {
            return .failure(error)
        }
    }
}
