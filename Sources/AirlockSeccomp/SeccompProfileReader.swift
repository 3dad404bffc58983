import AirlockPolicy
/// Reads a parsed profile field by field into a `SeccompProfile`, collecting every problem with
/// its place.
///
/// Unknown keys and wrong types are errors, never ignored: a typo such as `nmaes` must not silently
/// drop an entry, as it would with podman, which ignores keys it does not know.
struct SeccompProfileReader {
    /// Where a value is: a JSON path, and the system calls of the entry it belongs to.
    struct Place {
        var path: String?
        var syscalls: [String] = []

        func key(_ key: String) -> Place {
            Place(path: path.map { $0 + "." + key } ?? key, syscalls: syscalls)
        }

        func index(_ index: Int) -> Place {
            Place(path: (path ?? "") + "[\(index)]", syscalls: syscalls)
        }
    }

    let file: String
    private(set) var errors: [SeccompError] = []
    /// System call name to the entry and action that name it without argument filters, to report
    /// conflicting entries.
    private var unconditional: [String: (entry: Int, action: SeccompAction, errnoRet: UInt16?)] = [:]
    private var absent: Set<String> = []

    init(file: String) {
        self.file = file
    }

    static let topKeys = ["defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls"]
    static let entryKeys = ["names", "action", "errnoRet", "args", "comment"]
    static let argumentKeys = ["index", "value", "valueTwo", "op"]
    static let archMapKeys = ["architecture", "subArchitectures"]

    /// Keys of the Docker or OCI formats that Airlock refuses, with the reason.
    static let unsupportedKeys: [String: String] = [
        "includes": "conditional entries are not supported; write the profile flat and leave out entries for capabilities (containers run with all capabilities dropped)",
        "excludes": "conditional entries are not supported; write the profile flat and leave out entries for capabilities (containers run with all capabilities dropped)",
        "name": "write \"names\": [...] instead",
        "flags": "seccomp filter flags are not supported",
        "listenerPath": "SCMP_ACT_NOTIFY and its listener are not supported",
        "listenerMetadata": "SCMP_ACT_NOTIFY and its listener are not supported",
    ]

    /// The profile, or nil when anything is wrong (see `errors`). `program` is left empty for the
    /// compiler.
    mutating func read(_ root: JSONNode, digest: String) -> SeccompProfile? {
        let top = Place()
        guard let fields = fields(root, top, what: "the profile", allowed: Self.topKeys, required: ["defaultAction"]) else {
            return nil
        }
        let defaultAction = fields["defaultAction"].flatMap { choice($0, top.key("defaultAction"), as: SeccompAction.self, what: "action") }
        var defaultErrnoRet: UInt16?
        if let node = fields["defaultErrnoRet"] {
            defaultErrnoRet = returnValue(node, top.key("defaultErrnoRet"), action: defaultAction, actionKey: "defaultAction")
        }

        var architectures: [String] = []
        if let node = fields["architectures"], let items = list(node, top.key("architectures")) {
            for (index, item) in items.enumerated() {
                if let name = architecture(item, top.key("architectures").index(index)) { architectures.append(name) }
            }
        }
        var archMap: [SeccompArchitectureMapping] = []
        if let node = fields["archMap"], let items = list(node, top.key("archMap")) {
            if fields["architectures"] != nil {
                error(.invalidValue, "give either 'architectures' or 'archMap', not both (podman refuses a profile with both)", at: node, top.key("archMap"))
            }
            for (index, item) in items.enumerated() {
                if let mapping = architectureMapping(item, top.key("archMap").index(index)) { archMap.append(mapping) }
            }
        }

        var rules: [SeccompRule] = []
        if let node = fields["syscalls"], let items = list(node, top.key("syscalls")) {
            for (index, item) in items.enumerated() {
                if let rule = rule(item, entry: index) { rules.append(rule) }
            }
        }

        guard errors.isEmpty, let defaultAction else { return nil }
        return SeccompProfile(
            file: file, digest: digest, defaultAction: defaultAction, defaultErrnoRet: defaultErrnoRet, architectures: architectures,
            archMap: archMap, rules: rules, filterArchitectures: Self.filterArchitectures(architectures: architectures, archMap: archMap),
            absentSyscalls: absent.sorted(), program: [])
    }

