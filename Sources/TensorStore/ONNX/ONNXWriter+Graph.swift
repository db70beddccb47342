import GRUCore

extension ONNXWriter {
    /// A run of the output file: bytes made here, or a range of the temporary data file.
    enum Piece {
        /// Bytes made by this writer.
        case bytes([UInt8])
        /// `count` bytes of the data file from `offset`.
        case data(offset: Int, count: Int)

        /// Its length in bytes.
        var count: Int {
            switch self {
            case .bytes(let bytes): bytes.count
            case .data(_, let count): count
            }
        }
    }

    /// One GRU layer of the stack: its scope, its directions' scopes (one, or forward and reverse), sizes,
    /// element type and attributes.
    struct Layer {
        /// The GRU node's name.
        var scope: String
        /// The scopes holding W, R, B: `[scope]`, or `[scope/forward, scope/reverse]`.
        var parts: [String]
        /// H.
        var hidden: Int
        /// I.
        var input: Int
        /// Whether B is given.
        var hasBias: Bool
        /// The element type of all its tensors.
        var type: ElementType
        /// `forward`, `reverse` or `bidirectional`.
        var direction: String
        /// The attributes to write (direction apart), merged from the scope and its direction scopes.
        var attributes: [String: String]
        /// D.
        var directions: Int { parts.count }
    }

    /// The layers, in the order their first tensors were created, checked: W and R present, shapes that agree,
    /// one element type, attributes that agree, each layer's input the previous layer's output.
    func plannedLayers() throws -> [Layer] {
        func refuse(_ object: String?, _ reason: String) -> StoreError { StoreError(.invalidRequest, file: path, object: object, reason: reason) }
        let scopes = Set(tensors.keys.compactMap { Self.gruTensor($0)?.scope })
        var layers: [Layer] = []
        var used = Set<String>()
        for name in order {
            // A bidirectional scope: both direction scopes, and nothing of its own.
            var scope = name, parts = [name]
            let last = name.split(separator: "/").last.map(String.init) ?? ""
            let parent = name.split(separator: "/").dropLast().joined(separator: "/")
            if ["forward", "reverse"].contains(last), !parent.isEmpty, scopes.contains(parent + "/forward"), scopes.contains(parent + "/reverse"),
               !scopes.contains(parent) {
                (scope, parts) = (parent, [parent + "/forward", parent + "/reverse"])
            }
            guard !used.contains(scope) else { continue }
            used.insert(scope)
            layers.append(try layer(scope, parts))
        }
        guard !layers.isEmpty else { throw refuse(nil, "holds no GRU layer (no SCOPE/W and SCOPE/R): nothing to write") }
        for (previous, layer) in zip(layers, layers.dropFirst()) where layer.input != previous.directions * previous.hidden {
            throw refuse(layer.scope, "its input size is \(layer.input), not \(previous.directions * previous.hidden) (D*H of \(previous.scope) before it): "
                         + "the GRUs do not form a stack, which is all an ONNX output holds")
        }
        guard let type = layers.first?.type, let other = layers.first(where: { $0.type != type }) else {
            try checkLeftovers(layers)
            return layers
        }
        throw refuse(other.scope, "holds \(other.type) values but \(layers[0].scope) holds \(type): an ONNX model of GRUs has one float type")
    }

    /// Refuses containers and attributes that no layer uses.
    private func checkLeftovers(_ layers: [Layer]) throws {
        var known = Set<String>()
        for layer in layers {
            known.insert(layer.scope)
            known.formUnion(layer.parts)
        }
        for (object, values) in attributes.sorted(by: { $0.key < $1.key }) where !known.contains(object) {
            let place = "\(object)@\(values.keys.sorted()[0])"
            throw StoreError(.unsupportedType, file: path, object: place, reason: "is an attribute of something that is not a GRU layer, which an ONNX output cannot hold")
        }
        for container in containers.sorted() where !known.contains(where: { $0 == container || $0.hasPrefix(container + "/") }) {
            throw StoreError(.unsupportedType, file: path, object: container, reason: "is a container that holds no GRU layer, which an ONNX output cannot hold")
        }
    }

