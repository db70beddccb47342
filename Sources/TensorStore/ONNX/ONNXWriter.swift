import GRUCore
import Glibc

/// A new ONNX model being written: a stack of GRU layers, from tensors named as `ONNXFile` exposes them
/// (`SCOPE/W` `[3H, I]`, `SCOPE/R` `[3H, H]`, optional `SCOPE/B` `[6H]`, rows z, r, h; a bidirectional
/// layer as `SCOPE/forward/...` and `SCOPE/reverse/...`) and string attributes on the scopes.
///
/// `finish()` assembles one GRU node per scope (opset 14, IR 8), in the order the scopes' first tensors
/// were created (layer order; `createContainer` does not count, as a conversion creates every container
/// first, in name order), a bidirectional scope as one node with W, R, B stacked `[2, ...]` (forward first). The graph
/// takes `X` `[sequence, batch, I]` (time-major, layout 0); each layer's `Y` `[sequence, D, batch, H]`
/// goes through `Transpose(perm 0, 2, 1, 3)` and `Reshape` to `[sequence, batch, D*H]` (the next layer's
/// input; the last one's is the graph output `Y`), and each layer's `SCOPE/Y_h` `[D, batch, H]` is an
/// output too. The reshape's target `[0, 0, -1]` is a `Constant` node, not an initializer, so that a model
/// written here reads back as GRU tensors alone. Scope attributes: `linear_before_reset` (required: it
/// decides the GRU family), `direction`, `hidden_size` (checked against R), `activations` (comma-joined),
/// `activation_alpha`, `activation_beta`, `clip`, `layout` (the model is always written with layout 0,
/// which the weights do not depend on; a `1` is said in `notes`). The file's `producer_name`,
/// `producer_version`, `ir_version` and `opset` are accepted and replaced by this writer's own. Anything
/// else (another variable, another attribute, a container no GRU uses, structure) is refused, naming it.
///
/// Tensors' bytes go to a temporary data file as they come; `finish()` streams the model into a second
/// temporary file, syncs it and renames it to `path`. Values are written inline (`raw_data`), so a model
/// larger than protobuf's 2 GiB limit is refused (`.tooLarge`): external data is not written.
public final class ONNXWriter: PublishingSink {
    /// The final path, as the user named it, for messages.
    public let path: String
    /// The file written by `finish()` and renamed to `path`.
    public let temporaryPath: String
    /// The tensors' bytes, in the order they came.
    public let temporaryDataPath: String
    /// Whether `finish()` may replace a file at `path` (`--force`).
    public var replacesExisting = false
    /// Run by `finish()` once the file is complete and synced, just before it is renamed into place.
    public var beforePublishing: () throws -> Void = {}
    /// What was written differently from what was given, one line each (a `layout` of 1).
    public internal(set) var notes: [String] = []

    /// The largest model protobuf can serialize: 2 GiB - 1 bytes.
    public static let maximumModelBytes = Int(Int32.max)
    /// The scope attributes this writer writes.
    public static let scopeAttributes: Set<String> = ["linear_before_reset", "direction", "hidden_size", "activations", "activation_alpha",
                                                      "activation_beta", "clip", "layout"]
    /// The file attributes it accepts and replaces by its own.
    public static let fileAttributes: Set<String> = ["producer_name", "producer_version", "ir_version", "opset"]
    /// Why anything but a GRU's tensors is refused.
    public static let gruLayersOnly = "ONNX output holds GRU layers only"

    /// One tensor as created: where its bytes are in the data file.
    struct Stored {
        /// float16, float32 or float64.
        var type: ElementType
        /// `[3H, I]`, `[3H, H]` or `[6H]`.
        var shape: [Int]
        /// Where its bytes start in the data file.
        var offset: Int
        /// Its bytes.
        var size: Int
        /// Bytes of one row (all of them for rank 1).
        var rowBytes: Int
        /// Rows (1 for rank 1).
        var rowCount: Int
        /// The first row not written yet.
        var nextRow = 0
    }
    /// Every tensor created, by name.
    var tensors: [String: Stored] = [:]
    /// The scopes of the tensors, in the order their first tensor was created.
    var order: [String] = []
    /// The containers created.
    var containers: Set<String> = []
    /// The attributes set on each scope.
    var attributes: [String: [String: String]] = [:]
    /// The temporary data file.
    private var descriptor: Int32
    /// The data file's length so far.
    private var end = 0
    /// Whether `finish()` renamed the output into place.
    private var published = false

    /// Creates the temporary data file (failing if it exists) for a model to be published at `path`.
    public init(creating path: String, temporaryPath: String, temporaryDataPath: String) throws {
        (self.path, self.temporaryPath, self.temporaryDataPath) = (path, temporaryPath, temporaryDataPath)
        descriptor = open(temporaryDataPath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StoreError(.writeFailed, file: path, reason: "cannot create \(temporaryDataPath): \(systemErrorDescription(errno))")
        }
    }

