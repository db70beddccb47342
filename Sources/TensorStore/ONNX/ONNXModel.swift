/// The parts of an ONNX model (`onnx/onnx.proto`, `ModelProto`) that gru-convert reads, decoded from the
/// protobuf wire format by hand.
///
/// Why not swift-protobuf: there is no code-generation step in this package's build, the reader needs a
/// handful of messages and a few fields of each, and an untrusted model must be decoded under strict bounds
/// control (every length checked against its message, sizes checked against the memory budget before
/// anything is allocated, tensor bytes recorded as file ranges instead of copied). Field numbers are those
/// of onnx.proto (onnx 1.23). Subgraphs (the bodies of `If`, `Loop`, `Scan` held in attributes) are not
/// decoded, so nesting is bounded by this structure: model, graph, node, attribute.
struct ONNXModel {
    /// `ir_version` (1), when present.
    var irVersion: Int64?
    /// `producer_name` (2), when present.
    var producerName: String?
    /// `producer_version` (3), when present.
    var producerVersion: String?
    /// `opset_import` (8): each `OperatorSetIdProto`'s domain (1) and version (2).
    var opsets: [(domain: String, version: Int64)] = []
    /// `graph` (7).
    var graph: ONNXGraph?

    /// The version of the default operator set (`""` or `ai.onnx`), when imported.
    var defaultOpset: Int64? { opsets.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }?.version }
}

/// A `GraphProto`: its nodes in order, initializers, and the names of its inputs and outputs.
struct ONNXGraph {
    /// `node` (1), in graph order.
    var nodes: [ONNXNode] = []
    /// `name` (2).
    var name = ""
    /// `initializer` (5), in file order.
    var initializers: [ONNXTensor] = []
    /// The names (`ValueInfoProto.name`, 1) of `input` (11).
    var inputs: [String] = []
    /// The names of `output` (12).
    var outputs: [String] = []
}

/// A `NodeProto`.
struct ONNXNode {
    /// `input` (1): value names, `""` for an omitted optional input.
    var inputs: [String] = []
    /// `output` (2).
    var outputs: [String] = []
    /// `name` (3).
    var name = ""
    /// `op_type` (4).
    var opType = ""
    /// `domain` (7).
    var domain = ""
    /// `attribute` (5).
    var attributes: [ONNXAttribute] = []
}

/// An `AttributeProto`: its name, declared type and the scalar and list values gru-convert reads.
struct ONNXAttribute {
    /// `AttributeType` values (`type`, 20) this reader tells apart.
    enum Kind: Int64 {
        case undefined = 0, float = 1, int = 2, string = 3, tensor = 4, graph = 5, floats = 6, ints = 7, strings = 8
    }
    /// `name` (1).
    var name = ""
    /// `type` (20), 0 when absent.
    var type: Int64 = 0
    /// `f` (2).
    var f: Float?
    /// `i` (3).
    var i: Int64?
    /// `s` (4), bytes (UTF-8 by the spec).
    var s: [UInt8]?
    /// `floats` (7).
    var floats: [Float] = []
    /// `ints` (8).
    var ints: [Int64] = []
    /// `strings` (9).
    var strings: [[UInt8]] = []
}

/// A `TensorProto` as declared, its values not decoded: raw bytes as a range of the model file, typed
/// repeated fields as the ranges that hold them.
struct ONNXTensor {
    /// One occurrence of a typed repeated field (`float_data` ...): its number, wire type and value bytes.
    struct TypedField {
        /// The field number.
        var number: Int
        /// `.lengthDelimited` for a packed run, else one value's wire type.
        var wireType: ProtobufReader.WireType
        /// The value bytes, as a range of the model file.
        var range: Range<Int>
    }
    /// `dims` (1).
    var dims: [Int64] = []
    /// `data_type` (2), 0 when absent.
    var dataType: Int64 = 0
    /// `name` (8).
    var name = ""
    /// `raw_data` (9), as a range of the model file.
    var rawData: Range<Int>?
    /// `data_location` (14): 1 is `EXTERNAL`.
    var dataLocation: Int64 = 0
    /// `external_data` (13): `StringStringEntryProto` key (1) and value (2) pairs, in file order.
    var externalData: [(key: String, value: String)] = []
    /// `float_data` (4), `int32_data` (5), `string_data` (6), `int64_data` (7), `double_data` (10),
    /// `uint64_data` (11), each occurrence.
    var typed: [TypedField] = []
    /// `segment` (3) is present: a tensor split across several protos, which is not read.
    var segmented = false
}

