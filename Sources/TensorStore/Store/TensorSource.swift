import GRUCore

/// A file of named tensors opened for reading, whatever its format: the one interface that discovery,
/// conversion and verification use. HDF5 (`HDF5File`) is the first implementation.
///
/// Names are paths with `/` between components and no leading `/`. Every failure is a `StoreError`.
public protocol TensorSource: AnyObject {
    /// The path as the caller gave it, used in every error message.
    var path: String { get }
    /// Every file the source reads (a checkpoint's index and data files; an HDF5 file itself).
    var storedFiles: [String] { get }
    /// What the source holds besides variables, containers and attributes (second names of one object,
    /// links, committed datatypes, references), in name order; empty for a format of variables alone.
    func structure() throws -> [StructureItem]
    /// The format's name for messages (`HDF5`).
    var formatName: String { get }
    /// No read allocates more than this; a tensor declaring more is refused before allocation.
    var memoryBudget: MemoryBudget { get }

    /// Every variable, in increasing name order, with its element type and shape; reads no values.
    func variables() throws -> [Variable]
    /// Paths of the containers (groups) that hold variables or nothing, in name order; empty for a flat format.
    func containers() throws -> [String]
    /// Reads a float variable of any stored width into `Scalar` (float16 and float32 widen exactly;
    /// float64 read as `Float` rounds to nearest).
    func read<Scalar: StoredFloat>(_ name: String, as: Scalar.Type) throws -> Tensor<Scalar>
    /// Copies rows `rows` of a rank-1 or rank-2 float variable into `bytes`, each element as its type's
    /// little-endian IEEE encoding (`ElementType.byteWidth` bytes), unchanged; a rank-1 variable is one row.
    func readRawRows(_ name: String, rows: Range<Int>, into bytes: UnsafeMutableRawBufferPointer) throws
    /// The names of the attributes of `object` (`""` is the file itself), in name order.
    func attributeNames(of object: String) throws -> [String]
    /// The string attribute `attribute` of `object` (`""` is the file itself); nil when there is none.
    func stringAttribute(_ attribute: String, of object: String) throws -> String?
    /// Every string of the attribute `attribute` of `object` (a list: Keras's `layer_names`); nil when
    /// there is none. By default the string attribute, as a list of one.
    func stringListAttribute(_ attribute: String, of object: String) throws -> [String]?
    /// The optimizer slots the format itself records, each by name with the name of the variable it
    /// belongs to (a TF2 checkpoint's `Adam/m/encoder_gru/gru_cell/kernel` → `encoder_gru/gru_cell/kernel`),
    /// so that no optimizer moment named like a model variable is taken for one.
    func slotOwners() throws -> [String: String]
    /// Reads every value of variable `name`, whatever its element type and rank: fixed-width elements as
    /// little-endian bytes (row-major), strings as byte strings. The format-neutral way to copy a tensor
    /// between formats; the memory budget bounds what it allocates.
    func readAll(_ name: String) throws -> StoredValues
}

/// Every value of one variable, as a source stores it, in a form any sink can write: the element type,
/// the shape and either fixed-width little-endian bytes or byte strings.
public struct StoredValues: Sendable, Equatable {
    /// The values themselves.
    public enum Storage: Sendable, Equatable {
        /// Row-major elements, each in little-endian byte order (complex numbers as two little-endian
        /// parts, bool as one byte 0 or 1).
        case bytes([UInt8])
        /// Row-major strings, as bytes (they need not be UTF-8).
        case strings([[UInt8]])
    }

    /// The element type, as `Variable.elementType` reports it (`.other("bool")`, `.other("bfloat16")` ...).
    public var elementType: ElementType
    /// `[]` for a scalar.
    public var shape: [Int]
    /// The values.
    public var storage: Storage

    /// Values of `elementType` and `shape`, held as `storage`.
    public init(elementType: ElementType, shape: [Int], storage: Storage) {
        self.elementType = elementType
        self.shape = shape
        self.storage = storage
    }

    /// Why a source without a reader of its own (the default `readAll`) refuses a tensor; a sink adds
    /// ` into FORMAT`.
    public static func onlyFloats(from format: String) -> String {
        "only float tensors of rank 1 or 2 can be copied from \(format)"
    }

    /// The number of elements the shape holds.
    public var elementCount: Int { shape.reduce(1, *) }

    /// Bytes of one element for a fixed-width type: floats, integers, `bool` (1), `bfloat16` (2),
    /// `complex64` (8), `complex128` (16), quantized and narrow types by TensorFlow's in-memory size; nil for
    /// strings and anything without a fixed width.
    public static func width(of type: ElementType) -> Int? {
        switch type {
        case .float(let bits) where [16, 32, 64].contains(bits): return bits / 8
        case .integer(let bits, _) where [8, 16, 32, 64].contains(bits): return bits / 8
        case .other(let name):
            switch name {
            case "bool", "qint8", "quint8", "float8_e5m2", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e4m3b11fnuz",
                 "float8_e5m2fnuz", "int4", "uint4", "int2", "uint2", "float4_e2m1fn": return 1
            case "bfloat16", "qint16", "quint16": return 2
            case "qint32": return 4
            case "complex64": return 8
            case "complex128": return 16
            default: return nil
            }
        default: return nil
        }
    }
}

extension TensorSource {
    /// The one file at `path`.
    public var storedFiles: [String] { [path] }

    /// Nothing: a format of variables alone.
    public func structure() throws -> [StructureItem] { [] }

    /// The string attribute, as a list of one.
    public func stringListAttribute(_ attribute: String, of object: String) throws -> [String]? {
        try stringAttribute(attribute, of: object).map { [$0] }
    }

