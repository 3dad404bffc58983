import Foundation

extension EventStoreError {
    /// FileManager could not create `path`, the directory of `what` (the event store, the spool):
    /// "cannot create `what` `path`: why". FileManager's own text is "The operation could not be
    /// completed"; why is the system's reason beneath it, with the path that failed when that is
    /// not `path` itself (a parent, or a file in the way).
    init(creatingDirectory path: String, of what: String, _ error: any Error) {
        self.init("cannot create \(what) \(path): \(Self.reason(error, creating: path))")
    }

    private static func reason(_ error: any Error, creating path: String) -> String {
        guard let error = error as? CocoaError else { return "\(error)" }
        let failed = error.filePath ?? path
        let underlying = error.underlying.map { $0 as NSError }
        guard let underlying, underlying.domain == NSPOSIXErrorDomain else { return "\(error.localizedDescription) (\(failed))" }
        if underlying.code == Int(EEXIST) { return "\(failed) exists and is not a directory" }
        let cause = String(cString: strerror(Int32(underlying.code)))
        return failed == path ? cause : "\(cause) (\(failed))"
    }
}
