import CGRUKernels

// The fast path: as fast as the machine allows. Sums are reordered (bias first, then the state term,
// then the input term; or all input terms of a sequence at once), so results differ from the strict
// path by rounding; fast-mode verification compares them within the bound of `FastModeTolerance`.
// The products run on this package's own packed kernels and thread team: on the machines measured they
// match OpenBLAS on the one large product and beat it on the small per-step ones (README, Benchmarks).

/// Copies `bias` into each of `rows` rows of `out`.
@inline(__always)
func fillWithBias(rows: Int, columns: Int, bias: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, ldo: Int) {
    for b in 0..<rows { (out + b * ldo).update(from: bias, count: columns) }
}

/// The four products of one step, packed: `[Wr|Wz]` (the input rows of `Kg`), `[Ur|Uz]` (its state rows),
/// `Wh` and `Uh` (the input and state rows of `Kc`), and the biases.
struct PerStepWeights {
    let gateInput: PackedMatrix, gateState: PackedMatrix
    let candidateInput: PackedMatrix, candidateState: PackedMatrix
    let gateBias: [Float], candidateBias: [Float]

    /// From TensorFlow's fused tensors: the input and state rows of each kernel.
    init(_ weights: FusedWeights<Float>) {
        let i = weights.dimensions.inputSize, h = weights.dimensions.units
        gateInput = PackedMatrix(weights[.gateKernel], rows: 0..<i)
        gateState = PackedMatrix(weights[.gateKernel], rows: i..<(i + h))
        candidateInput = PackedMatrix(weights[.candidateKernel], rows: 0..<i)
        candidateState = PackedMatrix(weights[.candidateKernel], rows: i..<(i + h))
        gateBias = weights[.gateBias].scalars
        candidateBias = weights[.candidateBias].scalars
    }

    init(gateInput: PackedMatrix, gateState: PackedMatrix, candidateInput: PackedMatrix, candidateState: PackedMatrix,
         gateBias: [Float], candidateBias: [Float]) {
        (self.gateInput, self.gateState, self.candidateInput, self.candidateState) = (gateInput, gateState, candidateInput, candidateState)
        (self.gateBias, self.candidateBias) = (gateBias, candidateBias)
    }
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

/// One GRU step after another from packed `[Kg | Kc]`-shaped weights, each pre-activation summed in `order`:
/// `[r|z] = σ(x·Wg + h·Ug + bg)`, `c = tanh(x·Wc + (r∘h)·Uc + bc)`, `h' = z∘h + (1 − z)∘c`.
func runPerStep(_ w: PerStepWeights, order: SummationOrder, inputs: Tensor<Float>, initialState: Tensor<Float>,
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
                    resetState(rows: s.rows, columns: range.clamped(to: 0..<h), r: g, ldr: 2 * h, h: s.h, ldh: s.ldh,
                               out: rh, ldo: h)
                }
                computeStage([product(.init(a: s.x, lda: s.ldx, w: w.candidateInput), .init(a: rh, lda: h, w: w.candidateState),
                                      bias: bc.baseAddress!, out: c, columns: h)],
                             rows: s.rows, workers: s.workers) { _, range in
                    activate(gk_tanh, rows: s.rows, columns: range, c, stride: h)
                    combine(rows: s.rows, columns: range, z: g + h, ldz: 2 * h, h: s.h, ldh: s.ldh,
                            c: c, ldc: h, out: s.out, ldo: s.ldo)
                }
            }
        }
    }
}

/// The fused form on the fast path: per step, `bg + h·Kg_h + x·Kg_x` and `bc + (r∘h)·Kc_h + x·Kc_x`.
/// It cannot do better than one pass per step: `Kg` mixes input and state rows in every column.
public struct FastFusedCell: GRUSequenceModel {
    public let weights: FusedWeights<Float>
    public var dimensions: CellDimensions { weights.dimensions }
    private let packed: PerStepWeights