    /// One layer from its scope and direction scopes, checked.
    private func layer(_ scope: String, _ parts: [String]) throws -> Layer {
        func refuse(_ object: String, _ reason: String) -> StoreError { StoreError(.invalidRequest, file: path, object: object, reason: reason) }
        var shapes: [(w: [Int], r: [Int], b: [Int]?)] = []
        var types = Set<ElementType>()
        for part in parts {
            guard let w = tensors[part + "/W"], let r = tensors[part + "/R"] else {
                throw refuse(part, "has no \(tensors[part + "/W"] == nil ? "W" : "R"); a GRU layer needs W, R and optionally B")
            }
            let b = tensors[part + "/B"]
            types.formUnion([w.type, r.type] + (b.map { [$0.type] } ?? []))
            let h = r.shape[1]
            guard h > 0, h <= Int.max / 6, r.shape[0] == 3 * h, w.shape[0] == 3 * h, b == nil || b?.shape == [6 * h] else {
                throw refuse(part, "has W \(format(w.shape)), R \(format(r.shape))\(b.map { ", B \(format($0.shape))" } ?? ""), "
                             + "not [3H, I], [3H, H], [6H] with one H > 0")
            }
            shapes.append((w.shape, r.shape, b?.shape))
        }
        guard types.count == 1, let type = types.first else { throw refuse(scope, "holds tensors of several types; a GRU's are of one") }
        if parts.count == 2 {
            guard shapes[0].w == shapes[1].w, shapes[0].r == shapes[1].r, shapes[0].b == shapes[1].b else {
                throw refuse(scope, "its forward and reverse tensors differ in shape; one bidirectional ONNX GRU holds both")
            }
        }
        let hidden = shapes[0].r[1]
        var merged: [String: String] = [:]
        for object in [scope] + (parts.count == 2 ? parts : []) {
            for (name, value) in attributes[object] ?? [:] where name != "direction" {
                if let earlier = merged[name], earlier != value {
                    throw refuse(scope, "its \(name) is \(earlier) in one place and \(value) in another; one ONNX GRU node holds one")
                }
                merged[name] = value
            }
        }
        let direction: String
        if parts.count == 2 {
            direction = "bidirectional"
            for (object, wanted) in [(scope, "bidirectional"), (parts[0], "forward"), (parts[1], "reverse")] {
                if let given = attributes[object]?["direction"], given != wanted {
                    throw refuse(object, "says direction \(given), but it is the \(wanted) part of a bidirectional layer")
                }
            }
        } else {
            direction = attributes[scope]?["direction"] ?? "forward"
            guard direction != "bidirectional" else {
                throw refuse(scope, "says direction bidirectional, but holds one direction (no \(scope)/forward and \(scope)/reverse)")
            }
        }
        guard merged["linear_before_reset"] != nil else {
            throw refuse(scope, "has no linear_before_reset attribute: say which GRU family it is (1: reset after, as PyTorch's; 0: reset before)")
        }
        if let given = merged["hidden_size"], given != String(hidden) {
            throw refuse(scope, "says hidden_size \(given), but its R holds H = \(hidden)")
        }
        if merged["layout"] == "1" {
            notes.append("\(scope): written with layout 0 (time-major), not its layout 1; the weights are the same")
            merged["layout"] = "0"
        }
        return Layer(scope: scope, parts: parts, hidden: hidden, input: shapes[0].w[1], hasBias: shapes[0].b != nil, type: type,
                     direction: direction, attributes: merged)
    }

    /// ONNX's `TensorProto.DataType` of a float type.
    static func dataType(_ type: ElementType) -> Int64 {
        switch type {
        case .float(16): 10
        case .float(64): 11
        default: 1
        }
    }

    /// A `ValueInfoProto` of a tensor of `type` whose dims are numbers or symbolic names.
    static func valueInfo(_ name: String, _ type: Int64, _ dims: [Dim]) -> ProtobufWriter {
        var shape = ProtobufWriter()
        for dim in dims {
            var dimension = ProtobufWriter()
            switch dim {
            case .value(let value): dimension.int64(1, Int64(value))
            case .param(let name): dimension.string(2, name)
            }
            shape.message(1, dimension)
        }
        var tensor = ProtobufWriter()
        tensor.int64(1, type)
        tensor.message(2, shape)
        var typeProto = ProtobufWriter()
        typeProto.message(1, tensor)
        var info = ProtobufWriter()
        info.string(1, name)
        info.message(2, typeProto)
        return info
    }

    /// A dimension of a declared shape.
    enum Dim {
        /// A fixed extent (`dim_value`).
        case value(Int)
        /// A symbolic one (`dim_param`).
        case param(String)
    }

    /// An `AttributeProto`.
    static func attribute(_ name: String, int: Int64? = nil, float: Float? = nil, string: String? = nil, ints: [Int64]? = nil,
                          floats: [Float]? = nil, strings: [String]? = nil, tensor: ProtobufWriter? = nil) -> ProtobufWriter {
        var attribute = ProtobufWriter()
        attribute.string(1, name)
        if let float { attribute.float(2, float); attribute.int64(20, 1) }
        if let int { attribute.int64(3, int); attribute.int64(20, 2) }
        if let string { attribute.string(4, string); attribute.int64(20, 3) }
        if let tensor { attribute.message(5, tensor); attribute.int64(20, 4) }
        if let floats { for value in floats { attribute.float(7, value) }; attribute.int64(20, 6) }
        if let ints { attribute.packedInt64(8, ints); attribute.int64(20, 7) }
        if let strings { for value in strings { attribute.string(9, value) }; attribute.int64(20, 8) }
        return attribute
    }

