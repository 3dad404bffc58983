import Foundation

/// One JSON object read strictly: only the given keys, each value of the type asked for, no NUL
/// byte in any string. Errors name the field by its path (`mounts[0].host_path`).
struct StrictObject {
    let members: [String: JSONValue]
    let path: String

    /// - Parameter hint: a key that, if present, is the likely mistake worth naming in the message.
    init(_ value: JSONValue, path: String, keys: Set<String>, hint: String? = nil) throws(APIError) {
        guard case let .object(members) = value else {
            throw APIError.invalid(path.isEmpty ? "body" : path, "\(path.isEmpty ? "the body" : "this field") must be a JSON object, not \(value.typeName)")
        }
        self.path = path
        for key in members.keys.sorted() where !keys.contains(key) {
            let also = hint.map { "; with \($0) given, the invocation format's fields are accepted too" } ?? ""
            throw APIError.invalid(Self.join(path, key), "unknown field; expected one of: \(keys.sorted().joined(separator: ", "))\(also)")
        }
        self.members = members
    }

    static func join(_ path: String, _ key: String) -> String {
        let name = APIError.fieldName(key)
        return path.isEmpty ? name : "\(path).\(name)"
    }

    func field(_ key: String) -> String { Self.join(path, key) }

    /// nil when absent or null.
    func string(_ key: String) throws(APIError) -> String? {
        switch members[key] {
        case nil, .null?: return nil
        case let .string(text)?: return try Self.checked(text, field: field(key))
        case let other?: throw APIError.invalid(field(key), "must be a string, not \(other.typeName)")
        }
    }

    func requiredString(_ key: String, nonEmpty: Bool = false) throws(APIError) -> String {
        guard let text = try string(key) else { throw APIError.invalid(field(key), "is required") }
        if nonEmpty, text.isEmpty { throw APIError.invalid(field(key), "must not be empty") }
        return text
    }

    func strings(_ key: String) throws(APIError) -> [String]? {
        guard let items = try array(key) else { return nil }
        var texts: [String] = []
        for (index, item) in items.enumerated() {
            guard case let .string(text) = item else {
                throw APIError.invalid("\(field(key))[\(index)]", "must be a string, not \(item.typeName)")
            }
            texts.append(try Self.checked(text, field: "\(field(key))[\(index)]"))
        }
        return texts
    }

    func array(_ key: String) throws(APIError) -> [JSONValue]? {
        switch members[key] {
        case nil, .null?: return nil
        case let .array(items)?: return items
        case let other?: throw APIError.invalid(field(key), "must be an array, not \(other.typeName)")
        }
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        switch members[key] {
        case nil, .null?: return nil
        case let .bool(value)?: return value
        case let other?: throw APIError.invalid(field(key), "must be true or false, not \(other.typeName)")
        }
    }

    func integer(_ key: String) throws(APIError) -> Int64? {
        switch members[key] {
        case nil, .null?: return nil
        case let .integer(value)?: return value
        case .number?: throw APIError.invalid(field(key), "must be a whole number")
        case let other?: throw APIError.invalid(field(key), "must be a number, not \(other.typeName)")
        }
    }

    private static func checked(_ text: String, field: String) throws(APIError) -> String {
        if text.utf8.contains(0) { throw APIError.invalid(field, "contains a NUL byte") }
        return text
    }
}
