@testable import AirlockServer
import Foundation
import Testing
import Yams

extension WorkerSuite {
    @Suite("docs/openapi.yaml") struct OpenAPITests {
        static let document = TestPolicy.root + "/docs/openapi.yaml"

        @Test("describes exactly the routes the server registers")
        func routes() async throws {
            let text = try String(contentsOfFile: Self.document, encoding: .utf8)
            let root = try #require(try Yams.load(yaml: text) as? [String: Any])
            #expect((root["openapi"] as? String)?.hasPrefix("3.1") == true)
            let paths = try #require(root["paths"] as? [String: Any])
            let methods = ["get", "put", "post", "delete", "patch", "head", "options"]
            var documented: Set<String> = []
            for (path, item) in paths {
                for (key, _) in (item as? [String: Any] ?? [:]) where methods.contains(key) {
                    documented.insert("\(key.uppercased()) \(path)")
                }
            }
            let worker = try await TestWorker.start()
            let registered = Set(worker.worker.routes.map(\.description))
            try await worker.stop()
            #expect(documented == registered, "documented only: \(documented.subtracting(registered)); served only: \(registered.subtracting(documented))")
        }

        @Test("the request bodies describe exactly the fields the server reads, secrets included")
        func requestFields() throws {
            let root = try #require(try Yams.load(yaml: String(contentsOfFile: Self.document, encoding: .utf8)) as? [String: Any])
            let schemas = try #require((root["components"] as? [String: Any])?["schemas"] as? [String: [String: Any]])
            let invocation = try #require(schemas["InvocationRequest"]?["properties"] as? [String: Any])
            #expect(Set(invocation.keys) == InvocationBody.keys)
            let registration = try #require(schemas["CliToolRegistration"]?["properties"] as? [String: Any])
            #expect(Set(registration.keys) == WorkerAPI.toolKeys)
            #expect((invocation["secrets"] as? [String: Any])?["description"] as? String != nil)
        }

        @Test("every $ref points at a component that exists")
        func references() throws {
            let text = try String(contentsOfFile: Self.document, encoding: .utf8)
            let root = try #require(try Yams.load(yaml: text) as? [String: Any])
            let components = try #require(root["components"] as? [String: [String: Any]])
            var references: [String] = []
            func walk(_ value: Any) {
                if let object = value as? [String: Any] {
                    if let reference = object["$ref"] as? String { references.append(reference) }
                    object.values.forEach(walk)
                } else if let array = value as? [Any] {
                    array.forEach(walk)
                }
            }
            walk(root)
            #expect(!references.isEmpty)
            for reference in references {
                let parts = reference.split(separator: "/").map(String.init)
                #expect(parts.count == 4 && parts[0] == "#" && parts[1] == "components" && components[parts[2]]?[parts[3]] != nil, "\(reference)")
            }
        }
    }
}
