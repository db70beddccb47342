import CGRUKernels
import Dispatch
import Glibc

// The strict path: both forms accumulate every pre-activation in the same order (input rows, then state
// rows, bias last) through the same kernel, so a correct split gives bitwise identical outputs. Work is
// spread across outputs and the batch (and across cores by columns), never across the summation.

/// A weight matrix packed once into the kernels' panel layout (`gk_pack`); owns its memory.
final class PackedMatrix: @unchecked Sendable {
    let depth: Int, columns: Int
    let storage: UnsafeMutablePointer<Float>

    /// Room for a packed `[depth, columns]` matrix, cache-line aligned so that no 64-byte load of a panel
    /// row straddles two lines; `gk_pack` fills it.
    init(depth: Int, columns: Int) {
        self.depth = depth
        self.columns = columns
        let count = max(gk_packed_size(depth, columns), 1)
        storage = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
    }

    /// Packs rows `rows` (all by default) of a row-major matrix tensor.
    convenience init(_ tensor: Tensor<Float>, rows: Range<Int>? = nil) {
        let width = tensor.shape.last!
        let rows = rows ?? 0..<(tensor.scalars.count / width)
        self.init(depth: rows.count, columns: width)
        tensor.scalars.withUnsafeBufferPointer { w in
            gk_pack(rows.count, width, w.baseAddress! + rows.lowerBound * width, width, storage)
        }
    }

    deinit { storage.deallocate() }

    var panels: Int { (columns + Int(GK_PANEL) - 1) / Int(GK_PANEL) }
}

/// One product `out = [zero or out] + Σ terms (a·W) [+ bias]`, each term's sum in order, through the strict
/// kernel, so each output element is the same chain of operations whichever form or thread computes it.
struct StrictProduct: @unchecked Sendable {
    struct Term {
        var a: UnsafePointer<Float>, lda: Int
        var w: PackedMatrix
    }

    var terms: [Term]
    /// Added last, after every term, when given.
    var bias: UnsafePointer<Float>?
    var out: UnsafeMutablePointer<Float>, ldo: Int
    var columns: Int
    /// Start from zero (strict path) or from what `out` holds (fast path's precomputed input projections).
    var startsFromZero = true

    var panels: Int { (columns + Int(GK_PANEL) - 1) / Int(GK_PANEL) }

    /// The columns of panel `p`.
    func columnRange(panel p: Int) -> Range<Int> {
        (p * Int(GK_PANEL))..<min((p + 1) * Int(GK_PANEL), columns)
    }

    /// Computes the columns of panel `p` for `rows`.
    func compute(rows: Range<Int>, panel p: Int) {
        let range = columnRange(panel: p)
        let out = self.out + rows.lowerBound * ldo
        if startsFromZero {
            for b in 0..<rows.count { (out + b * ldo + range.lowerBound).update(repeating: 0, count: range.count) }
        }
        for term in terms {
            gk_strict_accumulate(rows.count, term.w.depth, columns, term.a + rows.lowerBound * term.lda, term.lda,
                                 term.w.storage, p, p + 1, out, ldo)
        }
        if let bias {
            for b in 0..<rows.count {
                let o = out + b * ldo
                for j in range { o[j] = o[j] + bias[j] }
            }
        }
    }
}

/// Computes products panel by panel, spread over `workers` threads, then calls `finish(product, columns)`
/// on the thread that computed those columns (activations and element-wise work). Which thread computes
/// a column never changes its bits.
///
/// With `rowBlock`, rows are taken a block at a time (every panel of one block before the next), so that
/// a tall input stays in cache while the panels stream past it.
func computeStage(_ products: [StrictProduct], rows: Int, workers: Int, rowBlock: Int? = nil,
                  finish: (Int, Range<Int>) -> Void = { _, _ in }) {
    let block = max(1, rowBlock ?? rows)
    let blocks = stride(from: 0, to: rows, by: block).map { $0..<min($0 + block, rows) }
    let items = blocks.flatMap { rows in products.indices.flatMap { p in (0..<products[p].panels).map { (rows, p, $0) } } }
    func work(_ worker: Int) {
        for index in stride(from: worker, to: items.count, by: workers) {
            let (rows, p, panel) = items[index]
            products[p].compute(rows: rows, panel: panel)
            finish(p, products[p].columnRange(panel: panel))
        }
    }
    if workers <= 1 {
        work(0)
    } else {
        runInParallel(workers: workers, work)
    }
}

