import GRUTools
import TensorStore
import Foundation
import GRUCore
import Testing

/// `convert` on the TensorFlow fixtures: values, names, slots, types and the round trip, checked against
/// independent evidence (NumPy's slices, TensorFlow's own names, h5diff).
@Suite struct ConvertTests {
    /// What a conversion wrote: its plan and the size of the output.
    struct Summary { var plan: ConversionPlan; var bytes: Int }

    /// Converts as the command line does: output checks, a temporary file beside OUTPUT, published when complete.
    func convert(_ input: String, to output: String, _ options: ConversionOptions = ConversionOptions(),
                 force: Bool = false) throws -> Summary {
        let file = try HDF5File(readingFrom: input)
        let plan = try ConversionPlan.make(for: file, options: options)
        try OutputTarget.check(output, input: input, force: force)
        let temporary = (output as NSString).deletingLastPathComponent + "/.\((output as NSString).lastPathComponent).test.tmp"
        let writer = try HDF5Writer(creating: output, temporaryPath: temporary)
        writer.replacesExisting = force
        try Converter().write(plan, from: file, to: writer)
        let bytes = (try FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        return Summary(plan: plan, bytes: bytes)
    }

    /// `h5diff A B` exit status: 0 identical, 1 different (Debian's hdf5-tools).
    func h5diff(_ a: String, _ b: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/h5diff")
        process.arguments = [a, b]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    static let fusedFixtures = ["gru_single.h5", "gru_legacy.h5", "gru_tf10.h5", "gru_block.h5", "gru_stacked.h5",
                                "gru_stacked_legacy.h5", "gru_bidirectional.h5", "gru_bidirectional_legacy.h5",
                                "gru_adam.h5", "gru_float64.h5", "gru_float16.h5"]

    @Test(arguments: fusedFixtures)
    func splitThenFuseIsIdenticalToTheInput(_ fixture: String) throws {
        try withTemporaryDirectory { dir in
            let split = dir.appendingPathComponent("split.h5").path, back = dir.appendingPathComponent("back.h5").path
            _ = try convert(Fixtures.path(fixture), to: split)
            _ = try convert(split, to: back, ConversionOptions(target: .fused))
            #expect(try h5diff(Fixtures.path(fixture), back) == 0)
            let cells = CellInventory(variables: try HDF5File(readingFrom: split).variables()).cells
            #expect(!cells.isEmpty && cells.allSatisfy { $0.layout == .explicitResetBefore })
        }
    }

    @Test func fuseThenSplitIsIdenticalToTheExplicitInput() throws {
        try withTemporaryDirectory { dir in
            let fused = dir.appendingPathComponent("fused.h5").path, back = dir.appendingPathComponent("back.h5").path
            _ = try convert(Fixtures.path("gru_explicit.h5"), to: fused, ConversionOptions(target: .fused))
            #expect(try h5diff(Fixtures.path("gru_single.h5"), fused) == 0)   // the very tensors TF made
            _ = try convert(fused, to: back)
            // The split records the layout it came from; everything else is the explicit input.
            let names = try HDF5File(readingFrom: back).datasetNames()
            #expect(names == (try HDF5File(readingFrom: Fixtures.path("gru_explicit.h5")).datasetNames()))
        }
    }

    /// Negative control for the round-trip checks: h5diff does see a one-ULP difference.
    @Test func h5diffSeesOneULP() throws {
        #expect(try h5diff(Fixtures.path("gru_explicit.h5"), Fixtures.path("mistakes/one_ulp.h5")) == 1)
    }

    /// The split tensors are bit for bit what NumPy sliced out of TensorFlow's kernels (gru_explicit.h5).
    @Test func splitValuesEqualAnIndependentSlice() throws {
        try withTemporaryDirectory { dir in
            let split = dir.appendingPathComponent("split.h5").path
            _ = try convert(Fixtures.path("gru_single.h5"), to: split)
            let ours = try HDF5File(readingFrom: split), numpy = try HDF5File(readingFrom: Fixtures.path("gru_explicit.h5"))
            for t in ExplicitTensor.tensors(of: .resetBefore) {
                let a = try ours.read("rnn/gru_cell/\(t)", as: Float.self), b = try numpy.read("rnn/gru_cell/\(t)", as: Float.self)
                #expect(a.shape == b.shape)
                #expect(a.scalars.map(\.bitPattern) == b.scalars.map(\.bitPattern), "\(t)")
            }
        }
    }

    @Test func slotsAreSplitAlongsideTheirVariables() throws {
        try withTemporaryDirectory { dir in
            let split = dir.appendingPathComponent("split.h5").path
            _ = try convert(Fixtures.path("gru_adam.h5"), to: split)
            let file = try HDF5File(readingFrom: split)
            let cell = try #require(CellInventory(variables: try file.variables()).cells.first)
            #expect(cell.slots.count == 18)
            // Uz's Adam slot is the state rows, update columns of the gate kernel's Adam slot.
            let source = try HDF5File(readingFrom: Fixtures.path("gru_adam.h5")).read("rnn/gru_cell/gates/kernel/Adam:0", as: Float.self)
            let slice = (5..<9).flatMap { row in (4..<8).map { source.scalars[row * 8 + $0] } }
            #expect(try file.read("rnn/gru_cell/Uz/Adam:0", as: Float.self).scalars == slice)
        }
    }

    @Test func otherVariablesAreCopiedUnchanged() throws {
        try withTemporaryDirectory { dir in
            let split = dir.appendingPathComponent("split.h5").path
            let summary = try convert(Fixtures.path("gru_adam.h5"), to: split)
            #expect(summary.plan.copied == ["beta1_power:0", "beta2_power:0", "dense/bias/Adam:0", "dense/bias/Adam_1:0",
                                            "dense/bias:0", "dense/kernel/Adam:0", "dense/kernel/Adam_1:0", "dense/kernel:0",
                                            "global_step:0"])
            let a = try HDF5File(readingFrom: Fixtures.path("gru_adam.h5")), b = try HDF5File(readingFrom: split)
            for name in summary.plan.copied {
                #expect(try a.describe(name) == b.describe(name))
            }
            #expect(try b.read("dense/kernel:0", as: Float.self) == a.read("dense/kernel:0", as: Float.self))
            #expect(try b.stringAttribute("generator") == "fixtures/generate.py")
            #expect(try b.stringAttribute("cell", of: "rnn/gru_cell") == "tf.compat.v1.nn.rnn_cell.GRUCell")
            #expect(try b.stringAttribute(ConversionPlan.layoutAttribute, of: "rnn/gru_cell") == "tf-gru-cell")
            #expect(try b.stringAttribute("tensorflow_version") == "2.21.0")
        }
    }

