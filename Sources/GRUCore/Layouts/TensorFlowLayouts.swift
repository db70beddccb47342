extension LayoutTable {
    /// TensorFlow >= 1.2 `GRUCell` (and `GRUBlockCellV2`), reset-before: `gates/kernel [I+H, 2H]` (rows `x`
    /// then `h`, columns `r` then `u`), `gates/bias [2H]`, `candidate/kernel [I+H, H]`, `candidate/bias [H]`.
    public static let tfGRUCell = LayoutTable(
        name: "tf-gru-cell", naming: "tf-gru-cell", family: .resetBefore,
        tensors: [
            StoredTensor("gates/kernel", [.inputPlusUnits, .units(2)]),
            StoredTensor("gates/bias", [.units(2)]),
            StoredTensor("candidate/kernel", [.inputPlusUnits, .units(1)]),
            StoredTensor("candidate/bias", [.units(1)]),
        ],
        basis: "candidate/kernel", basisExpectation: "which leaves no rows for the input (a kernel is [I+H, H])",
        blocks: [
            .Wr: Block("gates/kernel", rows: .input, column: 0),
            .Wz: Block("gates/kernel", rows: .input, column: 1),
            .Ur: Block("gates/kernel", rows: .state, column: 0),
            .Uz: Block("gates/kernel", rows: .state, column: 1),
            .br: Block("gates/bias", column: 0),
            .bz: Block("gates/bias", column: 1),
            .Wh: Block("candidate/kernel", rows: .input),
            .Uh: Block("candidate/kernel", rows: .state),
            .bh: Block("candidate/bias"),
        ])

    /// TensorFlow 1.0–1.1 `GRUCell`: the same tensors named `gates/weights`, `gates/biases`,
    /// `candidate/weights`, `candidate/biases`.
    public static let tfGRUCell10 = tfGRUCell.renamed("tf-gru-cell-1.0", naming: "tf-gru-cell-1.0", [
        "gates/kernel": "gates/weights", "gates/bias": "gates/biases",
        "candidate/kernel": "candidate/weights", "candidate/bias": "candidate/biases",
    ])

    /// TensorFlow <= 0.12 `GRUCell`: `Gates/Linear/Matrix`, `Gates/Linear/Bias`, `Candidate/Linear/Matrix`,
    /// `Candidate/Linear/Bias`.
    public static let tfLegacyGRUCell = tfGRUCell.renamed("tf-legacy-gru-cell", naming: "tf-legacy-gru-cell", [
        "gates/kernel": "Gates/Linear/Matrix", "gates/bias": "Gates/Linear/Bias",
        "candidate/kernel": "Candidate/Linear/Matrix", "candidate/bias": "Candidate/Linear/Bias",
    ])

    /// tf.contrib `GRUBlockCell`: `w_ru`, `b_ru`, `w_c`, `b_c`, laid out as `GRUCell`'s tensors.
    public static let tfGRUBlockCell = tfGRUCell.renamed("tf-gru-block-cell", naming: "tf-gru-block-cell", [
        "gates/kernel": "w_ru", "gates/bias": "b_ru", "candidate/kernel": "w_c", "candidate/bias": "b_c",
    ])
}
