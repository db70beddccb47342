import Foundation
import Glibc
import ZIPFoundation

/// A new PyTorch `torch.save` file (`.pt`, `.pth`) of a state dict, in the zip format torch has written
/// since 1.6: a folder named after the file's stem holding `data.pkl` (the dict's pickle, `PickleWriter`),
/// `byteorder` (`little`), `version` and one member `data/<n>` per tensor (its storage, raw little-endian
/// bytes), all stored uncompressed with a fixed date, so the same tensors give the same file.
/// `torch.load(path, weights_only=True)` reads it: the pickle names only the globals that loader allows.
///
/// Tensors come as the other flat writers take them (`TensorStaging`: a temporary data file, in the
/// order they are created, which is the dict's order); `finish()` assembles the zip in a temporary file,
/// syncs it and renames it into place. A `torch.save` state dict holds no attributes: the file's (and a
/// split cell's layout record) are left out and named in `notes`; any other is refused.
public final class TorchSaveWriter: TensorSink, PublishingSink {
    /// The final path, as the user named it, for messages.
    public let path: String
    /// The zip written by `finish()` and renamed to `path`.
    public let temporaryPath: String
    /// Whether `finish()` may replace a file at `path` (`--force`).
    public var replacesExisting = false
    /// Run by `finish()` once the file is complete and synced, just before it is renamed into place.
    public var beforePublishing: () throws -> Void = {}
    /// The file attributes left out, one line.
    public var notes: [String] {
        guard !dropped.isEmpty else { return [] }
        return ["\(dropped.count) attribute\(dropped.count == 1 ? "" : "s") left out, which a torch.save state dict cannot hold: "
                + dropped.prefix(3).joined(separator: ", ") + (dropped.count > 3 ? ", ..." : "")]
    }

    /// The storage class `torch.load` rebuilds each element type with.
    static let storageTypes: [ElementType: String] = [
        .float(bits: 32): "FloatStorage", .float(bits: 64): "DoubleStorage", .float(bits: 16): "HalfStorage",
        .other("bfloat16"): "BFloat16Storage", .integer(bits: 64, signed: true): "LongStorage",
        .integer(bits: 32, signed: true): "IntStorage", .integer(bits: 16, signed: true): "ShortStorage",
        .integer(bits: 8, signed: true): "CharStorage", .integer(bits: 8, signed: false): "ByteStorage", .other("bool"): "BoolStorage",
    ]

    private let staging: TensorStaging
    private var containers: Set<String> = []
    private var dropped: [String] = []
    private var published = false

    /// Creates the temporary data file (failing if it exists) for a `torch.save` file to be published at `path`.
    public init(creating path: String, temporaryPath: String, temporaryDataPath: String) throws {
        (self.path, self.temporaryPath) = (path, temporaryPath)
        staging = try TensorStaging(path: path, dataPath: temporaryDataPath)
    }

    /// The storage class of `type`, or an error naming the tensor.
    private func storageType(of type: ElementType, object: String) throws -> String {
        guard let name = Self.storageTypes[type], let _ = StoredValues.width(of: type) else {
            throw StoreError(.unsupportedType, file: path, object: object, reason: "holds \(type) values, which this torch.save writer does not write")
        }
        return name
    }

    /// Whether `name` is a tensor, a remembered container or the parent of a tensor.
    public func exists(_ name: String) -> Bool {
        name.isEmpty || staging.entries[name] != nil || containers.contains(name) || staging.order.contains { $0.hasPrefix(name + "/") }
    }

    /// Remembers the name: a state dict has no containers.
    public func createContainer(_ name: String) throws { containers.insert(name) }

    /// Reserves a tensor, whose rows are then written in order (`writeRawRows`).
    public func create(_ name: String, elementType: ElementType, shape: [Int]) throws {
        _ = try storageType(of: elementType, object: name)
        try staging.create(name, type: elementType, width: StoredValues.width(of: elementType)!, shape: shape)
    }

    /// Writes rows `rows` of a tensor made by `create`, which come in order, each once.
    public func writeRawRows(_ name: String, rows: Range<Int>, from bytes: UnsafeRawBufferPointer) throws {
        try staging.writeRows(name, rows: rows, from: bytes)
    }

