import AirlockEngine
import AirlockPolicy
import Foundation
import Testing

/// Staged host mounts on the real engines: the engine binds the staging path, and so exactly the
/// directory Airlock checked.
@Suite("Staged host mounts on the real engines", .serialized, .enabled(if: geteuid() == 0, "binds mounts: needs root"))
struct MountStagingEngineTests {
    /// Issue #22 §1.1 end to end: while a thread swaps the directory for a symlink to an outside
    /// directory, containers mounting it read the directory's marker, or are refused; never the
    /// outside one's.
    @Test("a directory swapped with a symlink in a loop: the container sees it, or is refused", arguments: EngineFixture.engineNames)
    func race(engineName: String) async throws {
        let engine = try await EngineFixture.engine(engineName)
        let sandbox = try MountSandbox()
        defer { sandbox.remove() }
        let swapper = SymlinkSwapper("\(sandbox.base)/root/victim", "\(sandbox.base)/root/swap")
        swapper.start()
        // 30 containers run with the mount staged while the swapping goes on (refusals to stage
        // launch nothing and are only counted).
        var counts: [String: Int] = [:]
        let began = ContinuousClock.now
        var runs = 0
        while runs < 30 && ContinuousClock.now - began < .seconds(120) {
            let spec = EngineFixture.spec("cat /workspace/m/marker", engine: engine)
            let staged: StagedMounts
            do {
                staged = try sandbox.stage(
                    [MountRequest(hostPath: "\(sandbox.base)/root/victim", containerPath: "/workspace/m", writable: false)],
                    executionID: spec.executionID)
            } catch {
                #expect(error.code == .symlink || error.code == .missing, "\(error)")
                counts["refused", default: 0] += 1
                continue
            }
            runs += 1
            var run = spec
            run.mounts = staged.mounts
            let result = try await ContainerRunner(engine: engine).run(run)
            #expect(staged.release().isEmpty)
            let seen = result.outcome == .exited(0) ? EngineFixture.text(result.stdout) : "failed: \(EngineFixture.text(result.stderr))"
            counts[seen, default: 0] += 1
        }
        let swaps = swapper.stop()
        print("mount race on \(engineName): \(runs) containers in \(ContinuousClock.now - began), \(swaps) swaps: \(counts)")
        #expect(counts["outside"] == nil, "the outside directory was mounted: \(counts)")
        #expect(Set(counts.keys).isSubset(of: ["inside", "refused"]), "\(counts)")
        #expect(counts["inside"] == runs && runs >= 30, "\(counts)")
        #expect(try sandbox.leftovers().isEmpty)
    }

    @Test("read-only and writable mounts work, and nothing is left staged afterwards", arguments: EngineFixture.engineNames)
    func readOnlyAndWritable(engineName: String) async throws {
        let engine = try await EngineFixture.engine(engineName)
        let sandbox = try MountSandbox()
        defer { sandbox.remove() }
        var spec = EngineFixture.spec(
            "cat /workspace/ro/marker; echo; touch /workspace/ro/new 2>/dev/null && echo ro-written || echo ro-refused; echo from-container > /workspace/rw/out && echo rw-written",
            engine: engine)
        let staged = try sandbox.stage(
            [
                MountRequest(hostPath: "\(sandbox.base)/root/repo", containerPath: "/workspace/ro", writable: false),
                MountRequest(hostPath: "\(sandbox.base)/root/victim", containerPath: "/workspace/rw", writable: true),
            ], executionID: spec.executionID)
        spec.mounts = staged.mounts
        let result = try await ContainerRunner(engine: engine).run(spec)
        #expect(staged.release().isEmpty)
        #expect(result.outcome == .exited(0), "\(EngineFixture.text(result.stderr))")
        #expect(EngineFixture.text(result.stdout).split(separator: "\n") == ["inside", "ro-refused", "rw-written"])
        #expect(try String(contentsOfFile: "\(sandbox.base)/root/victim/out", encoding: .utf8) == "from-container\n")
        #expect(!FileManager.default.fileExists(atPath: "\(sandbox.base)/root/repo/new"))
        #expect(try sandbox.leftovers().isEmpty)
    }

    @Test("after a deadline the staged mount is released like after an exit", arguments: EngineFixture.engineNames)
    func deadline(engineName: String) async throws {
        let engine = try await EngineFixture.engine(engineName)
        let sandbox = try MountSandbox()
        defer { sandbox.remove() }
        var spec = EngineFixture.spec("cat /workspace/marker; sleep 600", engine: engine)
        spec.timeoutOverride = .seconds(2)
        let staged = try sandbox.stage(
            [MountRequest(hostPath: "\(sandbox.base)/root/repo", containerPath: "/workspace", writable: true)], executionID: spec.executionID)
        spec.mounts = staged.mounts
        let result = try await ContainerRunner(engine: engine).run(spec)
        #expect(result.outcome == .timedOut)
        #expect(EngineFixture.text(result.stdout) == "inside")
        #expect(staged.release().isEmpty)
        #expect(try sandbox.leftovers().isEmpty)
        #expect(try EngineFixture.containers(named: spec.containerName, engine: engine) == "")
    }
}
