// gru-bench: times the forward pass of each form of a GRU cell with random weights, for
// bench/bench_forward.py to set beside TensorFlow's GRUCell in the same run.
//
// usage: gru-bench I H B T [REPEATS]   prints one line per implementation: name, best milliseconds
import CGRUKernels
import GRUReference
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
guard arguments.count >= 4 else {
    print("usage: gru-bench I H B T [REPEATS]")
    exit(2)
}
let (i, h, batch, steps) = (arguments[0], arguments[1], arguments[2], arguments[3])
let repeats = arguments.count > 4 ? arguments[4] : 5
let dimensions = CellDimensions(inputSize: i, units: h)
var random = SeededRandom(seed: 1)
var tensors: [FusedTensor: Tensor<Float>] = [:]
for tensor in FusedTensor.allCases {
    let shape = tensor.shape(dimensions)
    tensors[tensor] = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in random.normal() * 0.05 })
}
let fused = try! FusedWeights(tensors)
let explicit = fused.split()
let (inputs, initialState) = random.sequence(batch: batch, steps: steps, dimensions: dimensions)

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

func best(_ model: any GRUSequenceModel) -> (Double, Tensor<Float>) {
    var result = model.run(inputs: inputs, initialState: initialState)
    var fastest = Double.infinity
    for _ in 0..<repeats {
        let start = now()
        result = model.run(inputs: inputs, initialState: initialState)
        fastest = min(fastest, now() - start)
    }
    return (fastest * 1000, result)
}

print("kernels: \(String(cString: gk_instruction_set()))")
let models: [(String, any GRUSequenceModel)] = [
    ("strict-fused", StrictFusedCell(fused)), ("strict-explicit", StrictExplicitCell(explicit)),
    ("fast-fused", FastFusedCell(fused)), ("fast-explicit", FastExplicitCell(explicit)),
]
var outputs: [String: Tensor<Float>] = [:]
for (name, model) in models {
    let (ms, out) = best(model)
    outputs[name] = out
    print("\(name) \(ms)")
}
let strictSame = ErrorMeasures.between(outputs["strict-fused"]!.scalars, outputs["strict-explicit"]!.scalars)
print("strict-bitwise-identical \(strictSame.isBitwiseIdentical)")

// The one large product of the explicit fast path, X·[Wr|Wz|Wh] for all steps: OpenBLAS's sgemm
// beside FastExplicitCell's whole forward pass with its own kernels doing the same product, to show
// the choice of kernels (the pass includes this product).
import COpenBLAS
do {
    let m = batch * steps, n = 3 * h
    var c = [Float](repeating: 0, count: m * n)
    let w = [Float](repeating: 0.01, count: i * n)
    var fastest = Double.infinity
    for _ in 0..<repeats {
        let start = now()
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(m), blasint(n), blasint(i), 1,
                    inputs.scalars, blasint(i), w, blasint(n), 0, &c, blasint(n))
        fastest = min(fastest, now() - start)
    }
    print("openblas-input-projection \(fastest * 1000)")
}
