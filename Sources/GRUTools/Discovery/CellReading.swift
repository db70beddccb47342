import GRUCore
import TensorStore

extension TensorSource {
    /// Reads a cell's tensors into `Scalar` (float16 and float32 widen exactly to either type; float64
    /// read as `Float` rounds to nearest), in the cell's own layout. `family` is needed for a cell whose
    /// tensors cannot tell it (a Keras cell without a bias) and must agree with any other cell's.
    public func weights<Scalar: StoredFloat>(of cell: GRUCell, as: Scalar.Type = Scalar.self,
                                             family: CellFamily? = nil) throws -> CellWeights<Scalar> {
        var tensors: [String: Tensor<Scalar>] = [:]
        for (tensor, stored) in cell.tensors {
            tensors[tensor] = try read(stored, as: Scalar.self)
        }
        do {
            return try CellWeights(layout: cell.layout, tensors: tensors, family: cell.family == nil ? family : nil)
        } catch {
            // Discovery checked the shapes, so this means the file changed under us, or no family was given.
            let code: StoreError.Code = cell.family == nil && family == nil ? .invalidRequest : .damaged
            throw StoreError(code, file: path, object: cell.scope.isEmpty ? "/" : cell.scope,
                             reason: code == .damaged ? "not a consistent GRU cell: \(error)" : "\(error)")
        }
    }
}

/// One cell's reference run, as the fixtures store it: `<scope>/inputs [B, T, I]`,
/// `<scope>/initial_state [B, H]` and `<scope>/outputs [B, T, H]`.
public struct ReferenceRun: Sendable {
    /// The scope of the cell that made it.
    public var scope: String
    /// `[B, T, I]`.
    public var inputs: Tensor<Double>
    /// `[B, H]`.
    public var initialState: Tensor<Double>
    /// The state after every step, `[B, T, H]`.
    public var outputs: Tensor<Double>

    /// A run of the cell at `scope` (the shapes are checked where runs are read from a file).
    public init(scope: String, inputs: Tensor<Double>, initialState: Tensor<Double>, outputs: Tensor<Double>) {
        (self.scope, self.inputs, self.initialState, self.outputs) = (scope, inputs, initialState, outputs)
    }
}

extension TensorSource {
    /// Every reference run in the file, by scope, in name order; each group must hold all three datasets
    /// with shapes that agree.
    public func referenceRuns() throws -> [ReferenceRun] {
        let names = Set(try variables().map(\.name))
        let scopes = names.compactMap { name -> String? in
            guard name.hasSuffix("/outputs") || name == "outputs" else { return nil }
            return name == "outputs" ? "" : String(name.dropLast("/outputs".count))
        }.sorted()
        return try scopes.map { scope in
            let prefix = scope.isEmpty ? "" : scope + "/"
            for part in ["inputs", "initial_state"] where !names.contains(prefix + part) {
                throw StoreError(.invalidRequest, file: path, object: prefix + part,
                                      reason: "missing: a reference run needs inputs, initial_state and outputs")
            }
            let run = ReferenceRun(scope: scope, inputs: try read(prefix + "inputs"),
                                   initialState: try read(prefix + "initial_state"), outputs: try read(prefix + "outputs"))
            let (i, s, o) = (run.inputs.shape, run.initialState.shape, run.outputs.shape)
            guard i.count == 3, s.count == 2, o.count == 3, i[0] == s[0], o[0] == i[0], o[1] == i[1], o[2] == s[1] else {
                throw StoreError(.invalidRequest, file: path, object: scope.isEmpty ? "/" : scope,
                                      reason: "reference shapes disagree: inputs \(format(i)), initial_state \(format(s)), "
                                          + "outputs \(format(o)) (expected [B, T, I], [B, H], [B, T, H])")
            }
            return run
        }
    }
}
