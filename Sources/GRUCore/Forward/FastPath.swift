import CGRUKernels

// The fast path: as fast as the machine allows. Sums are reordered (bias first, then the state term,
// then the input term; or all input terms of a sequence at once), so results differ from the strict
// path by rounding; fast-mode verification compares them within the bound of `FastModeTolerance`.
// The products run on this package's own packed kernels and thread team: on the machines measured they
// match OpenBLAS on the one large product and beat it on the small per-step ones (docs/BENCHMARKS.md).

/// Copies `bias` into each of `rows` rows of `out`.
@inline(__always)
func fillWithBias(rows: Int, columns: Int, bias: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, ldo: Int) {
    for b in 0..<rows { (out + b * ldo).update(from: bias, count: columns) }
}

/// The order in which one step sums each pre-activation.
enum SummationOrder {
    /// From zero: the input term, the state term, the bias last. The strict path's order.
    case inputStateBias
    /// From the bias: the state term, then the input term.
    case biasStateInput
    /// From the bias: the input term, then the state term.
    case biasInputState
}

/// One reset-before step after another from packed fused-shaped weights, each pre-activation summed in
/// `order`: `[r|z] = σ(x·Wg + h·Ug + bg)`, `c = tanh(x·Wc + (r∘h)·Uc + bc)`, `h' = z∘h + (1 − z)∘c`; `r` and
/// `z` sit where the layout puts them in the gate output.
func runPerStep(_ w: ResetBeforeProducts, order: SummationOrder, inputs: Tensor<Float>, initialState: Tensor<Float>,
                forcedStates: Tensor<Float>?, layout: SequenceLayout, dimensions: CellDimensions) -> Tensor<Float> {
    let h = dimensions.units
    let plan = RunPlan(batch: layout.batch, dimensions: dimensions)
    return w.gateBias.withUnsafeBufferPointer { bg in
        w.candidateBias.withUnsafeBufferPointer { bc in
            runSteps(inputs: inputs, initialState: initialState, forcedStates: forcedStates, layout: layout,
                     plan: plan) { s in
                let (g, c, rh) = (s.scratch.gates, s.scratch.candidate, s.scratch.reset)
                /// `out = [bias +] the two terms [+ bias]`, in `order`.
                func product(_ input: StrictProduct.Term, _ state: StrictProduct.Term, bias: UnsafePointer<Float>,
                             out: UnsafeMutablePointer<Float>, columns: Int) -> StrictProduct {
                    if order == .inputStateBias {
                        return StrictProduct(terms: [input, state], bias: bias, out: out, ldo: columns, columns: columns)
                    }
                    fillWithBias(rows: s.rows, columns: columns, bias: bias, out: out, ldo: columns)
                    return StrictProduct(terms: order == .biasStateInput ? [state, input] : [input, state], bias: nil,
                                         out: out, ldo: columns, columns: columns, startsFromZero: false)
                }
                computeStage([product(.init(a: s.x, lda: s.ldx, w: w.gateInput), .init(a: s.h, lda: s.ldh, w: w.gateState),
                                      bias: bg.baseAddress!, out: g, columns: 2 * h)],
                             rows: s.rows, workers: s.workers) { _, range in
                    activate(gk_sigmoid, rows: s.rows, columns: range, g, stride: 2 * h)
                    let reset = range.clamped(to: w.resetColumn..<(w.resetColumn + h))
                    resetState(rows: s.rows, columns: (reset.lowerBound - w.resetColumn)..<(reset.upperBound - w.resetColumn),
                               r: g + w.resetColumn, ldr: 2 * h, h: s.h, ldh: s.ldh, out: rh, ldo: h)
                }
                computeStage([product(.init(a: s.x, lda: s.ldx, w: w.candidateInput), .init(a: rh, lda: h, w: w.candidateState),
                                      bias: bc.baseAddress!, out: c, columns: h)],
                             rows: s.rows, workers: s.workers) { _, range in
                    activate(gk_tanh, rows: s.rows, columns: range, c, stride: h)
                    combine(rows: s.rows, columns: range, z: g + w.updateColumn, ldz: 2 * h, h: s.h, ldh: s.ldh,
                            c: c, ldc: h, out: s.out, ldo: s.ldo)
                }
            }
        }
    }
}

