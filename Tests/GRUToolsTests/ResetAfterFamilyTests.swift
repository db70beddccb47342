import Foundation
import GRUCore
import GRUTools
import TensorStore
import Testing

/// Keras- and PyTorch-made cells (fixtures/keras, made by tf-keras 2.21, Keras 3.15 and torch 2.13 with
/// fixtures/generate_keras.py and generate_torch.py): discovery, verification against the frameworks' own
/// outputs in both families, the new family's classic mistakes, and conversion.
@Suite struct ResetAfterFamilyTests {
    func open(_ name: String) throws -> HDF5File { try HDF5File(readingFrom: Fixtures.path("keras/" + name)) }

    func verify(_ name: String, mode: VerifyMode = .strict, reference: String? = nil,
                family: CellFamily? = nil) throws -> [CellVerdict] {
        try Verifier(options: VerifyOptions(mode: mode, batch: 4, steps: 12, seed: 7, declaredFamily: family))
            .verify(open(name), reference: reference.map(open))
    }

    func verify(_ name: String, against other: String) throws -> [CellVerdict] {
        try Verifier(options: VerifyOptions(batch: 4, steps: 12, seed: 7)).verify(open(name), against: open(other))
    }

    struct Expected: Sendable, CustomTestStringConvertible {
        var fixture: String
        /// Scope, layout name, input size, units of each cell, in scope order.
        var cells: [(String, String, Int, Int)]
        var testDescription: String { fixture }
    }

    static let fixtures: [Expected] = [
        Expected(fixture: "tfk_reset_after", cells: [("gru/gru/gru_cell", "keras-reset-after", 5, 6)]),
        Expected(fixture: "tfk_reset_before", cells: [("gru/gru/gru_cell", "keras-reset-before", 5, 6)]),
        Expected(fixture: "tfk_bidirectional", cells: [
            ("bidirectional/bidirectional/backward_gru/gru_cell", "keras-reset-after", 8, 5),
            ("bidirectional/bidirectional/forward_gru/gru_cell", "keras-reset-after", 8, 5)]),
        Expected(fixture: "tfk_stacked", cells: [
            ("model_weights/gru/gru/gru_cell", "keras-reset-after", 5, 6),
            ("model_weights/gru_1/gru_1/gru_cell", "keras-reset-before", 6, 4)]),
        Expected(fixture: "k3_reset_after", cells: [("gru/sequential/gru/gru_cell", "keras-reset-after", 5, 6)]),
        Expected(fixture: "k3_reset_before", cells: [("gru/gru/gru_cell", "keras-reset-before", 5, 6)]),
        Expected(fixture: "k3_bidirectional", cells: [
            ("bidirectional/sequential/bidirectional/backward_gru/gru_cell", "keras-reset-after", 8, 5),
            ("bidirectional/sequential/bidirectional/forward_gru/gru_cell", "keras-reset-after", 8, 5)]),
        Expected(fixture: "k3_stacked", cells: [
            ("model_weights/gru/sequential/gru/gru_cell", "keras-reset-after", 5, 6),
            ("model_weights/gru_1/sequential/gru_1/gru_cell", "keras-reset-before", 6, 4)]),
        Expected(fixture: "tf1_keras_layers", cells: [
            ("enc/bidirectional/backward_gru_2/gru_cell", "keras-reset-after", 6, 3),
            ("enc/bidirectional/forward_gru_2/gru_cell", "keras-reset-after", 6, 3),
            ("enc/gru/gru_cell", "keras-reset-after", 6, 5),
            ("enc/gru_1/gru_cell", "keras-reset-before", 6, 4)]),
        Expected(fixture: "torch_gru", cells: [
            ("torch_l0/gru_cell", "keras-reset-after", 5, 6), ("torch_l1/gru_cell", "keras-reset-after", 6, 6)]),
    ]

    // MARK: - Discovery

    @Test(arguments: fixtures)
    func everyKerasCellIsFoundWithItsLayoutAndSizes(_ expected: Expected) throws {
        let found = CellInventory(variables: try open(expected.fixture + ".h5").variables())
        #expect(found.problems.isEmpty)
        #expect(found.cells.map(\.scope) == expected.cells.map(\.0))
        #expect(found.cells.map(\.layout.name) == expected.cells.map(\.1))
        #expect(found.cells.map(\.dimensions) == expected.cells.map { CellDimensions(inputSize: $0.2, units: $0.3) })
    }

