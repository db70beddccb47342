import Checkpoint
import GRUReference
import Testing

/// The forward passes against the outputs TensorFlow's GRUCell computed for the fixtures.
@Suite struct ForwardPassTests {
    static let fixtures = ["gru_single.h5", "gru_legacy.h5", "gru_tf10.h5", "gru_block.h5", "gru_explicit.h5",
                           "gru_stacked.h5", "gru_stacked_legacy.h5", "gru_bidirectional.h5",
                           "gru_bidirectional_legacy.h5", "gru_adam.h5", "gru_float64.h5"]

    struct Case: Sendable {
        var weights: CellWeights<Float>
        var run: ReferenceRun
    }

    static func cases(_ fixture: String) throws -> [Case] {
        let file = try CheckpointFile(readingFrom: Fixtures.path(fixture))
        let cells = CheckpointInventory(variables: try file.variables()).cells
        let runs = try CheckpointFile(readingFrom: Fixtures.path(fixture.replacingOccurrences(of: ".h5", with: ".reference.h5")))
            .referenceRuns()
        #expect(cells.map(\.scope) == runs.map(\.scope))
        return try zip(cells, runs).map { Case(weights: try file.weights(of: $0, as: Float.self), run: $1) }
    }

    static func float(_ t: Tensor<Double>) -> Tensor<Float> { Tensor(shape: t.shape, scalars: t.scalars.map { Float($0) }) }

    @Test(arguments: fixtures)
    func strictFormsAreBitwiseIdentical(_ fixture: String) throws {
        for c in try Self.cases(fixture) {
            let x = Self.float(c.run.inputs), h0 = Self.float(c.run.initialState)
            let fused = StrictFusedCell(c.weights.fusedForm).run(inputs: x, initialState: h0)
            let explicit = StrictExplicitCell(c.weights.explicitForm).run(inputs: x, initialState: h0)
            #expect(ErrorMeasures.between(fused.scalars, explicit.scalars).isBitwiseIdentical, "\(c.run.scope)")
        }
    }

    @Test(arguments: fixtures)
    func everyFormMatchesTensorFlowStepByStep(_ fixture: String) throws {
        for c in try Self.cases(fixture) {
            let x = Self.float(c.run.inputs), h0 = Self.float(c.run.initialState), y = Self.float(c.run.outputs)
            let tolerance = FastModeTolerance(c.weights.fusedForm).bounds(inputs: x, initialState: h0, states: y)
            let models: [any GRUSequenceModel] = [StrictFusedCell(c.weights.fusedForm), StrictExplicitCell(c.weights.explicitForm),
                                                  FastFusedCell(c.weights.fusedForm), FastExplicitCell(c.weights.explicitForm)]
            for model in models {
                let out = model.run(inputs: x, initialState: h0, forcedStates: y)
                let h = c.weights.dimensions.units
                for (n, (a, b)) in zip(out.scalars, c.run.outputs.scalars).enumerated() {
                    let bound = tolerance[n / h]
                    if abs(Double(a) - b) > bound {
                        Issue.record("\(fixture) \(c.run.scope) \(type(of: model)) element \(n): |\(a) - \(b)| > \(bound)")
                        break
                    }
                }
                let e = ErrorMeasures.between(out.scalars, reference: c.run.outputs.scalars)
            }
            let f64 = Float64Cell(c.weights.explicitForm).run(inputs: c.run.inputs, initialState: c.run.initialState,
                                                             forcedStates: c.run.outputs)
            let e = ErrorMeasures.between(f64.scalars.map { Float($0) }, reference: c.run.outputs.scalars)
            #expect(e.maxAbsolute < 1e-6, "float64 cell against TensorFlow: \(e.maxAbsolute)")
        }
    }
}
