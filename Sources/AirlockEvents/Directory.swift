import Foundation

/// `mkdir -p` with the system calls themselves. `FileManager.createDirectory` with attributes cost
/// ~0.25 ms per call at the start of every `airlock run` (its attribute dictionary, bridging),
/// though the directory almost always exists already.
enum Directory {
    /// Creates `path` and any missing parents, each with `mode`; an existing directory is kept as it is.
    /// - Returns: nil, or why not (as `mkdir` would say).
    static func make(_ path: String, mode: mode_t) -> String? {
        if mkdir(path, mode) == 0 { return nil }
        switch errno {
        case EEXIST:
            var info = stat()
            guard stat(path, &info) == 0 else { return String(cString: strerror(errno)) }
            return info.st_mode & S_IFMT == S_IFDIR ? nil : "\(path) exists and is not a directory"
        case ENOENT:
            let parent = (path as NSString).deletingLastPathComponent
            guard !parent.isEmpty, parent != path else { return String(cString: strerror(ENOENT)) }
            if let failure = make(parent, mode: mode) { return failure }
            if mkdir(path, mode) == 0 || errno == EEXIST { return nil }
            return String(cString: strerror(errno))
        default:
            return String(cString: strerror(errno))
        }
    }
}
