import GRUCore
import TensorStore

/// Which way a cell reads its sequence.
public enum CellDirection: String, Sendable, Hashable {
    /// First step first: a plain GRU, the forward half of a bidirectional one.
    case forward
    /// Last step first: the backward half (`_reverse`, `backward_layer`, `bw`, ONNX `reverse`).
    case backward
}

/// A file's GRU cells arranged as a model's layers: each layer one cell, or a forward and a backward cell
/// (a bidirectional layer), in the order the model runs them. This is what lets a cell be named in
/// another framework (`weight_ih_l1_reverse`, `layers/bidirectional/backward_layer/cell`) and paired
/// with its counterpart in another file when the names differ.
///
/// Directions come from the names each framework gives them; the order from the numbers in the names
/// (`l1`, `cell_1`, Keras's `gru_1`), from a Keras 2 file's `layer_names`, from an ONNX node's place in
/// the graph (`ONNXFile.gruScopes`); where the names cannot order two layers, from their sizes (a layer reads what the one
/// before it writes).
public struct ModelLayers: Sendable {
    /// One layer: one cell each way it reads (forward alone, backward alone, or both).
    public struct Layer: Sendable {
        /// The layer's name in its file with the direction taken out (`l0`, `bidirectional_rnn/*/gru_cell`).
        public var key: String
        /// The forward cell, if any.
        public var forward: GRUCell?
        /// The backward cell, if any.
        public var backward: GRUCell?

        /// The cells, forward first.
        public var cells: [GRUCell] { [forward, backward].compactMap { $0 } }
        /// Two directions.
        public var isBidirectional: Bool { forward != nil && backward != nil }
        /// The input size both directions read.
        public var inputSize: Int { cells[0].dimensions.inputSize }
        /// What the layer writes per step: the units of each direction, concatenated.
        public var outputSize: Int { cells.reduce(0) { $0 + $1.dimensions.units } }
    }

    /// The layers, first to last.
    public var layers: [Layer]

    /// The direction a cell's scope (and, for ONNX, its `direction` attribute) gives it.
    public static func direction(of cell: GRUCell, in file: (any TensorSource)?) -> CellDirection {
        if cell.layout.naming == "onnx", let file, let value = try? file.stringAttribute("direction", of: cell.scope) {
            return value == "reverse" ? .backward : .forward
        }
        return split(cell.scope).direction
    }

    /// The name of the cell's layer where the file records one: a Keras 2 layer group (`encoder` of
    /// `encoder/encoder/gru_cell`), a Keras 3 layer's `vars@name`, an ONNX node; nil otherwise.
    public static func layerName(of cell: GRUCell, in file: any TensorSource) -> String? {
        switch cell.layout.naming {
        case "keras":
            let parts = cell.scope.split(separator: "/").map(String.init)
            let name = parts.first == "model_weights" ? parts.dropFirst().first : parts.first
            return name.flatMap { parts.count >= 3 ? $0 : nil }
        case "keras3":
            return CellInventory.userName(of: cell, in: file).flatMap { $0.split(separator: "/").first.map(String.init) }
        case "onnx":
            let (key, _) = split(cell.scope)
            return key.hasSuffix("/*") ? String(key.dropLast(2)) : key
        default:
            return nil
        }
    }

    /// The scope with its direction marker replaced by `*`, and the direction it marks.
    static func split(_ scope: String) -> (key: String, direction: CellDirection) {
        // PyTorch: `PREFIX.l1_reverse`.
        if scope.hasSuffix("_reverse") { return (String(scope.dropLast("_reverse".count)), .backward) }
        var parts = scope.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for (index, part) in parts.enumerated() {
            let backward = ["bw", "BW", "backward_layer", "reverse"].contains(part) || part.hasPrefix("backward_")
            let forward = ["fw", "FW", "forward_layer", "forward"].contains(part) || part.hasPrefix("forward_")
            guard backward || forward else { continue }
            parts[index] = "*"
            return (parts.joined(separator: "/"), backward ? .backward : .forward)
        }
        return (scope, .forward)
    }

