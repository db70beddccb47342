import TensorStore

/// The activations a file records for a cell, where it records them: a Keras config's `activation` and
/// `recurrent_activation` (a `.keras` archive's cell scope), an ONNX node's `activations`. gru-convert
/// computes sigmoid gates and a tanh candidate only (every framework's default); a cell recorded with
/// anything else (Keras 2's `hard_sigmoid`, whose definition differs from Keras 3's) is never claimed
/// equivalent to anything, nor written where the activation would be lost without a word.
public enum CellActivations {
    /// A sentence naming the cell's recorded activations that are not sigmoid/tanh; nil when there are none
    /// (or the file records none).
    public static func unsupported(of cell: GRUCell, in file: any TensorSource) -> String? {
        var found: [String] = []
        // A Keras 2 full model's `model_config` (a root attribute) records its layers' settings.
        let configured = cell.layout.naming == "keras" ? kerasTwoLayer(of: cell, in: file) : nil
        let recurrent = (try? file.stringAttribute("recurrent_activation", of: cell.scope)) ?? configured?.recurrentActivation
        let candidate = (try? file.stringAttribute("activation", of: cell.scope)) ?? configured?.activation
        if let value = recurrent, value != "sigmoid" { found.append("recurrent_activation \(value)") }
        if let value = candidate, value != "tanh" { found.append("activation \(value)") }
        if let value = try? file.stringAttribute("activations", of: cell.scope),
           !["Sigmoid,Tanh", "Sigmoid,Tanh,Sigmoid,Tanh"].contains(value) {
            found.append("activations \(value)")
        }
        if let value = try? file.stringAttribute("clip", of: cell.scope) {
            found.append("clip \(value) (every gate's input clipped)")
        }
        guard !found.isEmpty else { return nil }
        let origin = configured != nil && (try? file.stringAttribute("activation", of: cell.scope)) == nil ? "its model_config" : "the file"
        return "\(origin) records \(found.joined(separator: " and ")), but gru-convert computes GRUs with sigmoid gates and a tanh "
            + "candidate only"
    }

    /// The Keras 2 layer of `cell` in the file's `model_config`, if it has one that names it.
    private static func kerasTwoLayer(of cell: GRUCell, in file: any TensorSource) -> KerasGRULayer? {
        guard let json = try? file.stringAttribute("model_config", of: ""),
              let config = try? KerasModelConfig(parsing: json, flavor: .keras2, file: file.path, object: "/@model_config") else { return nil }
        return config.layer(at: cell.scope)
    }
}
