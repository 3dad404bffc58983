/// One allow or deny rule: when all its conditions hold for a parsed command, it matches.
/// A class: the judge walks rules on every decision, and sharing them costs no copies.
public final class Rule: Sendable {
    public enum Effect: String, Sendable, Codable { case allow, deny }

    public let id: String
    public let effect: Effect
    /// Why the rule exists, in words a person understands; reported with every decision it makes.
    public let reason: String
    public let tools: Set<String>
    /// nil: every subcommand of the tools.
    public let subcommands: [SubcommandPattern]?
    public let conditions: [Condition]
    /// The context that defined it (a context inherits its parents' rules).
    public let context: String
    public let location: SourceLocation

    public init(
        id: String, effect: Effect, reason: String, tools: Set<String>, subcommands: [SubcommandPattern]?,
        conditions: [Condition], context: String, location: SourceLocation
    ) {
        self.id = id
        self.effect = effect
        self.reason = reason
        self.tools = tools
        self.subcommands = subcommands
        self.conditions = conditions
        self.context = context
        self.location = location
    }

    public func matches(_ command: ParsedCommand) -> Bool {
        appliesTo(command.subcommandPath) && conditionsHold(for: command)
    }

    /// Whether the rule's subcommand patterns (if any) take in this path.
    public func appliesTo(_ subcommandPath: [String]) -> Bool {
        guard let subcommands else { return true }
        return subcommands.contains { $0.matches(subcommandPath) }
    }

    func conditionsHold(for command: ParsedCommand) -> Bool {
        for index in conditions.indices where !conditions[index].holds(for: command) { return false }
        return true
    }
}

/// A subcommand path, segment by segment: `remote add`, `ec2 describe-*`; a last segment `**`
/// matches any deeper path, none included.
public struct SubcommandPattern: Sendable, Hashable, CustomStringConvertible {
    public var segments: [String]
    private let globs: [Glob]
    private let open: Bool

    public init(_ text: String) {
        let parts = text.split(separator: " ").map(String.init)
        self.open = parts.last == "**"
        self.segments = parts
        self.globs = (open ? parts.dropLast() : parts[...]).map { Glob($0, ignoreCase: false) }
    }

    public var description: String { segments.joined(separator: " ") }

    public func matches(_ path: [String]) -> Bool {
        if open ? path.count < globs.count : path.count != globs.count { return false }
        for (glob, name) in zip(globs, path) where !glob.matches(name) { return false }
        return true
    }
}

/// A test on a parsed command.
public enum Condition: Sendable {
    /// At least one of the options is in effect.
    case anyOption([String])
    /// All of the options are in effect.
    case allOptions([String])
    /// None of the options is in effect.
    case noOption([String])
    /// Every option given to the subcommand (global options aside) is one of these.
    case onlyOptions(Set<String>)
    /// The values of an option (nil: of every option) satisfy the quantified pattern.
    case optionValues(option: String?, Quantified)
    case positionals(Quantified)
    /// On `ParsedCommand.resourceTypes`.
    case resourceTypes(Quantified)
    case positionalCount(min: Int?, max: Int?)
    /// Every considered path is inside one of the roots.
    case pathsWithin(roots: [String], scope: PathScope)
    /// Some considered path is outside all the roots.
    case pathsOutside(roots: [String], scope: PathScope)

    public func holds(for command: ParsedCommand) -> Bool {
        switch self {
        case let .anyOption(names):
            return names.contains { command.isPresent($0) }
        case let .allOptions(names):
            return names.allSatisfy { command.isPresent($0) }
        case let .noOption(names):
            return !names.contains { command.isPresent($0) }
        case let .onlyOptions(names):
            return command.options.allSatisfy { $0.isGlobal || names.contains($0.name) }
        case let .optionValues(option, quantified):
            let values: [String] =
                if let option { command.values(of: option) } else { command.options.compactMap { $0.negated ? nil : $0.value } }
            return quantified.holds(for: values)
        case let .positionals(quantified):
            return quantified.holds(for: command.positionals)
        case let .resourceTypes(quantified):
            return quantified.holds(for: command.resourceTypes)
        case let .positionalCount(min, max):
            let count = command.positionals.count
            return count >= (min ?? 0) && count <= (max ?? Int.max)
        case let .pathsWithin(roots, scope):
            return scope.paths(in: command).allSatisfy { PathConfinement.isWithin($0, roots: roots) }
        case let .pathsOutside(roots, scope):
            return scope.paths(in: command).contains { !PathConfinement.isWithin($0, roots: roots) }
        }
    }
}

/// Which arguments a `paths:` condition looks at.
public struct PathScope: Sendable, Hashable {
    /// nil: every option whose value the grammar marks as a path.
    public var options: Set<String>?
    /// Whether positionals count, when the grammar marks them as paths.
    public var positionals: Bool

    public init(options: Set<String>?, positionals: Bool) {
        self.options = options
        self.positionals = positionals
    }

    func paths(in command: ParsedCommand) -> [String] {
        var paths: [String] = []
        for option in command.options where !option.negated {
            guard let value = option.value else { continue }
            if let options {
                if options.contains(option.name) { paths.append(value) }
            } else if option.valueIsPath {
                paths.append(value)
            }
        }
        if positionals, command.positionalsArePaths { paths += command.positionals }
        return paths
    }
}

/// A pattern with how many values must match it.
public struct Quantified: Sendable {
    public enum Quantifier: String, Sendable, CaseIterable { case any, all, none }

    public var quantifier: Quantifier
    public var pattern: ValuePattern

    public init(_ quantifier: Quantifier, _ pattern: ValuePattern) {
        self.quantifier = quantifier
        self.pattern = pattern
    }

    /// `any`: some piece matches; `all`: every piece matches (true when there are none);
    /// `none`: no piece matches.
    func holds(for values: [String]) -> Bool {
        switch quantifier {
        case .any: values.contains { pattern.anyPieceMatches(of: $0) }
        case .all: values.allSatisfy { pattern.everyPieceMatches(of: $0) }
        case .none: !values.contains { pattern.anyPieceMatches(of: $0) }
        }
    }
}
