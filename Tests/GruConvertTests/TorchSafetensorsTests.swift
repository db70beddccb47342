import Foundation
import Testing
import TensorStore

/// PyTorch's `nn.GRU` in safetensors files written by torch itself (fixtures/frameworks): every layer and
/// direction found, run with PyTorch's semantics and checked against torch's own outputs, split into the
/// explicit form and fused back to the same keys, bit for bit.
@Suite struct TorchSafetensorsTests {
    static func fixture(_ name: String) -> String { Fixtures.path("frameworks/\(name)") }

    @Test func everyLayerAndDirectionIsACell() throws {
        let result = try GRUConvertBinary.run("inspect", Self.fixture("torch_gru2_bidir.safetensors"))
        #expect(result.status == 0)
        #expect(result.stdout.hasSuffix("""
            CELL        LAYOUT     FAMILY       INPUT  UNITS  DTYPE    SLOTS  FRAMEWORK  LAYER  DIRECTION
            l0          torch-gru  reset-after      5      6  float32  -      PyTorch    0      forward
            l0_reverse  torch-gru  reset-after      5      6  float32  -      PyTorch    0      backward
            l1          torch-gru  reset-after     12      6  float32  -      PyTorch    1      forward
            l1_reverse  torch-gru  reset-after     12      6  float32  -      PyTorch    1      backward

            16 variables (1188 elements), 4 GRU cells, 0 problems, 0 other variables

            """), "\(result.stdout)")
        // A module prefix is part of the cell's scope; other tensors are other variables.
        let prefixed = try GRUConvertBinary.run("inspect", Self.fixture("torch_prefixed.safetensors"))
        #expect(prefixed.stdout.contains("\nrnn.l0  torch-gru  reset-after      5      6  float32  -      PyTorch    0      forward\n"), "\(prefixed.stdout)")
        #expect(prefixed.stdout.contains("1 GRU cell, 0 problems, 2 other variables"))
        // An nn.GRUCell's keys have no layer: the cell is its module path.
        let cell = try GRUConvertBinary.run("inspect", Self.fixture("torch_grucell.safetensors"))
        #expect(cell.stdout.contains("\ncell  torch-gru  reset-after      5      6  float32  -      PyTorch    0      forward\n"), "\(cell.stdout)")
    }

    /// `verify --reference` with torch's own runs of each cell (each layer and direction alone, from a
    /// non-zero state): every cell within the bound, float32 and float64.
    @Test(arguments: ["torch_gru.safetensors", "torch_gru2_bidir.safetensors", "torch_prefixed.safetensors", "torch_gru_f64.safetensors",
                      "torch_grucell.safetensors"])
    func torchsOwnOutputsAreReproduced(_ name: String) throws {
        let result = try GRUConvertBinary.run("verify", Self.fixture(name), "--reference", Self.fixture(name + ".reference.h5"))
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let cells = name == "torch_gru2_bidir.safetensors" ? 4 : 1
        #expect(result.stdout.hasSuffix("equivalent: \(cells) of \(cells) cells\n"))
        #expect(result.stdout.components(separatedBy: "(within the bound)").count - 1 == cells)
    }

    /// Negative control: another model's torch run (same shapes, other weights) is not reproduced.
    @Test func anotherModelsOutputsAreNot() throws {
        let result = try GRUConvertBinary.run("verify", Self.fixture("torch_gru.safetensors"), "--reference",
                                              Self.fixture("torch_gru_f64.safetensors.reference.h5"))
        #expect(result.status == 1)
        #expect(result.stdout.contains("NOT EQUIVALENT") && !result.stdout.contains("(within the bound)"), "\(result.stdout)")
    }

    /// Split to the explicit form (each kernel the transpose of its row block) and fused back: the same
    /// keys holding the same bytes; the two files verify as equivalent across formats.
    @Test func splitThenFuseGivesBackTorchsTensors() throws {
        let input = Self.fixture("torch_gru2_bidir.safetensors")
        try withScratchDirectory("torch") { directory in
            let split = directory + "/split.h5", back = directory + "/back.h5"
            #expect(try GRUConvertBinary.run("convert", input, split).status == 0)
            #expect(try GRUConvertBinary.run("convert", split, back, "--to", "fused").status == 0)
            let source = try SafetensorsFile(readingFrom: input), written = try HDF5File(readingFrom: back)
            #expect(try written.datasetNames() == source.variables().map(\.name))
            for variable in try source.variables() {
                #expect(try written.readAll(variable.name) == source.readAll(variable.name), "\(variable.name)")
            }
            // Wz of the reverse first layer is the transpose of rows H..<2H of weight_ih_l0_reverse.
            let explicit = try HDF5File(readingFrom: split)
            let wz = try explicit.read("l0_reverse/Wz", as: Float.self), ih = try source.read("weight_ih_l0_reverse", as: Float.self)
            #expect(wz.shape == [5, 6])
            let transposed: [Float] = (0..<5).flatMap { i in (0..<6).map { j in ih.scalars[(6 + j) * 5 + i] } }
            #expect(wz.scalars == transposed)
            // Negative control: the block read without transposing (rows H..<2H as they lie) is other values.
            let untransposed = Array(ih.scalars[30..<60])
            #expect(wz.scalars != untransposed)
            let verified = try GRUConvertBinary.run("verify", input, back)
            #expect(verified.status == 0 && verified.stdout.hasSuffix("equivalent: 4 of 4 cells\n"), "\(verified.stdout)")
        }
    }

    /// A truncated file (a copy cut short, as a download can be) is one line naming the tensor, status 2,
    /// for every subcommand, and convert leaves nothing. Negative control: the whole file converts.
    @Test func aTruncatedFileIsOneLine() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.fixture("torch_gru.safetensors")))
        try withScratchDirectory("truncated") { directory in
            let cut = directory + "/cut.safetensors", output = directory + "/out.h5"
            try bytes.dropLast(1).write(to: URL(fileURLWithPath: cut))
            let line = "error: \(cut): weight_ih_l0: its bytes end at 936, past the file's 935 bytes of data; it is truncated\n"
            for arguments in [["inspect", cut], ["verify", cut], ["convert", cut, output]] {
                let result = try GRUConvertBinary.run(arguments)
                #expect(result.status == 2 && result.stderr == line && result.stdout.isEmpty, "\(arguments[0]): \(result.stderr)")
            }
            #expect(!FileManager.default.fileExists(atPath: output))
            #expect(try GRUConvertBinary.run("convert", Self.fixture("torch_gru.safetensors"), output).status == 0)
        }
    }

    /// Written as safetensors, fused back from either explicit form (HDF5, or safetensors keeping the split
    /// record in `__metadata__`), torch's own file comes out byte for byte: same keys, header, padding and
    /// data order. Negative control: the explicit safetensors file is another file.
    @Test func fusedBackToSafetensorsIsTorchsFileByteForByte() throws {
        try withScratchDirectory("torch-safetensors") { directory in
            for (name, middle) in [("torch_gru2_bidir.safetensors", "split.h5"), ("torch_prefixed.safetensors", "split.safetensors"),
                                   ("torch_grucell.safetensors", "split-cell.h5")] {
                let input = Self.fixture(name), split = directory + "/" + middle, back = directory + "/back-" + name
                let splitting = try GRUConvertBinary.run("convert", input, split)
                let fusing = try GRUConvertBinary.run("convert", split, back, "--to", "fused")
                #expect(splitting.status == 0 && fusing.status == 0, "\(splitting.stderr)\(fusing.stderr)")
                let original = try Data(contentsOf: URL(fileURLWithPath: input))
                #expect(try Data(contentsOf: URL(fileURLWithPath: back)) == original, "\(name)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: split)) != original)
            }
            let explicit = try SafetensorsFile(readingFrom: directory + "/split.safetensors")
            #expect(try explicit.stringAttribute("gru_convert_layout", of: "rnn.l0") == "torch-gru")
            #expect(try explicit.attributeNames(of: "") == ["format"])
        }
    }

    /// What safetensors cannot hold is refused by name, or left out and named with --drop-attributes.
    @Test func attributesAreRefusedOrNamed() throws {
        let input = Fixtures.path("keras/tfk_reset_after.h5")
        try withScratchDirectory("safetensors-attributes") { directory in
            let output = directory + "/out.safetensors"
            let refused = try GRUConvertBinary.run("convert", input, output)
            #expect(refused.status == 2 && refused.stderr == "error: \(input): gru@weight_names: is an attribute, which a safetensors file "
                    + "cannot hold; convert to HDF5 to keep it, or leave attributes out with --drop-attributes\n", "\(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: output))
            let dropped = try GRUConvertBinary.run("convert", input, output, "--drop-attributes")
            #expect(dropped.status == 0 && dropped.stderr == "note: 2 attributes left out, which a safetensors file cannot hold "
                    + "(--drop-attributes): gru@weight_names, top_level_model_weights@weight_names\n", "\(dropped.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["out.safetensors"])
        }
    }

    /// An `nn.GRU(bias=False)` (no bias keys): verified as a reset-after cell with zero biases; its explicit
    /// form is refused by name (no bias to split), never a crash. Written here with the library's writer.
    @Test func aBiasFreeGRUIsVerifiedAndItsSplitRefused() throws {
        try withScratchDirectory("no-bias") { directory in
            let path = directory + "/plain.safetensors"
            let writer = try SafetensorsWriter(creating: path, temporaryPath: path + ".tmp", temporaryDataPath: path + ".data")
            for (name, shape) in [("weight_ih_l0", [12, 3]), ("weight_hh_l0", [12, 4])] {
                let values = (0..<(shape[0] * shape[1])).map { Float(($0 * 37) % 17) / 17 - 0.5 }
                try writer.create(name, elementType: .float(bits: 32), shape: shape)
                try values.withUnsafeBytes { try writer.writeRawRows(name, rows: 0..<shape[0], from: $0) }
            }
            try writer.finish()
            let inspected = try GRUConvertBinary.run("inspect", path)
            #expect(inspected.stdout.contains("\nl0    torch-gru-no-bias  reset-after      3      4  float32  -      PyTorch    0      forward\n"), "\(inspected.stdout)")
            let verified = try GRUConvertBinary.run("verify", path)
            #expect(verified.status == 0 && verified.stdout.hasSuffix("equivalent: 1 of 1 cells\n"), "\(verified.stdout)")
            let output = directory + "/split.h5"
            let refused = try GRUConvertBinary.run("convert", path, output)
            #expect(refused.status == 2 && refused.stderr == "error: \(path): l0: a torch-gru-no-bias cell stores no br (its biases are "
                    + "zero); writing its explicit form is not supported yet (leave it out with --cell)\n", "\(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: output))
        }
    }
}
