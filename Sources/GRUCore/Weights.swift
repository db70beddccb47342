/// Why a set of tensors is not a GRU cell's weights.
public struct WeightsError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
}

/// Every tensor of `T` present, with the shape the dimensions give it.
private func checkShapes<T: CaseIterable & Hashable, Scalar>(_ tensors: [T: Tensor<Scalar>], _ dimensions: CellDimensions,
                                                             shape: (T, CellDimensions) -> [Int]) throws(WeightsError) {
    for tensor in T.allCases {
        guard let value = tensors[tensor] else { throw WeightsError(description: "missing \(tensor)") }
        guard value.shape == shape(tensor, dimensions) else {
            throw WeightsError(description: "\(tensor) is \(value.shape), expected \(shape(tensor, dimensions))")
        }
    }
}

/// TensorFlow's fused GRUCell weights: `Kg [I+H, 2H]`, `bg [2H]`, `Kc [I+H, H]`, `bc [H]`.
///
/// Generic over the element so that conversion can move raw bits (`UInt16` for float16) as well as values.
public struct FusedWeights<Scalar: Sendable>: Sendable {
    public let dimensions: CellDimensions
    private let tensors: [FusedTensor: Tensor<Scalar>]

    /// Checks that the four tensors have the shapes of one cell; `I` and `H` are read from `Kc`.
    public init(_ tensors: [FusedTensor: Tensor<Scalar>]) throws(WeightsError) {
        guard let kc = tensors[.candidateKernel], kc.shape.count == 2, kc.shape[1] >= 1, kc.shape[0] > kc.shape[1] else {
            throw WeightsError(description: "candidate kernel must be [I+H, H] with I, H >= 1")
        }
        dimensions = CellDimensions(inputSize: kc.shape[0] - kc.shape[1], units: kc.shape[1])
        try checkShapes(tensors, dimensions) { $0.shape($1) }
        self.tensors = tensors
    }

    public subscript(_ tensor: FusedTensor) -> Tensor<Scalar> { tensors[tensor]! }

    /// The explicit form: each per-gate tensor copied out of its block (`ExplicitTensor.block`). Exact.
    public func split() -> ExplicitWeights<Scalar> {
        var result: [ExplicitTensor: Tensor<Scalar>] = [:]
        for tensor in ExplicitTensor.allCases {
            let block = tensor.block(dimensions)
            let source = self[block.source]
            let width = source.shape.last!
            let rows = block.rows ?? 0..<1
            var scalars: [Scalar] = []
            scalars.reserveCapacity(rows.count * block.columns.count)
            for row in rows {
                scalars.append(contentsOf: source.scalars[(row * width + block.columns.lowerBound)..<(row * width + block.columns.upperBound)])
            }
            result[tensor] = Tensor(shape: tensor.shape(dimensions), scalars: scalars)
        }
        return try! ExplicitWeights(result)  // the blocks have the explicit shapes by construction (tested)
    }
}

/// The explicit per-gate weights `Wr Wz Wh [I, H]`, `Ur Uz Uh [H, H]`, `br bz bh [H]`.
public struct ExplicitWeights<Scalar: Sendable>: Sendable {
    public let dimensions: CellDimensions
    private let tensors: [ExplicitTensor: Tensor<Scalar>]

    /// Checks that the nine tensors have the shapes of one cell; `I` and `H` are read from `Wh`.
    public init(_ tensors: [ExplicitTensor: Tensor<Scalar>]) throws(WeightsError) {
        guard let wh = tensors[.Wh], wh.shape.count == 2, wh.shape[0] >= 1, wh.shape[1] >= 1 else {
            throw WeightsError(description: "Wh must be [I, H] with I, H >= 1")
        }
        dimensions = CellDimensions(inputSize: wh.shape[0], units: wh.shape[1])
        try checkShapes(tensors, dimensions) { $0.shape($1) }
        self.tensors = tensors
    }

    public subscript(_ tensor: ExplicitTensor) -> Tensor<Scalar> { tensors[tensor]! }

    /// The fused form: each per-gate tensor copied into its block. Exact; `split()` of it gives these back.
    public func fused() -> FusedWeights<Scalar> {
        let filler = self[.bh].scalars[0]
        var result: [FusedTensor: [Scalar]] = [:]
        for tensor in FusedTensor.allCases {
            result[tensor] = Array(repeating: filler, count: tensor.shape(dimensions).reduce(1, *))
        }
        for tensor in ExplicitTensor.allCases {
            let block = tensor.block(dimensions)
            let width = block.source.shape(dimensions).last!
            let values = self[tensor].scalars
            for (r, row) in (block.rows ?? 0..<1).enumerated() {
                let source = values[(r * block.columns.count)..<((r + 1) * block.columns.count)]
                result[block.source]!.replaceSubrange(
                    (row * width + block.columns.lowerBound)..<(row * width + block.columns.upperBound), with: source)
            }
        }
        var tensors: [FusedTensor: Tensor<Scalar>] = [:]
        for (tensor, scalars) in result {
            tensors[tensor] = Tensor(shape: tensor.shape(dimensions), scalars: scalars)
        }
        return try! FusedWeights(tensors)  // shapes by construction
    }

    /// The same weights with other element values (for example Float to Double).
    public func map<Other: Sendable>(_ transform: (Scalar) -> Other) -> ExplicitWeights<Other> {
        var result: [ExplicitTensor: Tensor<Other>] = [:]
        for (tensor, value) in tensors {
            result[tensor] = Tensor(shape: value.shape, scalars: value.scalars.map(transform))
        }
        return try! ExplicitWeights<Other>(result)
    }
}

extension FusedWeights {
    /// The same weights with other element values.
    public func map<Other: Sendable>(_ transform: (Scalar) -> Other) -> FusedWeights<Other> {
        var result: [FusedTensor: Tensor<Other>] = [:]
        for (tensor, value) in tensors {
            result[tensor] = Tensor(shape: value.shape, scalars: value.scalars.map(transform))
        }
        return try! FusedWeights<Other>(result)
    }
}

/// A cell's weights in whichever form they were stored; each form can be derived exactly from the other.
public enum CellWeights<Scalar: Sendable>: Sendable {
    case fused(FusedWeights<Scalar>)
    case explicit(ExplicitWeights<Scalar>)

    public var dimensions: CellDimensions {
        switch self {
        case .fused(let w): w.dimensions
        case .explicit(let w): w.dimensions
        }
    }

    /// The fused form, as stored or fused from the explicit tensors.
    public var fusedForm: FusedWeights<Scalar> {
        switch self {
        case .fused(let w): w
        case .explicit(let w): w.fused()
        }
    }

    /// The explicit form, as stored or split from the fused tensors.
    public var explicitForm: ExplicitWeights<Scalar> {
        switch self {
        case .fused(let w): w.split()
        case .explicit(let w): w
        }
    }

    public var isFused: Bool {
        if case .fused = self { return true }
        return false
    }

    /// The same weights in the same form with other element values (for example Double to Float).
    public func map<Other: Sendable>(_ transform: (Scalar) -> Other) -> CellWeights<Other> {
        switch self {
        case .fused(let w): .fused(w.map(transform))
        case .explicit(let w): .explicit(w.map(transform))
        }
    }
}
