// swift-tools-version: 6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "airlock",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "airlock", targets: ["airlock"]),
        .library(name: "AirlockPolicy", targets: ["AirlockPolicy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
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
        .executableTarget(
            name: "airlock",
            dependencies: [
                "AirlockPolicy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "JudgeBenchmark",
            dependencies: ["AirlockPolicy"],
            path: "Benchmarks/JudgeBenchmark",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AirlockPolicyTests",
            dependencies: ["AirlockPolicy"],
            resources: [],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "airlockTests",
            dependencies: ["airlock"],
            swiftSettings: strictSettings
        ),
    ]
)
