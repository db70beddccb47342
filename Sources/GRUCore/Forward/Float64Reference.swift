import CGRUKernels
import Glibc

/// A GRU computed in float64: the ground truth both float32 forms are measured against, and, in its
/// variants, the classic hand-written cells that differ from the family's own (GRU_LAYOUTS.md §2).
public struct Float64Cell: Sendable {
    /// Which cell to compute.
    public enum Variant: String, CaseIterable, Sendable {
        /// The cell as its family defines it.
        case exact
        /// The reset applied on the other side of the recurrent product: the other family's candidate.
        case resetPlacementFlipped
        /// The gates computed from the input alone: `h·Ur` and `h·Uz` dropped.
        case recurrentGateTermsDropped
        /// The reset and update gates exchanged in the computation.
        case gatesSwapped
        /// `h' = (1 − z)∘h + z∘c`: the update gate's two sides exchanged.
        case updateInverted

        /// How a diagnosis names this variant for weights of `family`.
        public func mistake(for family: CellFamily) -> String {
            switch (self, family) {
            case (.exact, .resetBefore): "TensorFlow's GRUCell (reset before the product)"
            case (.exact, .resetAfter): "the reset-after GRU"
            case (.resetPlacementFlipped, .resetBefore): "the reset applied after the product ((h·Uh)∘r instead of (r∘h)·Uh)"
            case (.resetPlacementFlipped, .resetAfter):
                "the reset applied before the product ((r∘h)·Uh instead of r∘(h·Uh + bUh)): a reset-before cell"
            case (.recurrentGateTermsDropped, _): "h·Ur and h·Uz dropped (gates computed from the input alone)"
            case (.gatesSwapped, _): "r and z swapped in the computation"
            case (.updateInverted, _): "the update gate inverted (h' = (1−z)∘h + z∘c)"
            }
        }
    }

    /// The weights, widened.
    public let weights: ExplicitWeights<Double>
    /// Which computation.
    public let variant: Variant
    /// `I` and `H` of the cell.
    public var dimensions: CellDimensions { weights.dimensions }

    /// The cell of `weights` (its family decides the candidate), computed as `variant`.
    public init(_ weights: ExplicitWeights<Double>, variant: Variant = .exact) {
        self.weights = weights
        self.variant = variant
    }

    /// The float32 weights, widened exactly.
    public init(_ weights: ExplicitWeights<Float>, variant: Variant = .exact) {
        self.init(weights.map { Double($0) }, variant: variant)
    }

    /// Outputs `[B, T, H]` in float64, free-running or (with `forcedStates`) teacher-forced.
    public func run(inputs: Tensor<Double>, initialState: Tensor<Double>, forcedStates: Tensor<Double>? = nil) -> Tensor<Double> {
        let layout = SequenceLayout(inputs: inputs, initialState: initialState, forcedStates: forcedStates, dimensions: dimensions)
        let (i, h, batch, steps) = (dimensions.inputSize, dimensions.units, layout.batch, layout.steps)
        var outputs = [Double](repeating: 0, count: batch * steps * h)
        var state = initialState.scalars
        func tensor(_ t: ExplicitTensor) -> [Double] { weights[t].scalars }
        let (wr, wz, wh, ur, uz, uh) = (tensor(.Wr), tensor(.Wz), tensor(.Wh), tensor(.Ur), tensor(.Uz), tensor(.Uh))
        let resetAfter = weights.family == .resetAfter
        // A reset-after cell's gates add both biases; a reset-before cell has only the input one.
        func gateBias(_ gate: Gate) -> [Double] {
            let input = tensor(ExplicitTensor(.inputBias, gate))
            return resetAfter ? zip(input, tensor(ExplicitTensor(.recurrentBias, gate))).map { $0 + $1 } : input
        }
        let (br, bz, bh) = (gateBias(.reset), gateBias(.update), tensor(.bh))
        let bUh = resetAfter ? tensor(.bUh) : [Double](repeating: 0, count: h)
        // The candidate's reset placement: the family's own, or the other one for the flipped variant.
        let candidateResetAfter = resetAfter != (variant == .resetPlacementFlipped)
        var x = [Double](repeating: 0, count: batch * i)
        for t in 0..<steps {
            if t > 0, let forced = forcedStates {
                for b in 0..<batch { for j in 0..<h { state[b * h + j] = forced.scalars[(b * steps + t - 1) * h + j] } }
            }
            for b in 0..<batch { for k in 0..<i { x[b * i + k] = inputs.scalars[(b * steps + t) * i + k] } }
            var r = affine(x, wr, state, variant == .recurrentGateTermsDropped ? nil : ur, br, batch, i, h)
            var z = affine(x, wz, state, variant == .recurrentGateTermsDropped ? nil : uz, bz, batch, i, h)
            r = r.map { 1 / (1 + exp(-$0)) }
            z = z.map { 1 / (1 + exp(-$0)) }
            if variant == .gatesSwapped { swap(&r, &z) }
            var c: [Double]
            if candidateResetAfter {
                c = affine(x, wh, nil, nil, bh, batch, i, h)
                let hu = product(state, uh, batch, h, h)
                for n in c.indices { c[n] += r[n] * (hu[n] + bUh[n % h]) }
            } else {
                let rh = zip(r, state).map { $0 * $1 }
                c = affine(x, wh, rh, uh, bh, batch, i, h)
                if resetAfter { for n in c.indices { c[n] += bUh[n % h] } }
            }
            c = c.map { tanh($0) }
            for n in state.indices {
                state[n] = variant == .updateInverted ? (1 - z[n]) * state[n] + z[n] * c[n]
                                                      : z[n] * state[n] + (1 - z[n]) * c[n]
            }
            for b in 0..<batch { for j in 0..<h { outputs[(b * steps + t) * h + j] = state[b * h + j] } }
        }
        return Tensor(shape: [batch, steps, h], scalars: outputs)
    }

    /// `x·W + h·U + b` (the `h·U` term only when `u` is given).
    private func affine(_ x: [Double], _ w: [Double], _ hIn: [Double]?, _ u: [Double]?, _ bias: [Double],
                        _ batch: Int, _ i: Int, _ h: Int) -> [Double] {
        var out = product(x, w, batch, i, h)
        if let hIn, let u {
            let hu = product(hIn, u, batch, h, h)
            for n in out.indices { out[n] += hu[n] }
        }
        for b in 0..<batch { for j in 0..<h { out[b * h + j] += bias[j] } }
        return out
    }

    /// `a [rows, depth] · w [depth, columns]` in float64 (`gk_float64_accumulate`).
    private func product(_ a: [Double], _ w: [Double], _ rows: Int, _ depth: Int, _ columns: Int) -> [Double] {
        var out = [Double](repeating: 0, count: rows * columns)
        guard rows > 0, depth > 0, columns > 0 else { return out }
        gk_float64_accumulate(rows, depth, columns, a, depth, w, columns, &out, columns)
        return out
    }
}
