/// A size along one axis of a stored tensor, as a function of the cell's sizes: `a·I + b·H + c`.
public struct Extent: Hashable, Sendable {
    /// `a`, the multiple of the input size.
    public var inputs: Int
    /// `b`, the multiple of the number of units.
    public var units: Int
    /// `c`, a constant.
    public var constant: Int

    /// `I`.
    public static let input = Extent(inputs: 1, units: 0, constant: 0)
    /// `I + H`: the rows of a kernel that multiplies `[x, h]`.
    public static let inputPlusUnits = Extent(inputs: 1, units: 1, constant: 0)
    /// `n·H`.
    public static func units(_ n: Int) -> Extent { Extent(inputs: 0, units: n, constant: 0) }
    /// A fixed size (the 2 rows of a Keras `[2, 3H]` bias).
    public static func constant(_ n: Int) -> Extent { Extent(inputs: 0, units: 0, constant: n) }

    /// The size in a cell of dimensions `d`.
    public func value(_ d: CellDimensions) -> Int { inputs * d.inputSize + units * d.units + constant }
}

/// The rows of a stored tensor that one block takes.
public enum RowSpan: Hashable, Sendable {
    /// Every row.
    case all
    /// Rows `0..<I`: the input rows of a kernel that multiplies `[x, h]`.
    case input
    /// Rows `I..<I+H`: its state rows.
    case state
    /// The single row `n` (a bias row of a `[2, 3H]` bias).
    case row(Int)

    /// The row range in a tensor of `rows` rows of a cell of dimensions `d`.
    public func range(_ d: CellDimensions, rows: Int) -> Range<Int> {
        switch self {
        case .all: 0..<rows
        case .input: 0..<d.inputSize
        case .state: d.inputSize..<(d.inputSize + d.units)
        case .row(let n): n..<(n + 1)
        }
    }
}

/// One stored tensor of a layout: its name relative to the cell's scope and its shape.
public struct StoredTensor: Hashable, Sendable {
    /// The name under the cell's scope (`gates/kernel`, `recurrent_kernel`, `Wr`).
    public var name: String
    /// The shape, as sizes of the cell.
    public var shape: [Extent]

    /// A stored tensor named `name` of shape `shape`.
    public init(_ name: String, _ shape: [Extent]) {
        self.name = name
        self.shape = shape
    }

    /// The concrete shape in a cell of dimensions `d`.
    public func shape(_ d: CellDimensions) -> [Int] { shape.map { $0.value(d) } }
}

/// Where one explicit tensor lies in a stored tensor: the stored tensor, the rows (nil when the stored
/// tensor is rank 1) and the `H` columns of gate block `column` (`column·H ..< (column+1)·H`). A
/// transposed block (PyTorch's and ONNX's `[3H, I]` kernels, gates stacked as rows) is the `H` rows of gate
/// block `column`, every column, and the explicit tensor is its transpose.
public struct Block: Hashable, Sendable {
    /// The stored tensor's relative name.
    public var tensor: String
    /// The rows taken; nil when the stored tensor is a vector, or the block is transposed.
    public var rows: RowSpan?
    /// Which block of `H` columns (of `H` rows, when transposed): 0 for the first gate in the stored order.
    public var column: Int
    /// True when the gate's block is rows of the stored tensor and the explicit tensor its transpose.
    public var transposed: Bool

    /// The block of `tensor` at `rows` and gate column `column`.
    public init(_ tensor: String, rows: RowSpan? = nil, column: Int = 0) {
        self.tensor = tensor
        self.rows = rows
        self.column = column
        transposed = false
    }

    /// The transposed block of `tensor` at gate row block `gate`: rows `gate·H ..< (gate+1)·H`, every column.
    public static func transposed(_ tensor: String, gate: Int) -> Block {
        var block = Block(tensor, column: gate)
        block.transposed = true
        return block
    }
}

/// A block resolved for one cell's sizes: concrete row and column ranges of a stored tensor.
public struct BlockRange: Hashable, Sendable {
    /// The stored tensor's relative name.
    public var tensor: String
    /// The rows; nil when the stored tensor is a vector.
    public var rows: Range<Int>?
    /// The columns (the elements, for a vector).
    public var columns: Range<Int>
    /// True when the explicit tensor is the transpose of these rows and columns.
    public var transposed: Bool

    /// The block of `tensor` at `rows` and `columns`, the explicit tensor's transpose when `transposed`.
    public init(tensor: String, rows: Range<Int>?, columns: Range<Int>, transposed: Bool = false) {
        self.tensor = tensor
        self.rows = rows
        self.columns = columns
        self.transposed = transposed
    }
}

