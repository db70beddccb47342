import CGRUKernels
import COpenBLAS

// The fast path: as fast as the machine allows, through OpenBLAS (which picks its kernels by CPU and
// uses every core). Sums are reordered, so results differ from the strict path by rounding; fast-mode
// verification compares them within the bound derived in `FastModeTolerance`.

/// `C = alpha·A·B + beta·C` in row-major float32 (`cblas_sgemm`), with leading dimensions in elements.
@inline(__always)
func sgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0, k > 0 else { return }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(m), blasint(n), blasint(k),
                1, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}

/// Adds `bias` to each of `rows` rows of `out`.
@inline(__always)
func addBias(rows: Int, columns: Int, bias: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, ldo: Int) {
    for b in 0..<rows {
        let o = out + b * ldo
        for j in 0..<columns { o[j] += bias[j] }
    }
}

/// Applies an activation to `rows` rows of `columns` values each.
@inline(__always)
func activate(_ function: (UnsafeMutablePointer<Float>?, Int) -> Void, rows: Int, columns: Int,
              _ values: UnsafeMutablePointer<Float>, stride: Int) {
    if stride == columns {
        function(values, rows * columns)
    } else {
        for b in 0..<rows { function(values + b * stride, columns) }
    }
}

/// The fused form on the fast path: per step, `[x, h]·Kg` and `[x, r∘h]·Kc` as two products each.
public struct FastFusedCell: GRUSequenceModel {
    public let weights: FusedWeights<Float>
    public var dimensions: CellDimensions { weights.dimensions }

    public init(_ weights: FusedWeights<Float>) { self.weights = weights }

