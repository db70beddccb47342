import GRUCore
import TensorStore

/// A framework whose own weights file `convert --to` writes, laid out as that framework's loader takes it
/// (FRAMEWORK_LAYOUTS.md §6): each layer of the model (`ModelLayers`) under the framework's names, in its
/// layout, with what its loader needs besides the tensors.
public enum Framework: String, CaseIterable, Sendable {
    /// Keras 2 (tf-keras) weights `.h5`: `layer_names`, each layer's `weight_names`, `<L>/<L>/gru_cell/kernel:0`.
    /// Keras 3's `load_weights` of a `.h5` reads it too.
    case keras
    /// Keras 3 `.weights.h5`: `layers/gru/cell/vars/0..2`, keys from the class name, empty `vars` groups.
    case keras3
    /// PyTorch `nn.GRU` state dict in safetensors: `weight_ih_l0`, ..., `_reverse` for the backward direction.
    case torch
    /// ONNX: one `GRU` node per layer, bidirectional as one node, `linear_before_reset` from the family.
    case onnx

    /// The name in messages.
    public var displayName: String {
        switch self {
        case .keras: "a Keras 2 weights file"
        case .keras3: "a Keras 3 .weights.h5 file"
        case .torch: "a PyTorch nn.GRU state dict"
        case .onnx: "an ONNX model"
        }
    }

    /// The naming (`LayoutTable.naming`) of the framework's layouts: a cell already in it moves as it is.
    public var naming: String {
        switch self {
        case .keras: "keras"
        case .keras3: "keras3"
        case .torch: "torch"
        case .onnx: "onnx"
        }
    }

    /// The layout a cell of `family` takes, with or without biases; nil when the framework has no such cell
    /// (PyTorch resets after the recurrent product only).
    public func layout(for family: CellFamily, bias: Bool) -> LayoutTable? {
        switch (self, family, bias) {
        case (.keras, .resetBefore, true): .kerasResetBefore
        case (.keras, .resetAfter, true): .kerasResetAfter
        case (.keras, _, false): .kerasNoBias
        case (.keras3, .resetBefore, true): .keras3ResetBefore
        case (.keras3, .resetAfter, true): .keras3ResetAfter
        case (.keras3, _, false): .keras3NoBias
        case (.torch, .resetAfter, true): .torchGRU
        case (.torch, .resetAfter, false): .torchGRUNoBias
        case (.torch, .resetBefore, _): nil
        case (.onnx, _, _): .onnx(family, bias: bias)
        }
    }

    /// What the framework's loader needs besides the tensors: groups, and attributes on them.
    public struct Frame: Sendable {
        /// Groups to create (Keras 3's empty `vars` groups).
        public var containers: [String] = []
        /// String attributes: object, name, value.
        public var attributes: [(object: String, name: String, value: String)] = []
        /// List-of-strings attributes: object, name, values (Keras 2's `layer_names`, `weight_names`).
        public var listAttributes: [(object: String, name: String, values: [String])] = []
    }