/// One reset-after step after another: `xa = x·[W] + b` and `hu = h·[U] + bU` over all three gates, then
/// `finishResetAfter`. Strict: each product per step from zero, its bias last (the explicit form's order).
/// Fast: each product summed from its bias, and, when the batch is too small to give every core whole
/// sequences, the input projections of every step as one product before the loop.
func runResetAfter(_ w: ResetAfterProducts, strict: Bool, inputs: Tensor<Float>, initialState: Tensor<Float>,
                   forcedStates: Tensor<Float>?, layout: SequenceLayout, dimensions: CellDimensions) -> Tensor<Float> {
    let (i, h, batch, steps) = (dimensions.inputSize, dimensions.units, layout.batch, layout.steps)
    let plan = RunPlan(batch: batch, dimensions: dimensions)
    return w.inputBias.withUnsafeBufferPointer { inputBias in
        w.recurrentBias.withUnsafeBufferPointer { recurrentBias in
            let (bi, br) = (inputBias.baseAddress!, recurrentBias.baseAddress!)
            // Step by step when strict, and when the batch gives every core whole sequences: then each
            // step's products already run near the machine's peak and hoisting only adds memory traffic.
            if strict || plan.rowChunks.count > 1 {
                return runSteps(inputs: inputs, initialState: initialState, forcedStates: forcedStates, layout: layout,
                                plan: plan) { s in
                    let (xa, hu) = (s.scratch.projection, s.scratch.recurrent)
                    if !strict {
                        fillWithBias(rows: s.rows, columns: 3 * h, bias: bi, out: xa, ldo: 3 * h)
                        fillWithBias(rows: s.rows, columns: 3 * h, bias: br, out: hu, ldo: 3 * h)
                    }
                    computeStage([StrictProduct(terms: [.init(a: s.x, lda: s.ldx, w: w.input)], bias: strict ? bi : nil, out: xa,
                                                ldo: 3 * h, columns: 3 * h, startsFromZero: strict),
                                  StrictProduct(terms: [.init(a: s.h, lda: s.ldh, w: w.recurrent)], bias: strict ? br : nil, out: hu,
                                                ldo: 3 * h, columns: 3 * h, startsFromZero: strict)],
                                 rows: s.rows, workers: s.workers)
                    finishResetAfter(rows: s.rows, units: h, xa: xa, ldxa: 3 * h, hu: hu, ldhu: 3 * h, columns: w.columns,
                                     scratch: s.scratch, state: s.h, ldh: s.ldh, out: s.out, ldo: s.ldo)
                }
            }
            guard batch > 0, steps > 0 else { return Tensor(shape: [batch, steps, h], scalars: []) }
            // Row b·T + t holds step t of sequence b: b + x·W for all three gates.
            var projected = [Float](repeating: 0, count: batch * steps * 3 * h)
            return projected.withUnsafeMutableBufferPointer { xp in
                let xp = xp.baseAddress!
                fillWithBias(rows: batch * steps, columns: 3 * h, bias: bi, out: xp, ldo: 3 * h)
                inputs.scalars.withUnsafeBufferPointer { x in
                    computeStage([StrictProduct(terms: [.init(a: x.baseAddress!, lda: i, w: w.input)], bias: nil,
                                                out: xp, ldo: 3 * h, columns: 3 * h, startsFromZero: false)],
                                 rows: batch * steps, workers: workerCount(rows: batch * steps, dimensions: dimensions),
                                 rowBlock: 128)
                }
                return runSteps(inputs: inputs, initialState: initialState, forcedStates: forcedStates, layout: layout,
                                plan: plan) { s in
                    let hu = s.scratch.recurrent
                    fillWithBias(rows: s.rows, columns: 3 * h, bias: br, out: hu, ldo: 3 * h)
                    computeStage([StrictProduct(terms: [.init(a: s.h, lda: s.ldh, w: w.recurrent)], bias: nil, out: hu, ldo: 3 * h,
                                                columns: 3 * h, startsFromZero: false)],
                                 rows: s.rows, workers: s.workers)
                    finishResetAfter(rows: s.rows, units: h, xa: xp + (s.firstRow * steps + s.t) * 3 * h, ldxa: steps * 3 * h,
                                     hu: hu, ldhu: 3 * h, columns: w.columns, scratch: s.scratch, state: s.h, ldh: s.ldh,
                                     out: s.out, ldo: s.ldo)
                }
            }
        }
    }
}

