import Yams

/// Reads a composed YAML tree field by field, collecting every problem with its location.
///
/// Unknown keys are errors, never ignored: a typo such as `alow:` must not silently empty a rule.
final class YAMLReader {
    let file: String
    private(set) var errors: [PolicyError] = []

    init(file: String) {
        self.file = file
    }

    /// No scalar, mapping or sequence constructors: `Node.any` is never called on what we compose.
    private static var unusedConstructor: Constructor { Constructor([:], [:], [:]) }

    /// Parses YAML text; a syntax error is recorded and nil returned.
    func compose(_ text: String) -> Node? {
        do {
            // Scalars are interpreted here, field by field, from their text; Yams's default resolver
            // would only tag them, after compiling a dozen regular expressions in every process.
            // The rest is passed too, not left to Yams's defaults: its default encoding copies the
            // whole process environment (to look for YAMS_DEFAULT_ENCODING), and its default
            // constructor builds the tables of `Node.any`, which a tree read field by field never
            // uses.
            guard let node = try Yams.compose(yaml: text, .basic, Self.unusedConstructor, .utf8) else {
                errors.append(PolicyError(.yamlSyntax, "the file is empty", at: SourceLocation(file: file, line: 1, column: 1)))
                return nil
            }
            return node
        } catch let error as YamlError {
            errors.append(Self.policyError(from: error, file: file))
            return nil
        } catch {
            errors.append(PolicyError(.yamlSyntax, "cannot parse YAML", at: SourceLocation(file: file, line: 0, column: 0), cause: "\(error)"))
            return nil
        }
    }

