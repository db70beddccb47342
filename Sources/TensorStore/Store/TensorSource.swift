import GRUCore

/// A file of named tensors opened for reading, whatever its format: the one interface that discovery,
/// conversion and verification use. HDF5 (`HDF5File`) is the first implementation.
///
/// Names are paths with `/` between components and no leading `/`. Every failure is a `StoreError`.
public protocol TensorSource: AnyObject {
    /// The path as the caller gave it, used in every error message.
    var path: String { get }
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
    /// Names of the variables the format itself marks as optimizer state (a checkpoint's optimizer
    /// slots), so that no optimizer moment named like a model variable is taken for one.
    func optimizerState() throws -> Set<String>
}

extension TensorSource {
    /// None: a format without optimizer records (HDF5: discovery knows Keras's optimizer groups by name).
    public func optimizerState() throws -> Set<String> { [] }

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
    /// Completes the file and publishes it at `path` in one step.
    func finish() throws
    /// Removes whatever was written, unless `finish()` published it.
    func discard()
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
