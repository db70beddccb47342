import Foundation
import Testing
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
}