/// Runs `body(w)` for every worker index on the kernels' persistent thread team (`gk_parallel`), and waits.
func runInParallel(workers: Int, _ body: (Int) -> Void) {
    withoutActuallyEscaping(body) { body in
        var box = body
        withUnsafeMutablePointer(to: &box) { pointer in
            gk_parallel(workers, { context, worker in
                context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(worker))
            }, pointer)
        }
    }
}

/// How many threads to use for one step's products: one per core when the step has enough work.
func workerCount(rows: Int, dimensions d: CellDimensions) -> Int {
    let work = rows * (d.inputSize + d.units) * 3 * d.units
    return work < 1 << 20 ? 1 : Parallelism.workers
}

/// One thread per online core, or `GRU_CONVERT_THREADS` when set (for benchmarks).
enum Parallelism {
    static let workers: Int = {
        if let text = getenv("GRU_CONVERT_THREADS"), let value = Int(String(decoding: UnsafeRawBufferPointer(start: text, count: strlen(text)), as: UTF8.self)), value >= 1 {
            return value
        }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }()
}

/// Applies `function` to columns `range` of `rows` rows.
@inline(__always)
func activate(_ function: (UnsafeMutablePointer<Float>?, Int) -> Void, rows: Int, columns range: Range<Int>,
              _ values: UnsafeMutablePointer<Float>, stride: Int) {
    for b in 0..<rows { function(values + b * stride + range.lowerBound, range.count) }
}

/// `rh[:, j] = r[:, j]·h[:, j]` for `j` in `range` (the part of the reset gate a thread just computed).
@inline(__always)
func resetState(rows: Int, columns range: Range<Int>, r: UnsafePointer<Float>, ldr: Int,
                h: UnsafePointer<Float>, ldh: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
    for b in 0..<rows {
        let rr = r + b * ldr, hr = h + b * ldh, o = out + b * ldo
        for j in range { o[j] = rr[j] * hr[j] }
    }
}

/// `h'[:, j] = z∘h + (1 − z)∘c` for `j` in `range`.
@inline(__always)
func combine(rows: Int, columns range: Range<Int>, z: UnsafePointer<Float>, ldz: Int, h: UnsafePointer<Float>, ldh: Int,
             c: UnsafePointer<Float>, ldc: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
    for b in 0..<rows {
        let zr = z + b * ldz, hr = h + b * ldh, cr = c + b * ldc, o = out + b * ldo
        for j in range {
            let zj = zr[j]
            o[j] = zj * hr[j] + (1 - zj) * cr[j]
        }
    }
}

/// The fused form on the strict path, read straight from the fused layout's stored tensors (TensorFlow's
/// `GRUCell`, Keras's GRU, ...) as its table places the gates. Reset-before: `[r|z] = σ([x, h]·[Wg] + bg)`,
/// `c = tanh([x, r∘h]·[Wc] + bc)`, each sum from zero over the input rows, then the state rows, the
/// bias last. Reset-after: `xa = x·[W] + b` and `hu = h·[U] + bU` over all three gates, each from zero
/// with its bias last, then `σ(xa + hu)` and `tanh(xa_h + r∘hu_h)`.
public struct StrictFusedCell: GRUSequenceModel {
    /// The weights, run in their fused form.
    public let weights: CellWeights<Float>
    /// `I` and `H` of the cell.
    public var dimensions: CellDimensions { weights.dimensions }
    private let products: FamilyProducts

    /// Packs the fused tensors once.
    public init(_ weights: CellWeights<Float>) {
        self.weights = weights
        products = FamilyProducts(weights)
    }

