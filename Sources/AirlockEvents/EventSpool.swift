import Foundation

/// Events the store could not take, kept on local disk until it can: one file per event, written
/// to a temporary name, fsynced, renamed into place and the directory fsynced, so a spooled event
/// survives a crash or a restart. Delivery is idempotent (the store dedups by `event_id`).
public struct EventSpool: Sendable {
    public let directory: String

    /// Creates the directory (mode 0700: payloads name tenants and arguments) if it is missing.
    public init(directory: String) throws(EventStoreError) {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw EventStoreError(creatingDirectory: directory, of: "the event spool", error)
        }
    }

    private struct Entry: Codable {
        var eventId: String
        var eventType: EventType
        var createdAt: Date
        var payload: String

        enum CodingKeys: String, CodingKey { case eventId = "event_id", eventType = "event_type", createdAt = "created_at", payload }
    }

    /// Writes the record durably.
    public func write(_ record: EventRecord) throws(EventStoreError) {
        let entry = Entry(eventId: record.eventID, eventType: record.type, createdAt: record.createdAt, payload: record.payload)
        // Encoding strings and a date cannot fail.
        let bytes = Array(try! EventJSON.encode(entry).utf8)
        // Names sort by time, so delivery keeps the order events happened in.
        let millis = String(Int64(record.createdAt.timeIntervalSince1970 * 1000))
        let name = String(repeating: "0", count: max(0, 15 - millis.count)) + millis + "-" + record.eventID.filter { $0.isLetter || $0.isNumber || $0 == "-" }
        let final = "\(directory)/\(name).json"
        let temporary = "\(directory)/.\(name).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw failure("open \(temporary)") }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                let error = failure("write \(temporary)")
                close(descriptor)
                unlink(temporary)
                throw error
            }
            offset += written
        }
        guard fsync(descriptor) == 0 else {
            let error = failure("fsync \(temporary)")
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(descriptor)
        guard rename(temporary, final) == 0 else {
            let error = failure("rename \(temporary)")
            unlink(temporary)
            throw error
        }
        try syncDirectory()
    }

    /// Spooled records, oldest first, with the file each was read from. A file that cannot be read
    /// is renamed `*.unreadable` and reported, never deleted.
    public func pending() -> (records: [EventRecord], files: [String], problems: [String]) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
            .sorted()
        var records: [EventRecord] = []
        var files: [String] = []
        var problems: [String] = []
        for name in names {
            let path = "\(directory)/\(name)"
            guard let data = FileManager.default.contents(atPath: path),
                let entry = try? EventJSON.decoder.decode(Entry.self, from: data)
            else {
                rename(path, path + ".unreadable")
                problems.append("spooled event \(path) is unreadable; kept as \(path).unreadable")
                continue
            }
            records.append(EventRecord(eventID: entry.eventId, type: entry.eventType, createdAt: entry.createdAt, payload: entry.payload))
            files.append(path)
        }
        return (records, files, problems)
    }

    public var isEmpty: Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).allSatisfy { !$0.hasSuffix(".json") || $0.hasPrefix(".") }
    }

    /// Removes the file of a delivered record (as `pending()` named it).
    public func remove(file path: String) {
        unlink(path)
        try? syncDirectory()
    }

    private func syncDirectory() throws(EventStoreError) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("open \(directory)") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw failure("fsync \(directory)") }
    }

    private func failure(_ what: String) -> EventStoreError {
        EventStoreError("event spool: \(what) failed: \(String(cString: strerror(errno)))")
    }
}
