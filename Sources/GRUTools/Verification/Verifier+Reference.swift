import GRUCore
import TensorStore

extension Verifier {
    // MARK: - Reference runs

    /// The reference run of `cell` of `file`: by scope (or its current spelling), by the user's layer names
    /// where the file records them (`CellInventory.userName`), or the only one for the only cell. A run of
    /// other sizes is an input error, as a missing one is.
    func run(for cell: GRUCell, of file: any TensorSource, in runs: [ReferenceRun], cellCount: Int,
             reference: any TensorSource) throws -> ReferenceRun {
        guard let run = runs.first(where: { $0.scope == cell.scope })
            ?? runs.first(where: { ScopeNames.current($0.scope) == ScopeNames.current(cell.scope) })
            ?? CellInventory.userName(of: cell, in: file).flatMap({ name in runs.first { $0.scope == name } })
            ?? (runs.count == 1 && cellCount == 1 ? runs[0] : nil) else {
            throw StoreError(.invalidRequest, file: reference.path, object: cell.scope,
                             reason: "no reference run for this cell (expected \(cell.scope)/inputs, initial_state, outputs)")
        }
        let d = cell.dimensions
        guard run.inputs.shape[2] == d.inputSize, run.initialState.shape[1] == d.units else {
            throw StoreError(.invalidRequest, file: reference.path, object: run.scope,
                             reason: "this reference run is for input size \(run.inputs.shape[2]) and \(run.initialState.shape[1]) units, "
                                 + "not the cell's \(d.inputSize) and \(d.units)")
        }
        return run
    }

    /// Teacher-forced steps against the reference's outputs (the verdict), the free-running trajectory
    /// beside it, and, when the steps do not match, which classic hand-written cell they match instead.
    ///
    /// `sides` names whose weights each form runs when two files are compared (FILE's fused form, OTHER's
    /// explicit form): a mismatch is then attributed to the file whose cell does not match.
    func check(_ verdict: inout CellVerdict, against run: ReferenceRun, fused: CellWeights<Float>,
                       explicit: ExplicitWeights<Float>, sides: (fused: String, explicit: String)? = nil) throws {
        let d = fused.dimensions
        let narrow = { (t: Tensor<Double>) in Tensor(shape: t.shape, scalars: t.scalars.map { Float($0) }) }
        let (inputs, initial, outputs) = (narrow(run.inputs), narrow(run.initialState), narrow(run.outputs))
        let bounds = FastModeTolerance(explicit).bounds(inputs: inputs, initialState: initial, states: outputs)
        let models: [any GRUSequenceModel] = options.mode == .strict
            ? [StrictFusedCell(fused), StrictExplicitCell(explicit)] : [FastFusedCell(fused), FastExplicitCell(explicit)]
        var step = 0.0, trajectory = 0.0, within = true
        var sideSteps: [Double] = [], sideWithin: [Bool] = []
        for model in models {
            let forced = model.run(inputs: inputs, initialState: initial, forcedStates: outputs)
            let free = model.run(inputs: inputs, initialState: initial)
            let stepError = ErrorMeasures.between(forced.scalars, reference: run.outputs.scalars)
            let modelStep = stepError.nonFinite == 0 ? stepError.maxAbsolute : .infinity
            step = max(step, modelStep)
            trajectory = max(trajectory, ErrorMeasures.between(free.scalars, reference: run.outputs.scalars).maxAbsolute)
            let modelWithin = stepError.nonFinite == 0
                && zip(forced.scalars, run.outputs.scalars).enumerated().allSatisfy { n, pair in
                    abs(Double(pair.0) - pair.1) <= bounds[n / d.units]
                }
            within = within && modelWithin
            sideSteps.append(modelStep)
            sideWithin.append(modelWithin)
        }
        // A reference is only ever matched within the bound, so a bound too loose to tell decides nothing.
        if (bounds.max() ?? 0) > FastModeTolerance.largestUsefulBound {
            within = false
            verdict.diagnosis.append(Self.indecisive(bounds.max() ?? 0, advice: "no reference can be checked this way"))
        }
        verdict.reference = ReferenceComparison(stepMaxAbsDiff: step, trajectoryMaxAbsDiff: trajectory, withinTolerance: within)
        guard !within else { return }
        verdict.equivalent = false
        // Which hand-written cell computes the reference outputs from `weights`, if one of the classic ones does.
        func mistakes(of weights: ExplicitWeights<Float>) -> [String] {
            let truth = weights.map { Double($0) }
            return Float64Cell.Variant.allCases.filter { $0 != .exact }.compactMap { variant in
                let out = Float64Cell(truth, variant: variant).run(inputs: run.inputs, initialState: run.initialState,
                                                                    forcedStates: run.outputs)
                let fits = zip(out.scalars, run.outputs.scalars).enumerated().allSatisfy { n, pair in
                    abs(pair.0 - pair.1) <= bounds[n / d.units]
                }
                return fits ? variant.mistake(for: truth.family) : nil
            }
        }
        let bound = short(bounds.max() ?? 0)
        guard let sides else {
            verdict.diagnosis.append("reference outputs differ from this cell step by step (max |Δ| \(short(step)), bound \(bound))")
            for mistake in mistakes(of: explicit) { verdict.diagnosis.append("the reference outputs match a cell with \(mistake)") }
            return
        }
        // Two files: say whose cell does not match, and what its weights would need to give the reference.
        for (index, (name, weights)) in [(sides.fused, fused.explicitForm), (sides.explicit, explicit)].enumerated()
        where !sideWithin[index] {
            let otherMatches = sideWithin[1 - index]
            verdict.diagnosis.append("\(name): its cell differs from the reference outputs step by step (max |Δ| "
                                     + "\(short(sideSteps[index])), bound \(bound))"
                                     + (otherMatches ? "; \(index == 0 ? sides.explicit : sides.fused)'s matches them" : ""))
            for mistake in mistakes(of: weights) {
                verdict.diagnosis.append("\(name): its weights give the reference outputs only when computed with \(mistake)")
            }
        }
    }
}