    @Test func typesArePreserved() throws {
        try withTemporaryDirectory { dir in
            for (fixture, bits) in [("gru_float16.h5", 16), ("gru_float64.h5", 64)] {
                let split = dir.appendingPathComponent("split-\(bits).h5").path
                _ = try convert(Fixtures.path(fixture), to: split)
                let variables = try HDF5File(readingFrom: split).variables()
                #expect(variables.allSatisfy { $0.elementType == .float(bits: bits) })
            }
        }
    }

    /// TF <= 0.12 checkpoints renamed with --names tf carry exactly the names (and values) TF >= 1.2 made.
    @Test(arguments: [("gru_stacked_legacy.h5", "gru_stacked.h5"), ("gru_bidirectional_legacy.h5", "gru_bidirectional.h5"),
                      ("gru_legacy.h5", "gru_single.h5"), ("gru_tf10.h5", "gru_single.h5"), ("gru_block.h5", "gru_single.h5")])
    func legacyRenamedToTFNamesIsWhatTFMade(_ legacy: String, _ current: String) throws {
        try withTemporaryDirectory { dir in
            let renamed = dir.appendingPathComponent("renamed.h5").path
            _ = try convert(Fixtures.path(legacy), to: renamed, ConversionOptions(target: .fused, names: .tf))
            #expect(try HDF5File(readingFrom: renamed).datasetNames()
                    == HDF5File(readingFrom: Fixtures.path(current)).datasetNames())
            #expect(try h5diff(renamed, Fixtures.path(current)) == 0)
        }
    }

    @Test func currentRenamedToLegacyNames() throws {
        try withTemporaryDirectory { dir in
            let renamed = dir.appendingPathComponent("legacy.h5").path
            _ = try convert(Fixtures.path("gru_bidirectional.h5"), to: renamed, ConversionOptions(target: .fused, names: .legacy))
            #expect(try h5diff(renamed, Fixtures.path("gru_bidirectional_legacy.h5")) == 0)
        }
    }

    @Test func onlyTheNamedCellIsConverted() throws {
        try withTemporaryDirectory { dir in
            let out = dir.appendingPathComponent("one.h5").path
            _ = try convert(Fixtures.path("gru_stacked.h5"), to: out,
                            ConversionOptions(cells: ["rnn/multi_rnn_cell/cell_1/gru_cell"]))
            let cells = CellInventory(variables: try HDF5File(readingFrom: out).variables()).cells
            #expect(cells.map(\.layout) == [.tfGRUCell, .explicitResetBefore])
        }
    }

    @Test(arguments: ["gru_single.h5", "gru_stacked_legacy.h5", "gru_adam.h5", "gru_float64.h5"])
    func verifyPassesOnEachConvertedPair(_ fixture: String) throws {
        try withTemporaryDirectory { dir in
            let split = dir.appendingPathComponent("split.h5").path
            _ = try convert(Fixtures.path(fixture), to: split)
            let verdicts = try Verifier(options: VerifyOptions(batch: 4, steps: 8))
                .verify(try HDF5File(readingFrom: Fixtures.path(fixture)), against: try HDF5File(readingFrom: split))
            #expect(!verdicts.isEmpty && verdicts.allSatisfy { $0.equivalent && $0.weightsIdentical })
        }
    }

    // MARK: - Refusals: nothing written, nothing left behind

    func expectRefusal(_ reason: String, _ body: () throws -> Void) {
        let error = #expect(throws: StoreError.self) { try body() }
        #expect(error?.reason.hasPrefix(reason) == true, "\(error?.reason ?? "no error")")
    }

    @Test func existingOutputIsRefusedUnlessForced() throws {
        try withTemporaryDirectory { dir in
            let out = dir.appendingPathComponent("out.h5").path
            #expect(FileManager.default.createFile(atPath: out, contents: Data("keep me".utf8)))
            expectRefusal("already exists") { _ = try convert(Fixtures.path("gru_single.h5"), to: out) }
            #expect(FileManager.default.contents(atPath: out) == Data("keep me".utf8))
            _ = try convert(Fixtures.path("gru_single.h5"), to: out, force: true)
            #expect(CellInventory(variables: try HDF5File(readingFrom: out).variables()).cells.first?.layout == .explicitResetBefore)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.h5"])
        }
    }

    /// An input truncated (or rewritten) while it is converted: HDF5 reads past the end as zeros, so what
    /// was read cannot be trusted; the conversion fails naming the input, and nothing is published.
    @Test(arguments: ["truncated", "touched"])
    func anInputThatChangesWhileReadIsNotPublished(_ change: String) throws {
        try withTemporaryDirectory { dir in
            let input = dir.appendingPathComponent("in.h5").path
            try FileManager.default.copyItem(atPath: Fixtures.path("gru_stacked.h5"), toPath: input)
            let size = try Data(contentsOf: URL(fileURLWithPath: input)).count
            let output = dir.appendingPathComponent("out.h5").path
            let file = try HDF5File(readingFrom: input)
            let plan = try ConversionPlan.make(for: file, options: ConversionOptions())
            var converter = Converter()
            converter.progress = { index, _, _ in
                guard index == 1 else { return }   // after the first cell: the change lands mid-conversion
                if change == "truncated" {
                    _ = truncate(input, off_t(size / 2))
                } else {
                    var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
                    _ = utimensat(AT_FDCWD, input, &times, 0)
                }
            }
            let error = #expect(throws: StoreError.self) {
                try converter.write(plan, from: file, to: try HDF5Writer(creating: output, temporaryPath: output + ".tmp"))
            }
            #expect(error?.code == .inputChanged)
            #expect(error?.description == "\(input): " + (change == "truncated" ? "changed size from \(size) to \(size / 2) bytes" : "was modified")
                    + " while it was being read; nothing was written")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["in.h5"])
        }
        // Negative control: left alone, the same conversion publishes.
        try withTemporaryDirectory { dir in
            let output = dir.appendingPathComponent("out.h5").path
            _ = try convert(Fixtures.path("gru_stacked.h5"), to: output)
            #expect(FileManager.default.fileExists(atPath: output))
        }
    }

    @Test func outputThatIsTheInputIsAlwaysRefused() throws {
        try withTemporaryDirectory { dir in
            let input = dir.appendingPathComponent("in.h5").path
            try FileManager.default.copyItem(atPath: Fixtures.path("gru_single.h5"), toPath: input)
            let before = try Data(contentsOf: URL(fileURLWithPath: input))
            let link = dir.appendingPathComponent("link.h5").path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: input)
            for output in [input, link, dir.path + "/./in.h5"] {
                expectRefusal("is the input file") { _ = try convert(input, to: output, force: true) }
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == before)
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == ["in.h5", "link.h5"])
        }
    }

    @Test func aMissingOutputDirectoryIsRefused() throws {
        expectRefusal("the directory /nonexistent/dir does not exist") {
            _ = try convert(Fixtures.path("gru_single.h5"), to: "/nonexistent/dir/out.h5")
        }
    }

    @Test func inconsistentCellsAreRefusedUnlessLeftOut() throws {
        try withTemporaryDirectory { dir in
            let out = dir.appendingPathComponent("out.h5").path
            expectRefusal("not a consistent GRU cell, so it cannot be converted") {
                _ = try convert(Fixtures.path("gru_problems.h5"), to: out)
            }
            expectRefusal("--cell names no GRU cell") {
                _ = try convert(Fixtures.path("gru_problems.h5"), to: out, ConversionOptions(cells: ["missing/rnn/gru_cell"]))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
            // Naming the consistent cell converts it and copies the rest unchanged.
            let summary = try convert(Fixtures.path("gru_problems.h5"), to: out, ConversionOptions(cells: ["ok/rnn/gru_cell"]))
            #expect(summary.plan.cells.map(\.scope) == ["ok/rnn/gru_cell"])
            #expect(summary.plan.copied.count == 24)
        }
    }

    @Test func theInputIsNeverModified() throws {
        let path = Fixtures.path("gru_adam.h5")
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        try withTemporaryDirectory { dir in
            _ = try convert(path, to: dir.appendingPathComponent("a.h5").path)
            _ = try convert(path, to: dir.appendingPathComponent("b.h5").path, ConversionOptions(target: .fused, names: .legacy))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }
}