    /// Keras 2 optimizer slots are named like cells (`optimizer_weights/Adam/m/gru/gru_cell/kernel:0`) and are never taken for one.
    @Test func kerasOptimizerStateIsNeverACell() throws {
        let found = CellInventory(variables: try open("tfk_stacked.h5").variables())
        #expect(found.cells.count == 2)
        let optimizer = found.otherVariables.filter { $0.hasPrefix("optimizer_weights/") }
        #expect(optimizer.count == found.otherVariables.count)
        #expect(optimizer.contains("optimizer_weights/Adam/m/gru/gru_cell/recurrent_kernel:0"))
        // Negative control: the same names outside optimizer_weights are a cell.
        let moved = try open("tfk_stacked.h5").variables().filter { $0.name.hasPrefix("optimizer_weights/Adam/m/gru/") }
            .map { Variable(name: "elsewhere/" + $0.name, elementType: $0.elementType, shape: $0.shape) }
        #expect(CellInventory(variables: moved).cells.map(\.scope) == ["elsewhere/optimizer_weights/Adam/m/gru/gru_cell"])
    }

    /// A dense layer's `kernel` and `bias` are not a GRU cell: Keras cells need `recurrent_kernel`.
    @Test func denseLayersAreNotCells() {
        let variables = [Variable(name: "dense/kernel:0", elementType: .float(bits: 32), shape: [6, 3]),
                         Variable(name: "dense/bias:0", elementType: .float(bits: 32), shape: [3])]
        let found = CellInventory(variables: variables)
        #expect(found.cells.isEmpty && found.problems.isEmpty)
        #expect(found.otherVariables == ["dense/kernel:0", "dense/bias:0"])
        // Negative control: with a recurrent kernel they are an (incomplete) would-be cell.
        let partial = CellInventory(variables: variables + [Variable(name: "dense/recurrent_kernel:0", elementType: .float(bits: 32), shape: [2, 6])])
        #expect(partial.problems.map(\.reason) == ["recurrent_kernel is [2, 6], expected [1, 3] (input size 6, 1 unit, from kernel [6, 3])"])
    }

    /// An LSTM (`recurrent_kernel [H, 4H]`) or a SimpleRNN (`[H, H]`) beside a GRU is another layer, not a
    /// broken GRU cell; a GRU-shaped `recurrent_kernel` with a wrong kernel still is a problem.
    @Test func otherRecurrentLayersAreNotGRUCells() {
        func v(_ name: String, _ shape: [Int]) -> Variable { Variable(name: name, elementType: .float(bits: 32), shape: shape) }
        let others = [v("lstm/lstm_cell/kernel:0", [4, 16]), v("lstm/lstm_cell/recurrent_kernel:0", [4, 16]),
                      v("lstm/lstm_cell/bias:0", [16]), v("rnn/simple_rnn_cell/kernel:0", [4, 3]),
                      v("rnn/simple_rnn_cell/recurrent_kernel:0", [3, 3]), v("rnn/simple_rnn_cell/bias:0", [3])]
        let gru = [v("gru/gru_cell/kernel:0", [4, 15]), v("gru/gru_cell/recurrent_kernel:0", [5, 15]), v("gru/gru_cell/bias:0", [2, 15])]
        let found = CellInventory(variables: gru + others)
        #expect(found.cells.map(\.scope) == ["gru/gru_cell"])
        #expect(found.problems.isEmpty)
        #expect(found.otherVariables == others.map(\.name))
        // Negative control: a GRU-shaped recurrent kernel with a kernel of the wrong width is a problem.
        let broken = CellInventory(variables: [v("g/kernel", [4, 14]), v("g/recurrent_kernel", [5, 15]), v("g/bias", [15])])
        #expect(broken.problems.map(\.reason) == ["kernel has shape [4, 14], which is not [I, 3H] with I, H >= 1"])
    }

    @Test func aFlattenedBiasIsNamedAsCuDNNs() throws {
        let found = CellInventory(variables: try open("mistakes/bias_flattened.h5").variables())
        #expect(found.cells.isEmpty)
        let expected = "bias is [36], expected [18] (reset-before) or [2, 18] (reset-after); a [6H] bias is CuDNNGRU's layout, "
            + "not a GRU's [2, 3H] (input size 5, 6 units, from kernel [5, 18])"
        #expect(found.problems.map(\.reason) == [expected])
    }

    @Test func aCellWithoutABiasHasNoFamily() throws {
        let found = CellInventory(variables: try open("tfk_no_bias.h5").variables())
        #expect(found.cells.map(\.layout.name) == ["keras-no-bias"])
        #expect(found.cells.first?.family == nil)
    }