/// One framework's layout of a GRU cell, declared as data: the tensors it stores under a cell's scope,
/// and where each explicit per-gate tensor lies in them. Splitting, fusing, discovery and diagnosis all
/// read these tables; no other code knows an offset. The tables themselves are in
/// `TensorFlowLayouts.swift`, `KerasLayouts.swift` and `ExplicitLayouts.swift`.
public struct LayoutTable: Hashable, Sendable, CustomStringConvertible {
    /// The layout's name in reports and options (`tf-gru-cell`, `keras-reset-after`, `explicit`).
    public var name: String
    /// Layouts whose tensors have the same names share a naming (`keras`, `explicit`); a cell's tensors
    /// are matched against one naming, then its shapes pick the table.
    public var naming: String
    /// The family the tensors imply; nil when they cannot tell (a Keras cell without a bias).
    public var family: CellFamily?
    /// The tensors stored under the cell's scope, in the order reports list them.
    public var tensors: [StoredTensor]
    /// The tensor whose shape fixes `I` and `H`.
    public var basis: String
    /// What the basis must look like, for the message when it does not (`a kernel is [I+H, H]`).
    public var basisExpectation: String
    /// Names of which at least one must be present for a group of variables to be taken for this layout
    /// (`recurrent_kernel` for Keras, whose `kernel` and `bias` every dense layer has too).
    public var identifying: Set<String>
    /// When true, an identifying tensor counts only if its own shape fits the layout for some sizes:
    /// Keras's `recurrent_kernel` must be `[H, 3H]`, so an LSTM's (`[H, 4H]`) or a SimpleRNN's (`[H, H]`)
    /// beside a GRU is not taken for a broken GRU cell.
    public var identifyingByShape: Bool
    /// Where each explicit tensor lies; a tensor with no block (a bias of a cell without biases) is zero.
    public var blocks: [ExplicitTensor: Block]
    /// Further places whose values add to an explicit tensor: ONNX's `Rb` of a reset-before GRU, which the
    /// cell adds to `Wb` (`linear_before_reset=0`). `split` adds them (exact when they are zero, the usual
    /// case; one rounding per element otherwise); `fuse` writes zeros there.
    public var addedBlocks: [ExplicitTensor: Block] = [:]

    /// A layout table; see the properties.
    public init(name: String, naming: String, family: CellFamily?, tensors: [StoredTensor], basis: String,
                basisExpectation: String, identifying: Set<String>? = nil, identifyingByShape: Bool = false,
                blocks: [ExplicitTensor: Block]) {
        (self.name, self.naming, self.family, self.tensors) = (name, naming, family, tensors)
        (self.basis, self.basisExpectation, self.blocks) = (basis, basisExpectation, blocks)
        self.identifying = identifying ?? Set(tensors.map(\.name))
        self.identifyingByShape = identifyingByShape
    }

    /// The layout's name.
    public var description: String { name }

    /// The framework that stores cells this way, for reports: `TensorFlow 1`, `Keras`, `Keras 3`, `PyTorch`,
    /// `ONNX`, or `explicit` (this project's per-gate form). `Keras` is Keras 2's (tf-keras) layout, which
    /// Keras layers in TensorFlow graphs and checkpoints share.
    public var framework: String {
        switch naming {
        case "explicit": "explicit"
        case "keras": "Keras"
        case "keras3": "Keras 3"
        case "torch": "PyTorch"
        case "onnx": "ONNX"
        default: "TensorFlow 1"
        }
    }

    /// True for the explicit layouts, where every stored tensor is one explicit tensor.
    public var isExplicit: Bool { naming == "explicit" }

    /// The relative names of the stored tensors, in order.
    public var tensorNames: [String] { tensors.map(\.name) }

    /// The stored tensor named `name`, if the layout has one.
    public func tensor(named name: String) -> StoredTensor? { tensors.first { $0.name == name } }

    /// The same table with its tensors renamed (`old: new`): a layout's other name generations.
    public func renamed(_ name: String, naming: String, _ names: KeyValuePairs<String, String>) -> LayoutTable {
        let map = Dictionary(uniqueKeysWithValues: names.map { ($0.key, $0.value) })
        var table = self
        table.name = name
        table.naming = naming
        table.tensors = tensors.map { StoredTensor(map[$0.name] ?? $0.name, $0.shape) }
        table.basis = map[basis] ?? basis
        table.identifying = Set(identifying.map { map[$0] ?? $0 })
        table.blocks = blocks.mapValues { block in
            var renamed = block
            renamed.tensor = map[block.tensor] ?? block.tensor
            return renamed
        }
        return table
    }

