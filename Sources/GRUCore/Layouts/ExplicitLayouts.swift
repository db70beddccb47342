extension LayoutTable {
    /// The explicit form this project writes: one tensor per gate and role under the cell's scope, named
    /// as `ExplicitTensor` (`Wr [I, H]`, `Ur [H, H]`, `br [H]`, ...); reset-after cells add `bUr bUz bUh`.
    private static func explicit(_ name: String, family: CellFamily) -> LayoutTable {
        let members = ExplicitTensor.tensors(of: family)
        return LayoutTable(
            name: name, naming: "explicit", family: family,
            tensors: members.map { tensor in
                switch tensor.role {
                case .inputKernel: StoredTensor(tensor.rawValue, [.input, .units(1)])
                case .recurrentKernel: StoredTensor(tensor.rawValue, [.units(1), .units(1)])
                case .inputBias, .recurrentBias: StoredTensor(tensor.rawValue, [.units(1)])
                }
            },
            basis: "Wh", basisExpectation: "which has no rows or no columns",
            blocks: Dictionary(uniqueKeysWithValues: members.map { tensor in
                (tensor, Block(tensor.rawValue, rows: tensor.role == .inputKernel || tensor.role == .recurrentKernel ? .all : nil))
            }))
    }

    /// The explicit form of a reset-before cell: `Wr Wz Wh Ur Uz Uh br bz bh`.
    public static let explicitResetBefore = explicit("explicit", family: .resetBefore)
    /// The explicit form of a reset-after cell: `Wr Wz Wh Ur Uz Uh br bz bh bUr bUz bUh`.
    public static let explicitResetAfter = explicit("explicit-reset-after", family: .resetAfter)
}

extension LayoutTable {
    /// Every layout this package knows, in the order discovery tries them.
    public static let all: [LayoutTable] = [
        .tfGRUCell, .tfGRUCell10, .tfLegacyGRUCell, .tfGRUBlockCell, .explicitResetBefore, .explicitResetAfter,
        .kerasResetBefore, .kerasResetAfter, .kerasNoBias, .keras3ResetBefore, .keras3ResetAfter, .keras3NoBias, .torchGRU, .torchGRUNoBias,
        .onnxResetAfter, .onnxResetBefore, .onnxNoBiasResetAfter, .onnxNoBiasResetBefore,
    ]

    /// The layout named `name` (`tf-gru-cell`, `keras-reset-after`, ...).
    public static func named(_ name: String) -> LayoutTable? { all.first { $0.name == name } }

    /// The explicit layout of `family`.
    public static func explicit(_ family: CellFamily) -> LayoutTable {
        family == .resetBefore ? .explicitResetBefore : .explicitResetAfter
    }

    /// The fused layout a cell of `family` is fused into by default: TensorFlow's `GRUCell` for
    /// reset-before, Keras's `reset_after=True` layout for reset-after.
    public static func defaultFused(_ family: CellFamily) -> LayoutTable {
        family == .resetBefore ? .tfGRUCell : .kerasResetAfter
    }
}
