import AirlockEngine
import ArgumentParser
import Foundation

/// `--secret NAME=@FILE` or `--secret NAME=env:VARIABLE`: where `airlock run` reads a secret's
/// value. Never the value itself: a command line is in every process listing. Messages name the
/// secret, never what follows its `=`.
struct SecretArgument: Sendable, Hashable {
    enum Source: Sendable, Hashable {
        case file(String)
        case environment(String)
    }

    var name: String
    var source: Source

    static let usage = "--secret takes NAME=@FILE or NAME=env:VARIABLE"

    init(parsing text: String) throws(ValidationError) {
        guard let equals = text.firstIndex(of: "=") else {
            throw ValidationError("\(Self.usage); a value is never taken from the command line")
        }
        let name = String(text[..<equals])
        let rest = text[text.index(after: equals)...]
        guard Self.isName(name) else {
            throw ValidationError("\(Self.usage), NAME of letters, digits and '_'")
        }
        if rest.hasPrefix("@"), rest.count > 1 {
            source = .file(String(rest.dropFirst()))
        } else if rest.hasPrefix("env:"), Self.isName(String(rest.dropFirst(4))) {
            source = .environment(String(rest.dropFirst(4)))
        } else {
            throw ValidationError("--secret \(name): give @FILE or env:VARIABLE; a value on the command line would show in the process list")
        }
        self.name = name
    }

    static func isName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return text.utf8.count <= 128
            && text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    /// The value: the file's bytes exactly (a final newline included), or the variable's value.
    func read(environment: [String: String]) throws(EngineError) -> [UInt8] {
        switch source {
        case let .file(path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw EngineError("cannot read the file of secret \(name): \(path)")
            }
            return Array(data)
        case let .environment(variable):
            guard let value = environment[variable] else {
                throw EngineError("the variable \(variable) of secret \(name) is not set")
            }
            return Array(value.utf8)
        }
    }

    /// Every `--secret`, read, by name.
    static func values(_ arguments: [SecretArgument]) throws(EngineError) -> SecretValues {
        let environment = ProcessInfo.processInfo.environment
        var values: [String: [UInt8]] = [:]
        for argument in arguments { values[argument.name] = try argument.read(environment: environment) }
        return SecretValues(values)
    }
}
