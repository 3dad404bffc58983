import Foundation

/// A throwaway PostgreSQL server for the tests, from Debian's `postgresql` package
/// (`/usr/lib/postgresql/<version>/bin`): trust authentication, a Unix socket in its own directory
/// under `/var/tmp` and no TCP listener, `fsync` on as in production.
///
/// `start()` gives a test a server of its own, to stop and restart; `shared()` is one server per test
/// process, on which each test creates its own database. Servers are stopped and their directories
/// removed by `destroy()` or at process exit; a run that crashed leaves some behind, and the next run
/// removes them. `AIRLOCK_TEST_POSTGRES` (a libpq connection string for a server where the tests may
/// `CREATE DATABASE`) replaces the shared server.
///
/// `initdb` refuses to run as root, so as root the server's programs run as the user `postgres`
/// (`runuser -u postgres --`).
public final class PostgresTestCluster: @unchecked Sendable {
    public enum StopMode: String, Sendable {
        /// Like a crash: no shutdown checkpoint; recovery replays the WAL at the next start.
        case immediate
        /// Disconnects clients, checkpoints, stops.
        case fast
    }

    /// Holds `data/`, the socket and `server.log`; nil for the server named by `AIRLOCK_TEST_POSTGRES`.
    public let root: String?
    /// A libpq connection string for the maintenance database `postgres`.
    public let adminConnection: String
    private let binDirectory: String
    private let lock = NSLock()
    private var databases = 0

    private init(root: String?, adminConnection: String, binDirectory: String) {
        self.root = root
        self.adminConnection = adminConnection
        self.binDirectory = binDirectory
    }

