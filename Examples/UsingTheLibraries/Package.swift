// swift-tools-version: 6.0
import PackageDescription

// A package outside gru-convert that uses its three libraries the way any user would: through their
// products and public declarations only. It is built and tested on its own (see README.md).
let package = Package(
    name: "UsingTheLibraries",
    dependencies: [
        // The gru-convert package two folders up. `name:` pins the name the products are looked up under,
        // so the example does not depend on what the checkout's folder happens to be called.
        .package(name: "gru-convert", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "gru-example",
            dependencies: [
                .product(name: "GRUCore", package: "gru-convert"),
                .product(name: "TensorStore", package: "gru-convert"),
                .product(name: "GRUTools", package: "gru-convert"),
            ]
        ),
        .testTarget(
            name: "UsingTheLibrariesTests",
            dependencies: [
                .product(name: "GRUCore", package: "gru-convert"),
                .product(name: "TensorStore", package: "gru-convert"),
                .product(name: "GRUTools", package: "gru-convert"),
            ]
        ),
    ]
)
