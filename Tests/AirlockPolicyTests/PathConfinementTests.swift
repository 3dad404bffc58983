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
}
