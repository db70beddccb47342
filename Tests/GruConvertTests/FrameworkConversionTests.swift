import Foundation
import Testing
import TensorStore
import ZIPFoundation

/// `convert --to keras|keras3|torch`: the framework-made fixtures (fixtures/frameworks) moved between
/// frameworks layer by layer and direction by direction, bit for bit within a family, proven by `verify`
/// across the two files; across families refused with the measured difference.
@Suite struct FrameworkConversionTests {
    static func fixture(_ name: String) -> String { Fixtures.path("frameworks/\(name)") }

    /// A two-layer bidirectional nn.GRU becomes Keras 3's two Bidirectional layers, keys from the class name.
    @Test func pytorchStackBecomesKeras3Layers() throws {
        try withScratchDirectory("torch-keras3") { directory in
            let input = Self.fixture("torch_gru2_bidir.safetensors"), output = directory + "/model.weights.h5"
            let converted = try GRUConvertBinary.run("convert", input, output)      // --to keras3 from the name
            #expect(converted.status == 0 && converted.stderr.isEmpty, "\(converted.stderr)")
            #expect(converted.stdout.hasPrefix("l0 -> layers/bidirectional/forward_layer/cell: torch-gru -> keras3-reset-after\n"
                + "  weight_ih_l0 -> layers/bidirectional/forward_layer/cell/vars/0\n"), "\(converted.stdout)")
            let file = try HDF5File(readingFrom: output)
            #expect(try file.variables().map(\.name) == ["0", "1", "2"].map { "layers/bidirectional/backward_layer/cell/vars/\($0)" }
                + ["0", "1", "2"].map { "layers/bidirectional/forward_layer/cell/vars/\($0)" }
                + ["0", "1", "2"].map { "layers/bidirectional_1/backward_layer/cell/vars/\($0)" }
                + ["0", "1", "2"].map { "layers/bidirectional_1/forward_layer/cell/vars/\($0)" })
            #expect(try file.containers().contains("vars") && file.containers().contains("layers/bidirectional_1/backward_layer/vars"))
            // Layer 1 reads both directions of layer 0: [2H, 3H] kernels.
            #expect(try file.variables().first { $0.name == "layers/bidirectional_1/forward_layer/cell/vars/0" }?.shape == [12, 18])
            let verified = try GRUConvertBinary.run("verify", input, output)
            #expect(verified.status == 0 && verified.stdout.hasSuffix("equivalent: 4 of 4 cells\n"), "\(verified.stdout)")
            #expect(verified.stdout.contains("l1_reverse vs layers/bidirectional_1/backward_layer/cell: EQUIVALENT\n"
                + "  weights   identical, every element bit for bit\n"), "\(verified.stdout)")
        }
    }

    /// Keras 2's weights file: `layer_names` and each layer's `weight_names` in Keras's order (forward
    /// then backward), the datasets at `/<L>/<weight name>`; and back to PyTorch, the same bytes as torch's own file.
    @Test func kerasTwoFileHasItsLoadersAttributesAndComesBackByteForByte() throws {
        try withScratchDirectory("torch-keras2") { directory in
            let input = Self.fixture("torch_gru2_bidir.safetensors")
            let keras = directory + "/model.h5", back = directory + "/back.safetensors"
            #expect(try GRUConvertBinary.run("convert", input, keras, "--to", "keras").status == 0)
            let file = try HDF5File(readingFrom: keras)
            #expect(try file.stringListAttribute("layer_names", of: "") == ["bidirectional", "bidirectional_1"])
            #expect(try file.stringListAttribute("weight_names", of: "bidirectional_1") == [
                "bidirectional_1/forward_gru/gru_cell/kernel:0", "bidirectional_1/forward_gru/gru_cell/recurrent_kernel:0",
                "bidirectional_1/forward_gru/gru_cell/bias:0", "bidirectional_1/backward_gru/gru_cell/kernel:0",
                "bidirectional_1/backward_gru/gru_cell/recurrent_kernel:0", "bidirectional_1/backward_gru/gru_cell/bias:0"])
            #expect(try file.variables().contains { $0.name == "bidirectional/bidirectional/backward_gru/gru_cell/bias:0" && $0.shape == [2, 18] })
            let returned = try GRUConvertBinary.run("convert", keras, back, "--to", "torch")
            #expect(returned.status == 0, "\(returned.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: back)) == Data(contentsOf: URL(fileURLWithPath: input)))
        }
    }

    /// Keras 2 → Keras 3 → Keras 2 within the reset-before family: the layer keeps its user name, values bit for bit.
    @Test func kerasTwoAndThreeWithinResetBefore() throws {
        try withScratchDirectory("keras-rb") { directory in
            let input = Self.fixture("k2_gru_rb.h5"), three = directory + "/m.weights.h5", two = directory + "/m.h5"
            #expect(try GRUConvertBinary.run("convert", input, three).status == 0)
            let again = try GRUConvertBinary.run("convert", three, two, "--to", "keras")
            #expect(again.status == 0 && again.stdout.contains(" -> keras-reset-before\n"), "\(again.stdout)\(again.stderr)")
            let verified = try GRUConvertBinary.run("verify", input, two)
            #expect(verified.status == 0 && verified.stdout.contains("weights   identical, every element bit for bit"), "\(verified.stdout)")
        }
    }

    /// A TF1 GRUCell resets before the recurrent product: PyTorch has no such cell. The refusal carries
    /// the difference measured on the file's own weights (seeded, so exact) and what to do instead; nothing
    /// is written. The same cell into Keras (reset_after=False) is exact.
    @Test func resetBeforeIntoPyTorchIsRefusedWithTheMeasuredDifference() throws {
        try withScratchDirectory("tf1-torch") { directory in
            let input = Fixtures.path("gru_single.h5"), output = directory + "/t.safetensors"
            let refused = try GRUConvertBinary.run("convert", input, output, "--to", "torch")
            #expect(refused.status == 2 && refused.stdout.isEmpty)
            #expect(refused.stderr == "error: \(input): rnn/gru_cell: a reset-before cell (tf-gru-cell) cannot be written as a PyTorch "
                    + "nn.GRU state dict: nn.GRU applies the reset after the recurrent product, and run that way this cell's outputs "
                    + "differ by up to 0.4858 (8 sequences of 32 steps, seed 0); write it with --to keras (reset_after=False), "
                    + "--to keras3, --to onnx (linear_before_reset=0) or --to explicit instead\n", "\(refused.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
            let keras = directory + "/k.h5"
            let converted = try GRUConvertBinary.run("convert", input, keras, "--to", "keras")
            #expect(converted.status == 0 && converted.stderr == "note: 2 attributes of the input not written into a Keras 2 weights file: "
                    + "/@generator, /@tensorflow_version\n", "\(converted.stderr)")
            #expect(try GRUConvertBinary.run("verify", input, keras).status == 0)
        }
    }

    /// Negative control for the proofs above: the converted Keras 3 file with the z and r columns of one
    /// kernel exchanged is caught by `verify`, and named.
    @Test func aSwappedGateInTheConvertedFileIsCaught() throws {
        try withScratchDirectory("swapped") { directory in
            let input = Self.fixture("torch_gru.safetensors"), good = directory + "/good.weights.h5", bad = directory + "/bad.weights.h5"
            #expect(try GRUConvertBinary.run("convert", input, good).status == 0)
            let source = try HDF5File(readingFrom: good)
            let writer = try HDF5Writer(creating: bad, temporaryPath: bad + ".tmp")
            for variable in try source.variables() {
                var values: [Float] = try source.read(variable.name, as: Float.self).scalars
                if variable.name.hasSuffix("vars/0") {
                    let (rows, h) = (variable.shape[0], variable.shape[1] / 3)
                    for row in 0..<rows { for c in 0..<h { values.swapAt(row * 3 * h + c, row * 3 * h + h + c) } }
                }
                try writer.create(variable.name, elementType: .float(bits: 32), shape: variable.shape)
                try values.withUnsafeBytes { try writer.writeRawRows(variable.name, rows: 0..<variable.shape[0], from: $0) }
            }
            try writer.finish()
            let verified = try GRUConvertBinary.run("verify", input, bad)
            #expect(verified.status == 1 && verified.stdout.contains("NOT EQUIVALENT"), "\(verified.stdout)")
            #expect(verified.stdout.contains("\n  ! Wr/Wz swapped\n"), "\(verified.stdout)")
        }
    }

    /// The bidirectional mistake: forward and backward exchanged in one layer is named as such (and the
    /// untouched layer stays equivalent: the negative control).
    @Test func directionsSwappedInABidirectionalLayerAreNamed() throws {
        try withScratchDirectory("directions") { directory in
            let input = Self.fixture("torch_gru2_bidir.safetensors"), good = directory + "/good.weights.h5", bad = directory + "/bad.weights.h5"
            #expect(try GRUConvertBinary.run("convert", input, good).status == 0)
            let source = try HDF5File(readingFrom: good)
            let writer = try HDF5Writer(creating: bad, temporaryPath: bad + ".tmp")
            for variable in try source.variables() {
                let values: [Float] = try source.read(variable.name, as: Float.self).scalars
                var name = variable.name
                if name.hasPrefix("layers/bidirectional/") {
                    name = name.contains("forward_layer") ? name.replacingOccurrences(of: "forward_layer", with: "backward_layer")
                        : name.replacingOccurrences(of: "backward_layer", with: "forward_layer")
                }
                try writer.create(name, elementType: .float(bits: 32), shape: variable.shape)
                try values.withUnsafeBytes { try writer.writeRawRows(name, rows: 0..<variable.shape[0], from: $0) }
            }
            try writer.finish()
            let verified = try GRUConvertBinary.run("verify", input, bad)
            #expect(verified.status == 1 && verified.stdout.hasSuffix("NOT equivalent: 2 of 4 cells differ\n"), "\(verified.stdout)")
            #expect(verified.stdout.contains("  ! directions swapped: the forward cell layers/bidirectional/forward_layer/cell holds the "
                + "weights of the other direction (layers/bidirectional/backward_layer/cell is bit for bit this cell): forward and backward "
                + "exchanged in a bidirectional layer\n"), "\(verified.stdout)")
            #expect(verified.stdout.contains("l1 vs layers/bidirectional_1/forward_layer/cell: EQUIVALENT\n"))
        }
    }

    /// ONNX both ways: PyTorch's stack into one bidirectional GRU node per layer (linear_before_reset=1), a
    /// TF1 GRUCell into linear_before_reset=0, and the exporter's own ONNX model read back into Keras, each
    /// proven bit for bit by `verify` across the two files.
    @Test func onnxHoldsBothFamilies() throws {
        try withScratchDirectory("onnx") { directory in
            let torch = Self.fixture("torch_gru2_bidir.safetensors"), model = directory + "/m.onnx"
            let written = try GRUConvertBinary.run("convert", torch, model)          // --to onnx from the name
            #expect(written.status == 0 && written.stdout.contains("l1_reverse -> gru_1/reverse: torch-gru -> onnx-reset-after\n"),
                    "\(written.stdout)\(written.stderr)")
            let file = try ONNXFile(readingFrom: model)
            #expect(try file.stringAttribute("linear_before_reset", of: "gru_1/reverse") == "1")
            #expect(try GRUConvertBinary.run("verify", torch, model).stdout.hasSuffix("equivalent: 4 of 4 cells\n"))
            let tf1 = Fixtures.path("gru_single.h5"), before = directory + "/tf1.onnx"
            let converted = try GRUConvertBinary.run("convert", tf1, before, "--to", "onnx")
            #expect(converted.status == 0 && converted.stdout.contains("rnn/gru_cell -> gru_0: tf-gru-cell -> onnx-reset-before\n"))
            #expect(try ONNXFile(readingFrom: before).stringAttribute("linear_before_reset", of: "gru_0") == "0")
            let verified = try GRUConvertBinary.run("verify", tf1, before)
            #expect(verified.status == 0 && verified.stdout.contains("weights   identical, every element bit for bit"), "\(verified.stdout)")
            // The exporter's model (W, R external, in torch_gru.onnx.data) into Keras 3, against torch's own file.
            let keras = directory + "/k.weights.h5"
            // Its graph's other initializers (a Reshape's shape, a zero initial state) are named, never dropped silently.
            let plumbing = try GRUConvertBinary.run("convert", Self.fixture("torch_gru.onnx"), keras)
            #expect(plumbing.status == 2 && plumbing.stderr.contains(": val_57: is not part of the GRU cells converted"), "\(plumbing.stderr)")
            let dropped = try GRUConvertBinary.run("convert", Self.fixture("torch_gru.onnx"), keras, "--drop-unsupported")
            #expect(dropped.status == 0 && dropped.stderr == "note: 2 objects left out (--drop-unsupported): val_57, val_9\n", "\(dropped.stderr)")
            let against = try GRUConvertBinary.run("verify", Self.fixture("torch_gru.safetensors"), keras)
            #expect(against.status == 0 && against.stdout.contains("l0 vs layers/gru/cell: EQUIVALENT\n"), "\(against.stdout)")
            // Negative control: the reset-before ONNX model against PyTorch's reset-after file of other weights fails.
            #expect(try GRUConvertBinary.run("verify", before, Self.fixture("torch_gru.safetensors")).status == 1)
        }
    }

    /// A truncated ONNX model or Keras archive ends in one line and status 2 at the command line, no output
    /// written; the whole file (the negative control) is read.
    @Test func truncatedModelsAndArchivesAreOneLine() throws {
        try withScratchDirectory("truncated") { directory in
            for (name, keep, message) in [
                ("torch_gru2_bidir.onnx", 300, "is a damaged or truncated ONNX model: a protobuf field of 18117 bytes runs past the end of "
                 + "its message (273 bytes left) at byte 24"),
                ("k3_gru.keras", 2000, "a truncated or damaged zip archive (no end of central directory record)"),
            ] {
                let whole = try Data(contentsOf: URL(fileURLWithPath: Self.fixture(name)))
                let cut = directory + "/cut-" + name
                try whole.prefix(keep).write(to: URL(fileURLWithPath: cut))
                let result = try GRUConvertBinary.run("convert", cut, directory + "/out.weights.h5")
                #expect(result.status == 2 && result.stdout.isEmpty && result.stderr == "error: \(cut): \(message)\n", "\(result.stderr)")
                #expect(!FileManager.default.fileExists(atPath: directory + "/out.weights.h5"))
                #expect(try GRUConvertBinary.run("inspect", Self.fixture(name)).status == 0)
            }
        }
    }

    /// What a framework's file cannot hold is refused by name, or left out and named with --drop-unsupported;
    /// PyTorch into PyTorch keeps a module's other keys.
    @Test func otherVariablesAreNamedNeverDropped() throws {
        try withScratchDirectory("others") { directory in
            let input = Self.fixture("torch_prefixed.safetensors"), output = directory + "/m.weights.h5"
            let refused = try GRUConvertBinary.run("convert", input, output)
            #expect(refused.status == 2 && refused.stderr == "error: \(input): head.bias: is not part of the GRU cells converted; a Keras 3 "
                    + ".weights.h5 file written by gru-convert holds them alone (and 1 more that cannot be carried); --drop-unsupported "
                    + "converts without them, listing what is left out\n", "\(refused.stderr)")
            let dropped = try GRUConvertBinary.run("convert", input, output, "--drop-unsupported")
            #expect(dropped.status == 0 && dropped.stderr == "note: 1 attribute of the input not written into a Keras 3 .weights.h5 file: /@format\n"
                    + "note: 2 objects left out (--drop-unsupported): head.bias, head.weight\n",
                    "\(dropped.stderr)")
            let torch = directory + "/m.safetensors"
            let kept = try GRUConvertBinary.run("convert", input, torch, "--to", "torch")
            #expect(kept.status == 0 && kept.stdout.contains("rnn.l0: torch-gru -> torch-gru\n") && kept.stderr.isEmpty, "\(kept.stdout)\(kept.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: torch)) == Data(contentsOf: URL(fileURLWithPath: input)))
            #expect(try SafetensorsFile(readingFrom: torch).variables().map(\.name)
                    == ["head.bias", "head.weight", "rnn.bias_hh_l0", "rnn.bias_ih_l0", "rnn.weight_hh_l0", "rnn.weight_ih_l0"])
        }
    }

    /// PyTorch into PyTorch with --cell keeps every key where it is (the other layers copied beside): the
    /// same bytes. Negative control: into Keras 3, the other layers' tensors are refused by name.
    @Test func onePyTorchLayerIntoPyTorchKeepsTheFile() throws {
        try withScratchDirectory("torch-cell") { directory in
            let input = Self.fixture("torch_gru2_bidir.safetensors"), output = directory + "/c.safetensors"
            for cell in ["l1", "l0_reverse"] {
                let result = try GRUConvertBinary.run("convert", input, output, "--to", "torch", "--cell", cell, "--force")
                #expect(result.status == 0 && result.stdout.hasSuffix("1 cell converted, 12 other datasets copied, 5944 bytes\n"),
                        "\(result.stdout)\(result.stderr)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data(contentsOf: URL(fileURLWithPath: input)))
            }
            let keras = try GRUConvertBinary.run("convert", input, directory + "/c.weights.h5", "--cell", "l0", "--cell", "l0_reverse")
            #expect(keras.status == 2 && keras.stderr.contains(": bias_hh_l1: is not part of the GRU cells converted"), "\(keras.stderr)")
        }
    }

    /// A lone backward cell into Keras: its direction is the model config's (go_backwards), so the note says
    /// so; the forward cell alone (the negative control) gets no such note.
    @Test func aLoneBackwardCellIntoKerasIsNoted() throws {
        try withScratchDirectory("backward") { directory in
            let input = Fixtures.path("gru_bidirectional.h5")
            let backward = try GRUConvertBinary.run("convert", input, directory + "/b.weights.h5", "--cell", "bidirectional_rnn/bw/gru_cell",
                                                    "--drop-unsupported")
            #expect(backward.status == 0 && backward.stderr.hasPrefix("note: bidirectional_rnn/bw/gru_cell reads its sequence backward, "
                    + "which a Keras weights file does not record: load it into a GRU with go_backwards=True\n"), "\(backward.stderr)")
            let forward = try GRUConvertBinary.run("convert", input, directory + "/f.weights.h5", "--cell", "bidirectional_rnn/fw/gru_cell",
                                                   "--drop-unsupported")
            #expect(forward.status == 0 && !forward.stderr.contains("backward"), "\(forward.stderr)")
        }
    }

    /// A Keras GRU without a bias does not record its family: `--reset-after` decides, and false into
    /// PyTorch is the cross-family refusal.
    @Test func aBiasFreeKerasCellNeedsItsFamilySaid() throws {
        try withScratchDirectory("no-bias") { directory in
            let input = directory + "/plain.h5"
            let writer = try HDF5Writer(creating: input, temporaryPath: input + ".tmp")
            for (name, shape) in [("gru/gru_cell/kernel", [3, 12]), ("gru/gru_cell/recurrent_kernel", [4, 12])] {
                let values = (0..<(shape[0] * shape[1])).map { Float(($0 * 37) % 17) / 17 - 0.5 }
                try writer.create(name, elementType: .float(bits: 32), shape: shape)
                try values.withUnsafeBytes { try writer.writeRawRows(name, rows: 0..<shape[0], from: $0) }
            }
            try writer.finish()
            let output = directory + "/t.safetensors"
            let unsaid = try GRUConvertBinary.run("convert", input, output, "--to", "torch")
            #expect(unsaid.status == 2 && unsaid.stderr == "error: \(input): gru/gru_cell: a keras-no-bias cell has no biases, so its "
                    + "tensors do not record whether it resets before or after the recurrent product, and the outputs differ; say which "
                    + "with --reset-after true|false\n", "\(unsaid.stderr)")
            let after = try GRUConvertBinary.run("convert", input, output, "--to", "torch", "--reset-after", "true")
            #expect(after.status == 0 && after.stdout.contains("gru/gru_cell -> l0: keras-no-bias -> torch-gru-no-bias\n"), "\(after.stdout)")
            let before = try GRUConvertBinary.run("convert", input, directory + "/b.safetensors", "--to", "torch", "--reset-after", "false")
            #expect(before.status == 2 && before.stderr.contains("a reset-before cell (keras-no-bias) cannot be written"), "\(before.stderr)")
        }
    }

    /// OUTPUT's name must be what the target's loader dispatches on.
    @Test func theOutputsNameMustFitTheTarget() throws {
        let cases: [([String], String)] = [
            (["--to", "keras3", "x.h5"], "--to keras3 writes a Keras 3 weights file, which Keras loads only when it is named *.weights.h5"),
            (["--to", "keras", "x.weights.h5"], "--to keras writes a Keras 2 weights file, which Keras loads as one only when it is named "
             + "*.h5 but not *.weights.h5"),
            (["--to", "torch", "x.h5"], "--to torch writes a safetensors file or a torch.save file: name OUTPUT *.safetensors, *.pt or *.pth"),
            (["x.keras"], "gru-convert does not write .keras archives; write --to keras3 OUTPUT.weights.h5 and load it with model.load_weights"),
        ]
        for (arguments, message) in cases {
            let result = try GRUConvertBinary.run(["convert", Fixtures.path("gru_single.h5")] + arguments.suffix(1) + arguments.dropLast())
            #expect(result.status == 2 && result.stderr == "error: \(message) (see 'gru-convert convert --help')\n", "\(arguments): \(result.stderr)")
        }
    }
}