    /// The architectures the container engine puts in the filter on this machine: runc adds every
    /// one of `architectures`; podman takes from `archMap` only the entry for this machine.
    static func filterArchitectures(architectures: [String], archMap: [SeccompArchitectureMapping]) -> [String] {
        let native = SeccompArchitecture.native
        var result = [native]
        let extra = architectures.isEmpty ? archMap.filter { $0.architecture == native }.flatMap { [$0.architecture] + $0.subArchitectures } : architectures
        for name in extra where !result.contains(name) { result.append(name) }
        return result
    }

    // MARK: Entries

    mutating func rule(_ node: JSONNode, entry: Int) -> SeccompRule? {
        var place = Place(path: "syscalls[\(entry)]")
        place.syscalls = Self.names(of: node)
        let errorCount = errors.count
        guard let fields = fields(node, place, what: "the entry", allowed: Self.entryKeys, required: ["names", "action"]) else {
            return nil
        }
        let action = fields["action"].flatMap { choice($0, place.key("action"), as: SeccompAction.self, what: "action") }
        let errnoRet = fields["errnoRet"].flatMap { returnValue($0, place.key("errnoRet"), action: action, actionKey: "action") }
        var arguments: [SeccompArgument] = []
        var argumentsRead = true
        if let node = fields["args"] {
            if let items = list(node, place.key("args")) {
                for (index, item) in items.enumerated() {
                    if let argument = argument(item, place.key("args").index(index)) {
                        arguments.append(argument)
                    } else {
                        argumentsRead = false
                    }
                }
            } else {
                argumentsRead = false
            }
        }
        let comment = fields["comment"].flatMap { string($0, place.key("comment"), what: "a string") }

        var names: [String] = []
        var seen: Set<String> = []
        if let node = fields["names"], let items = list(node, place.key("names")) {
            if items.isEmpty { error(.invalidValue, "must name at least one system call", at: node, place.key("names")) }
            for (index, item) in items.enumerated() {
                let itemPlace = place.key("names").index(index)
                guard let name = string(item, itemPlace, what: "a system call name") else { continue }
                guard seen.insert(name).inserted else {
                    error(.duplicate, "'\(name)' is listed twice in this entry", at: item, itemPlace)
                    continue
                }
                names.append(name)
                guard let number = syscallNumber(name, at: item, itemPlace) else { continue }
                if number < 0 { absent.insert(name) }
                if let action, argumentsRead, arguments.isEmpty {
                    checkConflict(name, entry: entry, action: action, errnoRet: errnoRet, at: item, itemPlace)
                }
            }
        }
        guard errors.count == errorCount, let action else { return nil }
        return SeccompRule(
            entry: entry, names: names, action: action, errnoRet: errnoRet, arguments: arguments, comment: comment, line: node.line,
            column: node.column)
    }

    /// The entry's names as far as they read, to label its errors.
    static func names(of node: JSONNode) -> [String] {
        guard case let .object(members) = node.value, let names = members.first(where: { $0.key == "names" }),
            case let .array(items) = names.value.value
        else { return [] }
        return items.compactMap { item in
            if case let .string(name) = item.value { return name }
            return nil
        }
    }

    /// Resolves a name as runc will, on this machine's architecture.
    mutating func syscallNumber(_ name: String, at node: JSONNode, _ place: Place) -> Int32? {
        if name.isEmpty {
            error(.invalidValue, "a system call name must not be empty", at: node, place)
            return nil
        }
        if let number = Libseccomp.syscallNumber(name) { return number }
        var message = "unknown system call '\(name)' on \(SeccompArchitecture.shortName(SeccompArchitecture.native))"
        if let suggestion = Suggestion.closest(to: name, in: Libseccomp.nativeSyscallNames) { message += " (did you mean '\(suggestion)'?)" }
        error(.unknownSyscall, message, at: node, place)
        return nil
    }

