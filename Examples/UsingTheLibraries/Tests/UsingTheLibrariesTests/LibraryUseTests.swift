// gru-convert's libraries exercised from outside their package: only products and public declarations.
import Foundation
import GRUCore
import GRUTools
import Testing
import TensorStore

/// The repository's Keras reset-after fixture, found from this file's path
/// (<repository>/Examples/UsingTheLibraries/Tests/UsingTheLibrariesTests/LibraryUseTests.swift).
let fixture = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("../../fixtures/keras/tfk_reset_after.h5").standardized.path

/// The fixture's only cell, with the file it came from.
func fixtureCell() throws -> (file: any TensorSource, cell: GRUCell) {
    let file: any TensorSource = try HDF5File(readingFrom: fixture)
    let cells = CellInventory(variables: try file.variables()).cells
    try #require(cells.count == 1)
    return (file, cells[0])
}

/// Both strict forms run on the same seeded inputs.
func strictOutputs(_ fused: CellWeights<Float>, _ explicit: ExplicitWeights<Float>, seed: UInt64 = 3)
    -> (fused: [Float], explicit: [Float]) {
    var random = SeededRandom(seed: seed)
    let (inputs, state) = random.sequence(batch: 4, steps: 12, dimensions: fused.dimensions)
    return (StrictFusedCell(fused).run(inputs: inputs, initialState: state).scalars,
            StrictExplicitCell(explicit).run(inputs: inputs, initialState: state).scalars)
}

@Test func discoveryFindsTheKerasCell() throws {
    let (file, cell) = try fixtureCell()
    #expect(file.formatName == "HDF5")
    #expect(cell.scope == "gru/gru/gru_cell")
    #expect(cell.layout.name == "keras-reset-after")
    #expect(cell.layout == .kerasResetAfter)
    #expect(cell.family == .resetAfter)
    #expect(cell.dimensions == CellDimensions(inputSize: 5, units: 6))
    #expect(cell.tensors.map(\.tensor) == ["kernel", "recurrent_kernel", "bias"])
}

@Test func bothFormsOfTheFixtureAreBitwiseIdentical() throws {
    let (file, cell) = try fixtureCell()
    let weights = try file.weights(of: cell, as: Float.self)
    #expect(weights.family == .resetAfter)
    #expect(weights.explicitForm.members.count == 12)
    let (fused, explicit) = strictOutputs(weights, weights.explicitForm)
    #expect(ErrorMeasures.between(fused, explicit).isBitwiseIdentical)
}

@Test func verifierAgreesFromOutside() throws {
    let file: any TensorSource = try HDF5File(readingFrom: fixture)
    let verdicts = try Verifier(options: VerifyOptions(mode: .strict, batch: 2, steps: 8, seed: 1)).verify(file)
    #expect(verdicts.map(\.scope) == ["gru/gru/gru_cell"])
    #expect(verdicts.allSatisfy { $0.equivalent && $0.weightsIdentical })
}

@Test func aCellBuiltInMemory() throws {
    let d = CellDimensions(inputSize: 3, units: 4)
    var random = SeededRandom(seed: 11)
    func randomTensor(_ shape: [Int]) -> Tensor<Float> {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in random.uniform(-1, 1) })
    }
    let stored = ["kernel": randomTensor([3, 12]), "recurrent_kernel": randomTensor([4, 12]), "bias": randomTensor([2, 12])]
    let weights = try CellWeights(layout: .kerasResetAfter, tensors: stored)
    #expect(weights.dimensions == d)
    #expect(weights.family == .resetAfter)
    // Keras orders the gates z, r, h: the reset gate's input kernel is the second block of H columns.
    #expect(weights.explicitForm[.Wr].scalars[0] == stored["kernel"]!.scalars[4])
    // The recurrent biases are row 1 of the [2, 3H] bias.
    #expect(weights.explicitForm[.bUz].scalars == Array(stored["bias"]!.scalars[12..<16]))
    // Fusing the explicit form back gives the stored tensors exactly.
    #expect(try LayoutTable.kerasResetAfter.fuse(weights.explicitForm) == stored)
    let (fused, explicit) = strictOutputs(weights, weights.explicitForm)
    #expect(ErrorMeasures.between(fused, explicit).maxAbsolute == 0)
    #expect(ErrorMeasures.between(fused, explicit).isBitwiseIdentical)
    // A wrong shape is a WeightsError, not a crash.
    #expect(throws: WeightsError.self) {
        try CellWeights(layout: .kerasResetAfter, tensors: stored.merging(["bias": randomTensor([12])]) { $1 })
    }
}

@Test func oneULPInOneExplicitWeightBreaksBitwiseIdentity() throws {
    let (file, cell) = try fixtureCell()
    let weights = try file.weights(of: cell, as: Float.self)
    var uh = weights.explicitForm[.Uh]
    // The largest weight: its product dominates its sums, so one ULP of it shows in the outputs.
    let largest = uh.scalars.indices.max { abs(uh.scalars[$0]) < abs(uh.scalars[$1]) }!
    uh.scalars[largest] = uh.scalars[largest].nextUp
    let changed = try weights.explicitForm.replacing([.Uh: uh])
    let (fused, explicit) = strictOutputs(weights, changed)
    let measures = ErrorMeasures.between(fused, explicit)
    #expect(!measures.isBitwiseIdentical)
    #expect(measures.maxAbsolute < 1e-5)  // one ULP moves the outputs, but only just
}

@Test func aMissingFileIsNotFound() throws {
    let missing = fixture + ".missing"
    let error = #expect(throws: StoreError.self) { try HDF5File(readingFrom: missing) }
    #expect(error?.code == .notFound)
    #expect(error?.file == missing)
}