    public func run(inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?) -> Tensor<Float> {
        let layout = SequenceLayout(inputs: inputs, initialState: initialState, forcedStates: forcedStates, dimensions: dimensions)
        let (i, h, batch) = (dimensions.inputSize, dimensions.units, layout.batch)
        var gates = [Float](repeating: 0, count: batch * 2 * h)
        var candidate = [Float](repeating: 0, count: batch * h)
        var reset = [Float](repeating: 0, count: batch * h)
        return weights[.gateKernel].scalars.withUnsafeBufferPointer { kg in
            weights[.gateBias].scalars.withUnsafeBufferPointer { bg in
                weights[.candidateKernel].scalars.withUnsafeBufferPointer { kc in
                    weights[.candidateBias].scalars.withUnsafeBufferPointer { bc in
                        gates.withUnsafeMutableBufferPointer { g in
                            candidate.withUnsafeMutableBufferPointer { c in
                                reset.withUnsafeMutableBufferPointer { rh in
                                    runSteps(inputs: inputs, initialState: initialState, forcedStates: forcedStates,
                                             layout: layout) { _, x, ldx, state, ldh, out, ldo in
                                        let (kg, bg, kc, bc) = (kg.baseAddress!, bg.baseAddress!, kc.baseAddress!, bc.baseAddress!)
                                        let (g, c, rh) = (g.baseAddress!, c.baseAddress!, rh.baseAddress!)
                                        sgemm(m: batch, n: 2 * h, k: i, a: x, lda: ldx, b: kg, ldb: 2 * h, beta: 0, c: g, ldc: 2 * h)
                                        sgemm(m: batch, n: 2 * h, k: h, a: state, lda: ldh, b: kg + i * 2 * h, ldb: 2 * h,
                                              beta: 1, c: g, ldc: 2 * h)
                                        addBias(rows: batch, columns: 2 * h, bias: bg, out: g, ldo: 2 * h)
                                        gk_sigmoid(g, batch * 2 * h)
                                        resetState(rows: batch, units: h, r: g, ldr: 2 * h, h: state, ldh: ldh, out: rh)
                                        sgemm(m: batch, n: h, k: i, a: x, lda: ldx, b: kc, ldb: h, beta: 0, c: c, ldc: h)
                                        sgemm(m: batch, n: h, k: h, a: rh, lda: h, b: kc + i * h, ldb: h, beta: 1, c: c, ldc: h)
                                        addBias(rows: batch, columns: h, bias: bc, out: c, ldo: h)
                                        gk_tanh(c, batch * h)
                                        combine(rows: batch, units: h, z: g + h, ldz: 2 * h, h: state, ldh: ldh,
                                                c: c, ldc: h, out: out, ldo: ldo)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The explicit form on the fast path. What the fused form cannot do: the input projections of all
/// steps, `X·[Wr|Wz|Wh] + [br|bz|bh]`, are one large product before the loop, which then only needs
/// `h·[Ur|Uz]` and `(r∘h)·Uh`.
public struct FastExplicitCell: GRUSequenceModel {
    public let weights: ExplicitWeights<Float>
    public var dimensions: CellDimensions { weights.dimensions }
    /// `[Wr|Wz|Wh]` `[I, 3H]`, `[br|bz|bh]` `[3H]`, `[Ur|Uz]` `[H, 2H]`: packed once.
    private let inputKernel: [Float], inputBias: [Float], stateGateKernel: [Float]

    public init(_ weights: ExplicitWeights<Float>) {
        self.weights = weights
        let (i, h) = (weights.dimensions.inputSize, weights.dimensions.units)
        func sideBySide(_ tensors: [ExplicitTensor], rows: Int) -> [Float] {
            (0..<rows).flatMap { row in tensors.flatMap { weights[$0].scalars[(row * h)..<((row + 1) * h)] } }
        }
        inputKernel = sideBySide([.Wr, .Wz, .Wh], rows: i)
        inputBias = sideBySide([.br, .bz, .bh], rows: 1)
        stateGateKernel = sideBySide([.Ur, .Uz], rows: h)
    }

    public func run(inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?) -> Tensor<Float> {
        let layout = SequenceLayout(inputs: inputs, initialState: initialState, forcedStates: forcedStates, dimensions: dimensions)
        let (i, h, batch, steps) = (dimensions.inputSize, dimensions.units, layout.batch, layout.steps)
        guard batch > 0, steps > 0 else { return Tensor(shape: [batch, steps, h], scalars: []) }
        // Row b·T + t holds step t of sequence b: [x·Wr + br | x·Wz + bz | x·Wh + bh].
        var projected = [Float](repeating: 0, count: batch * steps * 3 * h)
        var reset = [Float](repeating: 0, count: batch * h)
        let uh = weights[.Uh].scalars
        return inputKernel.withUnsafeBufferPointer { wx in
            inputBias.withUnsafeBufferPointer { bx in
                stateGateKernel.withUnsafeBufferPointer { urz in
                    uh.withUnsafeBufferPointer { uh in
                        projected.withUnsafeMutableBufferPointer { xp in
                            reset.withUnsafeMutableBufferPointer { rh in
                                let xp = xp.baseAddress!, rh = rh.baseAddress!
                                inputs.scalars.withUnsafeBufferPointer { x in
                                    sgemm(m: batch * steps, n: 3 * h, k: i, a: x.baseAddress!, lda: i, b: wx.baseAddress!,
                                          ldb: 3 * h, beta: 0, c: xp, ldc: 3 * h)
                                }
                                addBias(rows: batch * steps, columns: 3 * h, bias: bx.baseAddress!, out: xp, ldo: 3 * h)
                                let ldp = steps * 3 * h
                                return runSteps(inputs: inputs, initialState: initialState, forcedStates: forcedStates,
                                                layout: layout) { t, _, _, state, ldh, out, ldo in
                                    let g = xp + t * 3 * h, c = g + 2 * h
                                    sgemm(m: batch, n: 2 * h, k: h, a: state, lda: ldh, b: urz.baseAddress!, ldb: 2 * h,
                                          beta: 1, c: g, ldc: ldp)
                                    activate(gk_sigmoid, rows: batch, columns: 2 * h, g, stride: ldp)
                                    resetState(rows: batch, units: h, r: g, ldr: ldp, h: state, ldh: ldh, out: rh)
                                    sgemm(m: batch, n: h, k: h, a: rh, lda: h, b: uh.baseAddress!, ldb: h, beta: 1, c: c, ldc: ldp)
                                    activate(gk_tanh, rows: batch, columns: h, c, stride: ldp)
                                    combine(rows: batch, units: h, z: g + h, ldz: ldp, h: state, ldh: ldh,
                                            c: c, ldc: ldp, out: out, ldo: ldo)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
