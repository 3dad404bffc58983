import AirlockEvents
import AirlockServer
import Foundation
import Testing

extension WorkerSuite {
    @Suite("limits") struct WorkerLimitsTests {
        @Test("500 concurrent requests against a limit of 4: each completes or gets 429; every Started has its Completed")
        func burst() async throws {
            let worker = try await TestWorker.start {
                $0.limits = AdmissionLimits(maxConcurrent: 4, maxPerTenant: 4, maxQueued: 8)
            }
            let outputs = worker.directory + "/burst"
            try FileManager.default.createDirectory(atPath: outputs, withIntermediateDirectories: true)
            let body = worker.directory + "/burst.json"
            try TestWorker.body("ok").write(toFile: body, atomically: true, encoding: .utf8)
            // One curl, 500 transfers at once over the socket.
            let (status, output, errors) = try await HTTPClient.run(
                ["/usr/bin/curl"],
                [
                    "-s", "--parallel", "--parallel-immediate", "--parallel-max", "500", "--unix-socket", worker.socket, "-H", "Expect:",
                    "-H", "Content-Type: application/json", "--data-binary", "@\(body)", "-o", "\(outputs)/#1.json", "-w", "%{http_code}\\n",
                    "http://localhost/v1/invocations?n=[1-500]",
                ])
            #expect(status == 0, "\(errors)")
            let codes = String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
            #expect(codes.count == 500)
            let counts = Dictionary(grouping: codes, by: { $0 }).mapValues(\.count)
            #expect(Set(counts.keys).isSubset(of: ["200", "429"]), "\(counts)")
            #expect(counts["200", default: 0] >= 4 && counts["429", default: 0] > 0, "\(counts)")
            // 429s carry Retry-After and the error shape.
            let files = try FileManager.default.contentsOfDirectory(atPath: outputs)
            let answers = try files.map { try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(outputs)/\($0)"))) as? [String: Any] ?? [:] }
            #expect(answers.filter { ($0["error"] as? [String: Any])?["code"] as? String == "too_many_requests" }.count == counts["429"])
            #expect(answers.filter { $0["exit_code"] as? Int == 0 }.count == counts["200"])

            let events = try await worker.events()
            let started = events.filter { $0.eventType == EventType.cliToolInvocationStarted.rawValue }.compactMap { $0.field("execution_id") }
            let completed = events.filter { $0.eventType == EventType.cliToolInvocationCompleted.rawValue }.compactMap { $0.field("execution_id") }
            #expect(started.count == counts["200"])
            #expect(Set(started) == Set(completed) && completed.count == started.count)
            #expect(worker.worker.load.running == 0 && worker.worker.load.queued == 0)
            try await worker.stop()
        }

        @Test("429 carries Retry-After; one tenant at its limit does not hold up another")
        func perTenant() async throws {
            let worker = try await TestWorker.start {
                $0.limits = AdmissionLimits(maxConcurrent: 3, maxPerTenant: 1, maxQueued: 1)
            }
            async let first = worker.invoke("short", id: "pt-acme-1")
            while try await worker.eventTypes("pt-acme-1").isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            // acme is at its limit: the next acme call waits (the queue holds one) ...
            async let queued = worker.invoke("short", id: "pt-acme-2")
            while worker.worker.load.queued == 0 { try await Task.sleep(for: .milliseconds(20)) }
            // ... and a third finds the queue full.
            let refused = try await worker.invoke("short", id: "pt-acme-3")
            #expect(refused.status == 429, "\(refused)")
            #expect(refused.headers["retry-after"] == "1")
            #expect(refused.error["code"] as? String == "too_many_requests")
            // globex runs meanwhile.
            let began = ContinuousClock.now
            let globex = try await worker.invoke("ok", tenant: "globex")
            #expect(globex.status == 200)
            #expect(ContinuousClock.now - began < .seconds(2), "globex did not wait for acme's slot")
            #expect(try await first.status == 200)
            #expect(try await queued.status == 200)
            #expect(try await worker.eventTypes("pt-acme-3").isEmpty, "the refused one never ran")
            try await worker.stop()
        }

        @Test("DELETE of an invocation still waiting for a slot: nothing launched, the waiter gets 409")
        func cancelWhileQueued() async throws {
            let worker = try await TestWorker.start {
                $0.limits = AdmissionLimits(maxConcurrent: 1, maxPerTenant: 1, maxQueued: 4)
            }
            async let first = worker.invoke("short", id: "q-1")
            while try await worker.eventTypes("q-1").isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            async let waiting = worker.invoke("marker", id: "q-2")
            while worker.worker.load.queued == 0 { try await Task.sleep(for: .milliseconds(20)) }
            let cancelled = try await worker.request("DELETE", "/v1/invocations/q-2")
            #expect(cancelled.status == 200 && cancelled.json["launched"] as? Bool == false, "\(cancelled)")
            let waiter = try await waiting
            #expect(waiter.status == 409 && waiter.error["code"] as? String == "cancelled", "\(waiter)")
            #expect(try await first.status == 200)
            #expect(try await worker.eventTypes("q-2").isEmpty)
            // Nothing ran under q-2, so the id is free.
            let again = try await worker.invoke("ok", id: "q-2")
            #expect(again.status == 200)
            try await worker.stop()
        }
    }
}