    /// Two entries that give one system call different actions, both without argument filters,
    /// contradict each other; libseccomp would keep one of them without a word.
    mutating func checkConflict(_ name: String, entry: Int, action: SeccompAction, errnoRet: UInt16?, at node: JSONNode, _ place: Place) {
        let encoded = Libseccomp.action(action, returnValue: errnoRet)
        if let earlier = unconditional[name] {
            if Libseccomp.action(earlier.action, returnValue: earlier.errnoRet) != encoded {
                error(
                    .conflict,
                    "'\(name)' already has \(earlier.action.describe(returnValue: earlier.errnoRet)) in syscalls[\(earlier.entry)]; "
                        + "without argument filters a system call takes one action, not also \(action.describe(returnValue: errnoRet))",
                    at: node, place)
            }
        } else {
            unconditional[name] = (entry, action, errnoRet)
        }
    }

    mutating func argument(_ node: JSONNode, _ place: Place) -> SeccompArgument? {
        guard let fields = fields(node, place, what: "an argument filter", allowed: Self.argumentKeys, required: ["index", "value", "op"]) else {
            return nil
        }
        let index = fields["index"].flatMap {
            unsigned($0, place.key("index"), maximum: 5, expecting: "an argument index from 0 to 5 (a system call has six arguments)")
        }
        let value = fields["value"].flatMap { unsigned($0, place.key("value"), maximum: .max, expecting: "a whole number from 0 to 2^64-1") }
        var valueTwo: UInt64? = 0
        if let node = fields["valueTwo"] {
            valueTwo = unsigned(node, place.key("valueTwo"), maximum: .max, expecting: "a whole number from 0 to 2^64-1")
        }
        let comparison = fields["op"].flatMap { choice($0, place.key("op"), as: SeccompComparison.self, what: "comparison") }
        guard let index, let value, let valueTwo, let comparison else { return nil }
        let argument = SeccompArgument(index: Int(index), value: value, valueTwo: valueTwo, comparison: comparison)
        if comparison == .maskedEqual, argument.valueTwo & ~argument.value != 0, let node = fields["valueTwo"] {
            error(
                .invalidValue,
                "can never match: SCMP_CMP_MASKED_EQ tests (argument & value) == valueTwo, and valueTwo has bits outside the mask in value",
                at: node, place.key("valueTwo"))
            return nil
        }
        return argument
    }

    // MARK: Architectures

    mutating func architectureMapping(_ node: JSONNode, _ place: Place) -> SeccompArchitectureMapping? {
        guard let fields = fields(node, place, what: "an archMap entry", allowed: Self.archMapKeys, required: ["architecture"]) else {
            return nil
        }
        let architecture = fields["architecture"].flatMap { self.architecture($0, place.key("architecture")) }
        var subArchitectures: [String] = []
        if let node = fields["subArchitectures"], let items = list(node, place.key("subArchitectures")) {
            for (index, item) in items.enumerated() {
                if let name = self.architecture(item, place.key("subArchitectures").index(index)) { subArchitectures.append(name) }
            }
        }
        return architecture.map { SeccompArchitectureMapping(architecture: $0, subArchitectures: subArchitectures) }
    }

    mutating func architecture(_ node: JSONNode, _ place: Place) -> String? {
        guard let name = string(node, place, what: "an architecture such as SCMP_ARCH_X86_64") else { return nil }
        guard SeccompArchitecture.token(name) != nil else {
            var message = "unknown architecture '\(name)'"
            if let suggestion = Suggestion.closest(to: name, in: SeccompArchitecture.known) { message += " (did you mean '\(suggestion)'?)" }
            message += "; libseccomp \(Libseccomp.version) knows \(SeccompArchitecture.known.joined(separator: ", "))"
            error(.unknownArchitecture, message, at: node, place)
            return nil
        }
        return name
    }

    // MARK: Typed reads

    mutating func error(_ code: SeccompError.Code, _ message: String, at node: JSONNode, _ place: Place) {
        errors.append(SeccompError(code, message, file: file, line: node.line, column: node.column, path: place.path, syscalls: place.syscalls))
    }

