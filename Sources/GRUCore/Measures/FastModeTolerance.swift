/// How far apart two correct float32 computations of one GRU step may be, derived from float32 error
/// analysis rather than picked: the tolerance of `--mode fast` and of `--reference` comparisons.
///
/// Both sides start the step from the same state `h` and input `x` (teacher forcing). With
/// `u = 2⁻²⁴`, `n = I + H + 1` terms per pre-activation and `γ = n·u / (1 − n·u)`, a float32 sum in any
/// order is within `γ·S` of the exact sum, where `S = Σ |aₖ·wₖ|` (Higham, *Accuracy and Stability of
/// Numerical Algorithms*, §3.1); two orders differ by at most `2γ·S`, plus `2u·S` when the inputs or
/// weights were themselves rounded from float64. `S` is bounded per row by `Σₖ |aₖ|·maxⱼ|Wₖⱼ| + max|b|`.
/// Then, with `E` the absolute error of each side's activation functions (`activationError`):
///
///     Δgate ≤ ¼·(2γ + 2u)·S_g + 2E                      (σ' ≤ ¼)
///     Δc    ≤ (2γ + 2u)·S_c + Σₖ (Δgate + 2u)·|hₖ|·maxⱼ|Uhₖⱼ| + 2E      (tanh' ≤ 1; r∘h rounded once)
///     Δh'   ≤ Δgate·(‖h‖∞ + 1) + Δc + 6u·(‖h‖∞ + 1)    (h' = z∘h + (1 − z)∘c, three roundings a side)
///
/// The reset-after family sums `n = I + H + 2` terms per gate (both biases), and its candidate
/// `tanh(a + r∘q)` with `a = x·Wh + bh` (`S_a`) and `q = h·Uh + bUh` (`S_q`) gives
///
///     Δc    ≤ (2γ + 2u)·S_a + (Δgate + 2γ + 2u + 2u)·S_q + 2E
///
/// The bound is worst-case (every rounding error in one direction), so real differences are usually
/// hundreds of times smaller; it still flags any real mistake, which moves outputs by far more.
public struct FastModeTolerance: Sendable {
    /// The largest bound that still tells a wrong cell from a right one. A state stays in [-1, 1], so
    /// outputs differ by at most 2; the classic mistakes move them by 0.1 to 2 on ordinary weights. Where
    /// the derived bound exceeds this (weights so large that rounding alone could move an output this
    /// much), a comparison within it proves nothing, and verification says so instead of passing.
    public static let largestUsefulBound = 0.1

    /// `u`, the unit roundoff of float32.
    public static let unitRoundoff = Double(Float.ulpOfOne) / 2
    /// `E`: the largest absolute error allowed for one side's sigmoid or tanh on outputs in [-1, 1]:
    /// 8 ulps of 1, covering this package's activations (measured at most 3) and TensorFlow's (Eigen's).
    public static let activationError = 8 * unitRoundoff

    private let dimensions: CellDimensions
    private let family: CellFamily
    /// `maxⱼ |W_g[k, j]|` over the gates `r`, `z` for each input row `k`, then `maxⱼ |U_g[k, j]|` for each
    /// state row; likewise for the candidate's `Wh` and `Uh` (TensorFlow's fused kernels' row maxima).
    private let gateRowMax: [Double], candidateRowMax: [Double]
    /// The largest gate bias and candidate bias magnitude (both biases added, for reset-after).
    private let gateBiasMax: Double, candidateBiasMax: Double, recurrentCandidateBiasMax: Double

