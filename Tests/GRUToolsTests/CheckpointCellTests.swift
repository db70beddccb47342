import GRUCore
import GRUTools
import TensorStore
import Testing

/// GRU cells in TensorFlow checkpoints made by TensorFlow 2.21 (fixtures/generate_checkpoints.py): found
/// under TF1 names and TF2 objects' full names, and verified against TensorFlow's and Keras's own outputs.
@Suite struct CheckpointCellTests {
    static let expected: [(String, [String])] = [
        ("tf1_single", ["rnn/gru_cell"]), ("tf1_snappy", ["rnn/gru_cell"]), ("tf1_multiblock", ["rnn/gru_cell"]),
        ("tf1_stacked", ["rnn/multi_rnn_cell/cell_0/gru_cell", "rnn/multi_rnn_cell/cell_1/gru_cell"]),
        ("tf1_bidirectional", ["bidirectional_rnn/bw/gru_cell", "bidirectional_rnn/fw/gru_cell"]),
        ("tf1_adam", ["rnn/gru_cell"]), ("tf1_float64", ["rnn/gru_cell"]),
        ("tf1_sharded", ["decoder/multi_rnn_cell/cell_0/gru_cell", "decoder/multi_rnn_cell/cell_1/gru_cell", "encoder/rnn/gru_cell"]),
        ("tf1_partitioned", ["encoder/rnn/gru_cell"]),
        ("tfk_object", ["bidi/backward_gru/gru_cell", "bidi/forward_gru/gru_cell", "encoder_gru/gru_cell"]),
        ("tfk_object_adam", ["encoder_gru/gru_cell"]), ("tfk_object_legacy_adam", ["encoder_gru/gru_cell"]),
        ("k3_object", ["sequential/bidi/backward_gru/gru_cell", "sequential/bidi/forward_gru/gru_cell",
                       "sequential/encoder_gru/gru_cell"]),
        ("k3_object_adam", ["sequential/encoder_gru/gru_cell"]),
    ]

    func open(_ name: String) throws -> any TensorSource {
        try TensorFiles.open(Fixtures.path("checkpoints/\(name)"))
    }

    @Test(arguments: expected, [VerifyMode.strict, .fast])
    func everyCheckpointCellMatchesItsFramework(_ fixture: (String, [String]), mode: VerifyMode) throws {
        let source = try open(fixture.0)
        #expect(try CellInventory(source).cells.map(\.scope) == fixture.1)
        let reference = try HDF5File(readingFrom: Fixtures.path("checkpoints/\(fixture.0)/reference.h5"))
        let verdicts = try Verifier(options: VerifyOptions(mode: mode, batch: 4, steps: 6, seed: 3)).verify(source, reference: reference)
        #expect(verdicts.map(\.scope) == fixture.1)
        for verdict in verdicts {
            #expect(verdict.equivalent && verdict.reference?.withinTolerance == true, "\(fixture.0) \(verdict.scope): \(verdict.diagnosis)")
        }
    }

    /// tf-keras's Adam moments are named like the model's variables (`Adam/m/encoder_gru/gru_cell/kernel`):
    /// the checkpoint records whose slots they are, and discovery attaches them to that cell, never
    /// taking them for a cell of their own.
    @Test func optimizerMomentsAreSlotsNotCells() throws {
        let source = try open("tfk_object_adam")
        let owners = try source.slotOwners()
        #expect(owners["Adam/m/encoder_gru/gru_cell/kernel"] == "encoder_gru/gru_cell/kernel")
        let inventory = try CellInventory(source)
        #expect(inventory.problems.isEmpty)
        let cell = try #require(inventory.cells.first)
        #expect(cell.slots.count == 6 && cell.slots.contains("Adam/v/encoder_gru/gru_cell/bias"))
        #expect(!inventory.otherVariables.contains { $0.hasPrefix("Adam/") && $0.contains("encoder_gru") })
        #expect(inventory.otherVariables.contains("Adam/m/head/kernel"))   // the dense layer's moments stay other variables
        // Negative control: without the checkpoint's record, the moments form would-be cells.
        let naive = CellInventory(variables: try source.variables())
        #expect(naive.cells.map(\.scope).contains("Adam/m/encoder_gru/gru_cell"))
    }

    /// A checkpoint cell splits into an HDF5 explicit form that verifies against the checkpoint.
    @Test func aCheckpointCellConvertsToAnExplicitHDF5File() throws {
        let source = try open("tf1_stacked")
        try withTemporaryDirectory { dir in
            let out = dir.appendingPathComponent("split.h5").path
            let plan = try ConversionPlan.make(for: source, options: ConversionOptions())
            try Converter().write(plan, from: source, to: try HDF5Writer(creating: out, temporaryPath: out + ".tmp"))
            let verdicts = try Verifier(options: VerifyOptions(batch: 3, steps: 5)).verify(source, against: try HDF5File(readingFrom: out))
            #expect(verdicts.count == 2 && verdicts.allSatisfy { $0.equivalent && $0.weightsIdentical })
        }
    }

    /// A TF1 Adam checkpoint holds `x` and `x/Adam`: a flat checkpoint output takes both as they are; HDF5,
    /// where a dataset cannot also be a group, takes them as `x:0` and `x/Adam:0`.
    @Test func aFlatOutputTakesVariablesAndTheirSlots() throws {
        let source = try open("tf1_adam")
        try withTemporaryDirectory { dir in
            let out = dir.appendingPathComponent("split.ckpt").path
            let plan = try ConversionPlan.make(for: source, options: ConversionOptions(flatOutput: true))
            try Converter().write(plan, from: source, to: try TFCheckpointWriter(
                creating: out, temporaryIndexPath: out + ".index.tmp", temporaryDataPath: out + ".data.tmp"))
            let written = try TensorFiles.open(out)
            #expect(try CellInventory(written).cells.map(\.layout.name) == ["explicit"])
            let verdicts = try Verifier(options: VerifyOptions(batch: 3, steps: 5)).verify(source, against: written)
            #expect(verdicts.count == 1 && verdicts[0].equivalent && verdicts[0].weightsIdentical)
        }
        let flat = try ConversionPlan.make(for: source, options: ConversionOptions(flatOutput: true))
        #expect(flat.notes.isEmpty && flat.outputName(ofCopied: "dense/bias") == "dense/bias")
        let hierarchical = try ConversionPlan.make(for: source, options: ConversionOptions())
        #expect(hierarchical.outputName(ofCopied: "dense/bias") == "dense/bias:0")
        #expect(hierarchical.outputName(ofCopied: "dense/bias/Adam") == "dense/bias/Adam:0")
        #expect(hierarchical.cells[0].datasets.map(\.name).contains("rnn/gru_cell/Wr/Adam_1:0"))
    }
}
