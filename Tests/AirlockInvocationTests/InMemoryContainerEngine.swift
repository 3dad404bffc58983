import AirlockEngine
import AirlockPolicy
import Foundation
import Synchronization

/// A container engine in memory: each launch of a tool plays the script the test gave for it, and
/// every call the runner makes (launch, kill, force stop, remove) is recorded in order. The canary
/// is answered with a probe report, by default one that holds for the tool's settings.
///
/// Its output goes through the runner's real pipes, so byte counts, retention and the end of the
/// output are the runner's own; only the process behind them is missing.
final class InMemoryContainerEngine: ContainerEngine {
    /// What one launch of a tool does.
    enum Script: Sendable, CustomStringConvertible {
        /// Writes its output, then exits with this status.
        case exits(Int32, stdout: [UInt8] = [], stderr: [UInt8] = [])
        /// Writes its output, then runs until its container is killed; the engine then exits 137.
        case hangs(stdout: [UInt8] = [])
        /// Cannot be launched at all: the launch throws this message.
        case failsToLaunch(String)

        var description: String {
            switch self {
            case let .exits(status, stdout, stderr): "exits \(status) after \(stdout.count)+\(stderr.count) bytes"
            case let .hangs(stdout): "hangs after \(stdout.count) bytes"
            case let .failsToLaunch(message): "fails to launch: \(message)"
            }
        }
    }

    enum Call: Equatable, Sendable {
        case launch(executionID: String)
        case kill(String)
        case forceStop(String)
        case remove(String)
    }

    let kind = EngineKind.podman
    let path = "/in-memory/podman"
    let version = "0.0-in-memory"

    private let script: Script
    /// The canary's report for a container's settings.
    private let probeReport: @Sendable (ContainerSpec) -> [String]
    /// Runs when a tool's launch begins, before its script: what a test checks or breaks at launch.
    private let atLaunch: @Sendable (ContainerRunSpec) async -> Void

    private struct State {
        var calls: [Call] = []
        /// Hanging tools by container name, until killed.
        var running: [String: CheckedContinuation<Int32, Never>] = [:]
    }
    private let state = Mutex(State())

    init(
        _ script: Script, probeReport: @escaping @Sendable (ContainerSpec) -> [String] = InMemoryContainerEngine.reportThatHolds,
        atLaunch: @escaping @Sendable (ContainerRunSpec) async -> Void = { _ in }
    ) {
        self.script = script
        self.probeReport = probeReport
        self.atLaunch = atLaunch
    }

    var calls: [Call] { state.withLock { $0.calls } }

    /// The launches of the tool, not of the canary.
    var toolLaunches: [String] {
        calls.compactMap { call in
            guard case let .launch(id) = call, !id.hasPrefix("canary-") else { return nil }
            return id
        }
    }

    /// Returns once the container is running (launched and hanging); throws if it is not within a
    /// minute. It takes milliseconds alone; the bound is for a whole suite on two busy cores, where
    /// other tests' blocking waits can hold the cooperative threads for seconds.
    func waitUntilRunning(_ name: String) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while state.withLock({ $0.running[name] == nil }) {
            guard ContinuousClock.now < deadline else { throw EngineError("container \(name) was not launched: \(calls)") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    func launch(_ spec: ContainerRunSpec, streams: LaunchStreams, launched: @escaping @Sendable (pid_t) -> Void) async throws(EngineError) -> Int32 {
        state.withLock { $0.calls.append(.launch(executionID: spec.executionID)) }
        defer { streams.close() }
        if spec.container.entrypoint == [SandboxCanary.probeTarget] {
            Self.write(Array((probeReport(spec.container).joined(separator: "\n") + "\n").utf8), to: streams.stdout)
            return 0
        }
        await atLaunch(spec)
        switch script {
        case let .exits(status, stdout, stderr):
            Self.write(stdout, to: streams.stdout)
            Self.write(stderr, to: streams.stderr)
            return status
        case let .hangs(stdout):
            Self.write(stdout, to: streams.stdout)
            // Not ended by task cancellation, as the real engine's is not: only a kill ends it.
            return await withCheckedContinuation { continuation in
                state.withLock { $0.running[spec.containerName] = continuation }
            }
        case let .failsToLaunch(message):
            throw EngineError(message)
        }
    }

    func kill(containerNamed name: String) async {
        let hanging = state.withLock { state in
            state.calls.append(.kill(name))
            return state.running.removeValue(forKey: name)
        }
        hanging?.resume(returning: 128 + SIGKILL)
    }

    func forceStop(containerNamed name: String, process: pid_t?) async {
        state.withLock { $0.calls.append(.forceStop(name)) }
    }

    func remove(containerNamed name: String) async {
        state.withLock { $0.calls.append(.remove(name)) }
    }

    /// Blocking writes: the runner drains each pipe on a thread of its own.
    private static func write(_ bytes: [UInt8], to descriptor: Int32) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                precondition(written > 0, "the runner's pipe took no more: \(String(cString: strerror(errno)))")
                offset += written
            }
        }
    }

    /// What `airlock-probe` reports from inside a container that is exactly as `container` asks.
    @Sendable static func reportThatHolds(_ container: ContainerSpec) -> [String] {
        let limits = container.resources
        var lines = ["probe=1", "uid=65534", "euid=65534", "gid=65534", "groups=65534"]
        // The probe is handed the tool's program and finds it in the image.
        if !container.entrypoint.isEmpty { lines.append("entrypoint=executable") }
        lines += ["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"].map { "\($0)=0000000000000000" }
        lines += ["no_new_privs=1", "seccomp=2", "root_writable=0", "writable=/tmp noexec"]
        lines += ["full", "null", "random", "tty", "urandom", "zero"].map { "device=\($0)" }
        if container.network == "none" { lines.append("interface=lo") }
        lines += [
            "memory_max=\(limits.memoryBytes / 4096 * 4096)", "pids_max=\(limits.pids)", "nofile=\(limits.openFiles):\(limits.openFiles)",
            "nproc=\(limits.processes):\(limits.processes)",
        ]
        lines += Set(container.environment.keys).union(["PATH"]).sorted().map { "env=\($0)" }
        return lines
    }
}
