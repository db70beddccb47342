// gru-bench: times the forward pass of each form of a GRU cell with random weights, for
// bench/bench_forward.py to set beside TensorFlow's GRUCell (reset-before) and PyTorch's nn.GRU and a
// NumPy cell (reset-after) in the same run.
//
// usage: gru-bench [reset-before|reset-after] I H B T [REPEATS]
//   reset-before (the default): a TensorFlow 1 GRUCell layout cell (LayoutTable.tfGRUCell);
//   reset-after: a Keras reset_after=True layout cell (LayoutTable.kerasResetAfter), PyTorch's nn.GRU math.
// Prints `key: value` lines about the run, then one line per implementation: its name and the
// milliseconds of each of REPEATS timed runs (after one untimed warm-up run). GRU_CONVERT_THREADS sets
// the package's threads, OPENBLAS_NUM_THREADS OpenBLAS's.
import COpenBLAS
import GRUCore
#if canImport(Glibc)
import Glibc
#endif

var arguments = Array(CommandLine.arguments.dropFirst())
var family = CellFamily.resetBefore
if let first = arguments.first, let named = CellFamily(rawValue: first) {
    family = named
    arguments.removeFirst()
}
let sizes = arguments.compactMap { Int($0) }
guard sizes.count >= 4, sizes.count == arguments.count, sizes.allSatisfy({ $0 >= 1 }) else {
    print("usage: gru-bench [reset-before|reset-after] I H B T [REPEATS]")
    exit(2)
}
let (i, h, batch, steps) = (sizes[0], sizes[1], sizes[2], sizes[3])
let repeats = sizes.count > 4 ? sizes[4] : 5
let dimensions = CellDimensions(inputSize: i, units: h)

// Random explicit weights of the family, laid out as the family's usual fused layout: TensorFlow 1's
// GRUCell for reset-before, Keras's reset_after=True GRU (what PyTorch's nn.GRU converts to) for reset-after.
var random = SeededRandom(seed: 1)
var tensors: [ExplicitTensor: Tensor<Float>] = [:]
for tensor in ExplicitTensor.tensors(of: family) {
    let shape = tensor.shape(dimensions)
    tensors[tensor] = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in random.normal() * 0.05 })
}
let layout: LayoutTable = family == .resetBefore ? .tfGRUCell : .kerasResetAfter
let explicit = try! ExplicitWeights(tensors, family: family)
let fused = try! CellWeights(layout: layout, tensors: try! layout.fuse(explicit))
let (inputs, initialState) = random.sequence(batch: batch, steps: steps, dimensions: dimensions)

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// One untimed run, then `repeats` timed ones; the milliseconds of each and the last output.
func timed(_ body: () -> Tensor<Float>) -> ([Double], Tensor<Float>) {
    var result = body()
    var times: [Double] = []
    for _ in 0..<repeats {
        let start = now()
        result = body()
        times.append((now() - start) * 1000)
    }
    return (times, result)
}

/// The instruction set the package's kernels pick at start-up, as far as the CPU's flags tell: GRUCore
/// does not export the C target's `gk_instruction_set()`, and the kernels choose with
/// `__builtin_cpu_supports` in this order (AVX-512F+FMA, AVX2+FMA, the portable loop).
func expectedKernels() -> String {
    #if arch(x86_64)
    guard let file = fopen("/proc/cpuinfo", "r") else { return "unknown" }
    defer { fclose(file) }
    var line: UnsafeMutablePointer<CChar>?
    var capacity = 0
    defer { free(line) }
    var flags: Set<Substring> = []
    while getline(&line, &capacity, file) > 0, let line {
        let text = String(cString: line)
        if text.hasPrefix("flags") {
            flags = Set(text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }))
            break
        }
    }
    if flags.contains("avx512f") && flags.contains("fma") { return "avx512f+fma" }
    if flags.contains("avx2") && flags.contains("fma") { return "avx2+fma" }
    return "baseline"
    #else
    return "baseline"
    #endif
}

/// The package's threads, as it decides them: GRU_CONVERT_THREADS, else one per online core.
func packageThreads() -> Int {
    if let text = getenv("GRU_CONVERT_THREADS"), let value = Int(String(cString: text)), value >= 1 { return value }
    return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
}

print("family: \(family.rawValue) (layout \(layout.name))")
print("kernels: \(expectedKernels()) (from the CPU flags)")
print("threads: \(packageThreads())")
let models: [(String, any GRUSequenceModel)] = [
    ("strict-fused", StrictFusedCell(fused)), ("strict-explicit", StrictExplicitCell(fused.explicitForm)),
    ("fast-fused", FastFusedCell(fused)), ("fast-explicit", FastExplicitCell(fused.explicitForm)),
]
var outputs: [String: Tensor<Float>] = [:]
var lines: [String] = []
for (name, model) in models {
    let (times, out) = timed { model.run(inputs: inputs, initialState: initialState) }
    outputs[name] = out
    lines.append("\(name) " + times.map { String($0) }.joined(separator: " "))
}
let strictSame = ErrorMeasures.between(outputs["strict-fused"]!.scalars, outputs["strict-explicit"]!.scalars)
let fastApart = ErrorMeasures.between(outputs["fast-fused"]!.scalars, outputs["strict-fused"]!.scalars)
    .maxAbsolute
let explicitApart = ErrorMeasures.between(outputs["fast-explicit"]!.scalars, outputs["strict-fused"]!.scalars)
    .maxAbsolute
print("strict-bitwise-identical: \(strictSame.isBitwiseIdentical)")
print("fast-vs-strict-max-abs: \(max(fastApart, explicitApart))")

// The one large product that the fast reset-after path and the fast explicit reset-before path hoist out
// of the loop, X·[W] for all steps ([B·T, I] x [I, 3H]): OpenBLAS's sgemm on it, to set beside the
// whole forward pass that does the same product with the package's own kernels.
do {
    let m = batch * steps, n = 3 * h
    var c = [Float](repeating: 0, count: m * n)
    let w = [Float](repeating: 0.01, count: i * n)
    let (times, _) = timed {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(m), blasint(n), blasint(i), 1,
                    inputs.scalars, blasint(i), w, blasint(n), 0, &c, blasint(n))
        return Tensor(shape: [1], scalars: [c[0]])
    }
    lines.append("openblas-input-projection " + times.map { String($0) }.joined(separator: " "))
}
for line in lines { print(line) }