/// The fused form on the fast path. Reset-before: per step, `bg + h·Kg_h + x·Kg_x` and
/// `bc + (r∘h)·Kc_h + x·Kc_x` (one pass per step: TensorFlow's `Kg` mixes input and state rows in every
/// column). Reset-after: the input projections of all steps at once, then `bU + h·U` per step.
public struct FastFusedCell: GRUSequenceModel {
    /// The strict fused cell's packed weights, run on the fast path instead.
    private let packed: StrictFusedCell
    /// The weights, run in their fused form.
    public var weights: CellWeights<Float> { packed.weights }
    /// `I` and `H` of the cell.
    public var dimensions: CellDimensions { packed.dimensions }

    /// Packs the fused tensors once.
    public init(_ weights: CellWeights<Float>) { packed = StrictFusedCell(weights) }

    /// The state after every step, `[B, T, H]` (see `GRUSequenceModel`).
    public func run(inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?) -> Tensor<Float> {
        packed.run(strict: false, inputs: inputs, initialState: initialState, forcedStates: forcedStates)
    }
}

/// The explicit form on the fast path. What the fused form cannot do: the input projections of all
/// steps, `[br|bz|bh] + X·[Wr|Wz|Wh]`, are one large product before the loop, which then only needs
/// `h·[Ur|Uz]` and `(r∘h)·Uh`. That pays when the batch is small and each step's products are too thin
/// to run at full speed; with a batch large enough to give every core whole sequences, the per-step
/// products already run near the machine's peak, and the hoisted product's memory traffic costs more
/// than it saves (bench/README.md), so the cell then works step by step (`b + x·W + h·U`).
public struct FastExplicitCell: GRUSequenceModel {
    /// The explicit weights.
    public let weights: ExplicitWeights<Float>
    /// `I` and `H` of the cell.
    public var dimensions: CellDimensions { weights.dimensions }
    private let packed: Packed

    /// What is packed once: for reset-before `[Wr|Wz|Wh]` `[I, 3H]`, `[Ur|Uz]` `[H, 2H]` and `Uh`, with
    /// `[br|bz|bh]` side by side, and the per-step products; for reset-after both sides of every gate.
    private enum Packed {
        case resetBefore(inputKernel: PackedMatrix, stateGates: PackedMatrix, stateCandidate: PackedMatrix,
                         inputBias: [Float], perStep: ResetBeforeProducts)
        case resetAfter(ResetAfterProducts)
    }

    /// Packs the weights side by side once.
    public init(_ weights: ExplicitWeights<Float>) {
        self.weights = weights
        let (i, h) = (weights.dimensions.inputSize, weights.dimensions.units)
        func sideBySide(_ tensors: [ExplicitTensor], rows: Int) -> [Float] {
            (0..<rows).flatMap { row in tensors.flatMap { weights[$0].scalars[(row * h)..<((row + 1) * h)] } }
        }
        if weights.family == .resetAfter {
            packed = .resetAfter(ResetAfterProducts(
                input: PackedMatrix(Tensor(shape: [i, 3 * h], scalars: sideBySide([.Wr, .Wz, .Wh], rows: i))),
                recurrent: PackedMatrix(Tensor(shape: [h, 3 * h], scalars: sideBySide([.Ur, .Uz, .Uh], rows: h))),
                inputBias: sideBySide([.br, .bz, .bh], rows: 1), recurrentBias: sideBySide([.bUr, .bUz, .bUh], rows: 1),
                columns: GateColumns(reset: 0, update: h, candidate: 2 * h)))
            return
        }
        let stateGates = PackedMatrix(Tensor(shape: [h, 2 * h], scalars: sideBySide([.Ur, .Uz], rows: h)))
        let stateCandidate = PackedMatrix(weights[.Uh])
        packed = .resetBefore(
            inputKernel: PackedMatrix(Tensor(shape: [i, 3 * h], scalars: sideBySide([.Wr, .Wz, .Wh], rows: i))),
            stateGates: stateGates, stateCandidate: stateCandidate, inputBias: sideBySide([.br, .bz, .bh], rows: 1),
            perStep: ResetBeforeProducts(
                gateInput: PackedMatrix(Tensor(shape: [i, 2 * h], scalars: sideBySide([.Wr, .Wz], rows: i))),
                gateState: stateGates, candidateInput: PackedMatrix(weights[.Wh]), candidateState: stateCandidate,
                gateBias: sideBySide([.br, .bz], rows: 1), candidateBias: weights[.bh].scalars, resetColumn: 0, updateColumn: h))
    }

