import AirlockPolicy

/// A candidate policy judging beside the live one (`airlock serve --shadow-policy`): it never
/// decides what runs. Where it decides otherwise (another outcome, or the same by another rule)
/// the pipeline logs it and records its decision on the `Started` or `Rejected` event.
public struct ShadowJudge: Sendable {
    public var judge: Judge
    /// Told of every request the pipeline judges, with both decisions: the worker counts them.
    public var observe: @Sendable (_ live: Decision, _ shadow: Decision) -> Void

    public init(judge: Judge, observe: @escaping @Sendable (_ live: Decision, _ shadow: Decision) -> Void = { _, _ in }) {
        self.judge = judge
        self.observe = observe
    }
}
