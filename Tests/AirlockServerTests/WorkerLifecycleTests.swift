import AirlockEvents
import AirlockServer
import Foundation
import Testing

extension WorkerSuite {
    @Suite("lifecycle") struct WorkerLifecycleTests {
        @Test("graceful shutdown: stops accepting, lets short runs finish, cancels the rest after the grace; all Completed, no container left")
        func gracefulShutdown() async throws {
            let worker = try await TestWorker.start { $0.grace = .seconds(4) }
            let ids = ["gs-short-1", "gs-short-2", "gs-long-1", "gs-long-2"]
            async let short1 = worker.invoke("short", id: ids[0])
            async let short2 = worker.invoke("short", id: ids[1])
            async let long1 = worker.invoke("sleeper", id: ids[2])
            async let long2 = worker.invoke("sleeper", id: ids[3])
            for id in ids {
                while try await worker.eventTypes(id).isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            }
            let began = ContinuousClock.now
            let stopping = Task { try await worker.stop() }
            try await Task.sleep(for: .milliseconds(300))
            // No new connections once shutdown began (or, on a connection that raced it, a 503).
            do {
                let late = try await worker.invoke("ok", id: "gs-late")
                #expect(late.status == 503, "\(late)")
            } catch {}
            let answers = try await [short1, short2, long1, long2]
            try await stopping.value
            let took = ContinuousClock.now - began
            #expect(answers[0].status == 200 && answers[0].json["exit_code"] as? Int == 0 && answers[0].json["cancelled"] as? Bool == false, "\(answers[0])")
            #expect(answers[1].status == 200 && answers[1].json["cancelled"] as? Bool == false)
            #expect(answers[2].status == 200 && answers[2].json["cancelled"] as? Bool == true, "\(answers[2])")
            #expect(answers[3].status == 200 && answers[3].json["cancelled"] as? Bool == true)
            #expect(took >= .seconds(4) && took < .seconds(40), "\(took)")
            for id in ids {
                let events = try await worker.events(id)
                #expect(events.map(\.eventType) == ["CliToolInvocationStarted", "CliToolInvocationCompleted"], "\(id)")
            }
            #expect(try await worker.events("gs-late").isEmpty)
            #expect(try await worker.events(ids[2]).last?.field("outcome") == "cancelled")
            #expect(try await leftoverContainers(ids).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: worker.socket), "the socket file is removed")
            #expect(worker.logs.contains("Grace period over"))
        }

        @Test("a stale socket file is replaced; a live worker's socket is refused")
        func socketFiles() async throws {
            let directory = NSTemporaryDirectory() + "airlock-serve-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let path = directory + "/airlock.sock"
            // A socket file nobody listens on, as a killed worker leaves it.
            let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            #expect(bound == 0)
            close(descriptor)
            #expect(FileManager.default.fileExists(atPath: path))

            let worker = try await TestWorker.start(directory: directory)
            #expect(try await worker.request("GET", "/healthz").status == 200)
            var info = stat()
            stat(path, &info)
            #expect(info.st_mode & 0o777 == 0o660)

            await #expect(throws: (any Error).self) {
                _ = try await TestWorker.start(directory: directory)
            }
            #expect(try await worker.request("GET", "/healthz").status == 200, "the first worker is untouched")
            try await worker.stop()
        }

