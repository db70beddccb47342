/// TensorFlow's standard scope names, old and new, so that a legacy checkpoint's cells pair with (and can
/// be renamed to) the names TF >= 1.2 creates: `RNN/MultiRNNCell/Cell0/GRUCell` is
/// `rnn/multi_rnn_cell/cell_0/gru_cell`, `BiRNN/FW/GRUCell` is `bidirectional_rnn/fw/gru_cell`.
public enum ScopeNames {
    /// Standard components, TF <= 0.12 name first; `CellN`/`cell_N` are handled apart.
    private static let pairs: [(legacy: String, current: String)] = [
        ("RNN", "rnn"), ("MultiRNNCell", "multi_rnn_cell"), ("BiRNN", "bidirectional_rnn"),
        ("FW", "fw"), ("BW", "bw"), ("GRUCell", "gru_cell"),
    ]

    /// The scope with every standard TF <= 0.12 component replaced by its TF >= 1.2 name; other
    /// components (user scopes) are kept as they are.
    public static func current(_ scope: String) -> String {
        rename(scope, from: \.legacy, to: \.current, cell: ("Cell", "cell_"))
    }

    /// The scope with every standard TF >= 1.2 component replaced by its TF <= 0.12 name.
    public static func legacy(_ scope: String) -> String {
        rename(scope, from: \.current, to: \.legacy, cell: ("cell_", "Cell"))
    }

    private static func rename(_ scope: String, from: KeyPath<(legacy: String, current: String), String>,
                               to: KeyPath<(legacy: String, current: String), String>,
                               cell: (from: String, to: String)) -> String {
        scope.split(separator: "/", omittingEmptySubsequences: false).map { component -> String in
            if let pair = pairs.first(where: { $0[keyPath: from] == component }) { return pair[keyPath: to] }
            if component.hasPrefix(cell.from), let n = Int(component.dropFirst(cell.from.count)), n >= 0 {
                return cell.to + String(n)
            }
            return String(component)
        }.joined(separator: "/")
    }
}
