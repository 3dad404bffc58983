import Foundation

/// Finds containers Airlock launched whose invocation is gone, and removes them.
///
/// Every Airlock container carries `airlock.owner` (see `ContainerOwner`). A container whose owner
/// is gone outlived its invocation (the worker crashed, the machine rebooted); one whose owner
/// still runs, or whose owner this process cannot judge, is left alone.
public struct OrphanReaper: Sendable {
    public var engine: CommandLineEngine

    public init(engine: CommandLineEngine) {
        self.engine = engine
    }

    /// The names of the containers removed.
    @discardableResult
    public func reap() async throws(EngineError) -> [String] {
        let listing: CommandOutput
        do {
            listing = try await CommandOutput.run(
                engine.path, ["ps", "--all", "--filter", "label=airlock.execution_id", "--format", "{{.Names}}"], timeout: .seconds(60))
        } catch {
            throw EngineError("listing Airlock's containers failed: \(error)")
        }
        guard listing.status == 0 else {
            throw EngineError("\(engine.kind.rawValue) ps failed: \(listing.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        var removed: [String] = []
        for name in listing.stdout.split(whereSeparator: \.isNewline).map(String.init) where !name.isEmpty {
            let owner = try? await CommandOutput.run(
                engine.path, ["inspect", "--format", "{{index .Config.Labels \"airlock.owner\"}}", name], timeout: .seconds(30))
            let label = owner?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            if let owner = ContainerOwner(label: label), !owner.isGone() { continue }
            await engine.removeContainer(named: name)
            removed.append(name)
        }
        return removed
    }
}