    /// The state after every step, `[B, T, H]` (see `GRUSequenceModel`).
    public func run(inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?) -> Tensor<Float> {
        let layout = SequenceLayout(inputs: inputs, initialState: initialState, forcedStates: forcedStates, dimensions: dimensions)
        let (i, h, batch, steps) = (dimensions.inputSize, dimensions.units, layout.batch, layout.steps)
        guard batch > 0, steps > 0 else { return Tensor(shape: [batch, steps, h], scalars: []) }
        let (inputMatrix, gatesMatrix, candidateMatrix, inputBias, perStep): (PackedMatrix, PackedMatrix, PackedMatrix, [Float], ResetBeforeProducts)
        switch packed {
        case .resetAfter(let products):
            return runResetAfter(products, strict: false, inputs: inputs, initialState: initialState,
                                 forcedStates: forcedStates, layout: layout, dimensions: dimensions)
        case .resetBefore(let a, let b, let c, let d, let e):
            (inputMatrix, gatesMatrix, candidateMatrix, inputBias, perStep) = (a, b, c, d, e)
        }
        let plan = RunPlan(batch: batch, dimensions: dimensions)
        if plan.rowChunks.count > 1 {
            return runPerStep(perStep, order: .biasInputState, inputs: inputs, initialState: initialState,
                              forcedStates: forcedStates, layout: layout, dimensions: dimensions)
        }
        // Row b·T + t holds step t of sequence b: [br + x·Wr | bz + x·Wz | bh + x·Wh].
        var projected = [Float](repeating: 0, count: batch * steps * 3 * h)
        return projected.withUnsafeMutableBufferPointer { xp in
            do {
                let xp = xp.baseAddress!
                inputBias.withUnsafeBufferPointer {
                    fillWithBias(rows: batch * steps, columns: 3 * h, bias: $0.baseAddress!, out: xp, ldo: 3 * h)
                }
                inputs.scalars.withUnsafeBufferPointer { x in
                    computeStage([StrictProduct(terms: [.init(a: x.baseAddress!, lda: i, w: inputMatrix)], bias: nil,
                                                out: xp, ldo: 3 * h, columns: 3 * h, startsFromZero: false)],
                                 rows: batch * steps, workers: workerCount(rows: batch * steps, dimensions: dimensions),
                                 rowBlock: 128)
                }
                let ldp = steps * 3 * h
                return runSteps(inputs: inputs, initialState: initialState, forcedStates: forcedStates, layout: layout,
                                plan: plan) { s in
                    let g = xp + (s.firstRow * steps + s.t) * 3 * h, c = g + 2 * h, rh = s.scratch.reset
                    computeStage([StrictProduct(terms: [.init(a: s.h, lda: s.ldh, w: gatesMatrix)], bias: nil,
                                                out: g, ldo: ldp, columns: 2 * h, startsFromZero: false)],
                                 rows: s.rows, workers: s.workers) { _, range in
                        activate(gk_sigmoid, rows: s.rows, columns: range, g, stride: ldp)
                        resetState(rows: s.rows, columns: range.clamped(to: 0..<h), r: g, ldr: ldp, h: s.h, ldh: s.ldh,
                                   out: rh, ldo: h)
                    }
                    computeStage([StrictProduct(terms: [.init(a: rh, lda: h, w: candidateMatrix)], bias: nil,
                                                out: c, ldo: ldp, columns: h, startsFromZero: false)],
                                 rows: s.rows, workers: s.workers) { _, range in
                        activate(gk_tanh, rows: s.rows, columns: range, c, stride: ldp)
                        combine(rows: s.rows, columns: range, z: g + h, ldz: ldp, h: s.h, ldh: s.ldh,
                                c: c, ldc: ldp, out: s.out, ldo: s.ldo)
                    }
                }
            }
        }
    }
}
