import GRUCore
import Glibc

/// An ONNX model (`.onnx`, a protobuf `ModelProto`) opened read-only, its GRU nodes exposed as per-direction
/// weight tensors and every other initializer under its own name.
///
/// A GRU node (op type `GRU`, domain `""` or `ai.onnx`) becomes a scope named after the node (leading `/`
/// dropped; an empty or clashing name becomes `GRU_<k>`, `k` counting the GRU nodes from 0 in graph order).
/// Its inputs 1, 2, 3 name the initializers W `[D, 3H, I]`, R `[D, 3H, H]` and B `[D, 6H]` (rows z, r, h);
/// for direction forward or reverse (D = 1) they are `SCOPE/W` `[3H, I]`, `SCOPE/R` `[3H, H]`, `SCOPE/B`
/// `[6H]`; for bidirectional (D = 2) `SCOPE/forward/W` ... and `SCOPE/reverse/W` ..., the two halves of
/// the stored tensors. The node's attributes are string attributes of its scope (and of both direction
/// scopes): `linear_before_reset` ("0" when absent), `direction`, `hidden_size`, and `activations`
/// (comma-joined), `activation_alpha`, `activation_beta`, `clip`, `layout` when present. The file's are
/// `producer_name`, `producer_version`, `ir_version` and `opset` (of the default domain), when present.
///
/// Values come from `raw_data`, the typed repeated fields, or an external data file beside the model (never
/// outside its folder). The whole model file is read once, within the memory budget, to decode it; tensor
/// values are read from the files when asked for. Subgraphs (bodies of `If`, `Loop`, `Scan`) are not read.
public final class ONNXFile: TensorSource {
    /// `ONNX`.
    public var formatName: String { "ONNX" }
    /// The path as the caller gave it, used in every error message.
    public let path: String
    /// No read allocates more than this; a model or tensor declaring more is refused before allocation.
    public var memoryBudget: MemoryBudget
    /// The model file, then every external data file an initializer keeps its values in.
    public let storedFiles: [String]
    /// The GRU scopes in graph order, which is layer order for a stack (`containers()` is in name order, where
    /// `node_GRU_163` comes before `node_GRU_80`): the order to create them in an `ONNXWriter`.
    public let gruScopes: [String]

    /// Where a tensor's values are.
    enum Storage {
        /// In the model file, from this offset (`raw_data`).
        case model(offset: Int)
        /// In the external data file of this path (as in `storedFiles`), from this offset.
        case external(file: String, offset: Int)
        /// Decoded from the typed repeated fields, little-endian.
        case bytes([UInt8])
        /// `string_data`.
        case strings([[UInt8]])
        /// Listed but not readable, for this reason.
        case unreadable(StoreError.Code, String)
    }

    /// One exposed variable: the stored tensor's values and the part of them it is.
    struct Entry {
        /// Its element type.
        var type: ElementType
        /// Its shape as exposed (`[3H, I]` for a GRU's W, the dims for any other initializer).
        var shape: [Int]
        /// Where the stored tensor's values are.
        var storage: Storage
        /// Where its bytes start within the stored tensor's (a direction's half of a bidirectional weight).
        var offset: Int
        /// Its bytes.
        var byteCount: Int
    }

    /// The model file, open for the values kept in it.
    private let file: ReadOnlyFile
    /// Every external data file referenced, by its path as in `storedFiles`.
    private let externalFiles: [String: ReadOnlyFile]
    /// Every variable by name.
    private let entries: [String: Entry]
    /// The variables' names, in increasing byte order.
    private let names: [String]
    /// `containers()`.
    private let scopes: [String]
    /// The string attributes of the file (`""`) and of each GRU scope and direction scope.
    private let attributes: [String: [String: String]]

    /// The largest `ir_version` taken for an ONNX model; anything above is not one (ONNX 1.23 writes 12).
    static let maximumIRVersion: Int64 = 99

