// swift-tools-version: 6.0
import PackageDescription

// gru-bench: times the forward passes of gru-convert's cells for bench/bench_forward.py. A package of its
// own, outside what a user builds, because it links OpenBLAS (to set sgemm beside the package's kernels).
//   swift build -c release --package-path bench/swift
let package = Package(
    name: "gru-bench",
    dependencies: [
        .package(name: "gru-convert", path: "../.."),
    ],
    targets: [
        // OpenBLAS's CBLAS (Debian's libopenblas-dev, pkg-config `openblas`).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .executableTarget(
            name: "gru-bench",
            dependencies: [
                "COpenBLAS",
                .product(name: "GRUCore", package: "gru-convert"),
                .product(name: "TensorStore", package: "gru-convert"),
                .product(name: "GRUTools", package: "gru-convert"),
            ]
        ),
    ]
)
