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
        abstract: "Check the container engine, its runtime, seccomp, the policy, its images and each tool's sandbox.",
        discussion: """
            Prints one line per check (ok or FAIL with how to fix it, skip for a tool whose image the operator \
            provides and has not built); exits 1 if any check fails. Each tool's sandbox is attested by a \
            canary: a container with the tool's exact settings whose entrypoint is airlock-probe, which \
            reports from inside what the sandbox really is and whether the tool's program is in the image.
            """
    )

    @Option(help: "The policy file.")
    var policy: String = "policies/default.yaml"

    @Option(help: "podman or docker, a name or a path (default: $AIRLOCK_CONTAINER_CLI, then podman, then docker).")
    var engine: String?

    @Flag(help: "Print every attested setting of each tool's sandbox: what the policy asks and what the canary found.")
    var sandbox = false

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
            for warning in loaded!.warnings { print("WARN policy: \(warning)") }
        } catch {
            report(false, "policy", "\(policy) has \(error.errors.count) error(s); run `airlock policy check \(policy)`")
        }

        var resolved: CommandLineEngine?
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
                // An image the operator provides and has not built yet: its tools are not installed,
                // which is said plainly and is no failure; an image images/build makes is.
                var notInstalled: Set<String> = []
                for image in Set(loaded.tools.values.map(\.container.image)).sorted() {
                    let present = await EngineChecks.imagePresent(image, engine: resolved)
                    let tools = loaded.tools.values.filter { $0.container.image == image }
                    if !present, tools.allSatisfy({ $0.imageProvider == .operator }) {
                        let names = tools.map(\.name).sorted()
                        notInstalled.formUnion(names)
                        print("skip image \(image): not in \(resolved.kind.rawValue); the operator provides it (see images/README.md), so \(names.joined(separator: ", ")) is not installed and its calls are refused until it is")
                        continue
                    }
                    report(present, "image \(image)", present ? "present in \(resolved.kind.rawValue)" : "missing from \(resolved.kind.rawValue); build it with images/build --engine \(resolved.kind.rawValue)")
                }
                let attestor = SandboxAttestor()
                for (tool, entry) in loaded.tools.sorted(by: { $0.key < $1.key }) where !notInstalled.contains(tool) {
                    do {
                        let attestation = try await attestor.attestation(
                            tool: tool, container: entry.container.resolvingSeccompProfile, engine: resolved)
                        report(attestation.holds, "sandbox \(tool)", attestation.holds ? "attested (\(attestation.digest))" : attestation.differences)
                        if sandbox { print(Self.table(attestation)) }
                    } catch {
                        report(false, "sandbox \(tool)", error.description)
                    }
                }
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }

    /// Setting, what the policy asks, what the canary found, one row each.
    static func table(_ attestation: SandboxAttestation) -> String {
        let width = attestation.checks.map(\.setting.count).max() ?? 0
        let expectedWidth = min(40, attestation.checks.map(\.expected.count).max() ?? 0)
        return attestation.checks.map { check in
            let setting = check.setting.padding(toLength: width, withPad: " ", startingAt: 0)
            let expected = check.expected.count < expectedWidth ? check.expected.padding(toLength: expectedWidth, withPad: " ", startingAt: 0) : check.expected
            return "      \(check.holds ? " " : "!") \(setting)  \(expected)  \(check.found)"
        }.joined(separator: "\n")
    }
}

/// `airlock reap`: removes containers whose Airlock invocation is gone.
struct ReapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reap",
        abstract: "Remove Airlock containers (and engine working directories, staged mounts and egress sockets) that outlived their invocation (their owner process is gone).",
        discussion: "Only the containers of this installation (its state directory) are judged: another installation's owner cannot be told gone from here."
    )

    @Option(help: "podman or docker, a name or a path.")
    var engine: String?

    @Option(
        name: .customLong("state-dir"),
        help: "The state directory of the installation whose containers to judge (default: $AIRLOCK_STATE_DIR, else ./var).")
    var stateDirectory: String?

    func run() async throws {
        do {
            // Only this installation's containers are judged; another's are left to it.
            try ContainerOwner.adoptInstance(stateDirectory: AuditOptions.stateDirectory(stateDirectory))
            let resolved = try await EngineResolver(explicit: engine).resolve(probeRuntime: false)
            let removed = try await OrphanReaper(engine: resolved).reap()
            print(removed.isEmpty ? "no orphaned containers" : "removed: \(removed.joined(separator: ", "))")
            let directories = EngineDirectory.removeAbandoned()
            if !directories.isEmpty { print("removed abandoned engine directories: \(directories.joined(separator: ", "))") }
            let staged = MountStaging().removeAbandoned()
            if !staged.isEmpty { print("released abandoned staged mounts: \(staged.joined(separator: ", "))") }
            let secrets = SecretStaging().removeAbandoned()
            if !secrets.isEmpty { print("removed abandoned secrets directories: \(secrets.joined(separator: ", "))") }
            let sockets = EgressAttachment.removeAbandoned()
            if !sockets.isEmpty { print("removed abandoned egress socket directories: \(sockets.joined(separator: ", "))") }
        } catch {
            StandardError.print("airlock: \(error)")
            throw ExitStatus.error
        }
    }
}