    /// Opens `path`, decodes the model and checks every GRU node and initializer (see the type's
    /// description); reads no tensor values but those kept in typed fields.
    public init(readingFrom path: String, memoryBudget: MemoryBudget = .machineDefault) throws {
        self.path = path
        self.memoryBudget = memoryBudget
        do { file = try ReadOnlyFile(path) } catch {
            throw TFCheckpointFile.openError(error, file: path, object: nil, what: "opening it")
        }
        guard file.size > 0 else { throw StoreError(.wrongFormat, file: path, reason: "empty file, not an ONNX model") }
        try memoryBudget.check(elements: file.size, of: 1, file: path, object: nil, what: "reading the model")
        let bytes: [UInt8]
        do { bytes = try file.read(at: 0, count: file.size) } catch {
            throw TFCheckpointFile.openError(error, file: path, object: nil, what: "reading it")
        }
        var sawVersion = false
        let model: ONNXModel
        do { model = try ONNXDecoder.model(bytes, sawVersion: &sawVersion) } catch {
            throw sawVersion ? StoreError(.damaged, file: path, reason: "is a damaged or truncated ONNX model: \(error)")
                : StoreError(.wrongFormat, file: path, reason: "is not an ONNX model (not a protobuf ModelProto: \(error))")
        }
        guard let version = model.irVersion, (1...Self.maximumIRVersion).contains(version) else {
            throw StoreError(.wrongFormat, file: path, reason: "is not an ONNX model ("
                             + (model.irVersion.map { "ir_version \($0), which no ONNX release writes" } ?? "no ir_version") + ")")
        }
        guard let graph = model.graph else {
            throw StoreError(.damaged, file: path, reason: "is an ONNX model without a graph (ModelProto.graph): it is truncated or damaged")
        }

        var reading = Reading(path: path, bytes: bytes, budget: memoryBudget)
        try reading.expose(graph)
        entries = reading.entries
        externalFiles = reading.externalFiles
        storedFiles = [path] + reading.externalOrder
        gruScopes = reading.scopes
        names = entries.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var containers = Set<String>()
        for scope in reading.attributes.keys {      // the GRU scopes and their direction scopes
            var parts = scope.split(separator: "/", omittingEmptySubsequences: false)
            while !parts.isEmpty {
                containers.insert(parts.joined(separator: "/"))
                parts.removeLast()
            }
        }
        scopes = containers.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var attributes = reading.attributes
        var own: [String: String] = [:]
        own["producer_name"] = model.producerName
        own["producer_version"] = model.producerVersion
        own["ir_version"] = String(version)
        own["opset"] = model.defaultOpset.map(String.init)
        attributes[""] = own
        self.attributes = attributes
    }

    /// The variable `name`, or `.notFound`.
    private func entry(_ name: String) throws -> Entry {
        guard let entry = entries[name] else { throw StoreError(.notFound, file: path, object: name, reason: "no such tensor") }
        return entry
    }

    /// Every GRU tensor and every other initializer, in name order.
    public func variables() throws -> [Variable] {
        names.compactMap { name in entries[name].map { Variable(name: name, elementType: $0.type, shape: $0.shape) } }
    }

    /// The GRU scopes, their direction scopes and the containers above them, in name order.
    public func containers() throws -> [String] { scopes }

