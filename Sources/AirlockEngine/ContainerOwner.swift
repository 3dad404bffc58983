import Foundation
import Synchronization

/// The process that launched a container, recorded as the container's `airlock.owner` label and
/// on `CliToolInvocationStarted`: what recovery and the reaper ask "is its owner gone?" of.
///
/// A pid alone says too little: a worker in another pid namespace on the same host sees no such
/// pid and would take a live invocation for abandoned; a second host of the same name sharing a
/// PostgreSQL store would too; and a reused pid hides a dead owner. So the owner also carries the
/// process's start time (a reused pid has another), its pid namespace and the host's boot id (a pid
/// means something only there and until the next boot), and the installation's instance id (one
/// per state directory, `STATE_DIR/instance-id`). An owner is judged gone only by a process of the
/// same installation: on the same boot and in the same pid namespace when its process no longer
/// runs, or on a later boot. Another installation's invocations are never judged: only their own
/// worker can tell.
///
/// Label: `host:pid:start:pidns:boot:instance`; the older `host:pid` is still read.
public struct ContainerOwner: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var pid: Int32
    /// Clock ticks after boot when the process started (`/proc/PID/stat`, field 22).
    public var startTime: UInt64?
    /// The inode of the process's pid namespace.
    public var pidNamespace: UInt64?
    /// `/proc/sys/kernel/random/boot_id`.
    public var bootID: String?
    /// The installation: a random id kept in the state directory.
    public var instance: String?

    public init(host: String, pid: Int32, startTime: UInt64? = nil, pidNamespace: UInt64? = nil, bootID: String? = nil, instance: String? = nil) {
        self.host = host
        self.pid = pid
        self.startTime = startTime
        self.pidNamespace = pidNamespace
        self.bootID = bootID
        self.instance = instance
    }

    /// This process, in this installation (see `adoptInstance`).
    public static var current: ContainerOwner {
        ContainerOwner(
            host: ProcessInfoHost.name, pid: getpid(), startTime: OwnerFacts.startTime, pidNamespace: OwnerFacts.pidNamespace,
            bootID: OwnerFacts.bootID, instance: OwnerFacts.instance.withLock { $0 })
    }

    public var description: String {
        guard let startTime, let pidNamespace, let bootID, let instance else { return "\(host):\(pid)" }
        return "\(host):\(pid):\(startTime):\(pidNamespace):\(bootID):\(instance)"
    }

    public init?(label: String) {
        let parts = label.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 6, let pid = Int32(parts[1]), let start = UInt64(parts[2]), let namespace = UInt64(parts[3]), !parts[4].isEmpty,
            !parts[5].isEmpty
        {
            self.init(host: parts[0], pid: pid, startTime: start, pidNamespace: namespace, bootID: parts[4], instance: parts[5])
            return
        }
        guard let colon = label.lastIndex(of: ":"), let pid = Int32(label[label.index(after: colon)...]) else { return nil }
        self.init(host: String(label[..<colon]), pid: pid)
    }

    /// Whether this owner no longer runs, as `observer` (this process) can tell; false whenever it
    /// cannot tell.
    public func isGone(seenBy observer: ContainerOwner = .current) -> Bool {
        guard let startTime, let pidNamespace, let bootID, let instance else {
            // An older label: the host and the pid are all there is.
            return host == observer.host && Self.noSuchProcess(pid)
        }
        guard instance == observer.instance, host == observer.host else { return false }
        // The same installation on a later boot: every process of the earlier one has ended.
        guard bootID == observer.bootID else { return true }
        guard pidNamespace == observer.pidNamespace else { return false }
        guard let now = Self.startTime(of: pid) else { return Self.noSuchProcess(pid) }
        return now != startTime
    }

    /// Uses the installation id kept in `directory` (made on first use) for this process's owner.
    /// Until a command calls it, the process has an id of its own, so it takes nobody's
    /// invocations for its own.
    public static func adoptInstance(stateDirectory directory: String) throws(EngineError) {
        let path = directory + "/instance-id"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw EngineError("cannot create the state directory \(directory): \(error.localizedDescription)")
        }
        let made = UUID().uuidString.lowercased()
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if descriptor >= 0 {
            // Written whole before anyone can read a partial id: one write of 36 bytes to a new file.
            let written = made.utf8CString.withUnsafeBufferPointer { write(descriptor, $0.baseAddress, 36) }
            close(descriptor)
            guard written == 36 else {
                unlink(path)
                throw EngineError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
        }
        for _ in 0..<50 {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), text.utf8.count == 36, UUID(uuidString: text) != nil {
                OwnerFacts.instance.withLock { $0 = text }
                return
            }
            // Another process made it a moment ago and is writing it.
            usleep(10_000)
        }
        throw EngineError("\(path) does not hold an instance id (a UUID); remove it to make a new one")
    }

    static func startTime(of pid: pid_t) -> UInt64? {
        startTime(statFile: "/proc/\(pid)/stat")
    }

    /// Field 22 of a `stat` file of /proc, after the command name (which may hold spaces and parentheses).
    static func startTime(statFile: String) -> UInt64? {
        guard let text = try? String(contentsOfFile: statFile, encoding: .utf8), let close = text.lastIndex(of: ")") else {
            return nil
        }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3), so field 22 is fields[19].
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    /// No process with this pid runs in this pid namespace (one we may not signal still runs).
    static func noSuchProcess(_ pid: pid_t) -> Bool {
        kill(pid, 0) != 0 && errno == ESRCH
    }
}

/// What identifies this process's context, read once.
enum OwnerFacts {
    static let pidNamespace: UInt64? = {
        var info = stat()
        return stat("/proc/self/ns/pid", &info) == 0 ? UInt64(info.st_ino) : nil
    }()

    /// Read through /proc/self: right even when /proc is another pid namespace's.
    static let startTime = ContainerOwner.startTime(statFile: "/proc/self/stat")

    static let bootID: String? = {
        (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }()

    static let instance = Mutex(UUID().uuidString.lowercased())
}