    /// The scope and the tensor (`W`, `R` or `B`) of a GRU tensor's name; nil for any other name.
    static func gruTensor(_ name: String) -> (scope: String, label: String)? {
        guard let slash = name.lastIndex(of: "/") else { return nil }
        let (scope, label) = (String(name[..<slash]), String(name[name.index(after: slash)...]))
        guard !scope.isEmpty, ["W", "R", "B"].contains(label) else { return nil }
        return (scope, label)
    }

    /// Notes `scope` in `order` the first time a tensor of it is created.
    private func remember(_ scope: String) { if !order.contains(scope) { order.append(scope) } }

    /// Whether `name` is a tensor, a container or the parent of a tensor.
    public func exists(_ name: String) -> Bool {
        name.isEmpty || tensors[name] != nil || containers.contains(name) || tensors.keys.contains { $0.hasPrefix(name + "/") }
    }

    /// Remembers the container; one that no GRU scope uses is refused by `finish()`.
    public func createContainer(_ name: String) throws {
        containers.insert(name)
    }

    /// Reserves a GRU tensor (`SCOPE/W` `[3H, I]`, `SCOPE/R` `[3H, H]`, `SCOPE/B` `[6H]`) of float16, float32
    /// or float64, whose rows are then written in order (`writeRawRows`).
    public func create(_ name: String, elementType: ElementType, shape: [Int]) throws {
        guard let (scope, label) = Self.gruTensor(name) else {
            throw StoreError(.unsupportedType, file: path, object: name, reason: "\(Self.gruLayersOnly): this is not a GRU's SCOPE/W, SCOPE/R or SCOPE/B")
        }
        guard tensors[name] == nil else { throw StoreError(.invalidRequest, file: path, object: name, reason: "cannot be written twice") }
        guard let width = elementType.byteWidth else {
            throw StoreError(.unsupportedType, file: path, object: name, reason: "holds \(elementType) values; a GRU's are float16, float32 or float64")
        }
        guard shape.count == (label == "B" ? 1 : 2), shape.allSatisfy({ $0 >= 0 }) else {
            throw StoreError(.invalidRequest, file: path, object: name,
                             reason: "is \(format(shape)); a GRU's \(label) is \(["W": "[3H, I]", "R": "[3H, H]", "B": "[6H]"][label] ?? "")")
        }
        let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        let (size, overflow) = count.multipliedReportingOverflow(by: width)
        guard !overflow, end + size <= Self.maximumModelBytes else {
            throw StoreError(.tooLarge, file: path, object: name, reason: "would make the model larger than protobuf's 2 GiB limit "
                             + "(ONNX external data is not written)")
        }
        let rows = shape.count == 2 ? shape[0] : 1
        tensors[name] = Stored(type: elementType, shape: shape, offset: end, size: size, rowBytes: rows == 0 ? 0 : size / rows, rowCount: rows,
                               nextRow: count == 0 ? rows : 0)
        end += size
        remember(scope)
    }

    /// Writes rows `rows` of a tensor made by `create`, which come in order, each once.
    public func writeRawRows(_ name: String, rows: Range<Int>, from bytes: UnsafeRawBufferPointer) throws {
        guard var tensor = tensors[name], rows.lowerBound == tensor.nextRow, rows.upperBound <= tensor.rowCount,
              bytes.count >= rows.count * tensor.rowBytes else {
            throw StoreError(.invalidRequest, file: path, object: name, reason: "rows \(rows) cannot be written now")
        }
        let error = writeFully(descriptor, UnsafeRawBufferPointer(rebasing: bytes[0..<(rows.count * tensor.rowBytes)]),
                               at: tensor.offset + rows.lowerBound * tensor.rowBytes)
        guard error == 0 else {
            throw StoreError(.writeFailed, file: path, object: name, reason: "cannot write the output: \(systemErrorDescription(error))")
        }
        tensor.nextRow = rows.upperBound
        tensors[name] = tensor
    }

    /// Copies a GRU tensor of `source` whole, by rows, with its attributes; any other variable is refused.
    public func copy(_ name: String, from source: any TensorSource, as target: String) throws {
        guard Self.gruTensor(target) != nil else {
            throw StoreError(.unsupportedType, file: source.path, object: name, reason: "\(Self.gruLayersOnly); this is not a GRU's W, R or B")
        }
        guard let variable = try source.variables().first(where: { $0.name == name }) else {
            throw StoreError(.notFound, file: source.path, object: name, reason: "no such tensor")
        }
        try copyRows(of: variable, from: source, as: target)
        try copyAttributes(of: name, from: source, to: target, skip: { _ in false })
    }

