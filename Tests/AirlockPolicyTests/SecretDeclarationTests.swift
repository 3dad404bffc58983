@testable import AirlockPolicy
import Testing

/// `secrets:` in a tool entry: what loads, every error at its location, the digest and the diff.
@Suite("Secret declarations")
struct SecretDeclarationTests {
    static func policy(_ secrets: String, environment: String = "{}") -> String {
        """
        version: 1
        tools:
          git:
            grammar: grammars/git.yaml
            image: "airlock/tools:1"
            entrypoint: [/usr/bin/git]
            environment: \(environment)
            secrets:
        \(secrets.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n"))
        contexts: {ro: {allow: [{id: a, tool: git, subcommand: log, reason: r}]}}

        """
    }

    private func errors(_ yaml: String) -> [String] {
        do {
            _ = try TestSupport.load(yaml)
            return []
        } catch {
            return error.errors.map { "\($0.location.line):\($0.location.column): \($0.message)" }
        }
    }

    @Test("env and file secrets load, sorted by name, a file's mode 0400 unless written")
    func loads() throws {
        let policy = try TestSupport.load(
            Self.policy("""
                TOKEN: {env: GIT_TOKEN}
                KUBE: {file: /run/secrets/kubeconfig, mode: "0440"}
                PLAIN: {file: /etc/plain}
                """))
        let secrets = policy.tools["git"]!.container.secrets
        #expect(secrets.map(\.name) == ["KUBE", "PLAIN", "TOKEN"])
        #expect(secrets[0].delivery == .file(path: "/run/secrets/kubeconfig", mode: 0o440))
        #expect(secrets[1].delivery == .file(path: "/etc/plain", mode: 0o400))
        #expect(secrets[2].delivery == .environment(name: "GIT_TOKEN"))
    }

    @Test(
        "each malformed secret is an error at its line and column, naming what is wrong",
        arguments: [
            ("A: {env: X, file: /x}", "9:7: secret A of tool 'git' names both env and file; a secret goes one way"),
            ("A: {}", "9:7: secret A of tool 'git' names neither env nor file: say how it reaches the tool"),
            ("A: {env: X, size: 3}", "9:19: unknown key 'size' in secret A of tool 'git'"),
            ("A: {env: 1X}", "9:16: env '1X' of secret A of tool 'git' is not a valid environment variable name"),
            ("A: {env: PATH}", "9:16: env 'PATH' of secret A of tool 'git' is a variable Airlock, the engine or the loader sets or reads itself"),
            ("A: {env: HTTPS_PROXY}", "9:16: env 'HTTPS_PROXY' of secret A"),
            ("A: {env: https_proxy}", "9:16: env 'https_proxy' of secret A"),
            ("A: {env: HOME}", "9:16: env 'HOME' of secret A"),
            ("A: {env: LD_PRELOAD}", "9:16: env 'LD_PRELOAD' of secret A"),
            ("A: {env: X, mode: \"0400\"}", "9:25: mode of secret A of tool 'git' applies to a file only"),
            ("A: {file: run/x}", "9:17: file 'run/x' of secret A of tool 'git' must be a normalized absolute path of a file"),
            ("A: {file: /run/../etc/x}", "9:17: file '/run/../etc/x' of secret A of tool 'git' must be a normalized absolute path"),
            ("A: {file: /run//x}", "9:17: file '/run//x' of secret A of tool 'git' must be a normalized absolute path"),
            ("A: {file: /run/x/}", "9:17: file '/run/x/' of secret A of tool 'git' must be a normalized absolute path"),
            ("A: {file: /}", "9:17: file '/' of secret A of tool 'git' must be a normalized absolute path"),
            ("A: {file: \"/run/a,b\"}", "9:17: file '/run/a,b' of secret A of tool 'git' may hold only letters"),
            ("A: {file: /workspace/token}", "9:17: file '/workspace/token' of secret A of tool 'git' cannot be used: it is inside /workspace"),
            ("A: {file: /tmp/token}", "9:17: file '/tmp/token' of secret A of tool 'git' cannot be used: it is inside /tmp"),
            ("A: {file: /tmp}", "9:17: file '/tmp' of secret A of tool 'git' cannot be used: it is inside /tmp"),
            ("A: {file: /proc/self/x}", "9:17: file '/proc/self/x' of secret A of tool 'git' cannot be used: it is inside /proc"),
            ("A: {file: /etc/hosts}", "9:17: file '/etc/hosts' of secret A of tool 'git' cannot be used: the engine mounts its own file there"),
            ("A: {file: /airlock-secrets}", "9:17: file '/airlock-secrets' of secret A of tool 'git' cannot be used: Airlock's own programs"),
            ("A: {file: /run/x, mode: \"0600\"}", "9:31: mode of secret A of tool 'git' must be octal read bits readable by the tool's user"),
            ("A: {file: /run/x, mode: \"0500\"}", "9:31: mode of secret A"),
            ("A: {file: /run/x, mode: \"4400\"}", "9:31: mode of secret A"),
            ("A: {file: /run/x, mode: \"0044\"}", "9:31: mode of secret A"),
            ("A: {file: /run/x, mode: \"0888\"}", "9:31: mode of secret A"),
            ("A: {file: /run/x, mode: \"r\"}", "9:31: mode of secret A"),
            ("A: {file: /run/x, mode: \"04000\"}", "9:31: mode of secret A"),
            ("1A: {env: X}", "9:7: invalid secret name '1A' in tool 'git'"),
            ("A: {env: X}\nB: {env: X}", "10:16: env 'X' of secret B of tool 'git' is also where secret A goes"),
            ("A: {file: /run/x}\nB: {file: /run/x}", "10:17: file '/run/x' of secret B of tool 'git' collides with '/run/x' of secret A"),
            ("A: {file: /run/x}\nB: {file: /run/x/y}", "10:17: file '/run/x/y' of secret B of tool 'git' collides with '/run/x' of secret A"),
        ])
    func malformed(secret: String, expected: String) {
        let found = errors(Self.policy(secret))
        #expect(found.count == 1 && found[0].hasPrefix(expected), "\(found)")
    }