    /// Arranges `cells` (of `file`, when given: its attributes order ONNX nodes and Keras 2 layers) as layers.
    /// Two cells with one key and one direction, or a layer whose two directions read different inputs, are
    /// refused: they are not a model's layers.
    public static func arrange(_ cells: [GRUCell], in file: (any TensorSource)?) throws(ArrangementError) -> ModelLayers {
        var layers: [Layer] = []
        for cell in cells {
            let (key, _) = split(cell.scope)
            let direction = direction(of: cell, in: file)
            let layerKey = cell.layout.naming == "onnx" && direction == .backward && !key.contains("*") ? key + "/*" : key
            if let index = layers.firstIndex(where: { $0.key == layerKey || (cell.layout.naming == "onnx" && $0.key == key) }) {
                if direction == .forward ? layers[index].forward != nil : layers[index].backward != nil {
                    throw ArrangementError(reason: "\(cell.scope) and another cell are both the \(direction.rawValue) "
                                           + "direction of layer \(layerKey)")
                }
                if direction == .forward { layers[index].forward = cell } else { layers[index].backward = cell }
            } else {
                layers.append(Layer(key: layerKey, forward: direction == .forward ? cell : nil,
                                    backward: direction == .backward ? cell : nil))
            }
        }
        for layer in layers where layer.isBidirectional && layer.forward!.dimensions.inputSize != layer.backward!.dimensions.inputSize {
            throw ArrangementError(reason: "the two directions of \(layer.key) read inputs of \(layer.forward!.dimensions.inputSize) "
                                   + "and \(layer.backward!.dimensions.inputSize) values")
        }
        let order = layerNames(in: file)
        let keyed = layers.map { layer in (layer, sortKey(layer.key, order: order, file: file, cell: layer.cells[0])) }
        let sorted = keyed.sorted { $0.1 == $1.1 ? $0.0.key < $1.0.key : $0.1.lexicographicallyPrecedes($1.1) }
        return ModelLayers(layers: chained(sorted.map(\.0)))
    }

    /// True when each layer reads what the one before it writes: one model's stack.
    public var isStack: Bool {
        zip(layers, layers.dropFirst()).allSatisfy { $0.outputSize == $1.inputSize }
    }

    /// The cell's layer index and direction.
    public func place(of cell: GRUCell) -> (layer: Int, direction: CellDirection)? {
        for (index, layer) in layers.enumerated() {
            if layer.forward?.scope == cell.scope { return (index, .forward) }
            if layer.backward?.scope == cell.scope { return (index, .backward) }
        }
        return nil
    }

    /// A Keras 2 file's layer order: `layer_names` at the root or under `model_weights`.
    private static func layerNames(in file: (any TensorSource)?) -> [String] {
        guard let file else { return [] }
        for group in ["", "model_weights"] {
            if let list = try? file.stringListAttribute("layer_names", of: group), !list.isEmpty { return list }
        }
        return []
    }

    /// Orders layers: by position in `layer_names`, an ONNX node's index, then the numbers in the name.
    private static func sortKey(_ key: String, order: [String], file: (any TensorSource)?, cell: GRUCell) -> [Int] {
        let components = key.split(separator: "/").map(String.init)
        let named = components.first == "model_weights" ? components.dropFirst().first : components.first
        if let named, let index = order.firstIndex(of: named) { return [0, index] }
        if cell.layout.naming == "onnx", let onnx = file as? ONNXFile,
           let index = onnx.gruScopes.firstIndex(of: key.hasSuffix("/*") ? String(key.dropLast(2)) : key) {
            return [1, index]
        }
        // Every run of digits, in order (`l1` → 1, `multi_rnn_cell/cell_2` → 2, `gru_1` → 1, `gru` → 0).
        var numbers: [Int] = [2]
        var digits = ""
        for character in key + "/" {
            if character.isASCII, character.isNumber { digits.append(character); continue }
            if !digits.isEmpty { numbers.append(Int(digits.prefix(9)) ?? 0); digits = "" }
        }
        return numbers
    }

    /// The order of `sorted` unless it is no stack and exactly one other order is (layers sizes chain).
    private static func chained(_ sorted: [Layer]) -> [Layer] {
        let model = ModelLayers(layers: sorted)
        guard !model.isStack, sorted.count <= 6 else { return sorted }
        var found: [[Layer]] = []
        func extend(_ path: [Layer], _ rest: [Layer]) {
            if rest.isEmpty { found.append(path); return }
            for (index, layer) in rest.enumerated() where path.last.map({ $0.outputSize == layer.inputSize }) ?? true {
                var remaining = rest
                remaining.remove(at: index)
                extend(path + [layer], remaining)
            }
        }
        extend([], sorted)
        return found.count == 1 ? found[0] : sorted
    }
}

/// Why a file's cells cannot be arranged as a model's layers.
public struct ArrangementError: Error, Sendable {
    /// One line.
    public var reason: String
}
