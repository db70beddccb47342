import GRUCore
import Glibc

/// How far apart the two GRU families are on one cell's own weights: the cell as its family computes it
/// against the same weights run with the reset on the other side of the recurrent product, which is what
/// a port across families computes. The number a refusal to convert across families shows.
public struct FamilyDifference: Sendable {
    /// The largest absolute difference of any output, any step.
    public var maximum: Double
    /// Sequences run.
    public var batch: Int
    /// Steps per sequence.
    public var steps: Int
    /// Seed of the inputs (`SeededRandom.sequence`: standard normal inputs, a non-zero initial state).
    public var seed: UInt64

    /// Runs `weights` both ways on `batch` seeded sequences of `steps` steps, in float64.
    public init(_ weights: ExplicitWeights<Double>, batch: Int = 8, steps: Int = 32, seed: UInt64 = 0) {
        var random = SeededRandom(seed: seed)
        let (inputs, state) = random.sequence(batch: batch, steps: steps, dimensions: weights.dimensions)
        let (x, h) = (Tensor(shape: inputs.shape, scalars: inputs.scalars.map(Double.init)),
                      Tensor(shape: state.shape, scalars: state.scalars.map(Double.init)))
        let own = Float64Cell(weights).run(inputs: x, initialState: h)
        let other = Float64Cell(weights, variant: .resetPlacementFlipped).run(inputs: x, initialState: h)
        maximum = zip(own.scalars, other.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
        (self.batch, self.steps, self.seed) = (batch, steps, seed)
    }

    /// `differ by up to 0.0421 (8 sequences of 32 steps, seed 0)`.
    public var text: String {
        "differ by up to \(Self.format(maximum)) (\(batch) sequences of \(steps) steps, seed \(seed))"
    }

    /// Four significant digits.
    static func format(_ value: Double) -> String {
        guard value > 0 else { return "0" }
        var text = "\(value)"
        if value >= 1e-4 && value < 1e4 {
            let digits = max(0, 3 - Int((log10(value)).rounded(.down)))
            let scale = pow(10.0, Double(digits))
            text = "\((value * scale).rounded() / scale)"
        }
        return text
    }
}