    /// The file's (`""`) or a GRU scope's attributes, in name order.
    public func attributeNames(of object: String) throws -> [String] {
        (attributes[object] ?? [:]).keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// A string attribute of the file (`""`) or of a GRU scope; nil for anything else.
    public func stringAttribute(_ attribute: String, of object: String) throws -> String? { attributes[object]?[attribute] }

    /// Reads a float tensor (float16, float or double) into `Scalar`: float16 and float32 widen exactly,
    /// float64 read as `Float` rounds to nearest.
    public func read<Scalar: StoredFloat>(_ name: String, as: Scalar.Type = Scalar.self) throws -> Tensor<Scalar> {
        let entry = try entry(name)
        guard case .float(let bits) = entry.type, entry.type.isFloat else {
            throw StoreError(.unsupportedType, file: path, object: name, reason: "holds \(entry.type) values, not float16, float32 or float64")
        }
        let count = entry.byteCount / (bits / 8)
        try memoryBudget.check(elements: count, of: MemoryLayout<Scalar>.stride + bits / 8, file: path, object: name,
                               what: "reading its \(format(entry.shape)) \(entry.type) values")
        var bytes = [UInt8](repeating: 0, count: entry.byteCount)
        try bytes.withUnsafeMutableBytes { try read(entry, from: 0, into: $0, name) }
        return Tensor(shape: entry.shape, scalars: LittleEndianFloats.decode(bytes, bits: bits, count: count, as: Scalar.self))
    }

    /// Copies rows `rows` of a rank-1 or rank-2 float tensor into `bytes`, unchanged (little-endian IEEE).
    public func readRawRows(_ name: String, rows: Range<Int>, into bytes: UnsafeMutableRawBufferPointer) throws {
        let entry = try entry(name)
        guard let request = try RawRowRequest(rows: rows, type: entry.type, shape: entry.shape, bufferBytes: bytes.count,
                                              file: path, object: name) else { return }
        try read(entry, from: request.start, into: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<request.count]), name)
    }

    /// Every value of tensor `name`, whatever its fixed-width type, as little-endian bytes; strings as bytes.
    public func readAll(_ name: String) throws -> StoredValues {
        let entry = try entry(name)
        switch entry.storage {
        case .unreadable(let code, let reason): throw StoreError(code, file: path, object: name, reason: reason)
        case .strings(let strings): return StoredValues(elementType: entry.type, shape: entry.shape, storage: .strings(strings))
        default: break
        }
        try memoryBudget.check(elements: entry.byteCount, of: 1, file: path, object: name, what: "reading its values")
        var bytes = [UInt8](repeating: 0, count: entry.byteCount)
        try bytes.withUnsafeMutableBytes { try read(entry, from: 0, into: $0, name) }
        return StoredValues(elementType: entry.type, shape: entry.shape, storage: .bytes(bytes))
    }

    /// Fills `target` with the entry's bytes from `start` on.
    private func read(_ entry: Entry, from start: Int, into target: UnsafeMutableRawBufferPointer, _ name: String) throws {
        guard start >= 0, start + target.count <= entry.byteCount else {
            throw StoreError(.invalidRequest, file: path, object: name, reason: "bytes \(start)..<\(start + target.count) are outside its \(entry.byteCount)")
        }
        let (source, offset, what): (ReadOnlyFile, Int, String)
        switch entry.storage {
        case .model(let base): (source, offset, what) = (file, base, "reading its values")
        case .external(let key, let base):
            guard let external = externalFiles[key] else {
                throw StoreError(.notFound, file: path, object: name, reason: "its external data file \(key) is not open")
            }
            (source, offset, what) = (external, base, "reading its values from \(key)")
        case .bytes(let bytes):
            bytes.withUnsafeBytes { all in
                target.copyMemory(from: UnsafeRawBufferPointer(rebasing: all[(entry.offset + start)..<(entry.offset + start + target.count)]))
            }
            return
        case .strings: throw StoreError(.unsupportedType, file: path, object: name, reason: "holds strings")
        case .unreadable(let code, let reason): throw StoreError(code, file: path, object: name, reason: reason)
        }
        guard !target.isEmpty else { return }
        do { try source.read(at: offset + entry.offset + start, into: target) } catch {
            throw TFCheckpointFile.openError(error, file: path, object: name, what: what)
        }
    }
}