    /// Whether a variable of `shape` named `name` can be this layout's tensor of that name for some sizes
    /// `I, H >= 1`: its rank, and every extent a whole multiple that agrees on `H` (and leaves `I >= 1`).
    public func fits(_ name: String, shape: [Int]) -> Bool {
        guard let tensor = tensor(named: name), tensor.shape.count == shape.count else { return false }
        let pairs = zip(tensor.shape, shape)
        guard let (unitsOnly, value) = pairs.first(where: { $0.0.inputs == 0 && $0.0.units > 0 }) else { return true }  // H not fixed by this tensor
        guard (value - unitsOnly.constant) % unitsOnly.units == 0 else { return false }  // no whole H: an LSTM's [4H, H]
        let h = (value - unitsOnly.constant) / unitsOnly.units
        guard h >= 1 else { return false }
        return pairs.allSatisfy { extent, value in
            let rest = value - extent.units * h - extent.constant
            return extent.inputs == 0 ? rest == 0 : rest >= extent.inputs && rest % extent.inputs == 0
        }
    }

    /// True when `other` stores the same tensors in the same places under other names (TensorFlow's name
    /// generations): converting between them is renaming, tensor for tensor.
    public func isRenaming(of other: LayoutTable) -> Bool {
        guard tensors.count == other.tensors.count, family == other.family, addedBlocks.isEmpty, other.addedBlocks.isEmpty,
              zip(tensors, other.tensors).allSatisfy({ $0.shape == $1.shape }) else { return false }
        let index = Dictionary(uniqueKeysWithValues: tensorNames.enumerated().map { ($1, $0) })
        let otherIndex = Dictionary(uniqueKeysWithValues: other.tensorNames.enumerated().map { ($1, $0) })
        return ExplicitTensor.allCases.allSatisfy { tensor in
            switch (blocks[tensor], other.blocks[tensor]) {
            case (nil, nil): true
            case (let a?, let b?): index[a.tensor] == otherIndex[b.tensor] && a.rows == b.rows && a.column == b.column
                && a.transposed == b.transposed
            default: false
            }
        }
    }

    /// `I` and `H` from the shape of the basis tensor, when it has the basis's rank and solves to whole
    /// sizes of at least 1 (negative or fractional sizes give nil).
    public func dimensions(fromBasis shape: [Int]) -> CellDimensions? {
        guard let basisTensor = tensor(named: basis), basisTensor.shape.count == shape.count, shape.count == 2 else {
            return nil
        }
        let (e0, e1) = (basisTensor.shape[0], basisTensor.shape[1])
        let determinant = e0.inputs * e1.units - e1.inputs * e0.units
        guard determinant != 0 else { return nil }
        let (v0, v1) = (shape[0] - e0.constant, shape[1] - e1.constant)
        let inputNumerator = v0 * e1.units - v1 * e0.units
        let unitsNumerator = e0.inputs * v1 - e1.inputs * v0
        guard inputNumerator % determinant == 0, unitsNumerator % determinant == 0 else { return nil }
        let d = CellDimensions(inputSize: inputNumerator / determinant, units: unitsNumerator / determinant)
        return d.inputSize >= 1 && d.units >= 1 ? d : nil
    }

    /// The concrete place of `tensor`'s block in a cell of dimensions `d`; nil when the layout has no block
    /// for it (a bias of a cell without biases, a recurrent bias of a reset-before cell).
    public func range(of tensor: ExplicitTensor, _ d: CellDimensions) -> BlockRange? {
        blocks[tensor].flatMap { range(of: $0, d) }
    }

    /// The concrete place of `tensor`'s added block (`addedBlocks`) in a cell of dimensions `d`, if any.
    public func addedRange(of tensor: ExplicitTensor, _ d: CellDimensions) -> BlockRange? {
        addedBlocks[tensor].flatMap { range(of: $0, d) }
    }

    /// The concrete place of `block` in a cell of dimensions `d`.
    private func range(of block: Block, _ d: CellDimensions) -> BlockRange? {
        guard let stored = self.tensor(named: block.tensor) else { return nil }
        let shape = stored.shape(d)
        let width = d.units
        let gate = (block.column * width)..<((block.column + 1) * width)
        if block.transposed { return BlockRange(tensor: block.tensor, rows: gate, columns: 0..<shape[1], transposed: true) }
        return BlockRange(tensor: block.tensor, rows: block.rows?.range(d, rows: shape[0]), columns: gate)
    }

    /// The explicit tensors that lie in stored tensor `name`, in the order they are stored: by rows, then
    /// by columns (Keras's `kernel` holds `Wz`, `Wr`, `Wh`; TensorFlow's `gates/kernel` `Wr`, `Wz`, `Ur`, `Uz`).
    public func pieces(of name: String) -> [ExplicitTensor] {
        func row(_ span: RowSpan?) -> Int {
            switch span {
            case .none, .all, .input: 0
            case .state: 1
            case .row(let n): n
            }
        }
        return ExplicitTensor.allCases.filter { blocks[$0]?.tensor == name }
            .sorted { (row(blocks[$0]!.rows), blocks[$0]!.column) < (row(blocks[$1]!.rows), blocks[$1]!.column) }
    }

