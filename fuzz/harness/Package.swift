// swift-tools-version: 6.0
import PackageDescription

// gru-fuzz: the libFuzzer harness over everything that reads a file. A package of its own, outside what a
// user builds; fuzz/run.sh builds it with AddressSanitizer and coverage and links libFuzzer's driver
// (a plain `swift build` links none, and the binary then says how to build it).
//   fuzz/run.sh 600
let package = Package(
    name: "gru-fuzz",
    dependencies: [
        .package(name: "gru-convert", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "gru-fuzz",
            dependencies: [
                .product(name: "GRUCore", package: "gru-convert"),
                .product(name: "TensorStore", package: "gru-convert"),
                .product(name: "GRUTools", package: "gru-convert"),
            ]
        ),
    ]
)
