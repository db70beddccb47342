import GRUTools
import TensorStore
import GRUCore
import Testing

/// The forward passes against the outputs TensorFlow's GRUCell computed for the fixtures.
@Suite struct ForwardPassTests {
    static let fixtures = ["gru_single.h5", "gru_legacy.h5", "gru_tf10.h5", "gru_block.h5", "gru_explicit.h5",
                           "gru_stacked.h5", "gru_stacked_legacy.h5", "gru_bidirectional.h5",
                           "gru_bidirectional_legacy.h5", "gru_adam.h5", "gru_float64.h5", "gru_large.h5"]

    struct Case: Sendable {
        var weights: CellWeights<Float>
        var run: ReferenceRun
    }

    static func cases(_ fixture: String) throws -> [Case] {
        let file = try HDF5File(readingFrom: Fixtures.path(fixture))
        let cells = CellInventory(variables: try file.variables()).cells
        let runs = try HDF5File(readingFrom: Fixtures.path(fixture.replacingOccurrences(of: ".h5", with: ".reference.h5")))
            .referenceRuns()
        #expect(cells.map(\.scope) == runs.map(\.scope))
        return try zip(cells, runs).map { Case(weights: try file.weights(of: $0, as: Float.self), run: $1) }
    }

    static func float(_ t: Tensor<Double>) -> Tensor<Float> { Tensor(shape: t.shape, scalars: t.scalars.map { Float($0) }) }

    /// The first element whose difference exceeds its step's bound, if any.
    func firstViolation(_ out: [Double], _ reference: [Double], _ bounds: [Double], units: Int) -> Int? {
        zip(out, reference).enumerated().first { n, pair in !(abs(pair.0 - pair.1) <= bounds[n / units]) }?.offset
    }

    /// Negative control for the step-by-step check: TensorFlow's outputs shifted by one step are caught.
    @Test func aShiftedReferenceIsCaught() throws {
        let c = try Self.cases("gru_single.h5")[0]
        let x = Self.float(c.run.inputs), h0 = Self.float(c.run.initialState), y = Self.float(c.run.outputs)
        let tolerance = FastModeTolerance(c.weights.self).bounds(inputs: x, initialState: h0, states: y)
        let out = StrictFusedCell(c.weights.self).run(inputs: x, initialState: h0, forcedStates: y)
        let shifted = Array(c.run.outputs.scalars.dropFirst(4)) + Array(c.run.outputs.scalars.prefix(4))
        #expect(firstViolation(out.scalars.map(Double.init), shifted, tolerance, units: 4) != nil)
    }

    @Test(arguments: fixtures)
    func strictFormsAreBitwiseIdentical(_ fixture: String) throws {
        for c in try Self.cases(fixture) {
            let x = Self.float(c.run.inputs), h0 = Self.float(c.run.initialState)
            let fused = StrictFusedCell(c.weights.self).run(inputs: x, initialState: h0)
            let explicit = StrictExplicitCell(c.weights.explicitForm).run(inputs: x, initialState: h0)
            #expect(ErrorMeasures.between(fused.scalars, explicit.scalars).isBitwiseIdentical, "\(c.run.scope)")
        }
    }

    @Test(arguments: fixtures)
    func everyFormMatchesTensorFlowStepByStep(_ fixture: String) throws {
        for c in try Self.cases(fixture) {
            let x = Self.float(c.run.inputs), h0 = Self.float(c.run.initialState), y = Self.float(c.run.outputs)
            let tolerance = FastModeTolerance(c.weights.self).bounds(inputs: x, initialState: h0, states: y)
            let models: [any GRUSequenceModel] = [StrictFusedCell(c.weights.self), StrictExplicitCell(c.weights.explicitForm),
                                                  FastFusedCell(c.weights.self), FastExplicitCell(c.weights.explicitForm)]
            let h = c.weights.dimensions.units
            for model in models {
                let out = model.run(inputs: x, initialState: h0, forcedStates: y)
                #expect(firstViolation(out.scalars.map(Double.init), c.run.outputs.scalars, tolerance, units: h) == nil,
                        "\(fixture) \(c.run.scope) \(type(of: model))")
            }
            let f64 = Float64Cell(c.weights.explicitForm).run(inputs: c.run.inputs, initialState: c.run.initialState,
                                                             forcedStates: c.run.outputs)
            #expect(firstViolation(f64.scalars, c.run.outputs.scalars, tolerance, units: h) == nil, "\(fixture) float64")
        }
    }
}
