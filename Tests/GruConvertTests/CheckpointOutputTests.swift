import Foundation
import Testing

/// `convert` writing TensorFlow checkpoints: OUTPUT ending in `.ckpt` is a prefix, both files appear only
/// when complete, an existing `OUTPUT.index` is refused unless --force.
@Suite struct CheckpointOutputTests {
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gru-convert-ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func convertWritesACheckpointAndReadsItBack() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = Fixtures.path("checkpoints/tf1_single/model.ckpt")
        let split = dir.appendingPathComponent("split.h5").path
        let back = dir.appendingPathComponent("back.ckpt").path
        #expect(try GRUConvertBinary.run("convert", source, split).status == 0)
        let result = try GRUConvertBinary.run("convert", split, back, "--to", "fused")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path))
                == ["split.h5", "back.ckpt.index", "back.ckpt.data-00000-of-00001"])
        // The same bytes as the original, tensor by tensor (the data file packs them in another order).
        let original = try GRUConvertBinary.run("inspect", source, "--format", "json")
        let again = try GRUConvertBinary.run("inspect", back, "--format", "json")
        #expect(original.status == 0 && again.status == 0)
        let verify = try GRUConvertBinary.run("verify", back, "--reference", Fixtures.path("checkpoints/tf1_single/reference.h5"))
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    /// A TF1 HDF5 dump carries attributes, which a checkpoint cannot hold: refused by name, or left out
    /// and listed with --drop-attributes; its `name:0` datasets become the checkpoint's `name` keys.
    @Test func attributesAreRefusedOrDroppedByChoice() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("adam.ckpt").path
        let refused = try GRUConvertBinary.run(["convert", Fixtures.path("gru_adam.h5"), output, "--to", "fused"])
        #expect(refused.status == 2)
        #expect(refused.stderr == "error: \(Fixtures.path("gru_adam.h5")): rnn/gru_cell/gates/kernel:0@trainable: is an attribute, "
                + "which a TensorFlow checkpoint cannot hold; convert to HDF5 to keep it, or leave attributes out with --drop-attributes\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        let dropped = try GRUConvertBinary.run(["convert", Fixtures.path("gru_adam.h5"), output, "--to", "fused", "--drop-attributes"])
        #expect(dropped.status == 0)
        #expect(dropped.stderr == "note: 4 attributes left out, which a TensorFlow checkpoint cannot hold (--drop-attributes): "
                + "rnn/gru_cell/gates/kernel:0@trainable, /@generator, /@tensorflow_version, ...\n")
        let listed = try GRUConvertBinary.run(["inspect", output, "--format", "json"])
        #expect(listed.stdout.contains("\"rnn/gru_cell/gates/kernel/Adam_1\"") && !listed.stdout.contains(":0\""))
    }

    @Test func anExistingIndexIsRefusedUnlessForced() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = Fixtures.path("checkpoints/tf1_single/model.ckpt")
        let out = dir.appendingPathComponent("out.ckpt").path
        #expect(FileManager.default.createFile(atPath: out + ".index", contents: Data("old".utf8)))
        let refused = try GRUConvertBinary.run("convert", source, out, "--to", "fused")
        #expect(refused.status != 0)
        #expect(refused.stderr == "error: \(out).index: already exists (use --force to replace it)\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.ckpt.index"])
        let forced = try GRUConvertBinary.run("convert", source, out, "--to", "fused", "--force")
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == ["out.ckpt.index", "out.ckpt.data-00000-of-00001"])
        let sameAsInput = try GRUConvertBinary.run("convert", out, out, "--to", "fused", "--force")
        #expect(sameAsInput.status != 0 && sameAsInput.stderr.contains("is the input file"))
    }

    @Test func splittingIntoACheckpointNotesTheLayoutItCannotKeep() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("split.ckpt").path
        let result = try GRUConvertBinary.run("convert", Fixtures.path("checkpoints/tf1_single/model.ckpt"), out)
        #expect(result.status == 0)
        #expect(result.stderr.hasPrefix("note: rnn/gru_cell: a checkpoint cannot record that this cell was split from the"))
        let inspect = try GRUConvertBinary.run("inspect", out)
        #expect(inspect.status == 0 && inspect.stdout.contains("rnn/gru_cell/Wr"))
    }
}
