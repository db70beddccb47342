extension LayoutTable {
    /// PyTorch's `nn.GRU` (one layer, one direction) and `nn.GRUCell`: `weight_ih [3H, I]`,
    /// `weight_hh [3H, H]`, `bias_ih [3H]`, `bias_hh [3H]`, the gates stacked as rows `r, z, n` (the
    /// explicit kernels are the transposes of their row blocks). Reset-after, PyTorch's only kind, with the
    /// input and recurrent biases apart. The names are relative to the cell; in a state dict they carry
    /// the layer's suffix (`weight_ih_l0_reverse`), which discovery reads.
    public static let torchGRU: LayoutTable = {
        var blocks: [ExplicitTensor: Block] = [:]
        for (row, gate) in [Gate.reset, .update, .candidate].enumerated() {
            blocks[ExplicitTensor(.inputKernel, gate)] = .transposed("weight_ih", gate: row)
            blocks[ExplicitTensor(.recurrentKernel, gate)] = .transposed("weight_hh", gate: row)
            blocks[ExplicitTensor(.inputBias, gate)] = Block("bias_ih", column: row)
            blocks[ExplicitTensor(.recurrentBias, gate)] = Block("bias_hh", column: row)
        }
        return LayoutTable(
            name: "torch-gru", naming: "torch", family: .resetAfter,
            tensors: [StoredTensor("weight_ih", [.units(3), .input]), StoredTensor("weight_hh", [.units(3), .units(1)]),
                      StoredTensor("bias_ih", [.units(3)]), StoredTensor("bias_hh", [.units(3)])],
            basis: "weight_ih", basisExpectation: "which is not [3H, I] with I, H >= 1",
            identifying: ["weight_hh"], identifyingByShape: true, blocks: blocks)
    }()

    /// PyTorch's `nn.GRU(bias=False)` and `nn.GRUCell(bias=False)`: `weight_ih` and `weight_hh` alone. Still
    /// reset-after (PyTorch has no other kind); the biases are zero.
    public static let torchGRUNoBias: LayoutTable = {
        var table = torchGRU
        table.name = "torch-gru-no-bias"
        table.tensors = table.tensors.filter { $0.name.hasPrefix("weight") }
        table.blocks = table.blocks.filter { $0.value.tensor.hasPrefix("weight") }
        return table
    }()
}