    /// An object with a fixed set of keys: unknown, duplicate and missing keys are errors. A null
    /// value counts as absent for an optional key (Go writes null for an empty list).
    mutating func fields(_ node: JSONNode, _ place: Place, what: String, allowed: [String], required: [String]) -> [String: JSONNode]? {
        guard case let .object(members) = node.value else {
            error(.wrongType, "\(what) must be an object, found \(node.kind)", at: node, place)
            return nil
        }
        var values: [String: JSONNode] = [:]
        var seen: Set<String> = []
        let keys = Set(members.map(\.key))
        /// A missing key that an unknown one was likely meant to be is reported once, as the typo.
        var misspelled: Set<String> = []
        for member in members {
            let at = JSONNode(value: .null, line: member.keyLine, column: member.keyColumn)
            guard seen.insert(member.key).inserted else {
                error(.duplicate, "duplicate key '\(member.key)'", at: at, place)
                continue
            }
            if allowed.contains(member.key) {
                if case .null = member.value.value, !required.contains(member.key) { continue }
                values[member.key] = member.value
            } else if let reason = Self.unsupportedKeys[member.key] {
                error(.unknownKey, "'\(member.key)' is not supported: \(reason)", at: at, place)
            } else {
                var message = "unknown key '\(member.key)' in \(what)"
                if let suggestion = Suggestion.closest(to: member.key, in: allowed) {
                    message += " (did you mean '\(suggestion)'?)"
                    if !keys.contains(suggestion) { misspelled.insert(suggestion) }
                }
                message += "; allowed keys: \(allowed.joined(separator: ", "))"
                error(.unknownKey, message, at: at, place)
            }
        }
        for key in required where !seen.contains(key) && !misspelled.contains(key) {
            error(.missingKey, "\(what) needs '\(key)'", at: node, place)
        }
        return values
    }

    mutating func list(_ node: JSONNode, _ place: Place) -> [JSONNode]? {
        guard case let .array(items) = node.value else {
            error(.wrongType, "must be a list, found \(node.kind)", at: node, place)
            return nil
        }
        return items
    }

    mutating func string(_ node: JSONNode, _ place: Place, what: String) -> String? {
        guard case let .string(text) = node.value else {
            error(.wrongType, "must be \(what), found \(node.kind)", at: node, place)
            return nil
        }
        return text
    }

    mutating func unsigned(_ node: JSONNode, _ place: Place, maximum: UInt64, expecting: String) -> UInt64? {
        guard case let .number(text) = node.value else {
            error(.wrongType, "must be \(expecting), found \(node.kind)", at: node, place)
            return nil
        }
        guard let value = UInt64(text), value <= maximum else {
            error(.invalidValue, "must be \(expecting), found \(text)", at: node, place)
            return nil
        }
        return value
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ node: JSONNode, _ place: Place, as type: T.Type, what: String) -> T?
    where T.RawValue == String {
        let choices = T.allCases.map(\.rawValue)
        guard let text = string(node, place, what: "one of \(choices.joined(separator: ", "))") else { return nil }
        guard let value = T(rawValue: text) else {
            var message = "unknown \(what) '\(text)'"
            if let suggestion = Suggestion.closest(to: text, in: choices) { message += " (did you mean '\(suggestion)'?)" }
            message += "; expected one of \(choices.joined(separator: ", "))"
            error(.invalidValue, message, at: node, place)
            return nil
        }
        return value
    }

    /// `errnoRet` or `defaultErrnoRet`: only for actions that return something, and within range.
    mutating func returnValue(_ node: JSONNode, _ place: Place, action: SeccompAction?, actionKey: String) -> UInt16? {
        if let action, !action.takesReturnValue {
            error(
                .invalidValue, "applies only when \(actionKey) is SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not \(action.rawValue), which ignores it",
                at: node, place)
            return nil
        }
        let maximum = action?.maximumReturnValue ?? .max
        let expecting = action == .trace ? "a trace message from 0 to \(maximum)" : "an errno from 0 to \(maximum)"
        return unsigned(node, place, maximum: UInt64(maximum), expecting: expecting).map { UInt16($0) }
    }
}
