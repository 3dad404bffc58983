import AirlockCommandLine
import AirlockEngine
import AirlockPolicy
import AirlockSeccomp
import ArgumentParser
import Foundation

/// `airlock doctor`: is this machine ready to run the policy's tools? One line per check.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the container engine, its runtime, seccomp, the policy and its images.",
        discussion: "Prints one line per check (ok or FAIL with how to fix it); exits 1 if any check fails."
    )

    @Option(help: "The policy file.")
    var policy: String = "policies/default.yaml"

    @Option(help: "podman or docker, a name or a path (default: $AIRLOCK_CONTAINER_CLI, then podman, then docker).")
    var engine: String?

    func run() async throws {
        var failures = 0
        func report(_ ok: Bool, _ check: String, _ detail: String) {
            print("\(ok ? "ok  " : "FAIL") \(check): \(detail)")
            if !ok { failures += 1 }
        }

        var loaded: Policy?
        do {
            loaded = try PolicyFiles.loader.load(path: policy)
            report(true, "policy", "\(policy) loads (\(loaded!.digest))")
        } catch {
            report(false, "policy", "\(policy) has \(error.errors.count) error(s); run `airlock policy check \(policy)`")
        }

        var resolved: ContainerEngine?
        do {
            let found = try await EngineResolver(explicit: engine).resolve()
            resolved = found
            report(true, "engine", found.resolvedLogLine + " path=\(found.path)")
        } catch {
            report(false, "engine", error.description)
        }

        if let resolved {
            let runtimes = Set((loaded?.tools.values.map { $0.container.runtime ?? resolved.defaultRuntime ?? "default" }) ?? [])
            for runtime in runtimes.sorted() {
                let problem = EngineChecks.runtimeProblem(runtime, engine: resolved)
                report(problem == nil, "runtime \(runtime)", problem ?? "usable with \(resolved.kind.rawValue)")
            }
            let seccomp = await EngineChecks.seccompSupported(resolved)
            report(seccomp, "seccomp", seccomp ? "\(resolved.kind.rawValue) enforces seccomp profiles" : "\(resolved.kind.rawValue) reports no seccomp support; the kernel or engine must be built with it")
        }

        if let loaded {
            for path in Set(loaded.tools.values.map(\.container.seccompProfile)).sorted() {
                do {
                    let profile = try PolicyFiles.seccompProfile(path)
                    report(true, "seccomp profile", "\(path) compiles (\(profile.digest))")
                } catch {
                    report(false, "seccomp profile", "\(error)")
                }
            }
            if let resolved {
                for image in Set(loaded.tools.values.map(\.container.image)).sorted() {
                    let present = await EngineChecks.imagePresent(image, engine: resolved)
                    report(present, "image \(image)", present ? "present in \(resolved.kind.rawValue)" : "missing from \(resolved.kind.rawValue); build it with images/build --engine \(resolved.kind.rawValue)")
                }
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}

/// `airlock reap`: removes containers whose Airlock invocation is gone.
struct ReapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reap",
        abstract: "Remove Airlock containers (and engine working directories and staged mounts) that outlived their invocation (their owner process is gone)."
    )

    @Option(help: "podman or docker, a name or a path.")
    var engine: String?

    func run() async throws {
        do {
            let resolved = try await EngineResolver(explicit: engine).resolve(probeRuntime: false)
            let removed = try await OrphanReaper(engine: resolved).reap()
            print(removed.isEmpty ? "no orphaned containers" : "removed: \(removed.joined(separator: ", "))")
            let directories = EngineDirectory.removeAbandoned()
            if !directories.isEmpty { print("removed abandoned engine directories: \(directories.joined(separator: ", "))") }
            let staged = MountStaging().removeAbandoned()
            if !staged.isEmpty { print("released abandoned staged mounts: \(staged.joined(separator: ", "))") }
        } catch {
            StandardError.print("airlock: \(error)")
            throw ExitStatus.error
        }
    }
}
