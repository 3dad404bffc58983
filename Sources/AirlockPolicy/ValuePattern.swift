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

    func anyPieceMatches(of value: String) -> Bool {
        if split.isEmpty { return matches(Substring(value)) }
        return pieces(of: value).contains { matches($0) }
    }

    func everyPieceMatches(of value: String) -> Bool {
        if split.isEmpty { return matches(Substring(value)) }
        return pieces(of: value).allSatisfy { matches($0) }
    }

    func matches(_ piece: Substring) -> Bool {
        let text = ignoreCase ? piece.lowercased() : String(piece)
        return globs.contains { $0.matches(text) } || regexes.contains { $0.matches(text) }
    }
}

/// A shell glob (`*`, `?`, `[a-z]`), matched with the C library's fnmatch; `*` crosses `/`.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    /// The common shapes are matched without fnmatch (and without making C strings).
    private enum Shape: Hashable { case literal, prefix(String), general }
    private let shape: Shape

    public init(_ pattern: String, ignoreCase: Bool) {
        self.pattern = ignoreCase ? pattern.lowercased() : pattern
        func isSpecial(_ character: Character) -> Bool { "*?[\\".contains(character) }
        if !self.pattern.contains(where: isSpecial) {
            shape = .literal
        } else if self.pattern.hasSuffix("*"), !self.pattern.dropLast().contains(where: isSpecial) {
            shape = .prefix(String(self.pattern.dropLast()))
        } else {
            shape = .general
        }
    }

    public var description: String { pattern }

    public func matches(_ value: String) -> Bool {
        switch shape {
        case .literal: value == pattern
        case let .prefix(prefix): value.utf8.starts(with: prefix.utf8)
        case .general: fnmatch(pattern, value, 0) == 0
        }
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
        // Most paths are already normal (`/tmp/plan`, `src/main.tf`): check those without building strings.
        if isNormal(path) {
            if path.utf8.first == UInt8(ascii: "/") { return roots.contains { contains($0, path.utf8[...]) } }
            return roots.contains { root in
                let base = workingDirectory.utf8
                if contains(root, base[...]) { return true }  // the root holds the whole workspace
                // `src/x` is `/workspace/src/x`: the root must be `/workspace/...` and a prefix of it.
                guard root.utf8.starts(with: base), root.utf8.count > base.count,
                    root.utf8[root.utf8.index(root.utf8.startIndex, offsetBy: base.count)] == UInt8(ascii: "/")
                else { return false }
                let rest = root.utf8.dropFirst(base.count + 1)
                return path.utf8.starts(with: rest)
                    && (path.utf8.count == rest.count
                        || path.utf8[path.utf8.index(path.utf8.startIndex, offsetBy: rest.count)] == UInt8(ascii: "/"))
            }
        }
        guard let resolved = resolve(path) else { return false }
        return roots.contains { contains($0, resolved.utf8[...]) }
    }

    /// Whether `root` is `path` or one of its ancestors; both normalized and absolute.
    private static func contains(_ root: String, _ path: Substring.UTF8View) -> Bool {
        let root = root.utf8
        if root.count == 1, root.first == UInt8(ascii: "/") { return true }
        guard path.starts(with: root) else { return false }
        if path.count == root.count { return true }
        return path[path.index(path.startIndex, offsetBy: root.count)] == UInt8(ascii: "/")
    }

    /// No `.` or `..` component, no `//`, no trailing `/`, no `~` at the start: resolving changes nothing
    /// (beyond prefixing the working directory to a relative path).
    static func isNormal(_ path: String) -> Bool {
        let (slash, dot) = (UInt8(ascii: "/"), UInt8(ascii: "."))
        guard let first = path.utf8.first, first != UInt8(ascii: "~") else { return false }
        var atComponentStart = true
        var componentIsDots = false  // `.`, `..` (and `...`, checked the slow way)
        for (offset, byte) in path.utf8.enumerated() {
            if byte == slash {
                if (atComponentStart && offset > 0) || componentIsDots { return false }
                atComponentStart = true
            } else if atComponentStart {
                componentIsDots = byte == dot
                atComponentStart = false
            } else if byte != dot {
                componentIsDots = false
            }
        }
        return !atComponentStart && !componentIsDots
    }
}
