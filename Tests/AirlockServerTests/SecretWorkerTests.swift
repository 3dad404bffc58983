import AirlockEngine
import AirlockEvents
import AirlockServer
import AirlockTestSupport
import Foundation
import Synchronization
import Testing

extension WorkerSuite {
    /// Secrets through the worker, on both engines and both stores: handed in by `POST
    /// /v1/invocations`, then searched for by value everywhere Airlock writes or answers.
    @Suite("secrets") struct SecretTests {
        static let engines = (ProcessInfo.processInfo.environment["AIRLOCK_TEST_ENGINES"] ?? "podman,docker").split(separator: ",").map(String.init)

        /// `dump` prints its environment secret, its file secret, then both split across two writes a
        /// second apart; it sleeps first, so that two calls overlap and the run can be watched.
        static func policy(_ root: String) -> String {
            """
            version: 1
            tools:
              dump:
                grammar: \(root)/policies/grammars/git.yaml
                image: airlock/test:1
                entrypoint: [/bin/sh, -c, "sleep 3; env; cat /run/secrets/kube; echo; echo \\"$TEST_TOKEN\\" | head -c 20; sleep 1; echo \\"$TEST_TOKEN\\" | tail -c +21"]
                timeout: 60s
                seccomp: \(root)/policies/seccomp/hardened.json
                runtime: runc
                limits: {memory: 128m, pids: 64, cpus: 1, nofile: 256, nproc: 64, tmpfs: 16m}
                secrets:
                  TOKEN: {env: TEST_TOKEN}
                  KUBE: {file: /run/secrets/kube, mode: "0400"}
              plain:
                grammar: \(root)/policies/grammars/git.yaml
                image: airlock/test:1
                entrypoint: [/bin/sh, -c, "echo plain"]
                seccomp: \(root)/policies/seccomp/hardened.json
                runtime: runc
            contexts:
              ro:
                allow:
                  - {id: run-log, tool: [dump, plain], subcommand: [log], reason: test tools}
            tenants:
              acme: {contexts: [ro]}
              globex: {contexts: [ro]}

            """
        }

        static func marker(_ label: String) -> String {
            "\(label)-\(UUID().uuidString.lowercased())-\(UInt64.random(in: 1...UInt64.max))"
        }