    /// The explicit form of stored tensors laid out by this table: each block copied out. Exact. Tensors
    /// with no block are zero. The tensors must have this layout's shapes for `d` (checked).
    public func split<Scalar: AdditiveArithmetic & Sendable>(_ stored: [String: Tensor<Scalar>], dimensions d: CellDimensions,
                                        family: CellFamily) throws(WeightsError) -> ExplicitWeights<Scalar> {
        try checkShapes(stored, d)
        var result: [ExplicitTensor: Tensor<Scalar>] = [:]
        for tensor in ExplicitTensor.tensors(of: family) {
            let shape = tensor.shape(d)
            guard let place = range(of: tensor, d), let source = stored[place.tensor] else {
                result[tensor] = Tensor(shape: shape, scalars: Array(repeating: Scalar.zero, count: shape.reduce(1, *)))
                continue
            }
            var scalars = Self.copy(place, of: source, count: shape.reduce(1, *))
            // An added block's values add in; a zero (of either sign) leaves the bits as they are.
            if let added = addedRange(of: tensor, d), let addedSource = stored[added.tensor] {
                for (index, value) in Self.copy(added, of: addedSource, count: scalars.count).enumerated() where value != .zero {
                    scalars[index] += value
                }
            }
            result[tensor] = Tensor(shape: shape, scalars: scalars)
        }
        return try ExplicitWeights(result, family: family)
    }

    /// The elements of `place` in `source`, in the explicit tensor's order (a transposed block transposed back).
    private static func copy<Scalar>(_ place: BlockRange, of source: Tensor<Scalar>, count: Int) -> [Scalar] {
        let width = source.shape.last!
        var scalars: [Scalar] = []
        scalars.reserveCapacity(count)
        if place.transposed, let rows = place.rows {
            // Explicit row i is stored column i of the gate's rows.
            for column in place.columns {
                for row in rows { scalars.append(source.scalars[row * width + column]) }
            }
        } else {
            for row in place.rows ?? 0..<1 {
                scalars.append(contentsOf: source.scalars[(row * width + place.columns.lowerBound)..<(row * width + place.columns.upperBound)])
            }
        }
        return scalars
    }

    /// The stored tensors of this layout holding `explicit`'s values, each block copied in. Exact; `split`
    /// of the result gives `explicit` back. Refuses weights whose family this layout cannot hold, and
    /// non-zero values where the layout has no block.
    public func fuse<Scalar: AdditiveArithmetic & Sendable>(_ explicit: ExplicitWeights<Scalar>) throws(WeightsError)
        -> [String: Tensor<Scalar>] {
        let d = explicit.dimensions
        if let family, family != explicit.family {
            throw WeightsError(description: "a \(explicit.family.rawValue) cell cannot be laid out as \(name) (\(family.rawValue))")
        }
        var result: [String: [Scalar]] = [:]
        for stored in tensors { result[stored.name] = Array(repeating: Scalar.zero, count: stored.shape(d).reduce(1, *)) }
        for tensor in ExplicitTensor.tensors(of: explicit.family) {
            guard let place = range(of: tensor, d), let stored = self.tensor(named: place.tensor) else {
                guard explicit[tensor].scalars.allSatisfy({ $0 == Scalar.zero }) else {
                    throw WeightsError(description: "\(name) has no place for \(tensor), which is not zero")
                }
                continue
            }
            let width = stored.shape(d).last!
            let values = explicit[tensor].scalars
            if place.transposed, let rows = place.rows {
                for (i, column) in place.columns.enumerated() {
                    for (j, row) in rows.enumerated() { result[place.tensor]![row * width + column] = values[i * rows.count + j] }
                }
                continue
            }
            let count = place.columns.count
            for (r, row) in (place.rows ?? 0..<1).enumerated() {
                result[place.tensor]!.replaceSubrange((row * width + place.columns.lowerBound)..<(row * width + place.columns.upperBound),
                                                      with: values[(r * count)..<((r + 1) * count)])
            }
        }
        return Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, Tensor(shape: $0.shape(d), scalars: result[$0.name]!)) })
    }

    /// Every stored tensor present, with this layout's shape for `d`.
    public func checkShapes<Scalar>(_ stored: [String: Tensor<Scalar>], _ d: CellDimensions) throws(WeightsError) {
        for tensor in tensors {
            guard let value = stored[tensor.name] else { throw WeightsError(description: "missing \(tensor.name)") }
            guard value.shape == tensor.shape(d) else {
                throw WeightsError(description: "\(tensor.name) is \(format(value.shape)), expected \(format(tensor.shape(d)))")
            }
        }
    }
}
