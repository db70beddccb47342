/// Why a set of tensors is not a GRU cell's weights.
public struct WeightsError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong, in one line.
    public var description: String

    /// An error saying `description`.
    public init(description: String) { self.description = description }
}

/// The explicit per-gate weights of a cell of one family: `Wr Wz Wh [I, H]`, `Ur Uz Uh [H, H]`,
/// `br bz bh [H]`, and for the reset-after family the recurrent biases `bUr bUz bUh [H]`.
///
/// Generic over the element so that the same weights can be held as stored (`Double` holds float16,
/// float32 and float64 exactly) and as run (`Float`).
public struct ExplicitWeights<Scalar: AdditiveArithmetic & Sendable>: Sendable {
    /// `I` and `H`.
    public let dimensions: CellDimensions
    /// Where the reset gate acts, which also decides whether recurrent biases exist.
    public let family: CellFamily
    private let tensors: [ExplicitTensor: Tensor<Scalar>]

    /// Checks that the family's tensors are all there with the shapes of one cell; `I` and `H` are read
    /// from `Wh`. Recurrent biases given for a reset-before cell are refused, not ignored.
    public init(_ tensors: [ExplicitTensor: Tensor<Scalar>], family: CellFamily = .resetBefore) throws(WeightsError) {
        guard let wh = tensors[.Wh], wh.shape.count == 2, wh.shape[0] >= 1, wh.shape[1] >= 1 else {
            throw WeightsError(description: "Wh must be [I, H] with I, H >= 1")
        }
        let d = CellDimensions(inputSize: wh.shape[0], units: wh.shape[1])
        let members = ExplicitTensor.tensors(of: family)
        for tensor in members {
            guard let value = tensors[tensor] else { throw WeightsError(description: "missing \(tensor)") }
            guard value.shape == tensor.shape(d) else {
                throw WeightsError(description: "\(tensor) is \(format(value.shape)), expected \(format(tensor.shape(d)))")
            }
        }
        if let extra = tensors.keys.filter({ !members.contains($0) }).min(by: { $0.order < $1.order }) {
            throw WeightsError(description: "\(extra) belongs to the reset-after family, not to a \(family.rawValue) cell")
        }
        dimensions = d
        self.family = family
        self.tensors = tensors
    }

    /// One tensor of the family (a recurrent bias of a reset-before cell is a precondition failure).
    public subscript(_ tensor: ExplicitTensor) -> Tensor<Scalar> { tensors[tensor]! }

    /// The tensors of the family, in `ExplicitTensor` order.
    public var members: [ExplicitTensor] { ExplicitTensor.tensors(of: family) }

    /// The same weights with other element values (for example Float to Double).
    public func map<Other: AdditiveArithmetic & Sendable>(_ transform: (Scalar) -> Other) -> ExplicitWeights<Other> {
        try! ExplicitWeights<Other>(tensors.mapValues { Tensor(shape: $0.shape, scalars: $0.scalars.map(transform)) },
                                    family: family)  // same shapes
    }

    /// The same weights with some tensors replaced (shapes checked): how diagnoses build candidate mistakes.
    public func replacing(_ replacements: [ExplicitTensor: Tensor<Scalar>], family: CellFamily? = nil) throws(WeightsError)
        -> ExplicitWeights<Scalar> {
        var all = tensors
        for (tensor, value) in replacements { all[tensor] = value }
        let family = family ?? self.family
        all = all.filter { ExplicitTensor.tensors(of: family).contains($0.key) }
        return try ExplicitWeights(all, family: family)
    }
}

/// A cell's weights as one layout stores them, with both forms at hand: the stored tensors, the
/// explicit form split from them once, and the fused form (the stored tensors when the layout is fused,
/// else the explicit form fused into the family's default fused layout).
public struct CellWeights<Scalar: AdditiveArithmetic & Sendable>: Sendable {
    /// The layout the tensors were stored in.
    public let layout: LayoutTable
    /// The cell's family: the layout's, or the one given for a layout that cannot tell.
    public let family: CellFamily
    /// `I` and `H`.
    public let dimensions: CellDimensions
    /// The stored tensors by their relative names.
    public let stored: [String: Tensor<Scalar>]
    /// The explicit form.
    public let explicitForm: ExplicitWeights<Scalar>
    /// The fused layout and its tensors: `layout` and `stored` for a fused layout.
    public let fusedLayout: LayoutTable
    /// The fused tensors by relative name in `fusedLayout`.
    public let fusedTensors: [String: Tensor<Scalar>]

    /// The weights of a cell stored in `layout`; `family` is needed (and only allowed to agree) when the
    /// layout's tensors cannot tell it. Shapes are checked against the dimensions the basis implies.
    public init(layout: LayoutTable, tensors: [String: Tensor<Scalar>], family declared: CellFamily? = nil) throws(WeightsError) {
        if let declared, let own = layout.family, declared != own {
            throw WeightsError(description: "\(layout.name) is a \(own.rawValue) layout, not \(declared.rawValue)")
        }
        guard let family = layout.family ?? declared else {
            throw WeightsError(description: "\(layout.name) tensors do not tell whether the reset acts before or after "
                               + "the recurrent product; say which (--reset-after true|false)")
        }
        guard let basis = tensors[layout.basis], let d = layout.dimensions(fromBasis: basis.shape) else {
            throw WeightsError(description: "\(layout.basis) is missing or not a basis of \(layout.name)")
        }
        self.layout = layout
        self.family = family
        dimensions = d
        stored = tensors
        explicitForm = try layout.split(tensors, dimensions: d, family: family)
        if layout.isExplicit {
            fusedLayout = .defaultFused(family)
            fusedTensors = try fusedLayout.fuse(explicitForm)
        } else {
            fusedLayout = layout
            fusedTensors = tensors
        }
    }

    /// Explicit weights in the explicit layout of their family.
    public init(_ explicit: ExplicitWeights<Scalar>) {
        let layout = LayoutTable.explicit(explicit.family)
        try! self.init(layout: layout, tensors: try! layout.fuse(explicit))  // the explicit layout holds every tensor
    }

    /// True when the stored layout is a fused one.
    public var isFused: Bool { !layout.isExplicit }

    /// The same weights with other element values (for example Double to Float).
    public func map<Other: AdditiveArithmetic & Sendable>(_ transform: (Scalar) -> Other) -> CellWeights<Other> {
        try! CellWeights<Other>(layout: layout, tensors: stored.mapValues { Tensor(shape: $0.shape, scalars: $0.scalars.map(transform)) },
                                family: family)  // same shapes and family
    }
}