    /// The state after every step, `[B, T, H]` (see `GRUSequenceModel`).
    public func run(inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?) -> Tensor<Float> {
        run(strict: true, inputs: inputs, initialState: initialState, forcedStates: forcedStates)
    }

    /// Runs on the strict path or, for `FastFusedCell`, the fast one.
    func run(strict: Bool, inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?) -> Tensor<Float> {
        products.run(strict: strict, inputs: inputs, initialState: initialState, forcedStates: forcedStates, dimensions: dimensions)
    }
}

/// A fused layout's products for its family.
enum FamilyProducts {
    case resetBefore(ResetBeforeProducts)
    case resetAfter(ResetAfterProducts)

    init(_ weights: CellWeights<Float>) {
        let blocks = FusedBlocks(table: weights.fusedLayout, tensors: weights.fusedTensors, dimensions: weights.dimensions)
        self = weights.family == .resetBefore ? .resetBefore(ResetBeforeProducts(blocks)) : .resetAfter(ResetAfterProducts(blocks))
    }

    /// Runs a sequence, strict (each sum from zero, bias last) or fast (sums from the bias, input
    /// projections hoisted where the family allows).
    func run(strict: Bool, inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?,
             dimensions: CellDimensions) -> Tensor<Float> {
        let layout = SequenceLayout(inputs: inputs, initialState: initialState, forcedStates: forcedStates, dimensions: dimensions)
        switch self {
        case .resetBefore(let packed):
            return runPerStep(packed, order: strict ? .inputStateBias : .biasStateInput, inputs: inputs,
                              initialState: initialState, forcedStates: forcedStates, layout: layout, dimensions: dimensions)
        case .resetAfter(let packed):
            return runResetAfter(packed, strict: strict, inputs: inputs, initialState: initialState,
                                 forcedStates: forcedStates, layout: layout, dimensions: dimensions)
        }
    }
}

/// The explicit form on the strict path, every gate through its own matrices, each sum in the same order
/// as the fused form's. Reset-before: `r = σ(x·Wr + h·Ur + br)`, `z = σ(x·Wz + h·Uz + bz)`,
/// `c = tanh(x·Wh + (r∘h)·Uh + bh)`. Reset-after: `xa_g = x·Wg + bg`, `hu_g = h·Ug + bUg` for each gate.
public struct StrictExplicitCell: GRUSequenceModel {
    /// The explicit weights.
    public let weights: ExplicitWeights<Float>
    /// `I` and `H` of the cell.
    public var dimensions: CellDimensions { weights.dimensions }
    private let packed: [ExplicitTensor: PackedMatrix]

    /// Packs each gate's matrices once.
    public init(_ weights: ExplicitWeights<Float>) {
        self.weights = weights
        var packed: [ExplicitTensor: PackedMatrix] = [:]
        for tensor in weights.members where tensor.role == .inputKernel || tensor.role == .recurrentKernel {
            packed[tensor] = PackedMatrix(weights[tensor])
        }
        self.packed = packed
    }

    /// The state after every step, `[B, T, H]` (see `GRUSequenceModel`).
    public func run(inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?) -> Tensor<Float> {
        weights.family == .resetBefore ? runResetBefore(inputs: inputs, initialState: initialState, forcedStates: forcedStates)
                                       : runResetAfterPerGate(inputs: inputs, initialState: initialState, forcedStates: forcedStates)
    }

