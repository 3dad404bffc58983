import AirlockServer
import Foundation
import Testing

extension WorkerSuite {
    /// The socket serves only the users on the allow-list, as the kernel identifies them (SO_PEERCRED).
    @Suite("peer credentials") struct PeerCredentialTests {
        @Test("an allow-list without our uid: 403, and a log line naming uid, gid and pid")
        func notOnTheList() async throws {
            let worker = try await TestWorker.start { $0.allowList = PeerAllowList(uids: [12345], gids: []) }
            for path in ["/healthz", "/v1/events?tenant_id=acme"] {
                let answer = try await worker.request("GET", path)
                #expect(answer.status == 403, "\(answer)")
                #expect(answer.error["code"] as? String == "peer_not_allowed")
            }
            let invoked = try await worker.invoke("marker")
            #expect(invoked.status == 403 && invoked.error["code"] as? String == "peer_not_allowed")
            let refusal = try #require(worker.logs.all.first { $0.contains("Peer not allowed") })
            let fields = try #require(try JSONSerialization.jsonObject(with: Data(refusal.utf8)) as? [String: Any])
            #expect(fields["uid"] as? Int == Int(getuid()))
            #expect(fields["gid"] as? Int == Int(getgid()))
            #expect((fields["pid"] as? Int ?? 0) > 0)
            #expect(try await worker.events().isEmpty)
            try await worker.stop()
        }

        @Test("another user (nobody) is refused by default and served once allowed by uid or gid", .enabled(if: getuid() == 0, "runuser needs root"))
        func anotherUser() async throws {
            let defaults = try await TestWorker.start { $0.socketMode = 0o666 }
            let refused = try await defaults.request("GET", "/healthz", user: "nobody")
            #expect(refused.status == 403, "\(refused)")
            #expect(try await defaults.request("GET", "/healthz").status == 200, "root is on the default list")
            try await defaults.stop()

            let byUID = try await TestWorker.start {
                $0.socketMode = 0o666
                $0.allowList = PeerAllowList(uids: [65534], gids: [])
            }
            let served = try await byUID.request("POST", "/v1/judge", json: TestWorker.body("ok"), user: "nobody")
            #expect(served.status == 200 && served.json["allowed"] as? Bool == true, "\(served)")
            #expect(try await byUID.request("GET", "/healthz").status == 403, "root is not on this list")
            try await byUID.stop()

            let byGID = try await TestWorker.start {
                $0.socketMode = 0o666
                $0.allowList = PeerAllowList(uids: [], gids: [65534])
            }
            #expect(try await byGID.request("GET", "/healthz", user: "nobody").status == 200)
            try await byGID.stop()
        }

        @Test("the socket's mode keeps other users out before any request (0660 by default)", .enabled(if: getuid() == 0, "runuser needs root"))
        func socketMode() async throws {
            let worker = try await TestWorker.start()
            chmod(worker.directory, 0o755)  // so that only the socket's own mode decides
            await #expect(throws: (any Error).self) {
                _ = try await worker.request("GET", "/healthz", user: "nobody")
            }
            try await worker.stop()
        }
    }
}
