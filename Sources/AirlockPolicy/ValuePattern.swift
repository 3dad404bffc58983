#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a value must look like: shell globs and/or whole-value regular expressions.
///
/// With `split`, a value is cut into pieces first (`pods,secrets` into `pods` and `secrets`), and
/// each piece is matched on its own.
public struct ValuePattern: Sendable {
    public var globs: [Glob]
    public var regexes: [WholeRegex]
    /// Characters that separate pieces of one value.
    public var split: Set<Character>
    public var ignoreCase: Bool

    public init(globs: [Glob], regexes: [WholeRegex], split: Set<Character> = [], ignoreCase: Bool = false) {
        self.globs = globs
        self.regexes = regexes
        self.split = split
        self.ignoreCase = ignoreCase
    }

    func pieces(of value: String) -> [Substring] {
        if split.isEmpty { return [Substring(value)] }
        return value.split(omittingEmptySubsequences: false) { split.contains($0) }
            .map { $0.trimmingSpaces() }
    }

    func matches(_ piece: Substring) -> Bool {
        let text = ignoreCase ? piece.lowercased() : String(piece)
        return globs.contains { $0.matches(text) } || regexes.contains { $0.matches(text) }
    }
}

/// A shell glob (`*`, `?`, `[a-z]`), matched with the C library's fnmatch; `*` crosses `/`.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let isLiteral: Bool

    public init(_ pattern: String, ignoreCase: Bool) {
        self.pattern = ignoreCase ? pattern.lowercased() : pattern
        self.isLiteral = !pattern.contains { $0 == "*" || $0 == "?" || $0 == "[" || $0 == "\\" }
    }

    public var description: String { pattern }

    public func matches(_ value: String) -> Bool {
        if isLiteral { return value == pattern }
        return fnmatch(pattern, value, 0) == 0
    }
}

/// A regular expression that must match a whole value, not a part of it.
public struct WholeRegex: @unchecked Sendable, CustomStringConvertible {
    // Regex is immutable once built; it is not yet marked Sendable on every platform.
    private let regex: Regex<AnyRegexOutput>
    public let source: String

    /// - Throws: the regex parser's error when the source is not a valid regular expression.
    public init(_ source: String, ignoreCase: Bool) throws {
        self.source = source
        let compiled = try Regex(source)
        self.regex = ignoreCase ? compiled.ignoresCase() : compiled
    }

    public var description: String { source }

    public func matches(_ value: String) -> Bool {
        (try? regex.wholeMatch(in: value)) != nil
    }
}

/// Lexical confinement of paths to directory roots, as the tool inside the container sees them.
///
/// Relative paths resolve against the container's working directory, `/workspace`. A relative path
/// that climbs above its base at any point (`../x`, `a/../../x`) counts as outside everything:
/// after `-C sub` the tool's base is deeper than ours, and a climbing path is never needed to
/// name something inside the workspace. Symlinks are not followed (they live in the container);
/// the container's read-only root and mounts contain what lexical checks cannot.
public enum PathConfinement {
    public static let workingDirectory = "/workspace"

    /// The normalized absolute path, or nil when a relative path climbs above its base or the
    /// path starts with `~` (which some tools expand themselves).
    public static func resolve(_ path: String) -> String? {
        if path.hasPrefix("~") { return nil }
        let isAbsolute = path.hasPrefix("/")
        var components: [Substring] = isAbsolute ? [] : workingDirectory.split(separator: "/")
        let baseDepth = components.count
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..":
                if !isAbsolute && components.count <= baseDepth { return nil }
                if !components.isEmpty { components.removeLast() }
            default: components.append(component)
            }
        }
        return "/" + components.joined(separator: "/")
    }

    public static func isWithin(_ path: String, roots: [String]) -> Bool {
        guard let resolved = resolve(path) else { return false }
        return roots.contains { root in
            root == "/" || resolved == root || resolved.hasPrefix(root + "/")
        }
    }
}
