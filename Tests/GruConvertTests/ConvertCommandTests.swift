import Foundation
import TensorStore
import Testing

/// End-to-end `convert`: the mapping printed, the JSON, and refusals that leave nothing behind.
@Suite struct ConvertCommandTests {
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gru-convert-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func dryRunPrintsTheRenamingAndWritesNothing() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("renamed.h5").path
        let result = try GRUConvertBinary.run("convert", Fixtures.path("gru_stacked_legacy.h5"), out,
                                              "--to", "fused", "--names", "tf", "--dry-run")
        #expect(result.status == 0)
        #expect(result.stdout.contains("RNN/MultiRNNCell/Cell0/GRUCell -> rnn/multi_rnn_cell/cell_0/gru_cell: tf-legacy-gru-cell -> tf-gru-cell"))
        #expect(result.stdout.contains("  RNN/MultiRNNCell/Cell1/GRUCell/Gates/Linear/Matrix -> rnn/multi_rnn_cell/cell_1/gru_cell/gates/kernel"))
        #expect(result.stdout.hasSuffix("dry run, nothing written: 2 cells converted, 0 other datasets copied to \(out)\n"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func jsonListsWhatWasWritten() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("split.h5").path
        let result = try GRUConvertBinary.run("convert", Fixtures.path("gru_adam.h5"), out, "--format", "json")
        #expect(result.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(Set(json.keys) == ["input", "output", "to", "names", "dry_run", "cells", "copied", "carried", "bytes"])
        #expect(json["to"] as? String == "explicit" && json["names"] as? String == "keep" && json["dry_run"] as? Bool == false)
        #expect((json["bytes"] as? Int ?? 0) > 0)
        let cell = try #require((json["cells"] as? [[String: Any]])?.first)
        #expect(Set(cell.keys) == ["scope", "new_scope", "from", "to", "datasets"])
        let datasets = try #require(cell["datasets"] as? [[String: Any]])
        #expect(datasets.count == 27)
        #expect(datasets[0]["to"] as? String == "rnn/gru_cell/Wr:0")
        #expect(datasets[0]["from"] as? [String] == ["rnn/gru_cell/gates/kernel:0"])
        #expect((json["copied"] as? [String])?.contains("global_step:0") == true)
    }

    @Test func refusalsExitTwoWithOneLineAndLeaveNothing() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let existing = dir.appendingPathComponent("exists.h5").path
        #expect(FileManager.default.createFile(atPath: existing, contents: Data("x".utf8)))
        let cases: [([String], String)] = [
            (["convert", Fixtures.path("gru_single.h5"), existing], "already exists (use --force to replace it)"),
            (["convert", Fixtures.path("gru_single.h5"), Fixtures.path("gru_single.h5"), "--force"], "is the input file"),
            (["convert", Fixtures.path("gru_problems.h5"), dir.appendingPathComponent("p.h5").path], "cannot be converted"),
            (["convert", Fixtures.path("gru_single.h5"), dir.appendingPathComponent("c.h5").path, "--cell", "nope"], "--cell names no GRU cell"),
            (["convert", "/nonexistent.h5", dir.appendingPathComponent("n.h5").path], "no such file"),
            (["convert", Fixtures.path("gru_single.h5"), dir.appendingPathComponent("m.h5").path, "--to", "sideways"], "--to"),
        ]
        for (arguments, reason) in cases {
            let result = try GRUConvertBinary.run(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.hasPrefix("error: ") && result.stderr.contains(reason), "\(result.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["exists.h5"])
        #expect(FileManager.default.contents(atPath: existing) == Data("x".utf8))
    }
}

/// `convert` converts cells: a file with none is an error, not a silent copy; `--cell` takes h5ls's
/// spelling of a scope too.
@Suite struct ConvertScopeTests {
    @Test func aFileWithoutCellsIsRefusedAndLeadingSlashesAreScopes() throws { try withScratchDirectory("scopes") { directory in
        let input = directory + "/nocell.h5"
        let writer = try HDF5Writer(creating: input, temporaryPath: input + ".tmp")
        try writer.create("dense/kernel:0", elementType: .float(bits: 32), shape: [2, 3])
        try [Float](repeating: 1, count: 6).withUnsafeBytes { try writer.writeRawRows("dense/kernel:0", rows: 0..<2, from: $0) }
        try writer.finish()
        let output = directory + "/out.h5"
        let none = try GRUConvertBinary.run("convert", input, output)
        #expect(none.status == 2)
        #expect(none.stderr == "error: \(input): no GRU cells found, so there is nothing to convert (run `gru-convert inspect` to see what it holds)\n")
        #expect(!FileManager.default.fileExists(atPath: output))
        // A leading slash names the same scope; negative control: a scope that is not there is still refused.
        let slashed = try GRUConvertBinary.run("convert", Fixtures.path("gru_single.h5"), output, "--cell", "/rnn/gru_cell")
        #expect(slashed.status == 0)
        let wrong = try GRUConvertBinary.run("convert", Fixtures.path("gru_single.h5"), output + "2", "--cell", "/rnn/other")
        #expect(wrong.status == 2 && wrong.stderr.hasSuffix("rnn/other: --cell names no GRU cell of this file (cells: rnn/gru_cell)\n"))
    } }
}

/// A split renamed to one generation's spelling fuses back in that generation's layout, never a mix.
@Suite struct RenamedSplitTests {
    @Test(arguments: [("legacy", "RNN/GRUCell/Gates/Linear/Matrix"), ("tf", "rnn/gru_cell/gates/kernel")])
    func aRenamedSplitFusesBackInItsOwnSpelling(_ style: String, _ fusedKernel: String) throws { try withScratchDirectory("renamed") { directory in
        let split = directory + "/split.h5", back = directory + "/back.h5"
        // From the legacy fixture to tf names, from the current one to legacy names: the spelling changes.
        let source = Fixtures.path(style == "legacy" ? "gru_single.h5" : "gru_legacy.h5")
        #expect(try GRUConvertBinary.run("convert", source, split, "--names", style).status == 0)
        let fused = try GRUConvertBinary.run("convert", split, back, "--to", "fused")
        #expect(fused.status == 0)
        #expect(fused.stdout.contains(" -> \(fusedKernel)\n"), "\(fused.stdout)")
        #expect(try GRUConvertBinary.run("verify", source, back).status == 0)
    } }
}