/// Decodes the messages above from a model file's bytes; a failure is a `ByteCursor.Failure` whose reason
/// names the message and field.
enum ONNXDecoder {
    /// The wire type a field must have, or a failure naming it.
    static func expect(_ field: ProtobufReader.Field, _ wireType: ProtobufReader.WireType, _ what: String,
                       _ reader: ProtobufReader) throws(ByteCursor.Failure) {
        guard field.wireType == wireType else {
            throw reader.cursor.failure("\(what) (field \(field.number)) has wire type \(field.wireType.rawValue), not \(wireType.rawValue)")
        }
    }

    /// A `ModelProto` from its whole bytes. `sawVersion` is set once `ir_version` was read, so that the
    /// caller can tell a damaged model from a file that is not one.
    static func model(_ bytes: [UInt8], sawVersion: inout Bool) throws(ByteCursor.Failure) -> ONNXModel {
        var reader = ProtobufReader(bytes)
        var model = ONNXModel()
        while let field = try reader.next() {
            switch field.number {
            case 1:
                try expect(field, .varint, "ModelProto.ir_version", reader)
                model.irVersion = try reader.int64()
                sawVersion = true
            case 2:
                try expect(field, .lengthDelimited, "ModelProto.producer_name", reader)
                model.producerName = try reader.string()
            case 3:
                try expect(field, .lengthDelimited, "ModelProto.producer_version", reader)
                model.producerVersion = try reader.string()
            case 7:
                try expect(field, .lengthDelimited, "ModelProto.graph", reader)
                // A message field that appears twice is merged, as protobuf merges it.
                model.graph = try graph(ProtobufReader(reader.lengthDelimited()), merging: model.graph ?? ONNXGraph())
            case 8:
                try expect(field, .lengthDelimited, "ModelProto.opset_import", reader)
                var entry = ProtobufReader(try reader.lengthDelimited())
                var (domain, version) = ("", Int64(0))
                while let inner = try entry.next() {
                    switch inner.number {
                    case 1:
                        try expect(inner, .lengthDelimited, "OperatorSetIdProto.domain", entry)
                        domain = try entry.string()
                    case 2:
                        try expect(inner, .varint, "OperatorSetIdProto.version", entry)
                        version = try entry.int64()
                    default: try entry.skip(inner)
                    }
                }
                model.opsets.append((domain, version))
            default:
                try reader.skip(field)
            }
        }
        return model
    }

    /// A `GraphProto`, merged into `earlier` (repeated fields appended, the name replaced when given).
    static func graph(_ source: ProtobufReader, merging earlier: ONNXGraph) throws(ByteCursor.Failure) -> ONNXGraph {
        var reader = source
        var graph = earlier
        while let field = try reader.next() {
            switch field.number {
            case 1:
                try expect(field, .lengthDelimited, "GraphProto.node", reader)
                graph.nodes.append(try node(ProtobufReader(reader.lengthDelimited())))
            case 2:
                try expect(field, .lengthDelimited, "GraphProto.name", reader)
                graph.name = try reader.string()
            case 5:
                try expect(field, .lengthDelimited, "GraphProto.initializer", reader)
                graph.initializers.append(try tensor(ProtobufReader(reader.lengthDelimited())))
            case 11, 12:
                try expect(field, .lengthDelimited, field.number == 11 ? "GraphProto.input" : "GraphProto.output", reader)
                var info = ProtobufReader(try reader.lengthDelimited())
                var name = ""
                while let inner = try info.next() {
                    if inner.number == 1 {
                        try expect(inner, .lengthDelimited, "ValueInfoProto.name", info)
                        name = try info.string()
                    } else {
                        try info.skip(inner)
                    }
                }
                if field.number == 11 { graph.inputs.append(name) } else { graph.outputs.append(name) }
            default:
                try reader.skip(field)
            }
        }
        return graph
    }

    /// A `NodeProto`.
    static func node(_ source: ProtobufReader) throws(ByteCursor.Failure) -> ONNXNode {
        var reader = source
        var node = ONNXNode()
        while let field = try reader.next() {
            switch field.number {
            case 1, 2, 3, 4, 7:
                let names = [1: "input", 2: "output", 3: "name", 4: "op_type", 7: "domain"]
                try expect(field, .lengthDelimited, "NodeProto.\(names[field.number] ?? "")", reader)
                let text = try reader.string()
                switch field.number {
                case 1: node.inputs.append(text)
                case 2: node.outputs.append(text)
                case 3: node.name = text
                case 4: node.opType = text
                default: node.domain = text
                }
            case 5:
                try expect(field, .lengthDelimited, "NodeProto.attribute", reader)
                node.attributes.append(try attribute(ProtobufReader(reader.lengthDelimited())))
            default:
                try reader.skip(field)
            }
        }
        return node
    }

