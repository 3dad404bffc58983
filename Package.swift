// swift-tools-version: 6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// What both executables, `airlock` and `airlock-worker`, are built from.
let executableDependencies: [Target.Dependency] = [
    "AirlockCommandLine",
    "AirlockPolicy",
    "AirlockEngine",
    "AirlockSeccomp",
    "AirlockEvents",
    "AirlockInvocation",
    .product(name: "Logging", package: "swift-log"),
    .product(name: "ArgumentParser", package: "swift-argument-parser"),
]

let package = Package(
    name: "airlock",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "airlock", targets: ["airlock"]),
        .executable(name: "airlock-worker", targets: ["airlock-worker"]),
        .library(name: "AirlockPolicy", targets: ["AirlockPolicy"]),
        .library(name: "AirlockEngine", targets: ["AirlockEngine"]),
        .library(name: "AirlockSeccomp", targets: ["AirlockSeccomp"]),
        .library(name: "AirlockEvents", targets: ["AirlockEvents"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // No default traits: swift-configuration support is not used, and it is one more package to build.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // Pure: the policy model, tool grammars, the argv parser and the judge. No I/O beyond the
        // text it is handed (the loader reads files only through an injected reader).
        .target(
            name: "AirlockPolicy",
            dependencies: [
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // libseccomp, the system library (Debian: libseccomp-dev).
        .systemLibrary(
            name: "CSeccomp",
            pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]
        ),
        // Seccomp profiles in the OCI/Docker JSON format: load, validate and compile with libseccomp.
        .target(
            name: "AirlockSeccomp",
            dependencies: [
                "AirlockPolicy",
                "CSeccomp",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // openat2(2), which glibc 2.36 does not wrap: host mounts are opened beneath their root with
        // no symlink followed (see MountSystemCalls.swift).
        .target(name: "CLinuxMount"),
        // podman/docker: resolve the binary, build the run argv, launch, pump output, enforce the
        // deadline, reap orphans.
        .target(
            name: "AirlockEngine",
            dependencies: [
                "AirlockPolicy",
                "CLinuxMount",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSettings
        ),
        // Egress allow-lists: one HTTP CONNECT proxy per invocation on a Unix socket bound into the
        // tool's container (images/egress/airlock-egress.c relays to it from inside).
        .target(
            name: "AirlockEgress",
            dependencies: [
                "AirlockPolicy",
                // ExecutionDirectory: the socket's root-only directory, as mount staging's.
                "AirlockEngine",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // libpq, PostgreSQL's client library (Debian: libpq-dev for the header, libpq5 at run time),
        // loaded with dlopen when a PostgreSQL store is first used, not linked: see LibPQLoader.c.
        .target(
            name: "CLibPQ",
            linkerSettings: [.linkedLibrary("dl")]
        ),
        // SQLite options that only a variadic C call sets (the system SQLite that GRDB links).
        .systemLibrary(
            name: "CSQLiteConfig",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // The audit trail: event model, EventStore (SQLite via GRDB, PostgreSQL via libpq), spool,
        // reconciliation of invocations a crash left open.
        .target(
            name: "AirlockEvents",
            dependencies: [
                // One spelling of a sha256 (PolicyDigest.hex) for the audit chain too.
                "AirlockPolicy",
                "CLibPQ",
                "CSQLiteConfig",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                // SHA-256 of the audit chain.
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // The worker: the invocation pipeline, the socket API, tenants and the tool registry.
        // The invocation pipeline, shared by `airlock run` and the worker.
        .target(
            name: "AirlockInvocation",
            dependencies: [
                "AirlockPolicy",
                "AirlockEngine",
                "AirlockSeccomp",
                "AirlockEvents",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "AirlockServer",
            dependencies: [
                "AirlockPolicy",
                "AirlockEngine",
                "AirlockSeccomp",
                "AirlockEvents",
                "AirlockInvocation",
                // The egress proxy each invocation of a tool with egress gets (SwiftNIO, as the server).
                "AirlockEgress",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // What the two executables share: the audit options, policy and profile files, stderr, exit statuses.
        .target(
            name: "AirlockCommandLine",
            dependencies: [
                "AirlockPolicy",
                "AirlockEngine",
                "AirlockSeccomp",
                "AirlockEvents",
                // `run`, shared by airlock and airlock-worker.
                "AirlockInvocation",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        // The operators' commands and `airlock run`. No HTTP server, no SwiftNIO: `airlock serve`
        // execs `airlock-worker`, so that a one-shot command does not pay for loading them.
        .executableTarget(
            name: "airlock",
            dependencies: executableDependencies,
            swiftSettings: strictSettings,
            // SwiftPM exports every symbol of an executable (33,000 here). Nothing looks ours up,
            // but the runtime's start-up dladdr() scans them all: 0.45 ms of every invocation.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic"])]
        ),
        // The worker: what `airlock serve` runs.
        .executableTarget(
            name: "airlock-worker",
            dependencies: executableDependencies + [
                "AirlockServer",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings,
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic"])]
        ),
        .executableTarget(
            name: "JudgeBenchmark",
            dependencies: ["AirlockPolicy"],
            path: "Benchmarks/JudgeBenchmark",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "EventStoreBenchmark",
            dependencies: ["AirlockEvents", "CSQLiteConfig"],
            path: "Benchmarks/EventStoreBenchmark",
            swiftSettings: strictSettings
        ),
        // Fuzz targets (scripts/fuzz builds them with -sanitize=fuzzer into .build-fuzz; a normal
        // build replays a corpus with them). The C target only declares libFuzzer's entry points.
        .target(name: "CLibFuzzer", path: "Fuzz/CLibFuzzer"),
        .target(name: "FuzzDriver", dependencies: ["CLibFuzzer"], path: "Fuzz/FuzzDriver", swiftSettings: strictSettings),
        .executableTarget(
            name: "ArgvFuzzer", dependencies: ["AirlockPolicy", "FuzzDriver"], path: "Fuzz/ArgvFuzzer", swiftSettings: strictSettings),
        .executableTarget(
            name: "PolicyLoaderFuzzer", dependencies: ["AirlockPolicy", "FuzzDriver"], path: "Fuzz/PolicyLoaderFuzzer",
            swiftSettings: strictSettings),
        .testTarget(
            name: "AirlockPolicyTests",
            dependencies: ["AirlockPolicy"],
            resources: [],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AirlockSeccompTests",
            dependencies: ["AirlockSeccomp"],
            swiftSettings: strictSettings
        ),
        // renameat2(RENAME_EXCHANGE) for the mount race tests: Swift's Glibc module does not expose it.
        .target(
            name: "CRenameExchange",
            path: "Tests/CRenameExchange"
        ),
        .testTarget(
            name: "AirlockEngineTests",
            dependencies: ["AirlockEngine", "AirlockPolicy", "AirlockTestSupport", "CRenameExchange"],
            swiftSettings: strictSettings
        ),
        // What tests of several modules share: a throwaway PostgreSQL server, the mount table.
        .target(
            name: "AirlockTestSupport",
            path: "Tests/AirlockTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AirlockEgressTests",
            dependencies: [
                "AirlockEgress", "AirlockPolicy", "AirlockEngine", "AirlockTestSupport", "AirlockInvocation", "AirlockServer", "AirlockEvents",
                "AirlockSeccomp", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AirlockEventsTests",
            dependencies: [
                "AirlockEvents", "AirlockTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The invocation pipeline against an engine in memory: every ending, in milliseconds.
        .testTarget(
            name: "AirlockInvocationTests",
            dependencies: [
                "AirlockInvocation", "AirlockEngine", "AirlockEvents", "AirlockPolicy", "AirlockSeccomp",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AirlockServerTests",
            dependencies: [
                "AirlockServer", "AirlockInvocation", "AirlockEvents", "AirlockEngine", "AirlockPolicy", "AirlockSeccomp",
                "AirlockTestSupport", .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "airlockTests",
            dependencies: ["airlock", "airlock-worker", "AirlockTestSupport"],
            swiftSettings: strictSettings
        ),
    ]
)
