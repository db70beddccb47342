// swift-tools-version: 6.0
import PackageDescription

// gru-fuzz: the libFuzzer harness over everything that reads a file (HDF5); gru-fuzz-checkpoint: the same
// over TensorFlow checkpoints (each input is an index, data shards and a state file, see its main.swift);
// gru-fuzz-safetensors: over safetensors files; gru-fuzz-onnx: over ONNX models (reader and writer);
// gru-fuzz-torch: over torch.save files (zip and legacy; the pickle machine).
// A package of its own, outside what a user builds; fuzz/run.sh builds either with AddressSanitizer and
// coverage and links libFuzzer's driver (a plain `swift build` links none, and the binary then says how to
// build it).
//   fuzz/run.sh 600
//   fuzz/run.sh 3600 checkpoint
//   fuzz/run.sh 1800 safetensors
//   fuzz/run.sh 1800 onnx
//   fuzz/run.sh 1800 torch
let package = Package(
    name: "gru-fuzz",
    dependencies: [
        .package(name: "gru-convert", path: "../.."),
    ],
    targets: [
        // libFuzzer's driver and the trace line, shared by both targets.
        .target(name: "FuzzDriver"),
        .executableTarget(
            name: "gru-fuzz",
            dependencies: [
                "FuzzDriver",
                .product(name: "GRUCore", package: "gru-convert"),
                .product(name: "TensorStore", package: "gru-convert"),
                .product(name: "GRUTools", package: "gru-convert"),
            ]
        ),
        .executableTarget(
            name: "gru-fuzz-safetensors",
            dependencies: [
                "FuzzDriver",
                .product(name: "GRUCore", package: "gru-convert"),
                .product(name: "TensorStore", package: "gru-convert"),
                .product(name: "GRUTools", package: "gru-convert"),
            ]
        ),
        .executableTarget(
            name: "gru-fuzz-onnx",
            dependencies: [
                "FuzzDriver",
                .product(name: "GRUCore", package: "gru-convert"),
                .product(name: "TensorStore", package: "gru-convert"),
                .product(name: "GRUTools", package: "gru-convert"),
            ]
        ),
        .executableTarget(
            name: "gru-fuzz-keras",
            dependencies: [
                "FuzzDriver",
                .product(name: "GRUCore", package: "gru-convert"),
                .product(name: "TensorStore", package: "gru-convert"),
                .product(name: "GRUTools", package: "gru-convert"),
            ]
        ),
        .executableTarget(
            name: "gru-fuzz-torch",
            dependencies: [
                "FuzzDriver",
                .product(name: "GRUCore", package: "gru-convert"),
                .product(name: "TensorStore", package: "gru-convert"),
                .product(name: "GRUTools", package: "gru-convert"),
            ]
        ),
        .executableTarget(
            name: "gru-fuzz-checkpoint",
            dependencies: [
                "FuzzDriver",
                .product(name: "GRUCore", package: "gru-convert"),
                .product(name: "TensorStore", package: "gru-convert"),
                .product(name: "GRUTools", package: "gru-convert"),
            ]
        ),
    ]
)
