import CGRUKernels
import Dispatch

// The strict path: both forms accumulate every pre-activation in the same order (input rows, then state
// rows, bias last) through the same kernel, so a correct split gives bitwise identical outputs. Work is
// spread across outputs and the batch (and across cores by columns), never across the summation.

/// One strict product into `out[:, columns]`: `x·Wx`, then `h·Wh` (the same chain per element), then the bias.
struct StrictProduct: @unchecked Sendable {
    struct Term {
        var a: UnsafePointer<Float>, lda: Int
        var w: UnsafePointer<Float>, ldw: Int
        var depth: Int
    }

    var input: Term
    var state: Term
    var bias: UnsafePointer<Float>
    var out: UnsafeMutablePointer<Float>, ldo: Int
    var columns: Int

    /// Computes columns `range` for all `rows`: zero, the input term, the state term, then `+ bias`.
    func compute(rows: Int, columns range: Range<Int>) {
        for b in 0..<rows {
            (out + b * ldo + range.lowerBound).update(repeating: 0, count: range.count)
        }
        for term in [input, state] {
            gk_strict_accumulate(rows, term.depth, range.count, term.a, term.lda,
                                 term.w + range.lowerBound, term.ldw, out + range.lowerBound, ldo)
        }
        for b in 0..<rows {
            let o = out + b * ldo
            for j in range { o[j] = o[j] + bias[j] }
        }
    }
}

/// Computes a set of independent strict products, splitting their columns across the cores when the work
/// is large enough to pay for it. Which core computes a column does not change its bits.
func computeStrict(_ products: [StrictProduct], rows: Int) {
    let work = products.reduce(0) { $0 + rows * $1.columns * ($1.input.depth + $1.state.depth) }
    let chunk = 64
    let pieces = products.indices.flatMap { p in
        stride(from: 0, to: products[p].columns, by: chunk).map { (p, $0..<min($0 + chunk, products[p].columns)) }
    }
    let workers = work < 2_000_000 ? 1 : min(Parallelism.workers, pieces.count)
    if workers <= 1 {
        for (p, range) in pieces { products[p].compute(rows: rows, columns: range) }
        return
    }
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        for index in stride(from: worker, to: pieces.count, by: workers) {
            let (p, range) = pieces[index]
            products[p].compute(rows: rows, columns: range)
        }
    }
}

/// How many threads the strict path uses: one per online core.
enum Parallelism {
    static let workers: Int = max(1, sysconfWorkers())

    private static func sysconfWorkers() -> Int {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return 1
        #endif
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// The fused form on the strict path: `[r|u] = σ([x, h]·Kg + bg)`, `c = tanh([x, r∘h]·Kc + bc)`.
public struct StrictFusedCell: GRUSequenceModel {
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
                                        computeStrict([StrictProduct(
                                            input: .init(a: x, lda: ldx, w: kg, ldw: 2 * h, depth: i),
                                            state: .init(a: state, lda: ldh, w: kg + i * 2 * h, ldw: 2 * h, depth: h),
                                            bias: bg, out: g, ldo: 2 * h, columns: 2 * h)], rows: batch)
                                        gk_sigmoid(g, batch * 2 * h)
                                        resetState(rows: batch, units: h, r: g, ldr: 2 * h, h: state, ldh: ldh, out: rh)
                                        computeStrict([StrictProduct(
                                            input: .init(a: x, lda: ldx, w: kc, ldw: h, depth: i),
                                            state: .init(a: rh, lda: h, w: kc + i * h, ldw: h, depth: h),
                                            bias: bc, out: c, ldo: h, columns: h)], rows: batch)
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

/// The explicit form on the strict path: `r = σ(x·Wr + h·Ur + br)`, `z = σ(x·Wz + h·Uz + bz)`,
/// `c = tanh(x·Wh + (r∘h)·Uh + bh)`, each sum in the same order as the fused form's.
public struct StrictExplicitCell: GRUSequenceModel {
    public let weights: ExplicitWeights<Float>
    public var dimensions: CellDimensions { weights.dimensions }

    public init(_ weights: ExplicitWeights<Float>) { self.weights = weights }

    public func run(inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?) -> Tensor<Float> {
        let layout = SequenceLayout(inputs: inputs, initialState: initialState, forcedStates: forcedStates, dimensions: dimensions)
        let (i, h, batch) = (dimensions.inputSize, dimensions.units, layout.batch)
        // r and z side by side in one buffer, like the fused form's gates, so both share the activation call.
        var gates = [Float](repeating: 0, count: batch * 2 * h)
        var candidate = [Float](repeating: 0, count: batch * h)
        var reset = [Float](repeating: 0, count: batch * h)
        let w = ExplicitTensor.allCases.map { weights[$0].scalars }
        return withPointers(w) { p in
            gates.withUnsafeMutableBufferPointer { g in
                candidate.withUnsafeMutableBufferPointer { c in
                    reset.withUnsafeMutableBufferPointer { rh in
                        runSteps(inputs: inputs, initialState: initialState, forcedStates: forcedStates,
                                 layout: layout) { _, x, ldx, state, ldh, out, ldo in
                            let (g, c, rh) = (g.baseAddress!, c.baseAddress!, rh.baseAddress!)
                            func product(_ wx: ExplicitTensor, _ uh: ExplicitTensor, _ b: ExplicitTensor,
                                         state: UnsafePointer<Float>, ldh: Int,
                                         out: UnsafeMutablePointer<Float>, ldo: Int) -> StrictProduct {
                                StrictProduct(input: .init(a: x, lda: ldx, w: p[wx], ldw: h, depth: i),
                                              state: .init(a: state, lda: ldh, w: p[uh], ldw: h, depth: h),
                                              bias: p[b], out: out, ldo: ldo, columns: h)
                            }
                            computeStrict([product(.Wr, .Ur, .br, state: state, ldh: ldh, out: g, ldo: 2 * h),
                                           product(.Wz, .Uz, .bz, state: state, ldh: ldh, out: g + h, ldo: 2 * h)],
                                          rows: batch)
                            gk_sigmoid(g, batch * 2 * h)
                            resetState(rows: batch, units: h, r: g, ldr: 2 * h, h: state, ldh: ldh, out: rh)
                            computeStrict([product(.Wh, .Uh, .bh, state: rh, ldh: h, out: c, ldo: h)], rows: batch)
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

/// Base addresses of the nine explicit tensors, valid inside `body`.
struct ExplicitPointers {
    fileprivate var pointers: [UnsafePointer<Float>]
    subscript(_ tensor: ExplicitTensor) -> UnsafePointer<Float> {
        pointers[ExplicitTensor.allCases.firstIndex(of: tensor)!]
    }
}

/// Pins the arrays (in `ExplicitTensor.allCases` order) for the duration of `body`.
func withPointers<R>(_ arrays: [[Float]], _ body: (ExplicitPointers) -> R) -> R {
    func pin(_ index: Int, _ collected: [UnsafePointer<Float>]) -> R {
        if index == arrays.count { return body(ExplicitPointers(pointers: collected)) }
        return arrays[index].withUnsafeBufferPointer { pin(index + 1, collected + [$0.baseAddress!]) }
    }
    return pin(0, [])
}
