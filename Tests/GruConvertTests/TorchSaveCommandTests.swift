import Foundation
import Testing

/// PyTorch `torch.save` files (fixtures/torchsave, written by torch itself, and hostile ones) through every
/// subcommand: GRUs found under any module prefix and verified against torch's own runs, converted to
/// Keras and ONNX; hostile pickles refused with one line and status 2, nothing executed.
@Suite(.serialized) struct TorchSaveCommandTests {
    static func fixture(_ name: String) -> String { Fixtures.path("torchsave/\(name)") }

    /// Every GRU fixture against torch's own outputs (each layer and direction run alone from a non-zero state).
    @Test(arguments: [("gru.pt", 1), ("gru2_bidir.pt", 4), ("grucell.pt", 1), ("nested.pt", 2), ("checkpoint.tar", 1), ("legacy.pt", 1),
                      ("gru_f16.pt", 1), ("gru_f64.pt", 1)])
    func torchsOwnOutputsAreReproduced(_ name: String, _ cells: Int) throws {
        let result = try GRUConvertBinary.run("verify", Self.fixture(name), "--reference", Self.fixture(name + ".reference.h5"))
        #expect(result.status == 0 && result.stdout.hasSuffix("equivalent: \(cells) of \(cells) cells\n"), "\(result.stdout)\(result.stderr)")
    }

    /// Negative control: another nn.GRU(5, 6)'s weights (the legacy fixture, another seed) against gru.pt's run fail.
    @Test func anotherGRUsWeightsDoNotReproduceTheRun() throws {
        let result = try GRUConvertBinary.run("verify", Self.fixture("legacy.pt"), "--reference", Self.fixture("gru.pt.reference.h5"))
        #expect(result.status == 1 && result.stdout.hasSuffix("NOT equivalent: 1 of 1 cells differ\n"), "\(result.stdout)")
    }

    /// A training checkpoint: the GRU under `model.rnn`, the optimizer's moments other variables, the epoch an attribute.
    @Test func aTrainingCheckpointsGRUIsFound() throws {
        let result = try GRUConvertBinary.run("inspect", Self.fixture("checkpoint.tar"), "--format", "json")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let cells = try #require(json["cells"] as? [[String: Any]])
        #expect(cells.map { $0["scope"] as? String } == ["model.rnn.l0"] && cells[0]["framework"] as? String == "PyTorch")
        let others = try #require(json["other_variables"] as? [String])
        #expect(others.contains("optimizer.state.0.exp_avg") && !others.contains { $0.hasPrefix("model.rnn.") })
    }

    /// A .pth of a two-layer bidirectional nn.GRU into Keras 3 and ONNX, each proven bit for bit against it.
    @Test func aPthGoesToKerasAndONNX() throws {
        try withScratchDirectory("pth") { directory in
            let pth = directory + "/model.pth"
            try FileManager.default.copyItem(atPath: Self.fixture("gru2_bidir.pt"), toPath: pth)
            for output in ["model.weights.h5", "model.onnx"] {
                let converted = try GRUConvertBinary.run("convert", pth, directory + "/" + output)
                #expect(converted.status == 0 && converted.stdout.hasSuffix("4 cells converted, 0 other datasets copied, "
                        + (output.hasSuffix(".onnx") ? "5873" : "12131") + " bytes\n"), "\(converted.stdout)\(converted.stderr)")
                let verified = try GRUConvertBinary.run("verify", pth, directory + "/" + output)
                #expect(verified.status == 0 && verified.stdout.hasSuffix("equivalent: 4 of 4 cells\n"), "\(verified.stdout)")
            }
        }
    }

    /// Each hostile file: its exact line, status 2, no output written, and the payloads' marker files never made.
    @Test(arguments: [
        ("evil_os_system.pt", "evil_os_system/data.pkl: its pickle is refused at byte 2: it names the global os.system, which is not "
         + "allowed (only tensors, storages, dicts and plain values are read; nothing is executed)"),
        ("evil_eval.pt", "evil_eval/data.pkl: its pickle is refused at byte 35: it names the global builtins.eval, which is not allowed "
         + "(only tensors, storages, dicts and plain values are read; nothing is executed)"),
        ("evil_popen.pt", "evil_popen/data.pkl: its pickle is refused at byte 2: it names the global subprocess.Popen, which is not "
         + "allowed (only tensors, storages, dicts and plain values are read; nothing is executed)"),
        ("evil_class.pt", "evil_class/data.pkl: its pickle is refused at byte 2: it names the global __main__.Evil, which is not allowed "
         + "(only tensors, storages, dicts and plain values are read; nothing is executed)"),
        ("recursion_bomb.pt", "recursion_bomb/data.pkl: it nests containers more than 100 levels deep (a recursion bomb, or a container "
         + "that holds itself); refused"),
        ("huge_numel.pt", "huge_numel/data/0: declares 2305843009213693952 float32 elements, too many to address"),
        ("missing_storage.pt", "v: its storage missing_storage/data/7 is not in the archive: the file is damaged"),
        ("offset_beyond.pt", "w: its view (offset 4, size [3], stride [1]) reaches element 6 of its storage offset_beyond/data/0, which "
         + "holds 6: the file is damaged"),
        ("truncated.pt", "a truncated or damaged zip archive (no end of central directory record)"),
        ("legacy_bad_magic.pt", "a pickle that does not start with torch's magic number (0x1950a86a20f9469cfc6c), so not a torch.save file"),
    ])
    func hostileFilesAreOneLineAndNothingRuns(_ name: String, _ message: String) throws {
        let markers = ["os_system", "eval", "popen"].map { "/tmp/PWNED_gru_convert_torchsave_\($0)" }
        for marker in markers { try? FileManager.default.removeItem(atPath: marker) }
        try withScratchDirectory("hostile") { directory in
            let path = Self.fixture(name)
            for arguments in [["inspect", path], ["verify", path], ["convert", path, directory + "/out.weights.h5"]] {
                let result = try GRUConvertBinary.run(arguments)
                #expect(result.status == 2 && result.stdout.isEmpty && result.stderr == "error: \(path): \(message)\n", "\(result.stderr)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        }
        for marker in markers { #expect(!FileManager.default.fileExists(atPath: marker), "\(marker) was created") }
    }

    /// The zip that trapped inside ZIPFoundation (a ZIP64 local-header offset past 2^63, found by the torch
    /// fuzzer) is one line whether it is named a torch.save file or a Keras archive: the zip reading is shared.
    @Test(arguments: ["model.pt", "model.keras"], ["zip64-local-offset-past-2-63", "zip64-record-before-locator-offset-past-2-63"])
    func theZip64TrapIsOneLineForEveryZipFormat(_ name: String, _ regression: String) throws {
        try withScratchDirectory("zip64") { directory in
            let path = directory + "/" + name
            try FileManager.default.copyItem(atPath: Fixtures.path("../fuzz/torch-regressions/" + regression), toPath: path)
            let result = try GRUConvertBinary.run("inspect", path)
            #expect(result.status == 2 && result.stderr == "error: \(path): its zip directory cannot be followed (offsets outside the "
                    + "file, or records that do not fit): the archive is damaged\n", "\(result.stderr)")
        }
    }
}