    private func runResetBefore(inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?) -> Tensor<Float> {
        let layout = SequenceLayout(inputs: inputs, initialState: initialState, forcedStates: forcedStates, dimensions: dimensions)
        let h = dimensions.units
        let plan = RunPlan(batch: layout.batch, dimensions: dimensions)
        let (p, w) = (packed, weights)
        return w[.br].scalars.withUnsafeBufferPointer { br in
            w[.bz].scalars.withUnsafeBufferPointer { bz in
                w[.bh].scalars.withUnsafeBufferPointer { bh in
                    runSteps(inputs: inputs, initialState: initialState, forcedStates: forcedStates, layout: layout,
                             plan: plan) { s in
                        let (g, c, rh) = (s.scratch.gates, s.scratch.candidate, s.scratch.reset)
                        // r and z side by side in one buffer, as in TensorFlow's fused form.
                        let gates = [
                            StrictProduct(terms: [.init(a: s.x, lda: s.ldx, w: p[.Wr]!), .init(a: s.h, lda: s.ldh, w: p[.Ur]!)],
                                          bias: br.baseAddress!, out: g, ldo: 2 * h, columns: h),
                            StrictProduct(terms: [.init(a: s.x, lda: s.ldx, w: p[.Wz]!), .init(a: s.h, lda: s.ldh, w: p[.Uz]!)],
                                          bias: bz.baseAddress!, out: g + h, ldo: 2 * h, columns: h),
                        ]
                        computeStage(gates, rows: s.rows, workers: s.workers) { product, range in
                            activate(gk_sigmoid, rows: s.rows, columns: range, gates[product].out, stride: 2 * h)
                            if product == 0 {
                                resetState(rows: s.rows, columns: range, r: g, ldr: 2 * h, h: s.h, ldh: s.ldh, out: rh, ldo: h)
                            }
                        }
                        computeStage([StrictProduct(terms: [.init(a: s.x, lda: s.ldx, w: p[.Wh]!), .init(a: rh, lda: h, w: p[.Uh]!)],
                                                    bias: bh.baseAddress!, out: c, ldo: h, columns: h)],
                                     rows: s.rows, workers: s.workers) { _, range in
                            activate(gk_tanh, rows: s.rows, columns: range, c, stride: h)
                            combine(rows: s.rows, columns: range, z: g + h, ldz: 2 * h, h: s.h, ldh: s.ldh,
                                    c: c, ldc: h, out: s.out, ldo: s.ldo)
                        }
                    }
                }
            }
        }
    }

    /// Reset-after, one product per gate and side: `xa[:, gH..] = x·Wg + bg`, `hu[:, gH..] = h·Ug + bUg`.
    private func runResetAfterPerGate(inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?) -> Tensor<Float> {
        let layout = SequenceLayout(inputs: inputs, initialState: initialState, forcedStates: forcedStates, dimensions: dimensions)
        let h = dimensions.units
        let plan = RunPlan(batch: layout.batch, dimensions: dimensions)
        let gates: [Gate] = [.reset, .update, .candidate]
        let columns = GateColumns(reset: 0, update: h, candidate: 2 * h)
        // Both biases of every gate side by side, r|z|h, input then recurrent.
        let biases = gates.flatMap { weights[ExplicitTensor(.inputBias, $0)].scalars }
            + gates.flatMap { weights[ExplicitTensor(.recurrentBias, $0)].scalars }
        let packed = self.packed
        return biases.withUnsafeBufferPointer { bias in
            runSteps(inputs: inputs, initialState: initialState, forcedStates: forcedStates, layout: layout, plan: plan) { s in
                let (xa, hu) = (s.scratch.projection, s.scratch.recurrent)
                let products = gates.enumerated().flatMap { n, gate in [
                    StrictProduct(terms: [.init(a: s.x, lda: s.ldx, w: packed[ExplicitTensor(.inputKernel, gate)]!)],
                                  bias: bias.baseAddress! + n * h, out: xa + n * h, ldo: 3 * h, columns: h),
                    StrictProduct(terms: [.init(a: s.h, lda: s.ldh, w: packed[ExplicitTensor(.recurrentKernel, gate)]!)],
                                  bias: bias.baseAddress! + (3 + n) * h, out: hu + n * h, ldo: 3 * h, columns: h),
                ] }
                computeStage(products, rows: s.rows, workers: s.workers)
                finishResetAfter(rows: s.rows, units: h, xa: xa, ldxa: 3 * h, hu: hu, ldhu: 3 * h, columns: columns,
                                 scratch: s.scratch, state: s.h, ldh: s.ldh, out: s.out, ldo: s.ldo)
            }
        }
    }
}
