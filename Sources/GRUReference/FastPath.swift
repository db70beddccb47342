import CGRUKernels

// The fast path: as fast as the machine allows. Sums are reordered (bias first, then the state term,
// then the input term; or all input terms of a sequence at once), so results differ from the strict
// path by rounding; fast-mode verification compares them within the bound of `FastModeTolerance`.
// The products run on this package's own packed kernels and thread team: on the machines measured they
// match OpenBLAS on the one large product and beat it on the small per-step ones (bench/README).

/// Copies `bias` into each of `rows` rows of `out`.
@inline(__always)
func fillWithBias(rows: Int, columns: Int, bias: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, ldo: Int) {
    for b in 0..<rows { (out + b * ldo).update(from: bias, count: columns) }
}

/// The fused form on the fast path: per step, `bg + h·Kg_h + x·Kg_x` and `bc + (r∘h)·Kc_h + x·Kc_x`.
/// It cannot do better than one pass per step: `Kg` mixes input and state rows in every column.
public struct FastFusedCell: GRUSequenceModel {
    public let weights: FusedWeights<Float>
    public var dimensions: CellDimensions { weights.dimensions }
    private let gateInput: PackedMatrix, gateState: PackedMatrix
    private let candidateInput: PackedMatrix, candidateState: PackedMatrix

    public init(_ weights: FusedWeights<Float>) {
        self.weights = weights
        let i = weights.dimensions.inputSize, h = weights.dimensions.units
        gateInput = PackedMatrix(weights[.gateKernel], rows: 0..<i)
        gateState = PackedMatrix(weights[.gateKernel], rows: i..<(i + h))
        candidateInput = PackedMatrix(weights[.candidateKernel], rows: 0..<i)
        candidateState = PackedMatrix(weights[.candidateKernel], rows: i..<(i + h))
    }

    public func run(inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?) -> Tensor<Float> {
        let layout = SequenceLayout(inputs: inputs, initialState: initialState, forcedStates: forcedStates, dimensions: dimensions)
        let (h, batch) = (dimensions.units, layout.batch)
        let workers = workerCount(rows: batch, dimensions: dimensions)
        var scratch = StepScratch(batch: batch, units: h)
        return weights[.gateBias].scalars.withUnsafeBufferPointer { bg in
            weights[.candidateBias].scalars.withUnsafeBufferPointer { bc in
                scratch.withPointers { g, c, rh in
                    runSteps(inputs: inputs, initialState: initialState, forcedStates: forcedStates,
                             layout: layout) { _, x, ldx, state, ldh, out, ldo in
                        fillWithBias(rows: batch, columns: 2 * h, bias: bg.baseAddress!, out: g, ldo: 2 * h)
                        computeStage([StrictProduct(terms: [.init(a: state, lda: ldh, w: gateState),
                                                            .init(a: x, lda: ldx, w: gateInput)],
                                                    bias: nil, out: g, ldo: 2 * h, columns: 2 * h, startsFromZero: false)],
                                     rows: batch, workers: workers) { _, range in
                            activate(gk_sigmoid, rows: batch, columns: range, g, stride: 2 * h)
                            resetState(rows: batch, columns: range.clamped(to: 0..<h), r: g, ldr: 2 * h, h: state, ldh: ldh,
                                       out: rh, ldo: h)
                        }
                        fillWithBias(rows: batch, columns: h, bias: bc.baseAddress!, out: c, ldo: h)
                        computeStage([StrictProduct(terms: [.init(a: rh, lda: h, w: candidateState),
                                                            .init(a: x, lda: ldx, w: candidateInput)],
                                                    bias: nil, out: c, ldo: h, columns: h, startsFromZero: false)],
                                     rows: batch, workers: workers) { _, range in
                            activate(gk_tanh, rows: batch, columns: range, c, stride: h)
                            combine(rows: batch, columns: range, z: g + h, ldz: 2 * h, h: state, ldh: ldh,
                                    c: c, ldc: h, out: out, ldo: ldo)
                        }
                    }
                }
            }
        }
    }
}

/// The explicit form on the fast path. What the fused form cannot do: the input projections of all
/// steps, `[br|bz|bh] + X·[Wr|Wz|Wh]`, are one large product before the loop, which then only needs
/// `h·[Ur|Uz]` and `(r∘h)·Uh`, with the activations done by the thread that computed each block of columns.
public struct FastExplicitCell: GRUSequenceModel {
    public let weights: ExplicitWeights<Float>
    public var dimensions: CellDimensions { weights.dimensions }
    /// `[Wr|Wz|Wh]` `[I, 3H]`, `[Ur|Uz]` `[H, 2H]` and `Uh`, packed once; `[br|bz|bh]` side by side.
    private let inputKernel: PackedMatrix, stateGates: PackedMatrix, stateCandidate: PackedMatrix
    private let inputBias: [Float]

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
    }

    public func run(inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?) -> Tensor<Float> {
        let layout = SequenceLayout(inputs: inputs, initialState: initialState, forcedStates: forcedStates, dimensions: dimensions)
        let (i, h, batch, steps) = (dimensions.inputSize, dimensions.units, layout.batch, layout.steps)
        guard batch > 0, steps > 0 else { return Tensor(shape: [batch, steps, h], scalars: []) }
        let workers = workerCount(rows: batch, dimensions: dimensions)
        // Row b·T + t holds step t of sequence b: [br + x·Wr | bz + x·Wz | bh + x·Wh].
        var projected = [Float](repeating: 0, count: batch * steps * 3 * h)
        var reset = [Float](repeating: 0, count: batch * h)
        let (inputMatrix, gatesMatrix, candidateMatrix) = (inputKernel, stateGates, stateCandidate)
        return projected.withUnsafeMutableBufferPointer { xp in
            reset.withUnsafeMutableBufferPointer { rh in
                let xp = xp.baseAddress!, rh = rh.baseAddress!
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
                return runSteps(inputs: inputs, initialState: initialState, forcedStates: forcedStates,
                                layout: layout) { t, _, _, state, ldh, out, ldo in
                    let g = xp + t * 3 * h, c = g + 2 * h
                    computeStage([StrictProduct(terms: [.init(a: state, lda: ldh, w: gatesMatrix)], bias: nil,
                                                out: g, ldo: ldp, columns: 2 * h, startsFromZero: false)],
                                 rows: batch, workers: workers) { _, range in
                        activate(gk_sigmoid, rows: batch, columns: range, g, stride: ldp)
                        resetState(rows: batch, columns: range.clamped(to: 0..<h), r: g, ldr: ldp, h: state, ldh: ldh,
                                   out: rh, ldo: h)
                    }
                    computeStage([StrictProduct(terms: [.init(a: rh, lda: h, w: candidateMatrix)], bias: nil,
                                                out: c, ldo: ldp, columns: h, startsFromZero: false)],
                                 rows: batch, workers: workers) { _, range in
                        activate(gk_tanh, rows: batch, columns: range, c, stride: ldp)
                        combine(rows: batch, columns: range, z: g + h, ldz: ldp, h: state, ldh: ldh,
                                c: c, ldc: ldp, out: out, ldo: ldo)
                    }
                }
            }
        }
    }
}
