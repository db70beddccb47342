extension LayoutTable {
    /// The Keras GRU layout that Keras 2 weight files, Keras 3 legacy HDF5 files and TensorFlow graphs with
    /// Keras layers hold under `<scope>/`: `kernel [I, 3H]` and `recurrent_kernel [H, 3H]`, columns `z, r, h`.
    /// The bias's shape gives the family: `[3H]` reset-before (`reset_after=False`), `[2, 3H]` reset-after
    /// (row 0 the input bias, row 1 the recurrent bias); without a bias the tensors cannot tell.
    private static func keras(_ name: String, family: CellFamily?, bias: [Extent]?) -> LayoutTable {
        var blocks: [ExplicitTensor: Block] = [:]
        for (column, gate) in [Gate.update, .reset, .candidate].enumerated() {
            blocks[ExplicitTensor(.inputKernel, gate)] = Block("kernel", rows: .all, column: column)
            blocks[ExplicitTensor(.recurrentKernel, gate)] = Block("recurrent_kernel", rows: .all, column: column)
            if bias?.count == 1 {
                blocks[ExplicitTensor(.inputBias, gate)] = Block("bias", column: column)
            } else if bias?.count == 2 {
                blocks[ExplicitTensor(.inputBias, gate)] = Block("bias", rows: .row(0), column: column)
                blocks[ExplicitTensor(.recurrentBias, gate)] = Block("bias", rows: .row(1), column: column)
            }
        }
        return LayoutTable(
            name: name, naming: "keras", family: family,
            tensors: [StoredTensor("kernel", [.input, .units(3)]), StoredTensor("recurrent_kernel", [.units(1), .units(3)])]
                + (bias.map { [StoredTensor("bias", $0)] } ?? []),
            basis: "kernel", basisExpectation: "which is not [I, 3H] with I, H >= 1",
            identifying: ["recurrent_kernel"], identifyingByShape: true, blocks: blocks)
    }

    /// Keras GRU with `reset_after=False`: `bias [3H]`.
    public static let kerasResetBefore = keras("keras-reset-before", family: .resetBefore, bias: [.units(3)])
    /// Keras GRU with `reset_after=True` (the default of TF2's and Keras 3's GRU): `bias [2, 3H]`.
    public static let kerasResetAfter = keras("keras-reset-after", family: .resetAfter, bias: [.constant(2), .units(3)])
    /// Keras GRU with `use_bias=False`: the family is not recorded in the tensors (`--reset-after` decides).
    public static let kerasNoBias = keras("keras-no-bias", family: nil, bias: nil)

    /// Keras 3's own weights files (`.weights.h5`, and `model.weights.h5` inside a `.keras` archive) store a
    /// GRU's variables by position under its cell, `layers/<key>/cell/vars/0` (kernel), `vars/1`
    /// (recurrent_kernel), `vars/2` (bias): the same tensors as `keras-reset-*`, under these names.
    private static func keras3(_ table: LayoutTable, _ name: String) -> LayoutTable {
        table.renamed(name, naming: "keras3", ["kernel": "vars/0", "recurrent_kernel": "vars/1", "bias": "vars/2"])
    }

    /// Keras 3 `.weights.h5`, `reset_after=False`: `vars/2` is `[3H]`.
    public static let keras3ResetBefore = keras3(kerasResetBefore, "keras3-reset-before")
    /// Keras 3 `.weights.h5`, `reset_after=True` (Keras 3's default): `vars/2` is `[2, 3H]`.
    public static let keras3ResetAfter = keras3(kerasResetAfter, "keras3-reset-after")
    /// Keras 3 `.weights.h5`, `use_bias=False`: no `vars/2`, and no family in the tensors.
    public static let keras3NoBias = keras3(kerasNoBias, "keras3-no-bias")
}
