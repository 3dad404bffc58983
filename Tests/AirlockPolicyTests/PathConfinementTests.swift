import AirlockPolicy
import Testing

@Suite("Lexical path confinement")
struct PathConfinementTests {
    @Test(
        "paths inside the roots",
        arguments: ["sub", ".", "", "./a/b", "a/./b", "/workspace", "/workspace/a/../b", "/tmp/out", "a/b/../c"])
    func inside(path: String) {
        #expect(PathConfinement.isWithin(path, roots: ["/workspace", "/tmp"]))
    }

    @Test(
        "paths that escape or lie elsewhere",
        arguments: [
            "/etc", "/", "..", "../workspace", "a/../../x", "/workspace/../etc", "/workspacex", "~/x", "~",
            "/tmpfoo", "/workspace/../../workspace/..",
        ])
    func outside(path: String) {
        #expect(!PathConfinement.isWithin(path, roots: ["/workspace", "/tmp"]))
    }

    @Test("the fast check for normal paths agrees with full resolution on every path")
    func fastPathAgrees() {
        let pieces = ["a", "b", ".", "..", "", ".x", "..y", "...", "~", "workspace", "tmp", "sub", "/"]
        let rootSets: [[String]] = [["/workspace", "/tmp"], ["/workspace/sub"], ["/"], ["/tmp"], ["/workspace/a/b"]]
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<20_000 {
            var path = Int.random(in: 0...1, using: &generator) == 0 ? "/" : ""
            for index in 0..<Int.random(in: 0...5, using: &generator) {
                if index > 0 { path += "/" }
                path += pieces.randomElement(using: &generator)!
            }
            for roots in rootSets {
                let expected = PathConfinement.resolve(path).map { resolved in
                    roots.contains { $0 == "/" || resolved == $0 || resolved.hasPrefix($0 + "/") }
                } ?? false
                #expect(PathConfinement.isWithin(path, roots: roots) == expected, "\(path) in \(roots)")
            }
        }
    }
}
