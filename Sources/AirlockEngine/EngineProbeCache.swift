import Foundation

/// The user's cache of engine version probes: a small JSON file per binary, so that a one-shot
/// command (`airlock run`) does not run `podman --version` at every call. A changed binary (inode,
/// size or modification time) is probed again; a cache that cannot be read or written is simply not
/// used. It holds nothing that decides what is allowed.
public struct EngineProbeCache: Sendable {
    public var directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// `$XDG_CACHE_HOME/airlock`, else `$HOME/.cache/airlock`.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> EngineProbeCache? {
        if let base = environment["XDG_CACHE_HOME"], base.hasPrefix("/") { return EngineProbeCache(directory: base + "/airlock") }
        if let home = environment["HOME"], home.hasPrefix("/") { return EngineProbeCache(directory: home + "/.cache/airlock") }
        return nil
    }

    private struct Entry: Codable {
        var identity: String
        var engine: CommandLineEngine
    }

    /// What tells one version of a file from another: device, inode, size and modification time.
    static func identity(of path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return "\(info.st_dev):\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
    }

    private func file(for path: String) -> String {
        directory + "/engine-" + String(path.utf8.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }, radix: 16) + ".json"
    }

    /// The probe kept for the binary at `path`, if the binary is the one probed.
    public func lookup(path: String) -> CommandLineEngine? {
        guard let identity = Self.identity(of: path), let data = FileManager.default.contents(atPath: file(for: path)),
            let entry = try? JSONDecoder().decode(Entry.self, from: data), entry.identity == identity, entry.engine.path == path
        else { return nil }
        return entry.engine
    }

    /// Best effort: a cache that cannot be written costs a probe at the next call, nothing else.
    public func store(_ engine: CommandLineEngine) {
        guard let identity = Self.identity(of: engine.path), let data = try? JSONEncoder().encode(Entry(identity: identity, engine: engine)) else { return }
        write(data, toFile: file(for: engine.path))
    }

    private func write(_ data: Data, toFile path: String) {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Written whole, then renamed: a reader never sees half a file.
        let temporary = path + ".\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else { return }
        if rename(temporary, path) != 0 { unlink(temporary) }
    }
}
