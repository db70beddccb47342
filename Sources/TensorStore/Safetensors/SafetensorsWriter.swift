import CStorage
import GRUCore
import Glibc

/// A new safetensors file being written: tensors of fixed-width types under flat names, laid out as
/// `safetensors.torch.save_file` lays them out (by element width, widest first, then by name; the header's
/// JSON in the same order, padded with spaces to a multiple of 8 bytes), so that a file read and written
/// back unchanged comes out byte for byte the same.
///
/// The tensors' bytes go to a temporary data file as they come; `finish()` writes the header and the bytes
/// in their final order into a second temporary file (so writing one takes its size twice on disk for a
/// while), syncs it and renames it to `path`. Attributes: the
/// file's string attributes become `__metadata__`; the split record `gru_convert_layout` of a cell is kept
/// in `__metadata__` as `SCOPE@gru_convert_layout` (what `SafetensorsFile` reads back as the scope's
/// attribute); any other attribute is refused, naming it, unless `dropsAttributes`.
public final class SafetensorsWriter: TensorSink {
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
    /// Leave out the attributes safetensors cannot hold, listing them in `notes`, instead of refusing them.
    public var dropsAttributes = false
    /// The attributes left out (`--drop-attributes`), one line.
    public var notes: [String] {
        guard !dropped.isEmpty else { return [] }
        return ["\(dropped.count) attribute\(dropped.count == 1 ? "" : "s") left out, which a safetensors file cannot hold "
                + "(--drop-attributes): \(dropped.prefix(3).joined(separator: ", "))\(dropped.count > 3 ? ", ..." : "")"]
    }

    /// The attribute this tool writes on a split cell's scope, kept in `__metadata__` as `SCOPE@gru_convert_layout`.
    public static let layoutAttribute = "gru_convert_layout"

    private var containers: Set<String> = []
    private var metadata: [(key: String, value: String)] = []
    private var dropped: [String] = []
    private let staging: TensorStaging
    private var published = false

    /// Creates the temporary data file (failing if it exists) for a safetensors file to be published at `path`.
    public init(creating path: String, temporaryPath: String, temporaryDataPath: String) throws {
        (self.path, self.temporaryPath, self.temporaryDataPath) = (path, temporaryPath, temporaryDataPath)
        staging = try TensorStaging(path: path, dataPath: temporaryDataPath)
    }

    /// The safetensors dtype of an element type, or an error naming the tensor.
    static func dtype(of type: ElementType, file: String, object: String) throws -> (String, Int) {
        if let (dtype, entry) = SafetensorsFile.dtypes.first(where: { $0.value.type == type }) { return (dtype, entry.width) }
        throw StoreError(.unsupportedType, file: file, object: object,
                         reason: "holds \(type) values, which a safetensors file cannot hold; it is not converted")
    }

    /// Whether `name` is a tensor, a remembered container or the parent of a tensor.
    public func exists(_ name: String) -> Bool {
        name.isEmpty || staging.entries[name] != nil || containers.contains(name) || staging.order.contains { $0.hasPrefix(name + "/") }
    }

    /// Remembers the name: safetensors has no containers.
    public func createContainer(_ name: String) throws { containers.insert(name) }

    /// Reserves a tensor of a fixed-width type, whose rows are then written in order (`writeRawRows`).
    public func create(_ name: String, elementType: ElementType, shape: [Int]) throws {
        guard name != "__metadata__" else {
            throw StoreError(.invalidRequest, file: path, object: name, reason: "cannot be written twice, empty or named __metadata__")
        }
        let (_, width) = try Self.dtype(of: elementType, file: path, object: name)
        try staging.create(name, type: elementType, width: width, shape: shape)
    }

    /// Writes rows `rows` of a tensor made by `create`, which come in order, each once.
    public func writeRawRows(_ name: String, rows: Range<Int>, from bytes: UnsafeRawBufferPointer) throws {
        try staging.writeRows(name, rows: rows, from: bytes)
    }

    /// Copies a tensor of `source` whole: fixed-width values unchanged; strings are refused.
    public func copy(_ name: String, from source: any TensorSource, as target: String) throws {
        guard let variable = try source.variables().first(where: { $0.name == name }) else {
            throw StoreError(.notFound, file: source.path, object: name, reason: "no such tensor")
        }
        _ = try Self.dtype(of: variable.elementType, file: source.path, object: name)
        if variable.elementType.byteWidth != nil, (1...2).contains(variable.shape.count) {
            try copyRows(of: variable, from: source, as: target)
        } else {
            let values = try HDF5Writer.readAll(name, from: source, into: "safetensors")
            guard case .bytes(let bytes) = values.storage else {
                throw StoreError(.unsupportedType, file: source.path, object: name, reason: "holds strings, which a safetensors file cannot hold")
            }
            try create(target, elementType: values.elementType, shape: values.shape)
            try staging.writeAll(target, bytes)
        }
        try copyAttributes(of: name, from: source, to: target, skip: { _ in false })
    }