        @Test("a loopback TCP listener serves the same API")
        func tcp() async throws {
            let worker = try await TestWorker.start { $0.tcp = try? LoopbackAddress(parsing: "127.0.0.1:0") }
            guard case let .tcp(host, port)? = worker.addresses.last else {
                Issue.record("no TCP address in \(worker.addresses)")
                return
            }
            let answer = try await HTTPClient.request(socket: nil, url: "http://\(host):\(port)", method: "GET", path: "/healthz")
            #expect(answer.status == 200)
            let judged = try await HTTPClient.request(
                socket: nil, url: "http://\(host):\(port)", method: "POST", path: "/v1/judge", body: Data(TestWorker.body("ok").utf8))
            #expect(judged.json["allowed"] as? Bool == true)
            #expect(worker.logs.contains("TCP has no peer credentials"))
            try await worker.stop()
        }
    }

    /// The built binary, as an operator runs it: signals, exit status, the logs it writes.
    @Suite("the airlock serve binary", .enabled(if: AirlockBinary.exists)) struct ServeBinaryTests {
        /// A running `airlock serve` in a temporary state directory.
        final class Served: @unchecked Sendable {  // the Process is only touched by the test
            let directory: String
            let socket: String
            let policy: String
            let process = Process()
            let stderrFile: String
            let stdoutFile: String

            /// `prepare`: called with the workspace before the worker starts.
            init(arguments: [String] = [], policyText: String? = nil, prepare: (String) throws -> Void = { _ in }) throws {
                directory = NSTemporaryDirectory() + "airlock-bin-\(UUID().uuidString.prefix(8))"
                socket = directory + "/airlock.sock"
                policy = directory + "/policy.yaml"
                stderrFile = directory + "/stderr.log"
                stdoutFile = directory + "/stdout.log"
                try FileManager.default.createDirectory(atPath: directory + "/workspace", withIntermediateDirectories: true)
                try (policyText ?? TestPolicy.yaml(workspace: directory + "/workspace")).write(toFile: policy, atomically: true, encoding: .utf8)
                try prepare(directory + "/workspace")
                _ = FileManager.default.createFile(atPath: stderrFile, contents: nil)
                _ = FileManager.default.createFile(atPath: stdoutFile, contents: nil)
                process.executableURL = URL(fileURLWithPath: AirlockBinary.path)
                process.arguments = ["serve", "--policy", policy, "--state-dir", directory, "--engine", "podman"] + arguments
                process.standardError = FileHandle(forWritingAtPath: stderrFile)
                process.standardOutput = FileHandle(forWritingAtPath: stdoutFile)
                try process.run()
            }

            var stderr: String { (try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? "" }
            var stdout: String { (try? String(contentsOfFile: stdoutFile, encoding: .utf8)) ?? "" }

            /// Waits until the worker answers /healthz.
            func ready() async throws {
                for _ in 0..<300 {
                    if FileManager.default.fileExists(atPath: socket),
                        let answer = try? await HTTPClient.request(socket: socket, method: "GET", path: "/healthz", timeout: 5), answer.status == 200
                    {
                        return
                    }
                    guard process.isRunning else { throw TestFailure("airlock serve exited \(process.terminationStatus): \(stderr)") }
                    try await Task.sleep(for: .milliseconds(100))
                }
                throw TestFailure("airlock serve did not become ready: \(stderr)")
            }

            func request(_ method: String, _ path: String, json: String? = nil, headers: [String: String] = [:]) async throws -> HTTPAnswer {
                try await HTTPClient.request(socket: socket, method: method, path: path, body: json.map { Data($0.utf8) }, headers: headers)
            }

            func signal(_ number: Int32) { kill(process.processIdentifier, number) }

            /// Waits for the process to exit; its status.
            func exit(within limit: Duration = .seconds(60)) async throws -> Int32 {
                let began = ContinuousClock.now
                while process.isRunning {
                    if ContinuousClock.now - began > limit {
                        process.terminate()
                        throw TestFailure("airlock serve did not exit: \(stderr)")
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                return process.terminationStatus
            }

            func events(_ executionID: String) async throws -> [StoredEvent] {
                let store = try SQLiteEventStore(path: directory + "/events.sqlite", use: .longLived)
                defer { Task { await store.close() } }
                return try await store.events(matching: EventQuery(executionID: executionID))
            }
        }

        @Test("SIGTERM with an invocation in flight: it is cancelled after --grace, recorded, no container left; exit 0")
        func sigterm() async throws {
            let served = try Served(arguments: ["--grace", "1"])
            try await served.ready()
            // airlock serve became the worker: the same process (so the signal below reaches it),
            // running airlock-worker, shown to ps as "airlock serve".
            let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(served.process.processIdentifier)/exe")
            #expect(executable.hasSuffix("/airlock-worker"), "\(executable)")
            let commandLine = try String(contentsOfFile: "/proc/\(served.process.processIdentifier)/cmdline", encoding: .utf8)
            #expect(commandLine.hasPrefix("airlock serve\0--policy\0"), "\(commandLine)")
            #expect(served.stdout.contains("curl --unix-socket \(served.socket) http://localhost/healthz"), "\(served.stdout)")
            #expect(served.stderr.contains("Container CLI resolved binary=podman version="))
            async let running = served.request("POST", "/v1/invocations", json: TestWorker.body("sleeper", id: "bin-term-1"))
            while try await served.events("bin-term-1").isEmpty { try await Task.sleep(for: .milliseconds(100)) }
            served.signal(SIGTERM)
            let answer = try await running
            #expect(answer.status == 200 && answer.json["cancelled"] as? Bool == true, "\(answer)")
            #expect(try await served.exit() == 0, "\(served.stderr)")
            let events = try await served.events("bin-term-1")
            #expect(events.map(\.eventType) == ["CliToolInvocationStarted", "CliToolInvocationCompleted"])
            #expect(try await leftoverContainers(["bin-term-1"]).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: served.socket))
        }

        @Test("SIGHUP: a valid policy is taken for new requests, an invalid one is logged and the old one stays")
        func sighup() async throws {
            let served = try Served()
            try await served.ready()
            let before = try await served.request("GET", "/readyz").json["policy_digest"] as? String
            #expect(try await served.request("POST", "/v1/judge", json: TestWorker.body("ok", tenant: "initech")).status == 404)

            try TestPolicy.yaml(workspace: served.directory + "/workspace", extraTenant: "initech").write(toFile: served.policy, atomically: true, encoding: .utf8)
            served.signal(SIGHUP)
            var after = before
            for _ in 0..<100 where after == before {
                try await Task.sleep(for: .milliseconds(100))
                after = try await served.request("GET", "/readyz").json["policy_digest"] as? String
            }
            #expect(after != before && after != nil)
            let judged = try await served.request("POST", "/v1/judge", json: TestWorker.body("ok", tenant: "initech"))
            #expect(judged.status == 200 && judged.json["allowed"] as? Bool == true && judged.json["policy_digest"] as? String == after)

            try "version: 1\ntools:\n  ok: {grammar: nowhere.yaml, alow: true}\ncontexts: {}\n".write(toFile: served.policy, atomically: true, encoding: .utf8)
            served.signal(SIGHUP)
            for _ in 0..<100 where !served.stderr.contains("Policy reload rejected") { try await Task.sleep(for: .milliseconds(100)) }
            #expect(served.stderr.contains("Policy reload rejected"))
            #expect(served.stderr.contains("nowhere.yaml") || served.stderr.contains("alow"), "the errors are in the log line")
            #expect(try await served.request("GET", "/readyz").json["policy_digest"] as? String == after)
            let stillRuns = try await served.request("POST", "/v1/invocations", json: TestWorker.body("ok", tenant: "initech"))
            #expect(stillRuns.status == 200 && stillRuns.json["policy_digest"] as? String == after, "\(stillRuns)")
            served.signal(SIGTERM)
            #expect(try await served.exit() == 0)
        }

        @Test("--log-format json: one object per line with ts, service, level, msg; the access line has method, code, duration_ms, trace_id")
        func jsonLogs() async throws {
            let served = try Served(arguments: ["--log-format", "json"])
            try await served.ready()
            _ = try await served.request("POST", "/v1/invocations", json: TestWorker.body("ok", id: "bin-log-1"), headers: ["X-Trace-Id": "trace-42"])
            served.signal(SIGTERM)
            #expect(try await served.exit() == 0)
            let lines = served.stderr.split(separator: "\n")
            let objects = lines.map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            #expect(!objects.isEmpty && objects.allSatisfy { $0 != nil }, "\(served.stderr)")
            for object in objects.compactMap(\.self) {
                #expect(object["service"] as? String == "airlock")
                #expect(["debug", "info", "warn", "error"].contains(object["level"] as? String ?? ""))
                #expect((object["ts"] as? String).flatMap(Timestamp.parseRFC3339) != nil)
                #expect(object["msg"] is String)
            }
            let access = objects.compactMap(\.self).first { $0["msg"] as? String == "request" && $0["method"] as? String == "POST /v1/invocations" }
            #expect(access?["code"] as? Int == 200)
            #expect(access?["duration_ms"] is Int)
            #expect(access?["trace_id"] as? String == "trace-42")
            #expect(access?["execution_id"] as? String == "bin-log-1" && access?["tenant_id"] as? String == "acme")
            #expect(!served.stderr.contains("hello"), "no tool output in the logs")
        }

        @Test("refused at start: a non-loopback --listen, an invalid policy")
        func refusedAtStart() async throws {
            let open = try Served(arguments: ["--listen", "0.0.0.0:8787"])
            #expect(try await open.exit() != 0)
            #expect(open.stderr.contains("non-loopback"), "\(open.stderr)")
            let invalid = try Served(policyText: "version: 1\ntools: {}\ncontexts: {}\nbogus: 1\n")
            #expect(try await invalid.exit() == 2)
            #expect(invalid.stderr.contains("bogus"), "\(invalid.stderr)")
        }
    }
}