extension ONNXFile {
    /// What an ONNX `TensorProto.DataType` is: the element type, its ONNX name, the bytes of one element
    /// (nil for packed sub-byte types) and the typed field that holds its values when not raw.
    struct DataType {
        /// The element type variables report.
        var type: ElementType
        /// ONNX's name (`FLOAT`), for messages.
        var name: String
        /// Bytes per element; nil for packed sub-byte types and strings.
        var width: Int?
        /// `float_data` 4, `int32_data` 5, `string_data` 6, `int64_data` 7, `double_data` 10, `uint64_data` 11.
        var field: Int?
        /// Values of the typed field per element (2 for complex numbers).
        var perElement = 1
    }

    /// Every data type of onnx.proto (onnx 1.23), by number.
    static let dataTypes: [Int64: DataType] = [
        1: DataType(type: .float(bits: 32), name: "FLOAT", width: 4, field: 4),
        2: DataType(type: .integer(bits: 8, signed: false), name: "UINT8", width: 1, field: 5),
        3: DataType(type: .integer(bits: 8, signed: true), name: "INT8", width: 1, field: 5),
        4: DataType(type: .integer(bits: 16, signed: false), name: "UINT16", width: 2, field: 5),
        5: DataType(type: .integer(bits: 16, signed: true), name: "INT16", width: 2, field: 5),
        6: DataType(type: .integer(bits: 32, signed: true), name: "INT32", width: 4, field: 5),
        7: DataType(type: .integer(bits: 64, signed: true), name: "INT64", width: 8, field: 7),
        8: DataType(type: .string, name: "STRING", width: nil, field: 6),
        9: DataType(type: .other("bool"), name: "BOOL", width: 1, field: 5),
        10: DataType(type: .float(bits: 16), name: "FLOAT16", width: 2, field: 5),
        11: DataType(type: .float(bits: 64), name: "DOUBLE", width: 8, field: 10),
        12: DataType(type: .integer(bits: 32, signed: false), name: "UINT32", width: 4, field: 11),
        13: DataType(type: .integer(bits: 64, signed: false), name: "UINT64", width: 8, field: 11),
        14: DataType(type: .other("complex64"), name: "COMPLEX64", width: 8, field: 4, perElement: 2),
        15: DataType(type: .other("complex128"), name: "COMPLEX128", width: 16, field: 10, perElement: 2),
        16: DataType(type: .other("bfloat16"), name: "BFLOAT16", width: 2, field: 5),
        17: DataType(type: .other("float8_e4m3fn"), name: "FLOAT8E4M3FN", width: 1, field: 5),
        18: DataType(type: .other("float8_e4m3fnuz"), name: "FLOAT8E4M3FNUZ", width: 1, field: 5),
        19: DataType(type: .other("float8_e5m2"), name: "FLOAT8E5M2", width: 1, field: 5),
        20: DataType(type: .other("float8_e5m2fnuz"), name: "FLOAT8E5M2FNUZ", width: 1, field: 5),
        21: DataType(type: .other("uint4"), name: "UINT4", width: nil, field: nil),
        22: DataType(type: .other("int4"), name: "INT4", width: nil, field: nil),
        23: DataType(type: .other("float4_e2m1fn"), name: "FLOAT4E2M1", width: nil, field: nil),
        24: DataType(type: .other("float8_e8m0fnu"), name: "FLOAT8E8M0", width: 1, field: 5),
        25: DataType(type: .other("uint2"), name: "UINT2", width: nil, field: nil),
        26: DataType(type: .other("int2"), name: "INT2", width: nil, field: nil),
        27: DataType(type: .other("float6_e2m3fn"), name: "FLOAT6E2M3", width: nil, field: nil),
        28: DataType(type: .other("float6_e3m2fn"), name: "FLOAT6E3M2", width: nil, field: nil),
    ]

    /// The names of the typed fields, for messages.
    static let typedFieldNames = [4: "float_data", 5: "int32_data", 6: "string_data", 7: "int64_data", 10: "double_data", 11: "uint64_data"]
}