    // MARK: - Verification against the frameworks' own outputs

    static let referenced = fixtures.map(\.fixture)

    @Test(arguments: referenced, [VerifyMode.strict, .fast])
    func everyCellMatchesItsFramework(_ fixture: String, mode: VerifyMode) throws {
        let verdicts = try verify(fixture + ".h5", mode: mode, reference: fixture + ".reference.h5")
        #expect(!verdicts.isEmpty)
        for v in verdicts {
            #expect(v.equivalent, "\(fixture) \(v.scope): \(v.diagnosis)")
            #expect(v.weightsIdentical)
            #expect(v.reference?.withinTolerance == true)
            #expect((v.reference?.stepMaxAbsDiff ?? 1) < 1e-6)
            if mode == .strict { #expect(v.maxAbsDiff == 0 && v.maxULPDiff == 0) }
        }
    }

    /// The tf-keras cell loaded into PyTorch's nn.GRU gives torch's outputs within float rounding.
    @Test(arguments: [VerifyMode.strict, .fast])
    func aKerasCellMatchesPyTorch(_ mode: VerifyMode) throws {
        let verdict = try #require(try verify("tfk_reset_after.h5", mode: mode, reference: "tfk_reset_after.torch-reference.h5").first)
        #expect(verdict.equivalent, "\(verdict.diagnosis)")
        #expect(verdict.family == .resetAfter)
        #expect((verdict.reference?.stepMaxAbsDiff ?? 1) < 1e-6)
    }

    /// Keras's `hard_sigmoid` recurrent activation is not the sigmoid: only that cell fails, and says so in numbers.
    @Test func aHardSigmoidReferenceFailsOnlyItsCell() throws {
        let verdicts = try verify("tf1_keras_layers.h5", reference: "mistakes/hard_sigmoid.reference.h5")
        #expect(verdicts.filter { !$0.equivalent }.map(\.scope) == ["enc/gru_1/gru_cell"])
        let failed = try #require(verdicts.first { !$0.equivalent })
        #expect((failed.reference?.stepMaxAbsDiff ?? 0) > 1e-2)
    }

    // MARK: - use_bias=False: the family is the user's to say

    @Test func aCellWithoutABiasIsRefusedWithoutItsFamily() throws {
        let error = #expect(throws: StoreError.self) { _ = try verify("tfk_no_bias.h5", reference: "tfk_no_bias.reference.h5") }
        #expect(error?.code == .invalidRequest)
        let expected = "keras-no-bias tensors do not tell whether the reset acts before or after the recurrent "
            + "product; say which (--reset-after true|false)"
        #expect(error?.reason == expected)
    }

    @Test(arguments: [("tfk_no_bias", CellFamily.resetAfter), ("tfk_no_bias_before", .resetBefore)])
    func aCellWithoutABiasPassesAsItsOwnFamily(_ fixture: String, _ family: CellFamily) throws {
        for mode in [VerifyMode.strict, .fast] {
            let verdict = try #require(try verify(fixture + ".h5", mode: mode, reference: fixture + ".reference.h5", family: family).first)
            #expect(verdict.equivalent, "\(verdict.diagnosis)")
            #expect(verdict.family == family)
        }
    }

    /// Negative control: the same tensors run as the other family fail, and the diagnosis says the reset is misplaced.
    @Test(arguments: [("tfk_no_bias", CellFamily.resetBefore, "the reset applied after the product ((h·Uh)∘r instead of (r∘h)·Uh)"),
                      ("tfk_no_bias_before", .resetAfter,
                       "the reset applied before the product ((r∘h)·Uh instead of r∘(h·Uh + bUh)): a reset-before cell")])
    func aCellWithoutABiasFailsAsTheOtherFamily(_ fixture: String, _ family: CellFamily, _ mistake: String) throws {
        let verdict = try #require(try verify(fixture + ".h5", reference: fixture + ".reference.h5", family: family).first)
        #expect(!verdict.equivalent)
        #expect(verdict.reference?.withinTolerance == false)
        let expected = "the reference outputs match a cell with " + mistake
        #expect(verdict.diagnosis.last == expected)
    }

    // MARK: - The new family's classic mistakes

    @Test(arguments: [
        ("zr_swapped", ["r and z swapped (Wr/Wz, Ur/Uz, br/bz and bUr/bUz exchanged: PyTorch's r,z,n gate order read as Keras's z,r,h, or the reverse)"]),
        ("biases_summed", ["the two biases summed into the input bias (br, bz, bh hold b + bU; bUr, bUz, bUh are zero)"]),
        ("recurrent_bias_dropped", ["the recurrent biases dropped (bUr, bUz and bUh zeroed)"]),
        ("input_bias_dropped", ["the input biases dropped (br, bz and bh zeroed)"]),
        ("candidate_transposed", ["Uh transposed"]),
        ("reset_before", [
            "reset placement flipped: the reset acts before the recurrent product (keras-reset-before) in the checked "
            + "cell, but after the recurrent product (keras-reset-after) in the original; the two GRU families differ "
            + "and no weight conversion between them is exact",
            "the reset-before cell's biases are the reset-after cell's two biases summed (b + bU)"]),
    ])
    func eachMistakeFailsWithItsOwnDiagnosis(_ mistake: String, _ diagnosis: [String]) throws {
        let verdict = try #require(try verify("tfk_reset_after.h5", against: "mistakes/\(mistake).h5").first)
        #expect(!verdict.equivalent)
        #expect(!verdict.weightsIdentical)
        #expect(Array(verdict.diagnosis.prefix(diagnosis.count)) == diagnosis)
        // The outputs differ as well, with the numbers to show it.
        #expect(verdict.diagnosis.count == diagnosis.count + 1)
        #expect(verdict.diagnosis.last?.hasPrefix("outputs differ in ") == true)
        #expect((verdict.maxAbsDiff ?? 0) > 0.1)
        // And against the framework's outputs, the mistaken file fails on its own.
        let alone = try #require(try verify("mistakes/\(mistake).h5", reference: "tfk_reset_after.reference.h5").first)
        #expect(!alone.equivalent)
        #expect(alone.reference?.withinTolerance == false)
    }

    /// Negative control for the mistakes: the correct file against itself passes with no diagnosis.
    @Test func theCorrectFileAgainstItselfPasses() throws {
        let verdict = try #require(try verify("tfk_reset_after.h5", against: "tfk_reset_after.h5").first)
        #expect(verdict.equivalent && verdict.diagnosis.isEmpty)
    }

    /// PyTorch's gate order read as Keras's is what the reference outputs show, by name.
    @Test func swappedGatesAreNamedFromTheOutputsToo() throws {
        let verdict = try #require(try verify("mistakes/zr_swapped.h5", reference: "tfk_reset_after.reference.h5").first)
        #expect(verdict.diagnosis.last == "the reference outputs match a cell with r and z swapped in the computation")
    }

    // MARK: - Conversion within the family

    @Test(arguments: ["tfk_reset_after", "tfk_stacked", "k3_bidirectional", "tf1_keras_layers", "torch_gru"])
    func splitThenFuseGivesTheKerasFileBack(_ fixture: String) throws {
        try withTemporaryDirectory { dir in
            let split = dir.appendingPathComponent("split.h5").path, back = dir.appendingPathComponent("back.h5").path
            try convert(Fixtures.path("keras/\(fixture).h5"), to: split, ConversionOptions())
            try convert(split, to: back, ConversionOptions(target: .fused))
            #expect(try h5diff(Fixtures.path("keras/\(fixture).h5"), back) == 0)
            let cells = CellInventory(variables: try HDF5File(readingFrom: split).variables()).cells
            #expect(Set(cells.map(\.layout.name)).isSubset(of: ["explicit", "explicit-reset-after"]))
            // The split file verifies against the original and against the framework.
            let verdicts = try Verifier(options: VerifyOptions(batch: 4, steps: 12, seed: 7))
                .verify(try open(fixture + ".h5"), against: try HDF5File(readingFrom: split),
                        reference: try open(fixture + ".reference.h5"))
            #expect(verdicts.allSatisfy { $0.equivalent && $0.weightsIdentical }, "\(verdicts.map(\.diagnosis))")
        }
    }

    /// The split of a Keras cell is bit for bit the columns z, r, h of its kernels and the rows of its bias.
    @Test func splitValuesAreTheKerasColumns() throws {
        try withTemporaryDirectory { dir in
            let split = dir.appendingPathComponent("split.h5").path
            try convert(Fixtures.path("keras/tfk_reset_after.h5"), to: split, ConversionOptions())
            let file = try HDF5File(readingFrom: split), original = try open("tfk_reset_after.h5")
            let kernel = try original.read("gru/gru/gru_cell/recurrent_kernel:0", as: Float.self)
            let bias = try original.read("gru/gru/gru_cell/bias:0", as: Float.self)
            let ur = try file.read("gru/gru/gru_cell/Ur:0", as: Float.self), bUh = try file.read("gru/gru/gru_cell/bUh:0", as: Float.self)
            // Ur: rows of recurrent_kernel [6, 18], columns 6..<12 (z is first).
            let columns: [Float] = (0..<6).flatMap { (row: Int) -> ArraySlice<Float> in kernel.scalars[(row * 18 + 6)..<(row * 18 + 12)] }
            #expect(ur.scalars == columns)
            // bUh: row 1 of bias [2, 18], columns 12..<18.
            let row: [Float] = Array(bias.scalars[30..<36])
            #expect(bUh.scalars == row)
        }
    }

    @Test func aCellWithoutABiasIsNotConverted() throws {
        try withTemporaryDirectory { dir in
            let error = #expect(throws: StoreError.self) {
                try convert(Fixtures.path("keras/tfk_no_bias.h5"), to: dir.appendingPathComponent("x.h5").path, ConversionOptions())
            }
            #expect(error?.code == .invalidRequest)
            #expect(error?.reason.hasPrefix("a keras-no-bias cell has no biases") == true)
        }
    }

