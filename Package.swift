// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "gru-convert",
    products: [
        .executable(name: "gru-convert", targets: ["gru-convert"]),
        .library(name: "Checkpoint", targets: ["Checkpoint"]),
        .library(name: "GRUReference", targets: ["GRUReference"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The C boundary: Debian's libhdf5-dev through pkg-config, plus a shim for what Swift cannot import.
        .systemLibrary(
            name: "CHDF5",
            pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]
        ),
        // OpenBLAS's CBLAS (Debian's libopenblas-dev): only the benchmark links it, to compare kernels.
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // Strict products and activations in C, one variant per instruction set, chosen at run time.
        .target(name: "CGRUKernels"),
        // The GRU math and the fused layout; knows nothing of files.
        .target(name: "GRUReference", dependencies: ["CGRUKernels"]),
        // HDF5 files, variable names, GRU cell discovery.
        .target(name: "Checkpoint", dependencies: ["CHDF5", "GRUReference"]),
        // One process-control call for the command line's child process.
        .target(name: "CProcess"),
        // The command line, thin over the libraries.
        .executableTarget(
            name: "gru-convert",
            dependencies: [
                "Checkpoint",
                "CProcess",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Times the forward passes for bench/bench_forward.py; not part of the tool.
        .executableTarget(name: "gru-bench", dependencies: ["GRUReference", "CGRUKernels", "COpenBLAS"]),
        // The libFuzzer harness; built only by fuzz/run.sh, with -sanitize=fuzzer (libFuzzer supplies main).
        .executableTarget(name: "gru-fuzz", dependencies: ["Checkpoint"]),
        .testTarget(name: "GRUReferenceTests", dependencies: ["GRUReference"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"]),
        .testTarget(name: "GruConvertTests", dependencies: ["gru-convert"]),
    ]
)
