import Glibc

/// A small reproducible generator (SplitMix64), so that `--seed N` means the same inputs on every machine.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator that always gives the same numbers for the same seed.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A float uniformly in `[low, high)`, from 24 random bits.
    public mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * Float(next() >> 40) / Float(1 << 24)
    }

    /// A standard normal float (Box–Muller on two uniforms).
    public mutating func normal() -> Float {
        let u1 = max(Double(next() >> 11) / Double(1 << 53), Double.leastNormalMagnitude)
        let u2 = Double(next() >> 11) / Double(1 << 53)
        return Float(sqrt(-2 * log(u1)) * cos(2 * Double.pi * u2))
    }

    /// Test inputs for one cell: `inputs [B, T, I]` standard normal, `initialState [B, H]` uniform in
    /// (−0.9, 0.9) — non-zero, so that dropped or swapped state terms show.
    public mutating func sequence(batch: Int, steps: Int, dimensions: CellDimensions)
        -> (inputs: Tensor<Float>, initialState: Tensor<Float>) {
        let inputs = (0..<(batch * steps * dimensions.inputSize)).map { _ in normal() }
        let state = (0..<(batch * dimensions.units)).map { _ in uniform(-0.9, 0.9) }
        return (Tensor(shape: [batch, steps, dimensions.inputSize], scalars: inputs),
                Tensor(shape: [batch, dimensions.units], scalars: state))
    }
}
