extension LayoutTable {
    /// One direction of an ONNX `GRU` node: `W [3H, I]`, `R [3H, H]`, `B [6H]`, the gates stacked as rows
    /// `z, r, h` (the explicit kernels are the transposes of their row blocks), `B = [Wb_z Wb_r Wb_h Rb_z
    /// Rb_r Rb_h]`. The model stores `W [D, 3H, I]` for `D` directions; its reader gives each direction
    /// its own scope (`node/forward/W`), so the table is per direction. The family is the node's
    /// `linear_before_reset` attribute, not a shape: discovery reads it.
    private static func onnx(_ name: String, family: CellFamily) -> LayoutTable {
        var blocks: [ExplicitTensor: Block] = [:], added: [ExplicitTensor: Block] = [:]
        for (row, gate) in [Gate.update, .reset, .candidate].enumerated() {
            blocks[ExplicitTensor(.inputKernel, gate)] = .transposed("W", gate: row)
            blocks[ExplicitTensor(.recurrentKernel, gate)] = .transposed("R", gate: row)
            blocks[ExplicitTensor(.inputBias, gate)] = Block("B", column: row)
            // Reset-before (`linear_before_reset=0`) adds Rb to Wb for every gate: one bias per gate.
            if family == .resetAfter {
                blocks[ExplicitTensor(.recurrentBias, gate)] = Block("B", column: 3 + row)
            } else {
                added[ExplicitTensor(.inputBias, gate)] = Block("B", column: 3 + row)
            }
        }
        var table = LayoutTable(
            name: name, naming: "onnx", family: family,
            tensors: [StoredTensor("W", [.units(3), .input]), StoredTensor("R", [.units(3), .units(1)]), StoredTensor("B", [.units(6)])],
            basis: "W", basisExpectation: "which is not [3H, I] with I, H >= 1",
            identifying: ["R"], identifyingByShape: true, blocks: blocks)
        table.addedBlocks = added
        return table
    }

    /// ONNX `GRU` with `linear_before_reset=1` (what PyTorch's exporter writes): reset-after, `Rb` the
    /// recurrent bias.
    public static let onnxResetAfter = onnx("onnx-reset-after", family: .resetAfter)
    /// ONNX `GRU` with `linear_before_reset=0` (the attribute's default): reset-before; the cell's bias is
    /// `Wb + Rb` (written as `Wb`, with `Rb` zero).
    public static let onnxResetBefore = onnx("onnx-reset-before", family: .resetBefore)
    /// An ONNX `GRU` without `B`: biases zero; its family is still the node's attribute.
    public static let onnxNoBiasResetAfter: LayoutTable = withoutBias(onnxResetAfter, "onnx-no-bias-reset-after")
    /// An ONNX `GRU` without `B`, `linear_before_reset=0`.
    public static let onnxNoBiasResetBefore: LayoutTable = withoutBias(onnxResetBefore, "onnx-no-bias-reset-before")

    private static func withoutBias(_ table: LayoutTable, _ name: String) -> LayoutTable {
        var result = table
        result.name = name
        result.tensors = table.tensors.filter { $0.name != "B" }
        result.blocks = table.blocks.filter { $0.value.tensor != "B" }
        result.addedBlocks = [:]
        return result
    }

    /// The ONNX table of `family`, with or without `B`.
    public static func onnx(_ family: CellFamily, bias: Bool) -> LayoutTable {
        switch (family, bias) {
        case (.resetAfter, true): .onnxResetAfter
        case (.resetBefore, true): .onnxResetBefore
        case (.resetAfter, false): .onnxNoBiasResetAfter
        case (.resetBefore, false): .onnxNoBiasResetBefore
        }
    }
}
