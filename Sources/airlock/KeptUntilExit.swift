import Synchronization

/// What a one-shot command keeps alive until the process exits, so that it is never taken apart.
/// A loaded policy is a graph of thousands of objects (the default policy's grammars hold some
/// 1,200 commands and 1,650 options): releasing it when `judge` or `run` returns cost ~2.4 million
/// instructions of every such command, after its answer, for memory the exit gives back anyway.
/// Not for the worker, which reloads policies and must free the old ones.
enum KeptUntilExit {
    private static let kept = Mutex<[any Sendable]>([])

    static func keep(_ values: any Sendable...) {
        kept.withLock { $0 += values }
    }
}
