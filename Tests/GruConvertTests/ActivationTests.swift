import Foundation
import Testing
import TensorStore
import ZIPFoundation

/// A cell whose file records an activation other than sigmoid/tanh (Keras 2's `hard_sigmoid`) is never
/// claimed equivalent, nor moved into a framework whose file would lose it.
@Suite struct ActivationTests {
    /// `k3_gru.keras` with its config's `recurrent_activation` set to `value`, written at `path`.
    static func archive(recurrentActivation value: String, at path: String) throws {
        let source = try Archive(url: URL(fileURLWithPath: Fixtures.path("frameworks/k3_gru.keras")), accessMode: .read)
        let target = try Archive(url: URL(fileURLWithPath: path), accessMode: .create)
        for entry in source {
            var data = Data()
            _ = try source.extract(entry) { data.append($0) }
            if entry.path == "config.json" {
                let text = String(decoding: data, as: UTF8.self)
                #expect(text.contains("\"recurrent_activation\": \"sigmoid\""))
                data = Data(text.replacingOccurrences(of: "\"recurrent_activation\": \"sigmoid\"",
                                                      with: "\"recurrent_activation\": \"\(value)\"").utf8)
            }
            try target.addEntry(with: entry.path, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .none) { position, size in
                data.subdata(in: Int(position)..<(Int(position) + size))
            }
        }
    }

    @Test func hardSigmoidIsNotVerifiedNorMovedToPyTorch() throws {
        try withScratchDirectory("activations") { directory in
            let hard = directory + "/hard.keras", plain = directory + "/plain.keras"
            try Self.archive(recurrentActivation: "hard_sigmoid", at: hard)
            try Self.archive(recurrentActivation: "sigmoid", at: plain)
            let refused = try GRUConvertBinary.run("verify", hard)
            #expect(refused.status == 1 && refused.stdout.contains("  ! the file records recurrent_activation hard_sigmoid, but gru-convert "
                    + "computes GRUs with sigmoid gates and a tanh candidate only: not verified\n"), "\(refused.stdout)")
            let converted = try GRUConvertBinary.run("convert", hard, directory + "/t.safetensors", "--to", "torch")
            #expect(converted.status == 2 && converted.stderr == "error: \(hard): layers/gru/cell: the file records recurrent_activation "
                    + "hard_sigmoid, but gru-convert computes GRUs with sigmoid gates and a tanh candidate only, so it does not claim the "
                    + "cell is the same in a PyTorch nn.GRU state dict (whose loader would not carry the activation either); convert it "
                    + "with --to explicit or --to fused, which keep the file's configuration\n", "\(converted.stderr)")
            // Negative control: the same archive with sigmoid verifies and converts.
            #expect(try GRUConvertBinary.run("verify", plain).status == 0)
            #expect(try GRUConvertBinary.run("convert", plain, directory + "/p.safetensors", "--to", "torch").status == 0)
        }
    }

    /// A Keras 2 full model's `model_config` (a root attribute) is read the same way: `hard_sigmoid` there
    /// is refused, `sigmoid` (the fixture as tf-keras wrote it) verified.
    @Test func kerasTwoModelConfigIsRead() throws {
        try withScratchDirectory("model-config") { directory in
            let source = try HDF5File(readingFrom: Fixtures.path("frameworks/k2_full.h5"))
            let config = try #require(try source.stringAttribute("model_config", of: ""))
            #expect(config.contains("\"recurrent_activation\": \"sigmoid\""))
            for (name, value) in [("hard", "hard_sigmoid"), ("plain", "sigmoid")] {
                let path = directory + "/\(name).h5"
                let writer = try HDF5Writer(creating: path, temporaryPath: path + ".tmp")
                for variable in try source.variables() where variable.name.hasPrefix("model_weights/encoder/") {
                    let values: [Float] = try source.read(variable.name, as: Float.self).scalars
                    try writer.create(variable.name, elementType: .float(bits: 32), shape: variable.shape)
                    let rows = variable.shape.count == 2 ? variable.shape[0] : 1
                    try values.withUnsafeBytes { try writer.writeRawRows(variable.name, rows: 0..<rows, from: $0) }
                }
                try writer.setStringAttribute("model_config", config.replacingOccurrences(
                    of: "\"recurrent_activation\": \"sigmoid\"", with: "\"recurrent_activation\": \"\(value)\""), on: "")
                try writer.finish()
            }
            let refused = try GRUConvertBinary.run("verify", directory + "/hard.h5")
            #expect(refused.status == 1 && refused.stdout.contains("  ! its model_config records recurrent_activation hard_sigmoid, but "
                    + "gru-convert computes GRUs with sigmoid gates and a tanh candidate only: not verified\n"), "\(refused.stdout)")
            let plain = try GRUConvertBinary.run("verify", directory + "/plain.h5")
            #expect(plain.status == 0, "\(plain.stdout)")
        }
    }
}
