import Foundation
import Testing
import TensorStore

/// Keras 3's own `.weights.h5` files, written by Keras 3 (fixtures/frameworks): variables stored by
/// position (`layers/<key>/cell/vars/0..2`) are found as cells of both families, run against Keras's own
/// outputs, and split and fused back to an identical file; the optimizer's numbered variables are never cells.
@Suite struct Keras3WeightsTests {
    static func fixture(_ name: String) -> String { Fixtures.path("frameworks/\(name)") }

    @Test func cellsAreFoundByPosition() throws {
        let bidirectional = try GRUConvertBinary.run("inspect", Self.fixture("k3_bidir.weights.h5"))
        #expect(bidirectional.stdout.hasSuffix("""
            CELL                                      LAYOUT              FAMILY       INPUT  UNITS  DTYPE    SLOTS  FRAMEWORK  LAYER            DIRECTION
            layers/bidirectional/backward_layer/cell  keras3-reset-after  reset-after      5      6  float32  -      Keras 3    0 bidirectional  backward
            layers/bidirectional/forward_layer/cell   keras3-reset-after  reset-after      5      6  float32  -      Keras 3    0 bidirectional  forward

            6 variables (468 elements), 2 GRU cells, 0 problems, 0 other variables

            """), "\(bidirectional.stdout)")
        let before = try GRUConvertBinary.run("inspect", Self.fixture("k3_gru_rb.weights.h5"))
        #expect(before.stdout.contains("\nlayers/gru/cell  keras3-reset-before  reset-before      5      6  float32  -      Keras 3    0 gru  forward\n"), "\(before.stdout)")
        // A compiled model's optimizer/vars/0..11 (iterations, learning rate, moments) are other variables.
        let adam = try GRUConvertBinary.run("inspect", Self.fixture("k3_adam.weights.h5"))
        #expect(adam.stdout.hasSuffix("17 variables (746 elements), 1 GRU cell, 0 problems, 14 other variables\n"), "\(adam.stdout)")
    }

    @Test(arguments: ["k3_gru.weights.h5", "k3_gru_rb.weights.h5", "k3_adam.weights.h5"])
    func kerasOwnOutputsAreReproduced(_ name: String) throws {
        let result = try GRUConvertBinary.run("verify", Self.fixture(name), "--reference", Self.fixture(name + ".reference.h5"))
        #expect(result.status == 0 && result.stdout.contains("(within the bound)") && result.stdout.hasSuffix("equivalent: 1 of 1 cells\n"),
                "\(result.stdout)\(result.stderr)")
    }

    /// Negative control: the reset-after model's cell against the reset-before model's run (same sizes).
    @Test func theOtherFamilysOutputsAreNot() throws {
        let result = try GRUConvertBinary.run("verify", Self.fixture("k3_gru.weights.h5"), "--reference",
                                              Self.fixture("k3_gru_rb.weights.h5.reference.h5"))
        #expect(result.status == 1 && result.stdout.contains("NOT EQUIVALENT"), "\(result.stdout)")
    }

    @Test func splitThenFuseGivesAnIdenticalFile() throws {
        let input = Self.fixture("k3_bidir.weights.h5")
        try withScratchDirectory("keras3") { directory in
            let split = directory + "/split.h5", back = directory + "/back.weights.h5"
            let splitting = try GRUConvertBinary.run("convert", input, split)
            let fusing = try GRUConvertBinary.run("convert", split, back, "--to", "fused")
            #expect(splitting.status == 0 && fusing.status == 0)
            let same = try GRUConvertBinary.runTool("/usr/bin/h5diff", [input, back])
            #expect(same == 0)
            let listed = try StructureRoundTripTests.tool("h5ls", ["-r", input], file: input)
            let listedBack = try StructureRoundTripTests.tool("h5ls", ["-r", back], file: back)
            #expect(listed.output == listedBack.output)
            // Negative control: the split file is another file.
            let other = try GRUConvertBinary.runTool("/usr/bin/h5diff", [input, split])
            #expect(other == 1)
        }
    }

    /// A bidirectional layer's two cells are paired with their reference runs by the user's layer names,
    /// which Keras 3 keeps in `vars@name` (`bidirectional/forward_gru`), not by the file's positional keys.
    /// Negative control: with the two runs' names exchanged, both cells fail.
    @Test func cellsArePairedWithRunsByTheUsersNames() throws {
        let input = Self.fixture("k3_bidir.weights.h5"), reference = Self.fixture("k3_bidir.weights.h5.reference.h5")
        let paired = try GRUConvertBinary.run("verify", input, "--reference", reference)
        #expect(paired.status == 0 && paired.stdout.hasSuffix("equivalent: 2 of 2 cells\n"), "\(paired.stdout)\(paired.stderr)")
        #expect(paired.stdout.components(separatedBy: "(within the bound)").count - 1 == 2)
        try withScratchDirectory("swapped-runs") { directory in
            let swapped = directory + "/swapped.h5"
            let writer = try HDF5Writer(creating: swapped, temporaryPath: swapped + ".tmp")
            let source = try HDF5File(readingFrom: reference)
            for (from, to) in [("bidirectional/forward_gru", "bidirectional/backward_gru"), ("bidirectional/backward_gru", "bidirectional/forward_gru")] {
                for part in ["inputs", "initial_state", "outputs"] {
                    try writer.write(to + "/" + part, values: try source.readAll(from + "/" + part))
                }
            }
            try writer.finish()
            let crossed = try GRUConvertBinary.run("verify", input, "--reference", swapped)
            #expect(crossed.status == 1 && crossed.stdout.hasSuffix("NOT equivalent: 2 of 2 cells differ\n"), "\(crossed.stdout)")
        }
    }
}