    /// The file's string attributes become `__metadata__`; a cell's `gru_convert_layout` is kept as
    /// `SCOPE@gru_convert_layout`; any other attribute is refused (or left out with `dropsAttributes`).
    public func copyAttributes(of object: String, from source: any TensorSource, to target: String, skip: (String) -> Bool) throws {
        for name in try source.attributeNames(of: object) where !skip(name) {
            let place = "\(object.isEmpty ? "/" : object)@\(name)"
            if object.isEmpty || name == Self.layoutAttribute, let value = try? source.stringAttribute(name, of: object) {
                try setStringAttribute(name, value, on: target)
                continue
            }
            if dropsAttributes { dropped.append(place); continue }
            throw StoreError(.unsupportedType, file: source.path, object: place,
                             reason: "is an attribute, which a safetensors file cannot hold; convert to HDF5 to keep it, or leave attributes "
                                 + "out with --drop-attributes")
        }
    }

    /// A string attribute of the file (`""`), or a cell's split record, into `__metadata__`.
    public func setStringAttribute(_ name: String, _ value: String, on object: String) throws {
        let key = object.isEmpty ? name : "\(object)@\(name)"
        guard object.isEmpty || name == Self.layoutAttribute else {
            throw StoreError(.unsupportedType, file: path, object: "\(object)@\(name)", reason: "is an attribute, which a safetensors file cannot hold")
        }
        metadata.removeAll { $0.key == key }
        metadata.append((key, value))
    }

    private func write(_ bytes: UnsafeRawBufferPointer, at offset: Int, _ name: String?, to file: Int32) throws {
        let error = writeFully(file, bytes, at: offset)
        guard error == 0 else {
            throw StoreError(.writeFailed, file: path, object: name, reason: "cannot write the output: \(systemErrorDescription(error))")
        }
    }

    /// A JSON string literal of `text`.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Writes the header and the tensors in their final order, syncs, and renames the file to `path`.
    public func finish() throws {
        try staging.checkComplete()
        let entries = staging.entries
        // As safetensors lays them out: widest elements first, then by name (bytewise).
        let order = entries.keys.sorted { a, b in
            let (x, y) = (entries[a]!.width, entries[b]!.width)
            return x != y ? x > y : a.utf8.lexicographicallyPrecedes(b.utf8)
        }
        var parts: [String] = []
        if !metadata.isEmpty {
            parts.append("\"__metadata__\":{" + metadata.map { "\(Self.quoted($0.key)):\(Self.quoted($0.value))" }.joined(separator: ",") + "}")
        }
        var offset = 0
        for name in order {
            let entry = entries[name]!
            let (dtype, _) = try Self.dtype(of: entry.type, file: path, object: name)
            parts.append("\(Self.quoted(name)):{\"dtype\":\"\(dtype)\",\"shape\":[\(entry.shape.map(String.init).joined(separator: ","))],"
                         + "\"data_offsets\":[\(offset),\(offset + entry.size)]}")
            offset += entry.size
        }
        var header = Array(("{" + parts.joined(separator: ",") + "}").utf8)
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        let output = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else {
            throw StoreError(.writeFailed, file: path, reason: "cannot create \(temporaryPath): \(systemErrorDescription(errno))")
        }
        var closed = false
        defer { if !closed { close(output) } }
        func put(_ bytes: UnsafeRawBufferPointer, at position: Int) throws { try write(bytes, at: position, nil, to: output) }
        var length = UInt64(header.count).littleEndian
        try withUnsafeBytes(of: &length) { try put($0, at: 0) }
        try header.withUnsafeBytes { try put($0, at: 8) }
        // Each tensor's bytes from the data file, in a bounded buffer.
        var position = 8 + header.count
        for name in order {
            let entry = entries[name]!
            for start in stride(from: 0, to: entry.size, by: 1 << 20) {
                let chunk = try staging.read(at: entry.offset + start, count: min(1 << 20, entry.size - start))
                try chunk.withUnsafeBytes { try put($0, at: position) }
                position += chunk.count
            }
        }
        guard fsync(output) == 0 else { throw StoreError(.writeFailed, file: path, reason: "cannot write the output: \(systemErrorDescription(errno))") }
        closed = true
        guard close(output) == 0 else { throw StoreError(.writeFailed, file: path, reason: "cannot write the output: \(systemErrorDescription(errno))") }
        try beforePublishing()
        try OutputTarget.publish(temporaryPath, as: path, replace: replacesExisting)
        published = true
        OutputTarget.syncDirectory(of: path)
        staging.remove()
    }

    /// Removes both temporary files unless `finish()` published the output (then only the data file).
    public func discard() {
        staging.remove()
        if !published { unlink(temporaryPath) }
    }

    deinit { discard() }
}
