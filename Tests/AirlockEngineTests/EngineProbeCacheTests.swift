import AirlockEngine
import Foundation
import Testing

@Suite("The engine probe cache")
struct EngineProbeCacheTests {
    /// A fake `podman` reporting `version`, which appends a line to `runs` each time it runs.
    static func fakePodman(version: String) throws -> (path: String, runs: String, directory: String) {
        let directory = try EngineResolverTests.binDirectory([])
        let path = directory + "/podman"
        try writePodman(at: path, version: version, runs: directory + "/runs")
        return (path, directory + "/runs", directory)
    }

    static func writePodman(at path: String, version: String, runs: String) throws {
        let script = "#!/bin/sh\necho run >> '\(runs)'\necho 'podman version \(version)'\n"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(script.utf8), attributes: [.posixPermissions: 0o755]))
    }

    static func runCount(_ runs: String) -> Int {
        ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    @Test("a kept probe is used for the same binary: the binary does not run again")
    func hit() async throws {
        let podman = try Self.fakePodman(version: "9.9.9")
        let cache = EngineProbeCache(directory: podman.directory + "/cache")
        let resolver = EngineResolver(explicit: podman.path, environment: [:])
        #expect(try await resolver.resolve(probeRuntime: false, cache: cache).version == "9.9.9")
        #expect(cache.lookup(path: podman.path)?.version == "9.9.9")
        #expect(try await resolver.resolve(probeRuntime: false, cache: cache).version == "9.9.9")
        #expect(Self.runCount(podman.runs) == 1)
        // Without the cache, the binary runs each time (so the count above can fail).
        _ = try await resolver.resolve(probeRuntime: false)
        #expect(Self.runCount(podman.runs) == 2)
    }

    @Test("a changed binary is probed again")
    func staleWhenTheBinaryChanges() async throws {
        let podman = try Self.fakePodman(version: "9.9.9")
        let cache = EngineProbeCache(directory: podman.directory + "/cache")
        let resolver = EngineResolver(explicit: podman.path, environment: [:])
        #expect(try await resolver.resolve(probeRuntime: false, cache: cache).version == "9.9.9")
        // Rewritten: a new size and modification time, so the kept probe is stale.
        try Self.writePodman(at: podman.path, version: "10.0.0-rc1", runs: podman.runs)
        #expect(cache.lookup(path: podman.path) == nil)
        #expect(try await resolver.resolve(probeRuntime: false, cache: cache).version == "10.0.0-rc1")
        #expect(cache.lookup(path: podman.path)?.version == "10.0.0-rc1")
    }

    @Test("a directory that cannot be created or an entry that does not parse: resolving works without the cache")
    func unusableCache() async throws {
        let podman = try Self.fakePodman(version: "9.9.9")
        // Below a regular file: no directory can be made there, not even by root.
        let blocked = EngineProbeCache(directory: podman.path + "/cache")
        let resolver = EngineResolver(explicit: podman.path, environment: [:])
        #expect(try await resolver.resolve(probeRuntime: false, cache: blocked).version == "9.9.9")
        #expect(blocked.lookup(path: podman.path) == nil)
        #expect(try await resolver.resolve(probeRuntime: false, cache: blocked).version == "9.9.9")
        #expect(Self.runCount(podman.runs) == 2)

        let cache = EngineProbeCache(directory: podman.directory + "/cache")
        _ = try await resolver.resolve(probeRuntime: false, cache: cache)
        let entries = try FileManager.default.contentsOfDirectory(atPath: cache.directory)
        #expect(entries.count == 1)
        for entry in entries { try "{not json".write(toFile: cache.directory + "/" + entry, atomically: true, encoding: .utf8) }
        #expect(cache.lookup(path: podman.path) == nil)
        #expect(try await resolver.resolve(probeRuntime: false, cache: cache).version == "9.9.9")
        #expect(Self.runCount(podman.runs) == 4)
    }

    @Test("where it lives: $XDG_CACHE_HOME/airlock, else $HOME/.cache/airlock; relative paths are not used")
    func location() {
        #expect(EngineProbeCache.standard(environment: ["XDG_CACHE_HOME": "/x", "HOME": "/h"])?.directory == "/x/airlock")
        #expect(EngineProbeCache.standard(environment: ["XDG_CACHE_HOME": "x", "HOME": "/h"])?.directory == "/h/.cache/airlock")
        #expect(EngineProbeCache.standard(environment: ["HOME": "h"]) == nil)
        #expect(EngineProbeCache.standard(environment: [:]) == nil)
    }
}