    /// Copies a tensor of `source` whole: fixed-width values unchanged; strings are refused.
    public func copy(_ name: String, from source: any TensorSource, as target: String) throws {
        let values = try HDF5Writer.readAll(name, from: source, into: "a torch.save file")
        guard case .bytes(let bytes) = values.storage else {
            throw StoreError(.unsupportedType, file: source.path, object: name, reason: "holds strings, which a torch.save state dict cannot hold")
        }
        try create(target, elementType: values.elementType, shape: values.shape)
        try staging.writeAll(target, bytes)
        try copyAttributes(of: name, from: source, to: target, skip: { _ in false })
    }

    /// The file's attributes are left out and named; any other is refused.
    public func copyAttributes(of object: String, from source: any TensorSource, to target: String, skip: (String) -> Bool) throws {
        for name in try source.attributeNames(of: object) where !skip(name) {
            try setStringAttribute(name, "", on: target)
        }
    }

    /// A file attribute, or a split cell's record of its layout (`gru_convert_layout`), is left out and
    /// named in `notes`; any other is refused.
    public func setStringAttribute(_ name: String, _ value: String, on object: String) throws {
        let place = "\(object.isEmpty ? "/" : object)@\(name)"
        guard object.isEmpty || name == SafetensorsWriter.layoutAttribute else {
            throw StoreError(.unsupportedType, file: path, object: place, reason: "is an attribute, which a torch.save state dict cannot hold")
        }
        dropped.append(place)
    }

    /// Writes the zip (pickle, byte order, version, one storage per tensor), syncs, and renames it to `path`.
    public func finish() throws {
        try staging.checkComplete()
        let stem = Self.stem(of: path)
        var entries: [PickleWriter.Entry] = []
        for (index, name) in staging.order.enumerated() {
            let entry = staging.entries[name]!
            entries.append(PickleWriter.Entry(key: name, storageType: try storageType(of: entry.type, object: name),
                                              storageKey: String(index), shape: entry.shape))
        }
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: temporaryPath), accessMode: .create) } catch {
            throw StoreError(.writeFailed, file: path, reason: "cannot create \(temporaryPath): \(error)")
        }
        let date = Date(timeIntervalSince1970: 315_532_800)     // 1980-01-01, zip's first day: the same bytes every time
        func add(_ member: String, size: Int, _ provider: @escaping (Int, Int) throws -> Data) throws {
            do {
                try archive.addEntry(with: "\(stem)/\(member)", type: .file, uncompressedSize: Int64(size), modificationDate: date,
                                     compressionMethod: .none) { position, count in try provider(Int(position), count) }
            } catch let error as StoreError {
                throw error
            } catch {
                throw StoreError(.writeFailed, file: path, reason: "cannot write the output: \(error)")
            }
        }
        func add(_ member: String, _ bytes: [UInt8]) throws {
            let data = Data(bytes)
            try add(member, size: bytes.count) { position, count in data.subdata(in: position..<(position + count)) }
        }
        try add("data.pkl", PickleWriter.stateDict(entries))
        try add("byteorder", Array("little".utf8))
        for (index, name) in staging.order.enumerated() {
            let entry = staging.entries[name]!
            try add("data/\(index)", size: entry.size) { [staging] position, count in
                Data(try staging.read(at: entry.offset + position, count: count))
            }
        }
        try add("version", Array("3\n".utf8))
        let output = open(temporaryPath, O_RDONLY | O_CLOEXEC)
        guard output >= 0, fsync(output) == 0 else {
            if output >= 0 { close(output) }
            throw StoreError(.writeFailed, file: path, reason: "cannot write the output: \(systemErrorDescription(errno))")
        }
        close(output)
        try beforePublishing()
        try OutputTarget.publish(temporaryPath, as: path, replace: replacesExisting)
        published = true
        OutputTarget.syncDirectory(of: path)
        staging.remove()
    }

    /// The archive's folder: the file's name without its folder and its last extension (`model` of
    /// `out/model.pt`), as `torch.save` names it; `archive` when that leaves nothing.
    static func stem(of path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let stem = name.lastIndex(of: ".").map { String(name[..<$0]) } ?? name
        return stem.isEmpty ? "archive" : stem
    }

    /// Removes the temporary files unless `finish()` published the output (then only the data file).
    public func discard() {
        staging.remove()
        if !published { unlink(temporaryPath) }
    }

    deinit { discard() }
}