    /// A `NodeProto`.
    static func node(_ name: String, _ op: String, inputs: [String], outputs: [String], attributes: [ProtobufWriter] = []) -> ProtobufWriter {
        var node = ProtobufWriter()
        for input in inputs { node.string(1, input) }
        for output in outputs { node.string(2, output) }
        node.string(3, name)
        node.string(4, op)
        for attribute in attributes { node.message(5, attribute) }
        return node
    }

    /// The whole `ModelProto` as pieces: the graph's nodes, initializers (their bytes from the data file),
    /// inputs and outputs, inside the model's fields.
    func modelPieces(_ layers: [Layer]) throws -> [Piece] {
        guard let first = layers.first, let last = layers.last else { return [] }
        let type = Self.dataType(first.type)
        var nodes = ProtobufWriter()
        var initializers: [Piece] = []
        var outputs = ProtobufWriter()
        var x = "X"
        for (k, layer) in layers.enumerated() {
            let (s, d, h) = (layer.scope, layer.directions, layer.hidden)
            var inputs = [x]
            for (label, dims) in [("W", [d, 3 * h, layer.input]), ("R", [d, 3 * h, h])] + (layer.hasBias ? [("B", [d, 6 * h])] : []) {
                var tensor = ProtobufWriter()
                tensor.packedInt64(1, dims.map(Int64.init))
                tensor.int64(2, type)
                tensor.string(8, s + "/" + label)
                let data = layer.parts.compactMap { tensors[$0 + "/" + label] }.map { Piece.data(offset: $0.offset, count: $0.size) }
                let size = data.reduce(0) { $0 + $1.count }
                tensor.lengthPrefix(9, size)
                var prefix = ProtobufWriter()
                prefix.lengthPrefix(5, tensor.bytes.count + size)
                prefix.raw(tensor.bytes)
                initializers.append(.bytes(prefix.bytes))
                initializers += data
                inputs.append(s + "/" + label)
            }
            var attributes = [Self.attribute("direction", string: layer.direction), Self.attribute("hidden_size", int: Int64(h))]
            let a = layer.attributes
            attributes.append(Self.attribute("linear_before_reset", int: Int64(a["linear_before_reset"] ?? "0") ?? 0))
            if let value = a["activations"] { attributes.append(Self.attribute("activations", strings: value.split(separator: ",", omittingEmptySubsequences: false).map(String.init))) }
            for name in ["activation_alpha", "activation_beta"] {
                if let value = a[name] { attributes.append(Self.attribute(name, floats: value.split(separator: ",").compactMap { Float($0) })) }
            }
            if let value = a["clip"].flatMap(Float.init) { attributes.append(Self.attribute("clip", float: value)) }
            if a["layout"] != nil { attributes.append(Self.attribute("layout", int: 0)) }
            nodes.message(1, Self.node(s, "GRU", inputs: inputs, outputs: [s + "/Y", s + "/Y_h"], attributes: attributes))
            // [sequence, D, batch, H] -> [sequence, batch, D, H] -> [sequence, batch, D*H].
            var shape = ProtobufWriter()
            shape.packedInt64(1, [3])
            shape.int64(2, 7)
            shape.string(8, s + "/Y_shape")
            shape.bytes(9, [Int64(0), 0, -1].flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } })
            nodes.message(1, Self.node(s + "/Y_shape", "Constant", inputs: [], outputs: [s + "/Y_shape"],
                                       attributes: [Self.attribute("value", tensor: shape)]))
            nodes.message(1, Self.node(s + "/Transpose", "Transpose", inputs: [s + "/Y"], outputs: [s + "/Y_transposed"],
                                       attributes: [Self.attribute("perm", ints: [0, 2, 1, 3])]))
            x = k == layers.count - 1 ? "Y" : s + "/Y_reshaped"
            nodes.message(1, Self.node(s + "/Reshape", "Reshape", inputs: [s + "/Y_transposed", s + "/Y_shape"], outputs: [x]))
            outputs.message(12, Self.valueInfo(s + "/Y_h", type, [.value(d), .param("batch"), .value(h)]))
        }
        var head = nodes
        head.string(2, "gru-convert")
        var tail = ProtobufWriter()
        tail.message(11, Self.valueInfo("X", type, [.param("sequence"), .param("batch"), .value(first.input)]))
        tail.message(12, Self.valueInfo("Y", type, [.param("sequence"), .param("batch"), .value(last.directions * last.hidden)]))
        tail.raw(outputs.bytes)
        let graphSize = head.bytes.count + initializers.reduce(0) { $0 + $1.count } + tail.bytes.count
        var model = ProtobufWriter()
        model.int64(1, 8)
        model.string(2, "gru-convert")
        model.lengthPrefix(7, graphSize)
        var opset = ProtobufWriter()
        opset.string(1, "")
        opset.int64(2, 14)
        var after = ProtobufWriter()
        after.message(8, opset)
        return [.bytes(model.bytes), .bytes(head.bytes)] + initializers + [.bytes(tail.bytes), .bytes(after.bytes)]
    }
}
