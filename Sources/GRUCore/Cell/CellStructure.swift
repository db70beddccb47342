/// The two sizes that fix the shape of every tensor of a GRU cell: `I` (input size) and `H` (units).
public struct CellDimensions: Hashable, Sendable {
    /// `I`: the width of the input `x`.
    public var inputSize: Int
    /// `H`: the width of the state `h`.
    public var units: Int

    /// A cell of input size `inputSize` and `units` units.
    public init(inputSize: Int, units: Int) {
        self.inputSize = inputSize
        self.units = units
    }
}

/// The two GRU families (GRU_LAYOUTS.md §4). Within a family every framework's weights convert exactly;
/// across them no rearrangement of weights gives the same function, because `r∘(h·Uh) ≠ (r∘h)·Uh`.
public enum CellFamily: String, CaseIterable, Hashable, Sendable, Codable {
    /// The reset gate scales the state before the recurrent product: `c = tanh(x·Wh + (r∘h)·Uh + bh)`.
    /// TensorFlow 1's `GRUCell`, Keras `reset_after=False`, ONNX `linear_before_reset=0`.
    case resetBefore = "reset-before"
    /// The reset gate scales the recurrent product: `c = tanh(x·Wh + bh + r∘(h·Uh + bUh))`, with a second
    /// (recurrent) bias per gate. Keras `reset_after=True`, PyTorch `nn.GRU`, ONNX `linear_before_reset=1`, cuDNN.
    case resetAfter = "reset-after"
}

/// The three parts of a GRU: two gates and the candidate state.
public enum Gate: String, CaseIterable, Hashable, Sendable {
    /// `r`, the reset gate.
    case reset = "r"
    /// `z`, the update gate (TensorFlow 1 calls it `u`).
    case update = "z"
    /// `h`, the candidate (PyTorch calls it `n`, TensorFlow 1 `c`).
    case candidate = "h"
}

/// What a per-gate tensor multiplies or adds.
public enum WeightRole: String, CaseIterable, Hashable, Sendable {
    /// `W*`, `[I, H]`: multiplies the input.
    case inputKernel = "W"
    /// `U*`, `[H, H]`: multiplies the state.
    case recurrentKernel = "U"
    /// `b*`, `[H]`: the input-side bias; the only bias of the reset-before family.
    case inputBias = "b"
    /// `bU*`, `[H]`: the recurrent bias of the reset-after family, added to `h·U*` (inside `r∘(…)` for `h`).
    case recurrentBias = "bU"
}

/// The per-gate tensors of the explicit form (GRU_LAYOUTS.md §2 and docs/LAYOUTS.md), named as in the math:
/// `W*` multiply the input, `U*` the state, `b*` are input biases and `bU*` recurrent biases (reset-after
/// family only); `r` is the reset gate, `z` the update gate and `h` the candidate.
public enum ExplicitTensor: String, CaseIterable, Hashable, Sendable {
    case Wr, Wz, Wh, Ur, Uz, Uh, br, bz, bh, bUr, bUz, bUh

    /// The explicit tensors of a cell of `family`: nine for reset-before, twelve for reset-after.
    public static func tensors(of family: CellFamily) -> [ExplicitTensor] {
        family == .resetBefore ? [.Wr, .Wz, .Wh, .Ur, .Uz, .Uh, .br, .bz, .bh] : allCases
    }

    /// The tensor of `role` for `gate`.
    public init(_ role: WeightRole, _ gate: Gate) {
        self.init(rawValue: role.rawValue + gate.rawValue)!
    }

    /// The gate this tensor belongs to.
    public var gate: Gate { Gate(rawValue: String(rawValue.last!))! }

    /// What this tensor multiplies or adds.
    public var role: WeightRole { WeightRole(rawValue: String(rawValue.dropLast()))! }

    /// The shape this tensor has in a cell of the given dimensions.
    public func shape(_ d: CellDimensions) -> [Int] {
        switch role {
        case .inputKernel: [d.inputSize, d.units]
        case .recurrentKernel: [d.units, d.units]
        case .inputBias, .recurrentBias: [d.units]
        }
    }

    /// Position in `allCases`, for stable ordering.
    public var order: Int { Self.allCases.firstIndex(of: self)! }
}

/// `[9, 8]`, the way shapes appear in every message.
public func format(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