    public init(_ weights: FusedWeights<Float>) {
        self.weights = weights
        packed = PerStepWeights(weights)
    }

    public func run(inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?) -> Tensor<Float> {
        let layout = SequenceLayout(inputs: inputs, initialState: initialState, forcedStates: forcedStates, dimensions: dimensions)
        return runPerStep(packed, order: .biasStateInput, inputs: inputs, initialState: initialState, forcedStates: forcedStates,
                          layout: layout, dimensions: dimensions)
    }
}

/// The explicit form on the fast path. What the fused form cannot do: the input projections of all
/// steps, `[br|bz|bh] + X·[Wr|Wz|Wh]`, are one large product before the loop, which then only needs
/// `h·[Ur|Uz]` and `(r∘h)·Uh`. That pays when the batch is small and each step's products are too thin
/// to run at full speed; with a batch large enough to give every core whole sequences, the per-step
/// products already run near the machine's peak, and the hoisted product's memory traffic costs more
/// than it saves (bench/README.md), so the cell then works step by step (`b + x·W + h·U`).
public struct FastExplicitCell: GRUSequenceModel {
    public let weights: ExplicitWeights<Float>
    public var dimensions: CellDimensions { weights.dimensions }
    /// `[Wr|Wz|Wh]` `[I, 3H]`, `[Ur|Uz]` `[H, 2H]` and `Uh`, packed once; `[br|bz|bh]` side by side.
    private let inputKernel: PackedMatrix, stateGates: PackedMatrix, stateCandidate: PackedMatrix
    private let inputBias: [Float]
    private let perStep: PerStepWeights

    public init(_ weights: ExplicitWeights<Float>) {
        self.weights = weights
        let (i, h) = (weights.dimensions.inputSize, weights.dimensions.units)
        func sideBySide(_ tensors: [ExplicitTensor], rows: Int) -> [Float] {
            (0..<rows).flatMap { row in tensors.flatMap { weights[$0].scalars[(row * h)..<((row + 1) * h)] } }
        }
        inputKernel = PackedMatrix(Tensor(shape: [i, 3 * h], scalars: sideBySide([.Wr, .Wz, .Wh], rows: i)))
        inputBias = sideBySide([.br, .bz, .bh], rows: 1)
        stateGates = PackedMatrix(Tensor(shape: [h, 2 * h], scalars: sideBySide([.Ur, .Uz], rows: h)))
        stateCandidate = PackedMatrix(weights[.Uh])
        perStep = PerStepWeights(
            gateInput: PackedMatrix(Tensor(shape: [i, 2 * h], scalars: sideBySide([.Wr, .Wz], rows: i))),
            gateState: stateGates, candidateInput: PackedMatrix(weights[.Wh]), candidateState: stateCandidate,
            gateBias: sideBySide([.br, .bz], rows: 1), candidateBias: weights[.bh].scalars)
    }

    public func run(inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?) -> Tensor<Float> {
        let layout = SequenceLayout(inputs: inputs, initialState: initialState, forcedStates: forcedStates, dimensions: dimensions)
        let (i, h, batch, steps) = (dimensions.inputSize, dimensions.units, layout.batch, layout.steps)
        guard batch > 0, steps > 0 else { return Tensor(shape: [batch, steps, h], scalars: []) }
        let plan = RunPlan(batch: batch, dimensions: dimensions)
        if plan.rowChunks.count > 1 {
            return runPerStep(perStep, order: .biasInputState, inputs: inputs, initialState: initialState,
                              forcedStates: forcedStates, layout: layout, dimensions: dimensions)
        }
        // Row b·T + t holds step t of sequence b: [br + x·Wr | bz + x·Wz | bh + x·Wh].
        var projected = [Float](repeating: 0, count: batch * steps * 3 * h)
        let (inputMatrix, gatesMatrix, candidateMatrix) = (inputKernel, stateGates, stateCandidate)
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