    /// None: a format without optimizer records (HDF5: discovery knows slots stored under their variable's
    /// path, and Keras's optimizer groups, by name).
    public func slotOwners() throws -> [String: String] { [:] }

    /// For a source without a reader of its own: float variables of rank 1 or 2, through `readRawRows`.
    public func readAll(_ name: String) throws -> StoredValues {
        guard let variable = try variables().first(where: { $0.name == name }) else {
            throw StoreError(.invalidRequest, file: path, object: name, reason: "is not a variable of this file")
        }
        guard let width = variable.elementType.byteWidth, (1...2).contains(variable.shape.count) else {
            throw StoreError(.unsupportedType, file: path, object: name, reason: StoredValues.onlyFloats(from: formatName))
        }
        try memoryBudget.check(elements: variable.elementCount, of: width, file: path, object: name, what: "reading its values")
        var bytes = [UInt8](repeating: 0, count: variable.elementCount * width)
        let rows = variable.shape.count == 2 ? variable.shape[0] : 1
        try bytes.withUnsafeMutableBytes { try readRawRows(name, rows: 0..<rows, into: $0) }
        return StoredValues(elementType: variable.elementType, shape: variable.shape, storage: .bytes(bytes))
    }

    /// Reads a float variable into `Scalar`.
    public func read<Scalar: StoredFloat>(_ name: String) throws -> Tensor<Scalar> {
        try read(name, as: Scalar.self)
    }
}

/// A new file of named tensors being written, whatever its format. Nothing is visible at the final path
/// until `finish()` publishes the complete file at once; `discard()` removes what was written.
public protocol TensorSink: AnyObject {
    /// The final path, as the caller gave it, for messages.
    var path: String { get }

    /// Creates a container (group) and any missing parents, unless it exists.
    func createContainer(_ name: String) throws
    /// Whether `name` (a container or a variable) exists in the output.
    func exists(_ name: String) -> Bool
    /// Creates a float variable of `shape` (rank 1 or 2) whose rows are then written with `writeRawRows`.
    func create(_ name: String, elementType: ElementType, shape: [Int]) throws
    /// Writes rows `rows` of a variable made by `create`, each element as its type's little-endian IEEE
    /// encoding.
    func writeRawRows(_ name: String, rows: Range<Int>, from bytes: UnsafeRawBufferPointer) throws
    /// Copies variable `name` of `source` whole, values, type, shape and attributes, as `target`.
    func copy(_ name: String, from source: any TensorSource, as target: String) throws
    /// Copies every attribute of `object` in `source` to `target` here, except those `skip` names.
    func copyAttributes(of object: String, from source: any TensorSource, to target: String,
                        skip: (String) -> Bool) throws
    /// Sets a string attribute on `object` (`""` is the file itself).
    func setStringAttribute(_ name: String, _ value: String, on object: String) throws
    /// Sets an attribute holding a list of strings on `object` (Keras's `layer_names`, `weight_names`).
    func setStringListAttribute(_ name: String, _ values: [String], on object: String) throws
    /// Writes `items` of `source`'s structure (`TensorSource.structure()`), in order, once everything they
    /// name or point to is written; `outputName` gives where each of the source's objects (by its first
    /// name) is in the output, nil when it is not. A sink that cannot hold an item throws, naming it.
    func carry(_ items: [StructureItem], from source: any TensorSource, outputName: (String) -> String?) throws
    /// What the sink could not keep and said so instead of failing (one line each); empty for HDF5.
    var notes: [String] { get }
    /// Completes the file and publishes it at `path` in one step.
    func finish() throws
    /// Removes whatever was written, unless `finish()` published it.
    func discard()
}

/// A sink that writes a file of its own and publishes it in `finish()`: whether it may replace a file that
/// is there (`--force`), and what runs once the file is complete, just before it appears.
public protocol PublishingSink: TensorSink {
    /// Whether `finish()` may replace a file at the output path.
    var replacesExisting: Bool { get set }
    /// Run by `finish()` once the file is complete and synced, just before it is renamed into place.
    var beforePublishing: () throws -> Void { get set }
}

extension HDF5Writer: PublishingSink {}
extension TFCheckpointWriter: PublishingSink {}
extension SafetensorsWriter: PublishingSink {}

extension TensorSink {
    /// None: a sink that keeps everything has nothing to say.
    public var notes: [String] { [] }

    /// Refuses: only HDF5 holds lists of strings.
    public func setStringListAttribute(_ name: String, _ values: [String], on object: String) throws {
        throw StoreError(.unsupportedType, file: path, object: "\(object.isEmpty ? "/" : object)@\(name)",
                         reason: "is a list of strings, which this output cannot hold")
    }

    /// Refuses any item: a format of variables alone holds no links or references.
    public func carry(_ items: [StructureItem], from source: any TensorSource, outputName: (String) -> String?) throws {
        guard let item = items.first else { return }
        throw StoreError(.unsupportedType, file: source.path, object: item.place, reason: "is \(item.description), which this output cannot hold")
    }
}

/// A Swift float type that a float variable can be read into: `Float` or `Double`.
public protocol StoredFloat: BinaryFloatingPoint, Sendable {}

extension Float: StoredFloat {}
extension Double: StoredFloat {}

extension ElementType {
    /// Bytes of one element in raw transfers (`readRawRows`, `writeRawRows`); nil for non-float types.
    public var byteWidth: Int? {
        if case .float(let bits) = self, [16, 32, 64].contains(bits) { return bits / 8 }
        return nil
    }
}