    /// The bound's constants for a cell, from its explicit weights.
    public init(_ weights: ExplicitWeights<Float>) {
        dimensions = weights.dimensions
        family = weights.family
        func rowMax(_ tensors: [ExplicitTensor]) -> [Double] {
            let rows = weights[tensors[0]].shape[0], width = weights[tensors[0]].shape[1]
            return (0..<rows).map { row in
                tensors.reduce(0.0) { result, tensor in
                    weights[tensor].scalars[(row * width)..<((row + 1) * width)].reduce(result) { max($0, Double(abs($1))) }
                }
            }
        }
        func maxMagnitude(_ tensors: [ExplicitTensor]) -> Double {
            tensors.reduce(0.0) { result, tensor in weights[tensor].scalars.reduce(result) { max($0, Double(abs($1))) } }
        }
        gateRowMax = rowMax([.Wr, .Wz]) + rowMax([.Ur, .Uz])
        candidateRowMax = rowMax([.Wh]) + rowMax([.Uh])
        if family == .resetAfter {
            gateBiasMax = maxMagnitude([.br, .bz]) + maxMagnitude([.bUr, .bUz])
            recurrentCandidateBiasMax = maxMagnitude([.bUh])
        } else {
            gateBiasMax = maxMagnitude([.br, .bz])
            recurrentCandidateBiasMax = 0
        }
        candidateBiasMax = maxMagnitude([.bh])
    }

    /// The bound's constants for a cell in either form.
    public init(_ weights: CellWeights<Float>) { self.init(weights.explicitForm) }

    /// The bound on `|h'₁ − h'₂|` for every unit of one step that starts from input `x` `[I]` and state `h` `[H]`.
    public func stepBound(x: ArraySlice<Float>, h: ArraySlice<Float>) -> Double {
        let (i, units) = (dimensions.inputSize, dimensions.units)
        let u = Self.unitRoundoff, e = Self.activationError
        let n = Double(i + units + (family == .resetAfter ? 2 : 1))
        let gamma = n * u / (1 - n * u)
        let sum = 2 * gamma + 2 * u
        var sg = gateBiasMax, sc = candidateBiasMax
        for (k, value) in x.enumerated() {
            sg += Double(abs(value)) * gateRowMax[k]
            sc += Double(abs(value)) * candidateRowMax[k]
        }
        var hMax = 0.0, stateCandidate = 0.0
        for (k, value) in h.enumerated() {
            let magnitude = Double(abs(value))
            hMax = max(hMax, magnitude)
            sg += magnitude * gateRowMax[i + k]
            sc += magnitude * candidateRowMax[i + k]
            stateCandidate += magnitude * candidateRowMax[i + k]
        }
        let gate = sum * sg / 4 + 2 * e
        if family == .resetAfter {
            // sc holds S_a + S_q without bUh; split it: a = x·Wh + bh, q = h·Uh + bUh.
            let sq = stateCandidate + recurrentCandidateBiasMax
            let sa = sc - stateCandidate
            let candidate = sum * sa + (gate + sum + 2 * u) * sq + 2 * e
            return gate * (hMax + 1) + candidate + 6 * u * (hMax + 1)
        }
        let candidate = sum * sc + (gate + 2 * u) * stateCandidate + 2 * e
        return gate * (hMax + 1) + candidate + 6 * u * (hMax + 1)
    }

    /// Bounds for every step of a teacher-forced run, `[B, T]` row-major: step `t` starts from
    /// `initialState` when `t == 0`, else from `states[:, t-1]`.
    public func bounds(inputs: Tensor<Float>, initialState: Tensor<Float>, states: Tensor<Float>) -> [Double] {
        let (batch, steps) = (inputs.shape[0], inputs.shape[1])
        let (i, h) = (dimensions.inputSize, dimensions.units)
        var result: [Double] = []
        result.reserveCapacity(batch * steps)
        for b in 0..<batch {
            for t in 0..<steps {
                let x = inputs.scalars[((b * steps + t) * i)..<((b * steps + t + 1) * i)]
                let start = t == 0 ? initialState.scalars[(b * h)..<((b + 1) * h)]
                                   : states.scalars[((b * steps + t - 1) * h)..<((b * steps + t) * h)]
                result.append(stepBound(x: x, h: start))
            }
        }
        return result
    }
}