    @Test func aResetAfterCellHasNoTensorFlow1Names() throws {
        try withTemporaryDirectory { dir in
            let error = #expect(throws: StoreError.self) {
                try convert(Fixtures.path("keras/tfk_reset_after.h5"), to: dir.appendingPathComponent("x.h5").path,
                            ConversionOptions(target: .fused, names: .tf))
            }
            let expected = "a reset-after cell has no TensorFlow 1 GRUCell form (its reset acts after the "
                + "recurrent product); use --names keep"
            #expect(error?.reason == expected)
        }
    }

    /// A Keras cell's scope is never renamed to TF1 spellings (`gru/gru/GRUCell`), in either form; a TF1
    /// cell still is (the control).
    @Test(arguments: ["tfk_reset_after.h5", "tfk_reset_before.h5"], [ConversionTarget.explicit, .fused])
    func kerasScopesAreNeverRenamed(_ fixture: String, _ target: ConversionTarget) throws {
        try withTemporaryDirectory { dir in
            let error = #expect(throws: StoreError.self) {
                try convert(Fixtures.path("keras/" + fixture), to: dir.appendingPathComponent("x.h5").path,
                            ConversionOptions(target: target, names: .legacy))
            }
            let expected = "--names legacy would rename this Keras cell's scope to gru/gru/GRUCell; a Keras scope is "
                + "its layers' names and is kept (use --names keep)"
            #expect(error?.reason == expected)
        }
        try withTemporaryDirectory { dir in
            let out = dir.appendingPathComponent("x.h5").path
            try convert(Fixtures.path("gru_single.h5"), to: out, ConversionOptions(names: .legacy))
            #expect(CellInventory(variables: try HDF5File(readingFrom: out).variables()).cells.map(\.scope) == ["RNN/GRUCell"])
        }
    }

    /// Within the reset-before family a Keras cell becomes a TensorFlow 1 GRUCell in two steps (split,
    /// then fuse with TF's names), exactly: it still matches tf-keras's own outputs.
    @Test func aKerasResetBeforeCellBecomesATensorFlowGRUCell() throws {
        try withTemporaryDirectory { dir in
            let split = dir.appendingPathComponent("split.h5").path, tf1 = dir.appendingPathComponent("tf1.h5").path
            try convert(Fixtures.path("keras/tfk_reset_before.h5"), to: split, ConversionOptions())
            try convert(split, to: tf1, ConversionOptions(target: .fused, names: .tf))
            let cells = CellInventory(variables: try HDF5File(readingFrom: tf1).variables()).cells
            #expect(cells.map(\.layout.name) == ["tf-gru-cell"])
            let verdicts = try Verifier(options: VerifyOptions(batch: 3, steps: 5))
                .verify(try open("tfk_reset_before.h5"), against: try HDF5File(readingFrom: tf1),
                        reference: try open("tfk_reset_before.reference.h5"))
            #expect(verdicts.count == 1 && verdicts[0].equivalent && verdicts[0].weightsIdentical, "\(verdicts.map(\.diagnosis))")
        }
    }

    // MARK: - Helpers

    func convert(_ input: String, to output: String, _ options: ConversionOptions) throws {
        let file = try HDF5File(readingFrom: input)
        let plan = try ConversionPlan.make(for: file, options: options)
        try Converter().write(plan, from: file, to: try HDF5Writer(creating: output, temporaryPath: output + ".tmp"))
    }

    func h5diff(_ a: String, _ b: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/h5diff")
        process.arguments = [a, b]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