    /// Sets each attribute of `object` in `source` on `target` here (`setStringAttribute`), except those
    /// `skip` names; one that is not a string is refused.
    public func copyAttributes(of object: String, from source: any TensorSource, to target: String, skip: (String) -> Bool) throws {
        for name in try source.attributeNames(of: object) where !skip(name) {
            guard let value = try source.stringAttribute(name, of: object) else {
                throw StoreError(.unsupportedType, file: source.path, object: "\(object.isEmpty ? "/" : object)@\(name)",
                                 reason: "is not a string attribute, which an ONNX output cannot hold")
            }
            try setStringAttribute(name, value, on: target)
        }
    }

    /// A GRU scope's attribute (see the type's description), or one of the file's that this writer replaces
    /// by its own; anything else is refused.
    public func setStringAttribute(_ name: String, _ value: String, on object: String) throws {
        let place = "\(object.isEmpty ? "/" : object)@\(name)"
        if object.isEmpty {
            guard Self.fileAttributes.contains(name) else {
                throw StoreError(.unsupportedType, file: path, object: place, reason: "is an attribute, which an ONNX output of GRU layers cannot hold")
            }
            return      // replaced by this writer's own
        }
        guard Self.scopeAttributes.contains(name), tensors[object] == nil else {
            throw StoreError(.unsupportedType, file: path, object: place, reason: "is an attribute, which an ONNX output of GRU layers cannot hold")
        }
        func refuse(_ wanted: String) -> StoreError {
            StoreError(.invalidRequest, file: path, object: place, reason: "is \(value), not \(wanted)")
        }
        switch name {
        case "linear_before_reset", "hidden_size":
            guard Int64(value) != nil else { throw refuse("an integer") }
        case "layout":
            guard value == "0" || value == "1" else { throw refuse("0 or 1") }
        case "direction":
            guard ["forward", "reverse", "bidirectional"].contains(value) else { throw refuse("forward, reverse or bidirectional") }
        case "clip":
            guard Float(value) != nil else { throw refuse("a number") }
        case "activation_alpha", "activation_beta":
            guard value.split(separator: ",", omittingEmptySubsequences: false).allSatisfy({ Float($0) != nil }) else {
                throw refuse("comma-separated numbers")
            }
        default:
            guard !value.isEmpty else { throw refuse("a comma-separated list of activation names") }
        }
        attributes[object, default: [:]][name] = value
    }

    /// Assembles the model (see the type's description), syncs it and renames it to `path`.
    public func finish() throws {
        for (name, tensor) in tensors where tensor.nextRow < tensor.rowCount {
            throw StoreError(.invalidRequest, file: path, object: name, reason: "only \(tensor.nextRow) of its \(tensor.rowCount) rows were written")
        }
        let layers = try plannedLayers()
        let pieces = try modelPieces(layers)
        let total = pieces.reduce(0) { $0 + $1.count }
        guard total <= Self.maximumModelBytes else {
            throw StoreError(.tooLarge, file: path, reason: "the model would be \(total) bytes, more than protobuf's 2 GiB limit "
                             + "(ONNX external data is not written)")
        }
        try write(pieces)
        try beforePublishing()
        try OutputTarget.publish(temporaryPath, as: path, replace: replacesExisting)
        published = true
        OutputTarget.syncDirectory(of: path)
        discardData()
    }

    /// Writes `pieces` into the temporary file, tensors' bytes copied from the data file a megabyte at a time.
    private func write(_ pieces: [Piece]) throws {
        let output = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else {
            throw StoreError(.writeFailed, file: path, reason: "cannot create \(temporaryPath): \(systemErrorDescription(errno))")
        }
        var closed = false
        defer { if !closed { close(output) } }
        func failed(_ code: Int32) -> StoreError {
            StoreError(.writeFailed, file: path, reason: "cannot write the output: \(systemErrorDescription(code))")
        }
        var position = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        for piece in pieces {
            switch piece {
            case .bytes(let bytes):
                let error = bytes.withUnsafeBytes { writeFully(output, $0, at: position) }
                guard error == 0 else { throw failed(error) }
                position += bytes.count
            case .data(let offset, let count):
                var done = 0
                while done < count {
                    let want = min(buffer.count, count - done)
                    let got = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, want, off_t(offset + done)) }
                    if got < 0, errno == EINTR { continue }
                    guard got > 0 else {
                        throw StoreError(.writeFailed, file: path, reason: "cannot read back \(temporaryDataPath): \(systemErrorDescription(errno))")
                    }
                    let error = buffer.withUnsafeBytes { writeFully(output, UnsafeRawBufferPointer(rebasing: $0[0..<got]), at: position) }
                    guard error == 0 else { throw failed(error) }
                    position += got
                    done += got
                }
            }
        }
        guard fsync(output) == 0 else { throw failed(errno) }
        closed = true
        guard close(output) == 0 else { throw failed(errno) }
    }

    /// Closes and removes the data file.
    private func discardData() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        unlink(temporaryDataPath)
    }

    /// Removes both temporary files unless `finish()` published the output (then only the data file).
    public func discard() {
        discardData()
        if !published { unlink(temporaryPath) }
    }

    deinit { discard() }
}
