import GRUCore
import TensorStore

/// How a GRU cell's tensors are named and laid out in a checkpoint (GRU_LAYOUTS.md §1 and §2).
public enum CellLayout: String, CaseIterable, Hashable, Sendable {
    /// TF >= 1.2 `GRUCell` (and `GRUBlockCellV2`): `gates/kernel`, `gates/bias`, `candidate/kernel`, `candidate/bias`.
    case tfGRUCell = "tf-gru-cell"
    /// TF 1.0–1.1 `GRUCell`: `gates/weights`, `gates/biases`, `candidate/weights`, `candidate/biases`.
    case tfGRUCell10 = "tf-gru-cell-1.0"
    /// TF <= 0.12 `GRUCell`: `Gates/Linear/Matrix`, `Gates/Linear/Bias`, `Candidate/Linear/Matrix`, `Candidate/Linear/Bias`.
    case tfLegacyGRUCell = "tf-legacy-gru-cell"
    /// tf.contrib `GRUBlockCell`: `w_ru`, `b_ru`, `w_c`, `b_c`.
    case tfGRUBlockCell = "tf-gru-block-cell"
    /// The per-gate form this project writes: `Wr Wz Wh Ur Uz Uh br bz bh`.
    case explicit

    /// The variable name, relative to the cell's scope, of each tensor in this layout.
    public var names: KeyValuePairs<CellTensor, String> {
        switch self {
        case .tfGRUCell:
            [.fused(.gateKernel): "gates/kernel", .fused(.gateBias): "gates/bias",
             .fused(.candidateKernel): "candidate/kernel", .fused(.candidateBias): "candidate/bias"]
        case .tfGRUCell10:
            [.fused(.gateKernel): "gates/weights", .fused(.gateBias): "gates/biases",
             .fused(.candidateKernel): "candidate/weights", .fused(.candidateBias): "candidate/biases"]
        case .tfLegacyGRUCell:
            [.fused(.gateKernel): "Gates/Linear/Matrix", .fused(.gateBias): "Gates/Linear/Bias",
             .fused(.candidateKernel): "Candidate/Linear/Matrix", .fused(.candidateBias): "Candidate/Linear/Bias"]
        case .tfGRUBlockCell:
            [.fused(.gateKernel): "w_ru", .fused(.gateBias): "b_ru",
             .fused(.candidateKernel): "w_c", .fused(.candidateBias): "b_c"]
        case .explicit:
            [.explicit(.Wr): "Wr", .explicit(.Wz): "Wz", .explicit(.Wh): "Wh",
             .explicit(.Ur): "Ur", .explicit(.Uz): "Uz", .explicit(.Uh): "Uh",
             .explicit(.br): "br", .explicit(.bz): "bz", .explicit(.bh): "bh"]
        }
    }

    /// The relative name of `tensor` in this layout, if the layout has that tensor.
    public func name(of tensor: CellTensor) -> String? {
        names.first { $0.key == tensor }?.value
    }

    /// Whether the cell's tensors are the fused ones (`Kg bg Kc bc`) rather than the explicit ones.
    public var isFused: Bool { self != .explicit }

    /// The dimensions implied by the tensors that fix them, given the shapes found (by tensor);
    /// the tensors named in `basis` are those the dimensions were read from, for messages.
    ///
    /// Fused: `H` is the column count of `Kc` and `I` its row count minus `H`.
    /// Explicit: `I` and `H` are the row and column counts of `Wh`.
    func dimensions(from shapes: [CellTensor: [Int]]) -> (CellDimensions, basis: CellTensor)? {
        let basis: CellTensor = isFused ? .fused(.candidateKernel) : .explicit(.Wh)
        guard let shape = shapes[basis], shape.count == 2 else { return nil }
        let dimensions = isFused
            ? CellDimensions(inputSize: shape[0] - shape[1], units: shape[1])
            : CellDimensions(inputSize: shape[0], units: shape[1])
        return (dimensions, basis)
    }
}
