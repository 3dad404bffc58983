import CLibFuzzer
import Foundation

/// The `main` of a fuzzer executable. Built with `-sanitize=fuzzer` and `-DFUZZING`
/// (`scripts/fuzz`), it hands the command line to libFuzzer, which calls the executable's
/// `LLVMFuzzerTestOneInput`. Built normally, it replays the inputs it is given (files, or
/// directories of files) once each: a corpus, or a crash that libFuzzer wrote out.
///
/// SwiftPM renames an executable's `main` in debug builds and points `main` at it with the linker,
/// so libFuzzer's own `main` may be the one that runs or not; both end in `LLVMFuzzerTestOneInput`.
public enum FuzzDriver {
    public static func main() -> Never {
        #if FUZZING
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput))
        #else
        var files: [String] = []
        for argument in CommandLine.arguments.dropFirst() where !argument.hasPrefix("-") {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("no such file or directory: \(argument)\n".utf8))
                exit(64)
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []
                files += names.sorted().map { argument + "/" + $0 }
            } else {
                files.append(argument)
            }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            data.withUnsafeBytes { bytes in
                _ = LLVMFuzzerTestOneInput(bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count)
            }
        }
        print("replayed \(files.count) inputs without a crash (built without libFuzzer: scripts/fuzz fuzzes)")
        exit(0)
        #endif
    }
}

/// Splits an input into argv-like elements at newlines (`\n`), so that seeds are readable text.
public func fuzzElements(_ bytes: UnsafeBufferPointer<UInt8>) -> [[UInt8]] {
    bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
}

/// The repository the fuzzers were built from: its policy and grammars are their fixtures.
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
