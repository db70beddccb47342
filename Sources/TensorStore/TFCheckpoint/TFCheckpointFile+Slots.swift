extension TFCheckpointFile {
    /// An optimizer's per-variable state (Adam's moments, momentum), attached to the variable it belongs to.
    public struct OptimizerSlot: Hashable, Sendable {
        /// The listed name of the model variable (`rnn/gru_cell/gates/kernel`, `encoder_gru/gru_cell/kernel`).
        public var variable: String
        /// The slot's name (`Adam`, `Adam_1`, `m`, `v`, `momentum`, `velocity`).
        public var slot: String
        /// The listed name of the slot tensor.
        public var name: String
    }

    /// The optimizer slots of this checkpoint, in the order of their names, found in the way each
    /// generation of TensorFlow records them:
    /// - TF2 optimizers with slot variables (TF1 optimizers in TF2, tf_keras `optimizers.legacy`): the object
    ///   graph's `slot_variables`, exactly.
    /// - tf_keras optimizers without slots (its default Adam): tensors keyed under `optimizer/` whose name is
    ///   `<optimizer>/<slot>/<variable>` for a listed variable.
    /// - Keras 3: tensors keyed under `optimizer/` named `<optimizer>/<variable, "/" → "_">_<slot>`.
    /// - TF1 `Saver` checkpoints (no object graph): `<variable>/<slot>` for a listed variable and a slot
    ///   without `/` (`.../kernel/Adam`, `.../kernel/Adam_1`).
    /// All but the first are conventions of names, not recorded links.
    public func optimizerSlots() -> [OptimizerSlot] {
        var slots: [String: OptimizerSlot] = [:]
        let names = Set(listed.map(\.name))
        if let graph = objectGraph {
            // Exact links: slot_variables name the original variable's node and the slot's node.
            func valueName(_ node: Int) -> String? {
                guard graph.nodes.indices.contains(node) else { return nil }
                let attribute = graph.nodes[node].attributes.first { $0.name == "VARIABLE_VALUE" }
                return attribute.flatMap { namesByKey[$0.checkpointKey] }
            }
            for node in graph.nodes {
                for link in node.slotVariables {
                    guard let variable = valueName(link.originalNode), let name = valueName(link.slotNode) else { continue }
                    slots[name] = OptimizerSlot(variable: variable, slot: link.slotName, name: name)
                }
            }
            // Conventions of the optimizers without slot variables.
            let flattened = Dictionary(listed.map { (String($0.name.map { $0 == "/" ? "_" : $0 }), $0.name) },
                                       uniquingKeysWith: { first, _ in first })
            for item in listed where item.keyText.hasPrefix("optimizer/") && slots[item.name] == nil {
                let parts = item.name.split(separator: "/", omittingEmptySubsequences: false)
                if parts.count > 2 {
                    let variable = parts[2...].joined(separator: "/")
                    if variable != item.name, names.contains(variable) {
                        slots[item.name] = OptimizerSlot(variable: variable, slot: String(parts[1]), name: item.name)
                        continue
                    }
                }
                guard parts.count == 2, let underscore = parts[1].utf8.lastIndex(of: UInt8(ascii: "_")) else { continue }
                let slot = parts[1][parts[1].index(after: underscore)...]
                if !slot.isEmpty, let variable = flattened[String(parts[1][..<underscore])], variable != item.name {
                    slots[item.name] = OptimizerSlot(variable: variable, slot: String(slot), name: item.name)
                }
            }
        } else {
            for item in listed {
                guard let slash = item.name.utf8.lastIndex(of: UInt8(ascii: "/")) else { continue }
                let variable = String(item.name[..<slash]), slot = String(item.name[item.name.index(after: slash)...])
                if !slot.isEmpty, names.contains(variable) {
                    slots[item.name] = OptimizerSlot(variable: variable, slot: slot, name: item.name)
                }
            }
        }
        return slots.values.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }
}

extension TFCheckpointFile {
    /// The optimizer slots (`optimizerSlots()`) with their variables: moments such as
    /// `Adam/m/encoder_gru/gru_cell/kernel` are named like model variables and must never be taken for them.
    public func slotOwners() throws -> [String: String] {
        Dictionary(optimizerSlots().map { ($0.name, $0.variable) }, uniquingKeysWith: { first, _ in first })
    }
}