    /// Each cell's scope in the output, and the frame, for `layers` (`ModelLayers`, already checked to fit).
    /// `layerNames` are the layers' names where the input records them (Keras), else nil.
    func place(_ layers: ModelLayers, layerNames: [String?], prefix: String,
               tensorNames: (GRUCell) -> [String]) -> (scopes: [String: String], frame: Frame) {
        var scopes: [String: String] = [:]
        var frame = Frame()
        switch self {
        case .torch:
            for (index, layer) in layers.layers.enumerated() {
                if let cell = layer.forward { scopes[cell.scope] = prefix + "l\(index)" }
                if let cell = layer.backward { scopes[cell.scope] = prefix + "l\(index)_reverse" }
            }
        case .onnx:
            for (index, layer) in layers.layers.enumerated() {
                let scope = "gru_\(index)"
                if layer.isBidirectional {
                    scopes[layer.forward!.scope] = scope + "/forward"
                    scopes[layer.backward!.scope] = scope + "/reverse"
                    frame.attributes.append((scope, "direction", "bidirectional"))
                } else {
                    scopes[layer.cells[0].scope] = scope
                    frame.attributes.append((scope, "direction", layer.forward == nil ? "reverse" : "forward"))
                }
                let family = layer.cells[0].family ?? .resetAfter
                frame.attributes.append((scope, CellInventory.linearBeforeReset, family == .resetAfter ? "1" : "0"))
            }
        case .keras3:
            frame.containers.append("vars")
            var counts: [String: Int] = [:]
            for layer in layers.layers {
                let kind = layer.isBidirectional ? "bidirectional" : "gru"
                let key = counts[kind].map { "\(kind)_\($0)" } ?? kind
                counts[kind, default: 0] += 1
                let base = "layers/\(key)"
                frame.containers.append(base + "/vars")
                if layer.isBidirectional {
                    scopes[layer.forward!.scope] = base + "/forward_layer/cell"
                    scopes[layer.backward!.scope] = base + "/backward_layer/cell"
                    frame.containers += [base + "/forward_layer/vars", base + "/backward_layer/vars"]
                } else {
                    scopes[layer.cells[0].scope] = base + "/cell"
                }
            }
        case .keras:
            var counts: [String: Int] = [:]
            var names: [String] = []
            for (index, layer) in layers.layers.enumerated() {
                let kind = layer.isBidirectional ? "bidirectional" : "gru"
                var name = layerNames[index] ?? (counts[kind].map { "\(kind)_\($0)" } ?? kind)
                counts[kind, default: 0] += 1
                while names.contains(name) { name += "_" }
                names.append(name)
                var weightNames: [String] = []
                let directions: [(GRUCell, String)] = layer.isBidirectional
                    ? [(layer.forward!, "forward_gru"), (layer.backward!, "backward_gru")]
                    : [(layer.cells[0], name)]
                for (cell, inner) in directions {
                    // The dataset is `/<L>/<weight name>`: `gru/gru/gru_cell/kernel:0`, `bidi/bidi/forward_gru/gru_cell/kernel:0`.
                    let weightScope = layer.isBidirectional ? "\(name)/\(inner)/gru_cell" : "\(name)/gru_cell"
                    scopes[cell.scope] = name + "/" + weightScope
                    weightNames += tensorNames(cell).map { weightScope + "/" + $0 + ":0" }
                }
                frame.listAttributes.append((name, "weight_names", weightNames))
            }
            frame.listAttributes.insert(("", "layer_names", names), at: 0)
            frame.attributes.append(("", "backend", "tensorflow"))
        }
        return (scopes, frame)
    }

    /// The stored name of `tensor` of a cell written under `scope`.
    func storedName(of tensor: String, scope: String) -> String {
        switch self {
        case .torch: CellInventory.torchKey(tensor, scope: scope)
        case .keras: scope + "/" + tensor + ":0"
        case .keras3, .onnx: scope + "/" + tensor
        }
    }

    /// Why the layers cannot be this framework's model, if they cannot.
    func unfit(_ layers: ModelLayers) -> String? {
        switch self {
        case .torch:
            guard layers.isStack else {
                return "PyTorch's nn.GRU is one stack of layers, each reading what the one before writes; these cells are not "
                    + "(convert one at a time with --cell)"
            }
            if Set(layers.layers.map(\.isBidirectional)).count > 1 || layers.layers.contains(where: { $0.backward != nil && $0.forward == nil }) {
                return "PyTorch's nn.GRU is bidirectional in every layer or in none; these layers are not (convert one at a time with --cell)"
            }
            if Set(layers.layers.flatMap(\.cells).map(\.dimensions.units)).count > 1 {
                return "PyTorch's nn.GRU has one hidden size for every layer; these cells have several (convert one at a time with --cell)"
            }
            if Set(layers.layers.flatMap(\.cells).map { $0.layout.tensors.count == 2 }).count > 1 {
                return "PyTorch's nn.GRU has biases in every layer or in none; these cells differ (convert one at a time with --cell)"
            }
            return nil
        case .onnx:
            return layers.isStack ? nil : "an ONNX model written by gru-convert is one stack of GRU layers, each reading what the one "
                + "before writes; these cells are not (convert one at a time with --cell)"
        case .keras, .keras3:
            return nil
        }
    }
}