        static func body(tenant: String, id: String, secrets: [String: String], tool: String = "dump") -> String {
            let members = secrets.sorted { $0.key < $1.key }.map { #""\#($0.key)":"\#($0.value)""# }.joined(separator: ",")
            return TestWorker.body(tool, id: id, tenant: tenant, extra: #","secrets":{\#(members)}"#)
        }

        @Test(
            "a secret is found nowhere but in its container: logs, events, spool, responses, ps, inspect, disk; two tenants never see each other's",
            arguments: engines.flatMap { engine in ["sqlite", "postgres"].map { (engine, $0) } })
        func searchedEverywhere(engineName: String, storeName: String) async throws {
            let began = Date()
            let directory = NSTemporaryDirectory() + "airlock-secrets-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: directory + "/workspace", withIntermediateDirectories: true)
            try Self.policy(TestPolicy.root).write(toFile: directory + "/policy.yaml", atomically: true, encoding: .utf8)
            var postgres: (cluster: PostgresTestCluster, connection: String)?
            var store: (any EventStore)?
            if storeName == "postgres" {
                let cluster = try PostgresTestCluster.shared()
                let connection = try cluster.createDatabase()
                postgres = (cluster, connection)
                store = try await PostgresEventStore(connection: connection)
            }
            let worker = try await TestWorker.start(directory: directory, store: store, engine: engineName)

            let acme = (token: Self.marker("acme-token"), kube: Self.marker("acme-kube"))
            let globex = (token: Self.marker("globex-token"), kube: Self.marker("globex-kube"))
            let values = [acme.token, acme.kube, globex.token, globex.kube]
            let engine = try await EngineResolver(explicit: engineName).resolve()

            // While both run: every process's argv on the host, and the engine's view of each container.
            let watching = Mutex(true)
            let watched = Mutex("")
            let watcher = Task.detached {
                while watching.withLock({ $0 }) {
                    var seen = HostProgram.output("/bin/ps", ["-eo", "args"])
                    for id in ["secrets-acme", "secrets-globex"] {
                        seen += HostProgram.output(engine.path, ["inspect", "airlock-\(id)-\(storeName)-\(engineName)"])
                    }
                    watched.withLock { $0 += seen }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            async let acmeAnswer = worker.request(
                "POST", "/v1/invocations",
                json: Self.body(tenant: "acme", id: "secrets-acme-\(storeName)-\(engineName)", secrets: ["TOKEN": acme.token, "KUBE": acme.kube]))
            async let globexAnswer = worker.request(
                "POST", "/v1/invocations", json: Self.body(tenant: "globex", id: "secrets-globex-\(storeName)-\(engineName)", secrets: ["TOKEN": globex.token, "KUBE": globex.kube]),
                headers: ["Accept": "application/x-ndjson"])
            let answers = try await [acmeAnswer, globexAnswer]
            watching.withLock { $0 = false }
            await watcher.value
            let seen = watched.withLock { $0 }
            #expect(seen.contains("\"Id\"") || seen.contains("\"ID\""), "no container was inspected while it ran")

            // Each tool got its own values whole (the redactor replaced exactly them) and none of the other's.
            let acmeRecord = answers[0].json
            #expect(answers[0].status == 200, "\(answers[0])")
            #expect(acmeRecord["stdout"] as? String == nil || (acmeRecord["stdout"] as! String).contains("TEST_TOKEN=[REDACTED:TOKEN]\n"), "\(acmeRecord)")
            #expect((acmeRecord["stdout"] as? String)?.hasSuffix("\n[REDACTED:KUBE]\n[REDACTED:TOKEN]\n") == true, "\(acmeRecord)")
            // Counted as the tool wrote them: the values, not the replacements.
            let redactedCount = (acmeRecord["stdout"] as? String ?? "").utf8.count
            let expectedCount = redactedCount - 2 * "[REDACTED:TOKEN]".utf8.count - "[REDACTED:KUBE]".utf8.count + 2 * acme.token.utf8.count + acme.kube.utf8.count
            #expect(acmeRecord["stdout_bytes"] as? Int == expectedCount)
            #expect(answers[1].status == 200 && answers[1].text.contains("[REDACTED:TOKEN]") && answers[1].text.contains("[REDACTED:KUBE]"), "\(answers[1])")

            // A name the tool does not declare: 400 naming it, nothing launched, nothing recorded.
            let undeclared = try await worker.request(
                "POST", "/v1/invocations", json: Self.body(tenant: "acme", id: "secrets-undeclared", secrets: ["OTHER": acme.token]))
            #expect(undeclared.status == 400 && undeclared.error["field"] as? String == "secrets.OTHER", "\(undeclared)")
            let undeclaredOnPlain = try await worker.request(
                "POST", "/v1/invocations", json: Self.body(tenant: "acme", id: "secrets-plain", secrets: ["TOKEN": acme.token], tool: "plain"))
            #expect(undeclaredOnPlain.status == 400 && undeclaredOnPlain.error["field"] as? String == "secrets.TOKEN", "\(undeclaredOnPlain)")
            let launchedUndeclared = try await worker.events("secrets-undeclared").count + worker.events("secrets-plain").count
            #expect(launchedUndeclared == 0)

            // Started records each name with a fingerprint; Completed too.
            let started = try await worker.events("secrets-acme-\(storeName)-\(engineName)").first { $0.eventType == "CliToolInvocationStarted" }
            let startedPayload = try #require(started.flatMap { try? JSONSerialization.jsonObject(with: Data($0.payload.utf8)) as? [String: Any] })
            let fingerprints = try #require(startedPayload["secrets"] as? [String: String])
            #expect(Set(fingerprints.keys) == ["TOKEN", "KUBE"] && fingerprints.values.allSatisfy { $0.count == 8 && $0.allSatisfy(\.isHexDigit) })

            // Everywhere else Airlock answers or writes.
            var texts = answers.map(\.text) + [undeclared.text, undeclaredOnPlain.text, seen]
            for path in ["/healthz", "/readyz", "/v1/events?tenant_id=acme", "/v1/events?tenant_id=globex"] {
                texts.append(try await worker.request("GET", path).text)
            }
            texts += worker.logs.all
            texts += try await worker.events().map(\.payload)
            if let postgres {
                texts.append(try postgres.cluster.psql(postgres.connection, "SELECT payload::text FROM gateway_events"))
            }
            try await worker.stop()
            for (index, text) in texts.enumerated() {
                for value in values { #expect(!text.contains(value), "text \(index) holds a secret: \(text.prefix(400))") }
            }
            let roots = [directory, "/run/airlock", "/tmp", "/var/lib/containers", "/var/lib/docker", "/run/containers", "/run/docker"]
            let found = HostProgram.filesHolding(values, under: roots, writtenSince: began)
            #expect(found.isEmpty, "secrets on disk: \(found)")
            // This test's secrets directories are gone (other suites of this process may hold theirs).
            let left = ((try? FileManager.default.contentsOfDirectory(atPath: SecretStaging.defaultParent)) ?? []).filter { name in
                name.hasPrefix("\(getpid())-secrets-") && name.hasSuffix("-\(storeName)-\(engineName)")
            }
            #expect(left.isEmpty, "\(left)")
        }

        /// A registered tool takes only the secrets it listed at registration, of its base tool's:
        /// a tenant's image gets no credential it did not ask for.
        @Test("a registered tool receives only the secrets it registered, of those its base tool declares")
        func registeredTool() async throws {
            let directory = NSTemporaryDirectory() + "airlock-secrets-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: directory + "/workspace", withIntermediateDirectories: true)
            let policy = Self.policy(TestPolicy.root) + """
                registry:
                  tools: [dump]
                  images: ["airlock/*"]

                """
            try policy.write(toFile: directory + "/policy.yaml", atomically: true, encoding: .utf8)
            let worker = try await TestWorker.start(directory: directory)
            func registration(_ name: String, secrets: String) -> String {
                #"{"name":"\#(name)","tenant_id":"acme","docker_image":"airlock/test:1","grammar":"dump","allowed_subcommands":["log"],"secrets":\#(secrets)}"#
            }
            let beyond = try await worker.request("POST", "/v1/cli-tools", json: registration("greedy", secrets: #"["TOKEN","NOPE"]"#))
            #expect(beyond.status == 400 && (beyond.error["field"] as? String)?.hasPrefix("secrets") == true, "\(beyond)")
            #expect(try await worker.request("POST", "/v1/cli-tools", json: registration("mydump", secrets: #"["TOKEN"]"#)).status == 201)

            let token = Self.marker("registered-token")
            let ran = try await worker.request("POST", "/v1/invocations", json: Self.body(tenant: "acme", id: "registered-secret-1", secrets: ["TOKEN": token], tool: "mydump"))
            #expect(ran.status == 200, "\(ran)")
            #expect(!ran.text.contains(token) && ran.text.contains("TEST_TOKEN=[REDACTED:TOKEN]"), "\(ran)")
            // KUBE is its base tool's, not its own: refused, nothing launched.
            let other = try await worker.request(
                "POST", "/v1/invocations", json: Self.body(tenant: "acme", id: "registered-secret-2", secrets: ["KUBE": Self.marker("kube")], tool: "mydump"))
            #expect(other.status == 400 && other.error["field"] as? String == "secrets.KUBE", "\(other)")
            #expect(try await worker.eventTypes("registered-secret-2").isEmpty)
            try await worker.stop()
        }
    }
}
