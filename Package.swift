// swift-tools-version: 6.0
import PackageDescription

// The flow, one module a step: a file (TensorStore: one folder per format behind one source/sink
// interface) -> its variables -> GRU cells (GRUTools/Discovery) -> weights and forward passes of both
// GRU families (GRUCore, no I/O) -> a verdict (GRUTools/Verification) or a converted file
// (GRUTools/Conversion). The command line (gru-convert) owns process concerns: signals, the child
// process, temporary-file names, progress. Benchmarks (bench/swift) and the fuzz harness (fuzz/harness)
// are packages of their own, outside what a user builds.
let package = Package(
    name: "gru-convert",
    products: [
        .executable(name: "gru-convert", targets: ["gru-convert"]),
        .library(name: "GRUCore", targets: ["GRUCore"]),
        .library(name: "TensorStore", targets: ["TensorStore"]),
        .library(name: "GRUTools", targets: ["GRUTools"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Zip archives (Keras 3 `.keras`), read in memory.
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        // C boundaries.
        // Debian's libhdf5-dev through pkg-config, plus a shim for what Swift cannot import.
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        // Strict products and activations in C, one variant per instruction set, chosen at run time.
        .target(name: "CGRUKernels"),
        // One process-control call for the command line's child process.
        .target(name: "CProcess"),
        // CRC-32C with the crc32 instruction (checkpoints checksum every byte), early disk writes.
        .target(name: "CStorage"),

        // The GRU math of both families, the layout tables of every framework; knows nothing of files.
        .target(name: "GRUCore", dependencies: ["CGRUKernels"]),
        // The format-neutral tensor store (sources and sinks) and its formats, one folder each.
        .target(
            name: "TensorStore",
            dependencies: ["CHDF5", "CStorage", "GRUCore", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        // The tools over any store: cell discovery, conversion, verification.
        .target(name: "GRUTools", dependencies: ["TensorStore", "GRUCore"]),
        // The command line, thin over the libraries.
        .executableTarget(
            name: "gru-convert",
            dependencies: [
                "GRUTools", "TensorStore", "GRUCore", "CProcess",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "GRUCoreTests", dependencies: ["GRUCore", "CGRUKernels"]),
        .testTarget(
            name: "TensorStoreTests",
            dependencies: ["TensorStore", "GRUCore", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        .testTarget(name: "GRUToolsTests", dependencies: ["GRUTools", "TensorStore", "GRUCore"]),
        .testTarget(name: "GruConvertTests", dependencies: ["gru-convert", "TensorStore", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
    ]
)
