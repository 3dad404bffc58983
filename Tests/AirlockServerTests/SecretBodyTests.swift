import AirlockEngine
import AirlockInvocation
@testable import AirlockServer
import Foundation
import Testing

/// `secrets` in the invocation body, read strictly, and never repeated in an error: whatever is
/// wrong with the body, the answer names a field, not a value.
@Suite("secrets in the body")
struct SecretBodyTests {
    static let value = "hunter2-\(UUID().uuidString)"

    static func body(_ secrets: String) -> [UInt8] {
        Array(#"{"tool_name":"gh","subcommand":"pr","args":["list"],"tenant_id":"acme","security_context":"ro","secrets":\#(secrets)}"#.utf8)
    }

    @Test("strings by name are read; the body's description shows names only")
    func reads() throws {
        let body = try InvocationBody.decode(Self.body(#"{"GH_TOKEN":"\#(Self.value)","B":""}"#))
        #expect(body.secrets.names == ["B", "GH_TOKEN"])
        #expect(body.secrets["GH_TOKEN"] == Array(Self.value.utf8))
        #expect(!"\(body)".contains(Self.value) && !String(reflecting: body).contains(Self.value))
        #expect(body.invocationRequest(executionID: "x", traceID: nil).secrets == body.secrets)
        try body.checkSecrets(declared: ["B", "GH_TOKEN"])
    }

    @Test(
        "a malformed secrets field or body is a 400 naming the field, never echoing a value",
        arguments: [
            (#"{"A":1}"#, "secrets.A"), (#"["x"]"#, "secrets"), (#""x""#, "secrets"), (#"{"A":"a\u0000b"}"#, "secrets.A"),
            (#"{"A":{"v":"x"}}"#, "secrets.A"),
            // Not JSON at all: the value is in the middle of a string the parser gave up on.
            (#"{"A":"\#(value)\q"}"#, "body"), (#"{"A":"\#(value)"#, "body"), ("{\"A\":\"\(value)\u{01}\"}", "body"),
        ])
    func malformed(secrets: String, field: String) {
        do {
            _ = try InvocationBody.decode(Self.body(secrets.replacingOccurrences(of: "VALUE", with: Self.value)))
            Issue.record("accepted \(secrets)")
        } catch {
            #expect(error.field == field, "\(error.message)")
            #expect(!error.message.contains(Self.value) && !error.message.contains("hunter2"), "\(error.message)")
        }
    }

    @Test("an undeclared name is a 400 naming secrets.NAME and what the tool declares, not the value")
    func undeclared() throws {
        let body = try InvocationBody.decode(Self.body(#"{"OTHER":"\#(Self.value)"}"#))
        #expect(throws: APIError.self) { try body.checkSecrets(declared: ["GH_TOKEN"]) }
        do {
            try body.checkSecrets(declared: ["GH_TOKEN"])
        } catch {
            #expect(error.field == "secrets.OTHER" && error.message.contains("it declares: GH_TOKEN") && !error.message.contains("hunter2"))
        }
    }
}