    /// A new server of the caller's own, started.
    ///
    /// - Throws: `PostgresTestClusterError` saying why when PostgreSQL is not installed or does not start.
    public static func start() throws -> PostgresTestCluster {
        let binDirectory = try serverBinaries.get()
        try template.get()
        _ = sweepOnce
        var pattern = Array("\(base)/airlock-pg-XXXXXX".utf8CString)
        guard let root = pattern.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            throw PostgresTestClusterError("cannot create a directory under \(base): \(String(cString: strerror(errno)))")
        }
        let cluster = PostgresTestCluster(
            root: root, adminConnection: "host=\(root) port=5432 user=postgres dbname=postgres", binDirectory: binDirectory)
        Registry.shared.add(cluster)
        do {
            try "\(getpid())\n".write(toFile: root + "/owner.pid", atomically: false, encoding: .utf8)
            // A copy of a data directory made once per process: much faster than initdb for each server.
            try run("/bin/cp", ["-a", templateRoot + "/data", root + "/data"])
            let settings = """

                # airlock tests
                listen_addresses = ''
                unix_socket_directories = '\(root)'
                port = 5432
                fsync = on
                synchronous_commit = on
                max_connections = 60
                shared_buffers = 32MB

                """
            let configuration = try FileHandle(forWritingTo: URL(fileURLWithPath: root + "/data/postgresql.conf"))
            try configuration.seekToEnd()
            try configuration.write(contentsOf: Data(settings.utf8))
            try configuration.close()
            try ownByServer(root)
            try cluster.start()
        } catch {
            cluster.destroy()
            throw error
        }
        return cluster
    }

    /// The server shared by the whole test process: `AIRLOCK_TEST_POSTGRES`'s, or one started for it.
    public static func shared() throws -> PostgresTestCluster { try sharedCluster.get() }

    private static let sharedCluster = Result { () throws -> PostgresTestCluster in
        if let connection = ProcessInfo.processInfo.environment["AIRLOCK_TEST_POSTGRES"], !connection.isEmpty {
            return PostgresTestCluster(root: nil, adminConnection: connection, binDirectory: (try? serverBinaries.get()) ?? "/usr/bin")
        }
        return try start()
    }

    /// Creates an empty database and returns a libpq connection string for it.
    public func createDatabase() throws -> String {
        let name = lock.withLock {
            databases += 1
            return "airlock_test_\(getpid())_\(databases)"
        }
        try psql(adminConnection, "CREATE DATABASE \(name)")
        if root == nil { Registry.shared.addExternalDatabase(name, admin: adminConnection, psql: binDirectory + "/psql") }
        return Self.connection(adminConnection, database: name)
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    public func start() throws {
        let root = try ownRoot()
        let result = try Self.run(
            binDirectory + "/pg_ctl", ["-D", root + "/data", "-l", root + "/server.log", "-w", "-t", "60", "start"], asServer: true)
        guard result.status == 0 else {
            throw PostgresTestClusterError(
                "PostgreSQL did not start in \(root): \(result.output)\nserver.log:\n\(Self.tail(root + "/server.log"))")
        }
    }

    /// Stops the server and waits until it is gone.
    public func stop(mode: StopMode) throws {
        let root = try ownRoot()
        let result = try Self.run(binDirectory + "/pg_ctl", ["-D", root + "/data", "-m", mode.rawValue, "-w", "-t", "60", "stop"], asServer: true)
        guard result.status == 0 else { throw PostgresTestClusterError("pg_ctl stop -m \(mode.rawValue) failed in \(root): \(result.output)") }
    }

    public func restart(mode: StopMode = .fast) throws {
        try stop(mode: mode)
        try start()
    }

    /// Stops the server (if running) and removes its directory. Idempotent.
    public func destroy() {
        guard let root else { return }
        if FileManager.default.fileExists(atPath: root + "/data/postmaster.pid") {
            _ = try? Self.run(binDirectory + "/pg_ctl", ["-D", root + "/data", "-m", "immediate", "-w", "stop"], asServer: true)
        }
        try? FileManager.default.removeItem(atPath: root)
        Registry.shared.remove(self)
    }

    /// Runs SQL through `psql` as an operator would; returns unaligned rows, fields separated by `|`.
    ///
    /// - Throws: `PostgresTestClusterError` with psql's message when the SQL fails.
    @discardableResult
    public func psql(_ connection: String, _ sql: String) throws -> String {
        let result = try psqlResult(connection, sql)
        guard result.status == 0 else { throw PostgresTestClusterError("psql failed (\(result.status)): \(result.output)\nSQL: \(sql)") }
        return result.output
    }

    /// `psql` whose failure the test expects: exit status and output (stdout and stderr).
    public func psqlResult(_ connection: String, _ sql: String) throws -> (status: Int32, output: String) {
        try Self.run(
            binDirectory + "/psql", ["-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-d", connection, "-c", sql],
            asServer: false, keepPostgresEnvironment: root == nil)
    }

    private func ownRoot() throws -> String {
        guard let root else { throw PostgresTestClusterError("the server named by AIRLOCK_TEST_POSTGRES is not ours to stop or start") }
        return root
    }

    /// `connection` with its database replaced: a URL's path, or a later `dbname=` (the last one wins).
    private static func connection(_ connection: String, database: String) -> String {
        if connection.hasPrefix("postgresql://") || connection.hasPrefix("postgres://"), var url = URLComponents(string: connection) {
            url.path = "/" + database
            if let string = url.string { return string }
        }
        return connection + " dbname=\(database)"
    }

    // MARK: Installation

    /// On disk, not tmpfs (`/tmp` here): with `fsync` on, a commit waits for the disk as in production.
    private static let base = "/var/tmp"

    /// The newest `/usr/lib/postgresql/<version>/bin` with `initdb`.
    private static let serverBinaries = Result { () throws -> String in
        let installation = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: installation)) ?? []).compactMap(Int.init).sorted(by: >)
        guard let version = versions.first(where: { FileManager.default.isExecutableFile(atPath: "\(installation)/\($0)/bin/initdb") }) else {
            throw PostgresTestClusterError(
                "PostgreSQL is not installed: no \(installation)/<version>/bin/initdb. Install Debian's postgresql (scripts/setup does).")
        }
        if geteuid() == 0 && getpwnam("postgres") == nil {
            throw PostgresTestClusterError("running as root, the server must run as the user postgres, which does not exist")
        }
        return "\(installation)/\(version)/bin"
    }

    /// A data directory initialized once per process and copied for each server.
    private static let templateRoot = "\(base)/airlock-pg-template-\(getpid())"
    private static let template = Result { () throws -> Void in
        let binDirectory = try serverBinaries.get()
        try? FileManager.default.removeItem(atPath: templateRoot)
        try FileManager.default.createDirectory(atPath: templateRoot, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        Registry.shared.addDirectory(templateRoot)
        try "\(getpid())\n".write(toFile: templateRoot + "/owner.pid", atomically: false, encoding: .utf8)
        try ownByServer(templateRoot)
        let result = try run(
            binDirectory + "/initdb",
            ["-D", templateRoot + "/data", "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"], asServer: true)
        guard result.status == 0 else { throw PostgresTestClusterError("initdb failed: \(result.output)") }
    }

    private static func ownByServer(_ path: String) throws {
        guard geteuid() == 0 else { return }
        let result = try run("/bin/chown", ["-R", "postgres:postgres", path])
        guard result.status == 0 else { throw PostgresTestClusterError("chown postgres \(path) failed: \(result.output)") }
    }

    /// Removes the servers of earlier runs that died before their exit handler ran.
    private static let sweepOnce: Void = {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        for entry in entries where entry.hasPrefix("airlock-pg-") {
            let path = base + "/" + entry
            guard let text = try? String(contentsOfFile: path + "/owner.pid", encoding: .utf8),
                let owner = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), owner != getpid(),
                kill(owner, 0) == -1 && errno == ESRCH
            else { continue }
            if FileManager.default.fileExists(atPath: path + "/data/postmaster.pid"), let bin = try? serverBinaries.get() {
                _ = try? run(bin + "/pg_ctl", ["-D", path + "/data", "-m", "immediate", "-w", "stop"], asServer: true)
            }
            try? FileManager.default.removeItem(atPath: path)
        }
    }()

    // MARK: Processes

    /// Runs a program to completion; stdout and stderr together. `asServer`: as `postgres` when we are root.
    ///
    /// posix_spawn rather than Foundation's `Process`, which learns of an exit when the last holder of a
    /// socket it passes to the child closes it — and the server that `pg_ctl start` leaves running
    /// would hold it forever. The child gets no descriptor beyond 0, 1 and 2, so the server holds none
    /// of ours (a pipe another test waits on) either.
    @discardableResult
    private static func run(_ executable: String, _ arguments: [String], asServer: Bool = false, keepPostgresEnvironment: Bool = false)
        throws -> (status: Int32, output: String)
    {
        let argv = asServer && geteuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--", executable] + arguments : [executable] + arguments
        // The developer's PGHOST, PGDATA... must not redirect our commands to another server.
        var environment = ProcessInfo.processInfo.environment
        if !keepPostgresEnvironment { environment = environment.filter { !$0.key.hasPrefix("PG") } }
        let outputPath = NSTemporaryDirectory() + "airlock-postgres-output-\(UUID().uuidString)"
        defer { unlink(outputPath) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        guard let closeFrom, let changeDirectory else {
            throw PostgresTestClusterError("this C library lacks posix_spawn_file_actions_addclosefrom_np (glibc 2.34 or newer has it)")
        }
        guard closeFrom(&actions, 3) == 0, changeDirectory(&actions, "/") == 0 else {
            throw PostgresTestClusterError("cannot prepare to run \(argv[0])")
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Whatever this thread blocks or ignores, the server must not inherit.
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, cArguments, cEnvironment)
        guard spawned == 0 else { throw PostgresTestClusterError("cannot run \(argv[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { throw PostgresTestClusterError("waitpid \(argv[0]): \(String(cString: strerror(errno)))") }
        }
        // WIFEXITED / WEXITSTATUS, which Swift does not import.
        let exitStatus = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return (exitStatus, text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    // glibc 2.34+ has these; Swift's Glibc module leaves the `_np` functions out.
    private static let closeFrom = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np").map {
        unsafeBitCast($0, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }
    private static let changeDirectory = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np").map {
        unsafeBitCast($0, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32).self)
    }

    private static func tail(_ path: String) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(no log)"
        return text.split(separator: "\n").suffix(20).joined(separator: "\n")
    }

    /// What the exit handler cleans up.
    private final class Registry: @unchecked Sendable {
        static let shared: Registry = {
            atexit { Registry.shared.tearDown() }
            return Registry()
        }()

        private let lock = NSLock()
        private var clusters: [ObjectIdentifier: PostgresTestCluster] = [:]
        private var directories: [String] = []
        private var externalDatabases: [(name: String, admin: String, psql: String)] = []

        func add(_ cluster: PostgresTestCluster) { lock.withLock { clusters[ObjectIdentifier(cluster)] = cluster } }
        func remove(_ cluster: PostgresTestCluster) { _ = lock.withLock { clusters.removeValue(forKey: ObjectIdentifier(cluster)) } }
        func addDirectory(_ path: String) { lock.withLock { directories.append(path) } }
        func addExternalDatabase(_ name: String, admin: String, psql: String) {
            lock.withLock { externalDatabases.append((name, admin, psql)) }
        }

        func tearDown() {
            let (clusters, directories, databases) = lock.withLock { (Array(self.clusters.values), self.directories, externalDatabases) }
            for cluster in clusters { cluster.destroy() }
            for path in directories { try? FileManager.default.removeItem(atPath: path) }
            for database in databases {
                _ = try? PostgresTestCluster.run(
                    database.psql, ["-X", "-q", "-d", database.admin, "-c", "DROP DATABASE IF EXISTS \(database.name) WITH (FORCE)"],
                    keepPostgresEnvironment: true)
            }
        }
    }
}

/// Why the test server could not be set up or used.
public struct PostgresTestClusterError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
