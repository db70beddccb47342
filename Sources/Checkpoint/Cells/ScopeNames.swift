/// TensorFlow's standard scope names, old and new, so that a legacy checkpoint's cells pair with (and can
/// be renamed to) the names TF >= 1.2 creates: `RNN/MultiRNNCell/Cell0/GRUCell` is
/// `rnn/multi_rnn_cell/cell_0/gru_cell`, `BiRNN/FW/GRUCell` is `bidirectional_rnn/fw/gru_cell`.
public enum ScopeNames {
    /// The scope with every standard TF <= 0.12 component replaced by its TF >= 1.2 name; other
    /// components (user scopes) are kept as they are.
    public static func current(_ scope: String) -> String {
        scope.split(separator: "/", omittingEmptySubsequences: false).map { component -> String in
            switch component {
            case "RNN": return "rnn"
            case "MultiRNNCell": return "multi_rnn_cell"
            case "BiRNN": return "bidirectional_rnn"
            case "FW": return "fw"
            case "BW": return "bw"
            case "GRUCell": return "gru_cell"
            default:
                if component.hasPrefix("Cell"), let n = Int(component.dropFirst(4)), n >= 0 { return "cell_\(n)" }
                return String(component)
            }
        }.joined(separator: "/")
    }

    /// The scope with every standard TF >= 1.2 component replaced by its TF <= 0.12 name.
    public static func legacy(_ scope: String) -> String {
        scope.split(separator: "/", omittingEmptySubsequences: false).map { component -> String in
            switch component {
            case "rnn": return "RNN"
            case "multi_rnn_cell": return "MultiRNNCell"
            case "bidirectional_rnn": return "BiRNN"
            case "fw": return "FW"
            case "bw": return "BW"
            case "gru_cell": return "GRUCell"
            default:
                if component.hasPrefix("cell_"), let n = Int(component.dropFirst(5)), n >= 0 { return "Cell\(n)" }
                return String(component)
            }
        }.joined(separator: "/")
    }
}
