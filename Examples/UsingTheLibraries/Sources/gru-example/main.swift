// gru-example: gru-convert's libraries used from another package, through their public API only.
//
//     swift run --package-path Examples/UsingTheLibraries gru-example [FILE.h5]
//
// (a) reads the GRU cells of an HDF5 file and runs each in both forms, (b) builds a cell in memory,
// (c) shows the typed error of a missing file. Exits 1 if any check fails.
import Foundation
import GRUCore      // layouts, weights, forward passes, measures: no I/O
import GRUTools     // cell discovery and reading over any TensorSource
import TensorStore  // TensorSource, HDF5File, StoreError

/// Prints one check and counts it.
struct Checks {
    private(set) var failed = 0

    mutating func expect(_ passed: Bool, _ what: String) {
        print(passed ? "  ok    \(what)" : "  FAIL  \(what)")
        if !passed { failed += 1 }
    }
}
var checks = Checks()

// The default file is the repository's Keras fixture, found from this source file's own path
// (<package>/Sources/gru-example/main.swift), so it works from any working directory.
let packageDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let defaultFile = packageDirectory.appendingPathComponent("../../fixtures/keras/tfk_reset_after.h5").standardized.path
let path = CommandLine.arguments.dropFirst().first ?? defaultFile

// MARK: (a) A file: discover its cells, read each one's weights, run both forms.

print("(a) \(path)")
do {
    // Everything below knows the file only as a TensorSource; HDF5 is just the format that opens it.
    let file: any TensorSource = try HDF5File(readingFrom: path)
    let inventory = CellInventory(variables: try file.variables())
    checks.expect(!inventory.cells.isEmpty, "\(inventory.cells.count) GRU cell(s) found")
    for problem in inventory.problems {
        checks.expect(false, "\(problem.scope): not a consistent cell: \(problem.reason)")
    }
    for cell in inventory.cells {
        print("  \(cell.scope): \(cell.layout.name), \(cell.family?.rawValue ?? "family not recorded"), "
              + "input size \(cell.dimensions.inputSize), \(cell.dimensions.units) units, \(cell.elementType)")
        // `family` is used only when the tensors cannot tell it (a Keras GRU without bias); reset-after
        // is what Keras defaults to.
        let weights = try file.weights(of: cell, as: Float.self, family: .resetAfter)
        var random = SeededRandom(seed: 7)
        let (inputs, state) = random.sequence(batch: 4, steps: 16, dimensions: weights.dimensions)
        let fused = StrictFusedCell(weights).run(inputs: inputs, initialState: state)
        let explicit = StrictExplicitCell(weights.explicitForm).run(inputs: inputs, initialState: state)
        let measures = ErrorMeasures.between(fused.scalars, explicit.scalars)
        checks.expect(measures.isBitwiseIdentical,
                      "fused and explicit outputs bitwise identical (\(measures.bitwiseDifferent) of \(fused.scalars.count) differ)")
    }
} catch {
    checks.expect(false, "reading \(path): \(error)")
}

// MARK: (b) A cell built in memory, no file: random Keras reset-after weights.

print("(b) in memory")
do {
    let d = CellDimensions(inputSize: 3, units: 4)
    var random = SeededRandom(seed: 1)
    func randomTensor(_ shape: [Int]) -> Tensor<Float> {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in random.uniform(-0.5, 0.5) })
    }
    // Keras stores kernel [I, 3H], recurrent_kernel [H, 3H] and, for reset_after=True, bias [2, 3H]
    // (input bias, recurrent bias), gates in the order z, r, h.
    let weights = try CellWeights(layout: .kerasResetAfter, tensors: [
        "kernel": randomTensor([d.inputSize, 3 * d.units]),
        "recurrent_kernel": randomTensor([d.units, 3 * d.units]),
        "bias": randomTensor([2, 3 * d.units]),
    ])
    print("  \(weights.layout.name), \(weights.family.rawValue): explicit form "
          + weights.explicitForm.members.map(\.rawValue).joined(separator: " "))
    let (inputs, state) = random.sequence(batch: 2, steps: 5, dimensions: d)
    let fused = StrictFusedCell(weights).run(inputs: inputs, initialState: state)
    let explicit = StrictExplicitCell(weights.explicitForm).run(inputs: inputs, initialState: state)
    let measures = ErrorMeasures.between(fused.scalars, explicit.scalars)
    checks.expect(measures.isBitwiseIdentical, "max |fused - explicit| = \(measures.maxAbsolute)")
} catch {
    checks.expect(false, "building the cell: \(error)")  // a WeightsError: a missing tensor or a wrong shape
}

// MARK: (c) The typed error: every store failure is a StoreError with a code to switch on.

print("(c) a missing file")
let missing = packageDirectory.appendingPathComponent("no-such-file.h5").path
do {
    _ = try HDF5File(readingFrom: missing)
    checks.expect(false, "opening \(missing) should have failed")
} catch let error as StoreError {
    switch error.code {
    case .notFound: checks.expect(true, "code .notFound: \(error)")
    default: checks.expect(false, "code .\(error.code), expected .notFound: \(error)")
    }
} catch {
    checks.expect(false, "not a StoreError: \(error)")
}

print(checks.failed == 0 ? "all checks passed" : "\(checks.failed) check(s) failed")
exit(checks.failed == 0 ? 0 : 1)
