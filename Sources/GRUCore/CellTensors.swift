/// The two sizes that fix the shape of every tensor of a GRU cell: `I` (input size) and `H` (units).
public struct CellDimensions: Hashable, Sendable {
    /// `I`: the width of the input `x`.
    public var inputSize: Int
    /// `H`: the width of the state `h`.
    public var units: Int

    public init(inputSize: Int, units: Int) {
        self.inputSize = inputSize
        self.units = units
    }
}

/// The four tensors of TensorFlow's fused `GRUCell` (GRU_LAYOUTS.md §1).
///
/// Rows `0..<I` of both kernels multiply the input and rows `I..<I+H` the state; columns `0..<H` of the
/// gate tensors are the reset gate `r`, columns `H..<2H` the update gate `u` (the explicit form's `z`).
public enum FusedTensor: String, CaseIterable, Hashable, Sendable {
    /// `Kg`, `[I+H, 2H]`.
    case gateKernel
    /// `bg`, `[2H]`.
    case gateBias
    /// `Kc`, `[I+H, H]`.
    case candidateKernel
    /// `bc`, `[H]`.
    case candidateBias

    /// The shape this tensor has in a cell of the given dimensions.
    public func shape(_ d: CellDimensions) -> [Int] {
        switch self {
        case .gateKernel: [d.inputSize + d.units, 2 * d.units]
        case .gateBias: [2 * d.units]
        case .candidateKernel: [d.inputSize + d.units, d.units]
        case .candidateBias: [d.units]
        }
    }
}

/// The nine per-gate tensors of the explicit form (GRU_LAYOUTS.md §2), named as in the math.
///
/// `W*` multiply the input, `U*` the state, `b*` are biases; `r` is the reset gate, `z` the update gate
/// and `h` the candidate.
public enum ExplicitTensor: String, CaseIterable, Hashable, Sendable {
    case Wr, Wz, Wh, Ur, Uz, Uh, br, bz, bh

    /// The shape this tensor has in a cell of the given dimensions.
    public func shape(_ d: CellDimensions) -> [Int] {
        switch self {
        case .Wr, .Wz, .Wh: [d.inputSize, d.units]
        case .Ur, .Uz, .Uh: [d.units, d.units]
        case .br, .bz, .bh: [d.units]
        }
    }

    /// Where this tensor lies inside the fused tensors: the one place that knows the fused layout's offsets.
    public func block(_ d: CellDimensions) -> FusedBlock {
        let (i, h) = (d.inputSize, d.units)
        let inputRows = 0..<i, stateRows = i..<(i + h)
        let reset = 0..<h, update = h..<(2 * h)
        switch self {
        case .Wr: return FusedBlock(source: .gateKernel, rows: inputRows, columns: reset)
        case .Wz: return FusedBlock(source: .gateKernel, rows: inputRows, columns: update)
        case .Ur: return FusedBlock(source: .gateKernel, rows: stateRows, columns: reset)
        case .Uz: return FusedBlock(source: .gateKernel, rows: stateRows, columns: update)
        case .Wh: return FusedBlock(source: .candidateKernel, rows: inputRows, columns: 0..<h)
        case .Uh: return FusedBlock(source: .candidateKernel, rows: stateRows, columns: 0..<h)
        case .br: return FusedBlock(source: .gateBias, rows: nil, columns: reset)
        case .bz: return FusedBlock(source: .gateBias, rows: nil, columns: update)
        case .bh: return FusedBlock(source: .candidateBias, rows: nil, columns: 0..<h)
        }
    }
}

/// A rectangular block of one fused tensor: a row range (nil for a bias, which has no rows) and a
/// column range.
public struct FusedBlock: Hashable, Sendable {
    public var source: FusedTensor
    public var rows: Range<Int>?
    public var columns: Range<Int>
}

/// A tensor of a GRU cell in either form.
public enum CellTensor: Hashable, Sendable {
    case fused(FusedTensor)
    case explicit(ExplicitTensor)

    /// The shape this tensor has in a cell of the given dimensions.
    public func shape(_ d: CellDimensions) -> [Int] {
        switch self {
        case .fused(let t): t.shape(d)
        case .explicit(let t): t.shape(d)
        }
    }
}

/// `[9, 8]`, the way shapes appear in every message.
public func format(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