    /// An `AttributeProto`; tensors, graphs and type protos it holds are skipped.
    static func attribute(_ source: ProtobufReader) throws(ByteCursor.Failure) -> ONNXAttribute {
        var reader = source
        var attribute = ONNXAttribute()
        while let field = try reader.next() {
            switch field.number {
            case 1:
                try expect(field, .lengthDelimited, "AttributeProto.name", reader)
                attribute.name = try reader.string()
            case 20:
                try expect(field, .varint, "AttributeProto.type", reader)
                attribute.type = try reader.int64()
            case 2:
                try expect(field, .fixed32, "AttributeProto.f", reader)
                attribute.f = Float(bitPattern: try reader.fixed32())
            case 3:
                try expect(field, .varint, "AttributeProto.i", reader)
                attribute.i = try reader.int64()
            case 4:
                try expect(field, .lengthDelimited, "AttributeProto.s", reader)
                attribute.s = try reader.bytes()
            case 7:
                try repeated(field, &reader, element: .fixed32, "AttributeProto.floats") { (value: inout ProtobufReader) throws(ByteCursor.Failure) in
                    attribute.floats.append(Float(bitPattern: try value.fixed32()))
                }
            case 8:
                try repeated(field, &reader, element: .varint, "AttributeProto.ints") { (value: inout ProtobufReader) throws(ByteCursor.Failure) in
                    attribute.ints.append(try value.int64())
                }
            case 9:
                try expect(field, .lengthDelimited, "AttributeProto.strings", reader)
                attribute.strings.append(try reader.bytes())
            default:
                try reader.skip(field)
            }
        }
        return attribute
    }

    /// A `TensorProto`, its values left where they are (see `ONNXTensor`).
    static func tensor(_ source: ProtobufReader) throws(ByteCursor.Failure) -> ONNXTensor {
        var reader = source
        var tensor = ONNXTensor()
        while let field = try reader.next() {
            switch field.number {
            case 1:
                try repeated(field, &reader, element: .varint, "TensorProto.dims") { (value: inout ProtobufReader) throws(ByteCursor.Failure) in
                    tensor.dims.append(try value.int64())
                }
            case 2:
                try expect(field, .varint, "TensorProto.data_type", reader)
                tensor.dataType = Int64(try reader.int32())
            case 3:
                tensor.segmented = true
                try reader.skip(field)
            case 8:
                try expect(field, .lengthDelimited, "TensorProto.name", reader)
                tensor.name = try reader.string()
            case 9:
                try expect(field, .lengthDelimited, "TensorProto.raw_data", reader)
                let value = try reader.lengthDelimited()
                tensor.rawData = value.offset..<value.offset + value.remaining
            case 13:
                try expect(field, .lengthDelimited, "TensorProto.external_data", reader)
                var entry = ProtobufReader(try reader.lengthDelimited())
                var (key, value) = ("", "")
                while let inner = try entry.next() {
                    switch inner.number {
                    case 1, 2:
                        try expect(inner, .lengthDelimited, "StringStringEntryProto", entry)
                        if inner.number == 1 { key = try entry.string() } else { value = try entry.string() }
                    default: try entry.skip(inner)
                    }
                }
                tensor.externalData.append((key, value))
            case 14:
                try expect(field, .varint, "TensorProto.data_location", reader)
                tensor.dataLocation = Int64(try reader.int32())
            case 4, 5, 6, 7, 10, 11:
                let start = reader.cursor.offset
                switch field.wireType {
                case .lengthDelimited:
                    let value = try reader.lengthDelimited()
                    tensor.typed.append(.init(number: field.number, wireType: .lengthDelimited, range: value.offset..<value.offset + value.remaining))
                case .fixed32 where field.number == 4, .fixed64 where field.number == 10,
                     .varint where [5, 7, 11].contains(field.number):
                    try reader.skip(field)
                    tensor.typed.append(.init(number: field.number, wireType: field.wireType, range: start..<reader.cursor.offset))
                default:
                    throw reader.cursor.failure("TensorProto field \(field.number) has wire type \(field.wireType.rawValue), which it cannot have")
                }
            default:
                try reader.skip(field)
            }
        }
        return tensor
    }

    /// Every value of a repeated scalar field whose elements have wire type `element`, packed (one
    /// length-delimited run) or not (one value), each read by `each` from a reader positioned on it.
    static func repeated(_ field: ProtobufReader.Field, _ reader: inout ProtobufReader, element: ProtobufReader.WireType,
                         _ what: String, _ each: (inout ProtobufReader) throws(ByteCursor.Failure) -> Void) throws(ByteCursor.Failure) {
        if field.wireType == element { return try each(&reader) }
        try expect(field, .lengthDelimited, what, reader)
        var packed = ProtobufReader(try reader.lengthDelimited())
        while !packed.cursor.isAtEnd { try each(&packed) }
    }
}