    static func policyError(from error: YamlError, file: String) -> PolicyError {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
            let .composer(context, problem, mark, _):
            let what = [context?.text, problem].compactMap { $0 }.joined(separator: ": ")
            return PolicyError(.yamlSyntax, "invalid YAML: \(what)", at: SourceLocation(file: file, line: mark.line, column: mark.column))
        case let .duplicatedKeysInMapping(duplicates, context):
            return PolicyError(
                .duplicate, "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in one mapping",
                at: SourceLocation(file: file, line: context.mark.line, column: context.mark.column))
        case let .reader(problem, _, _, _):
            return PolicyError(.yamlSyntax, "cannot read YAML: \(problem)", at: SourceLocation(file: file, line: 0, column: 0))
        default:
            return PolicyError(.yamlSyntax, "invalid YAML", at: SourceLocation(file: file, line: 0, column: 0), cause: "\(error)")
        }
    }

    func location(_ node: Node) -> SourceLocation {
        SourceLocation(file: file, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0)
    }

    func error(_ code: PolicyError.Code, _ message: String, at node: Node) {
        errors.append(PolicyError(code, message, at: location(node)))
    }

    func append(_ error: PolicyError) {
        errors.append(error)
    }

    // MARK: Typed reads

    /// The entries of a mapping, in file order, keys as strings.
    func entries(_ node: Node, _ what: @autoclosure () -> String) -> [(key: String, keyNode: Node, value: Node)]? {
        guard case let .mapping(mapping) = node else {
            error(.wrongType, "\(what()) must be a mapping (key: value), found \(Self.kind(of: node))", at: node)
            return nil
        }
        var result: [(String, Node, Node)] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                error(.wrongType, "a key in \(what()) must be a plain string", at: key)
                continue
            }
            result.append((name, key, value))
        }
        return result
    }

    /// A mapping with a fixed set of keys: unknown keys and missing required ones are errors.
    func fields(_ node: Node, _ what: @autoclosure () -> String, allowed: [String], required: [String] = []) -> Fields? {
        guard let entries = entries(node, what()) else { return nil }
        var values: [String: Node] = [:]
        for (key, keyNode, value) in entries {
            if allowed.contains(key) {
                values[key] = value
            } else {
                var message = "unknown key '\(key)' in \(what())"
                if let suggestion = Suggestion.closest(to: key, in: allowed) { message += " (did you mean '\(suggestion)'?)" }
                message += "; allowed keys: \(allowed.joined(separator: ", "))"
                error(.unknownKey, message, at: keyNode)
            }
        }
        for key in required where values[key] == nil {
            error(.missingKey, "\(what()) needs '\(key)'", at: node)
        }
        return Fields(node: node, values: values)
    }

    func string(_ node: Node, _ what: @autoclosure () -> String) -> String? {
        guard case let .scalar(scalar) = node else {
            error(.wrongType, "\(what()) must be a string, found \(Self.kind(of: node))", at: node)
            return nil
        }
        return scalar.string
    }

    func nonEmptyString(_ node: Node, _ what: @autoclosure () -> String) -> String? {
        guard let value = string(node, what()) else { return nil }
        guard !value.isEmpty else {
            error(.invalidValue, "\(what()) must not be empty", at: node)
            return nil
        }
        return value
    }

    /// A list of strings; a single string is read as a list of one.
    func stringList(_ node: Node, _ what: @autoclosure () -> String) -> [String]? {
        switch node {
        case let .scalar(scalar):
            return [scalar.string]
        case let .sequence(sequence):
            var result: [String] = []
            for item in sequence {
                guard let value = string(item, "each item of \(what())") else { return nil }
                result.append(value)
            }
            return result
        default:
            error(.wrongType, "\(what()) must be a string or a list of strings, found \(Self.kind(of: node))", at: node)
            return nil
        }
    }

    /// A list of string items, each with its own node for locations.
    func stringItems(_ node: Node, _ what: @autoclosure () -> String) -> [(String, Node)]? {
        switch node {
        case let .scalar(scalar):
            return [(scalar.string, node)]
        case let .sequence(sequence):
            var result: [(String, Node)] = []
            for item in sequence {
                guard let value = string(item, "each item of \(what())") else { continue }
                result.append((value, item))
            }
            return result
        default:
            error(.wrongType, "\(what()) must be a string or a list of strings, found \(Self.kind(of: node))", at: node)
            return nil
        }
    }

    func sequence(_ node: Node, _ what: @autoclosure () -> String) -> [Node]? {
        guard case let .sequence(sequence) = node else {
            error(.wrongType, "\(what()) must be a list, found \(Self.kind(of: node))", at: node)
            return nil
        }
        return Array(sequence)
    }

    func bool(_ node: Node, _ what: @autoclosure () -> String) -> Bool? {
        guard case let .scalar(scalar) = node, scalar.string == "true" || scalar.string == "false" else {
            error(.wrongType, "\(what()) must be true or false", at: node)
            return nil
        }
        return scalar.string == "true"
    }

    func integer(_ node: Node, _ what: @autoclosure () -> String, minimum: Int = 0) -> Int? {
        guard case let .scalar(scalar) = node, let value = Int(scalar.string) else {
            error(.wrongType, "\(what()) must be a whole number", at: node)
            return nil
        }
        guard value >= minimum else {
            error(.invalidValue, "\(what()) must be at least \(minimum), found \(value)", at: node)
            return nil
        }
        return value
    }

    func choice<T: RawRepresentable & CaseIterable>(_ node: Node, _ what: @autoclosure () -> String, as type: T.Type) -> T? where T.RawValue == String {
        guard let text = string(node, what()) else { return nil }
        guard let value = T(rawValue: text) else {
            let choices = T.allCases.map(\.rawValue).joined(separator: ", ")
            error(.invalidValue, "\(what()) must be one of: \(choices); found '\(text)'", at: node)
            return nil
        }
        return value
    }

    static func kind(of node: Node) -> String {
        switch node {
        case .scalar: "a string"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }
}

/// The known keys of one mapping.
struct Fields {
    let node: Node
    let values: [String: Node]

    subscript(key: String) -> Node? { values[key] }
}