/// `--to torch` with a `.pt` OUTPUT (inferred from the name): a `torch.save` zip (`torch.load(weights_only=True)`
/// and `load_state_dict(strict=True)` take it: interop/check.py) whose storages are the tensors' bytes.
@Suite struct TorchSaveOutputTests {
    @Test func aPtFileHoldsTheStateDictsStorages() throws {
        try withScratchDirectory("pt") { directory in
            let input = Fixtures.path("frameworks/torch_gru2_bidir.safetensors"), output = directory + "/gru.pt"
            let result = try GRUConvertBinary.run("convert", input, output)
            #expect(result.status == 0 && result.stdout.contains("l1_reverse: torch-gru -> torch-gru\n"), "\(result.stdout)\(result.stderr)")
            let archive = try Archive(url: URL(fileURLWithPath: output), accessMode: .read)
            #expect(archive.map(\.path) == ["gru/data.pkl", "gru/byteorder"] + (0..<16).map { "gru/data/\($0)" } + ["gru/version"])
            let source = try SafetensorsFile(readingFrom: input)
            var data = Data()
            _ = try archive.extract(archive["gru/data/0"]!) { data.append($0) }
            // The dict is in nn.GRU's order (layer by layer, weight_ih first): storage 0 is weight_ih_l0, storage 1 not.
            guard case .bytes(let first) = try source.readAll("weight_ih_l0").storage,
                  case .bytes(let second) = try source.readAll("weight_hh_l0").storage else { Issue.record("no bytes"); return }
            #expect([UInt8](data) == first && [UInt8](data) != second)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["gru.pt"])
            // Negative control: a reset-before cell is refused into a .pt as into safetensors.
            let refused = try GRUConvertBinary.run("convert", Fixtures.path("gru_single.h5"), directory + "/tf1.pt")
            #expect(refused.status == 2 && refused.stderr.contains("cannot be written as a PyTorch nn.GRU state dict"))
        }
    }
}