    @Test("an env the tool's environment already sets is an error")
    func environmentCollision() {
        let found = errors(Self.policy("A: {env: GIT_TOKEN}", environment: "{GIT_TOKEN: fixed}"))
        #expect(found == ["9:16: env 'GIT_TOKEN' of secret A of tool 'git' is already set by the tool's environment"])
    }

    @Test("the modes a secret file may have: read bits only, readable by its owner")
    func modes() {
        #expect(SecretDeclaration.parseMode("0400") == 0o400)
        #expect(SecretDeclaration.parseMode("440") == 0o440)
        #expect(SecretDeclaration.parseMode("0444") == 0o444)
        for bad in ["0600", "0700", "0200", "0100", "0040", "0000", "1400", "+400", "-400", "0x400", "", "04", "0o400"] {
            #expect(SecretDeclaration.parseMode(bad) == nil, "\(bad)")
        }
    }

    @Test("the digest covers secrets: a changed mode, path or variable is another digest; the order of entries is not")
    func digest() throws {
        let base = Self.policy("A: {env: X}\nB: {file: /run/b, mode: \"0400\"}")
        let digest = try TestSupport.load(base).digest
        #expect(try TestSupport.load(Self.policy("B: {file: /run/b, mode: \"0400\"}\nA: {env: X}")).digest == digest)
        for changed in [
            "A: {env: Y}\nB: {file: /run/b, mode: \"0400\"}", "A: {env: X}\nB: {file: /run/c, mode: \"0400\"}",
            "A: {env: X}\nB: {file: /run/b, mode: \"0440\"}", "A: {env: X}",
        ] {
            #expect(try TestSupport.load(Self.policy(changed)).digest != digest, "\(changed)")
        }
    }

    @Test("policy diff reports a tool's secrets added, removed and changed")
    func diff() throws {
        let old = try TestSupport.load(Self.policy("A: {env: X}\nB: {file: /run/b}\nC: {env: Z}"))
        let new = try TestSupport.load(Self.policy("A: {env: Y}\nB: {file: /run/b, mode: \"0444\"}\nD: {file: /run/d}"))
        let diff = PolicyDiff.structural(old, new)
        #expect(diff.tools.first?.fields == [
            FieldChange(field: "secrets.A", before: "env X", after: "env Y"),
            FieldChange(field: "secrets.B", before: "file /run/b mode 0400", after: "file /run/b mode 0444"),
            FieldChange(field: "secrets.C", before: "env Z", after: nil),
            FieldChange(field: "secrets.D", before: nil, after: "file /run/d mode 0400"),
        ])
    }
}
