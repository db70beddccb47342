import GRUCore
import Glibc

/// A new TensorFlow V2 checkpoint being written (§2–§5 of the format notes): `PREFIX.index` (an
/// uncompressed table: the header entry `""` with one shard and version producer 1, then one
/// `BundleEntryProto` per tensor with dtype, shape, shard 0, offset, size and masked crc32c, in bytewise
/// key order) and one data file `PREFIX.data-00000-of-00001` holding every tensor's bytes, densely packed
/// in the order they were created; strings in TensorFlow's layout (varint lengths, their masked
/// checksum, the bytes).
///
/// A checkpoint is a flat map of names: containers are only remembered (so `exists` answers for them),
/// and it holds no attributes. Attributes are never dropped silently: copying or setting one is an error
/// naming it, except this tool's own `gru_convert_layout` (the layout a split cell came from), which is
/// left out and reported in `notes`, so a later fuse of these tensors uses the default layout of the
/// cell's family.
///
/// Both files are written as temporary files the caller names (beside the output); `finish()` syncs
/// them and renames the data file into place, then the index (a reader opens a checkpoint by its index),
/// `discard()` removes both.
public final class TFCheckpointWriter: TensorSink {
    /// The checkpoint prefix, as the user named it, for messages.
    public let path: String
    /// `PREFIX.index`.
    public var indexPath: String { path + ".index" }
    /// `PREFIX.data-00000-of-00001`.
    public var dataPath: String { path + ".data-00000-of-00001" }
    /// The index file actually written until `finish()`.
    public let temporaryIndexPath: String
    /// The data file actually written until `finish()`.
    public let temporaryDataPath: String
    /// The attribute this tool writes on a split cell's scope; the one attribute a checkpoint sink leaves out.
    public static let layoutAttribute = "gru_convert_layout"
    /// What was left out, one line each: `gru_convert_layout` records, and the attributes dropped when
    /// `dropsAttributes` is set.
    public var notes: [String] {
        guard !droppedAttributes.isEmpty else { return layoutNotes }
        let shown = droppedAttributes.prefix(3).joined(separator: ", ")
        return layoutNotes + ["\(droppedAttributes.count) attribute\(droppedAttributes.count == 1 ? "" : "s") left out, which a "
                              + "TensorFlow checkpoint cannot hold (--drop-attributes): \(shown)\(droppedAttributes.count > 3 ? ", ..." : "")"]
    }
    /// Leave out the attributes a checkpoint cannot hold, listing them in `notes`, instead of refusing them.
    public var dropsAttributes = false
    private var layoutNotes: [String] = []
    private var droppedAttributes: [String] = []

    private struct Entry {
        var dtype: Int
        var shape: [Int]
        var offset: Int
        var size: Int
        /// Unmasked crc32c of the bytes written so far.
        var crc: UInt32 = 0
        /// For tensors made by `create`: the next row `writeRawRows` expects, the row count and row bytes.
        var nextRow = 0
        var rowCount = 0
        var rowBytes = 0
    }

    private var descriptor: Int32
    /// Whether `finish()` may replace existing files (`--force`); otherwise files that appeared while
    /// this checkpoint was written are kept, and `finish()` fails.
    public var replacesExisting = false
    /// Run by `finish()` once both files are complete and synced, just before they are renamed into place.
    public var beforePublishing: () throws -> Void = {}
    /// Starts the disk writes of the data file as it grows.
    private var writeback = EarlyWriteback(descriptor: -1)
    private var end = 0
    private var entries: [String: Entry] = [:]
    private var containers: Set<String> = []
    private var published = false

    /// Creates `temporaryDataPath` (failing if it exists) for a checkpoint to be published at `prefix`.
    public init(creating prefix: String, temporaryIndexPath: String, temporaryDataPath: String) throws {
        path = prefix
        self.temporaryIndexPath = temporaryIndexPath
        self.temporaryDataPath = temporaryDataPath
        descriptor = open(temporaryDataPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StoreError(.writeFailed, file: prefix, reason: "cannot create \(temporaryDataPath): \(systemErrorDescription(errno))")
        }
        writeback = EarlyWriteback(descriptor: descriptor)
    }

    // MARK: - Names

    /// Whether `name` is a tensor written here, a remembered container, or the parent of a tensor.
    public func exists(_ name: String) -> Bool {
        name.isEmpty || entries[name] != nil || containers.contains(name)
            || entries.keys.contains { $0.hasPrefix(name + "/") }
    }

    /// Remembers the name: a checkpoint has no containers.
    public func createContainer(_ name: String) throws { containers.insert(name) }

    // MARK: - Tensors

    /// The checkpoint dtype (`DataType` enum value) of an element type, or an error naming the tensor:
    /// floats, integers, strings, and the types a checkpoint reader reports as `.other` (bool, bfloat16,
    /// complex, quantized and narrow types) are written; variants, resources and HDF5-only types are not.
    static func dtype(of type: ElementType, file: String, object: String) throws -> Int {
        switch type {
        case .float(16): return 19
        case .float(32): return 1
        case .float(64): return 2
        case .integer(let bits, let signed):
            let table: [Int: (signed: Int, unsigned: Int)] = [8: (6, 4), 16: (5, 17), 32: (3, 22), 64: (9, 23)]
            if let pair = table[bits] { return signed ? pair.signed : pair.unsigned }
        case .string: return TFDataType.stringValue
        case .other(let name):
            if let value = (1...40).first(where: { TFDataType(rawValue: $0).name == name }),
               TFDataType(rawValue: value).width != nil {
                return value
            }
        default: break
        }
        throw StoreError(.unsupportedType, file: file, object: object,
                         reason: "holds \(type) values, which a TensorFlow checkpoint cannot hold; it is not converted")
    }

    private func checkNew(_ name: String) throws {
        guard !name.isEmpty else {
            throw StoreError(.invalidRequest, file: path, object: name, reason: "the empty name is the checkpoint's header")
        }
        guard entries[name] == nil else {
            throw StoreError(.invalidRequest, file: path, object: name, reason: "is already in the checkpoint")
        }
    }

    /// Reserves the bytes of a fixed-width tensor of any rank, whose rows are then written in order with
    /// `writeRawRows` (a rank-0 or rank-1 tensor is one row; rank n >= 2 has `shape[0]` rows).
    public func create(_ name: String, elementType: ElementType, shape: [Int]) throws {
        try checkNew(name)
        let dtype = try Self.dtype(of: elementType, file: path, object: name)
        guard let width = TFDataType(rawValue: dtype).width else {
            throw StoreError(.unsupportedType, file: path, object: name, reason: "cannot create a \(elementType) tensor")
        }
        // A shape read from a damaged file can claim more bytes than an Int holds: refused, never a trap.
        var product: (Int, Bool) = (width, false)
        for extent in shape where !product.1 { product = product.0.multipliedReportingOverflow(by: extent) }
        let (newEnd, past) = end.addingReportingOverflow(product.0)
        guard !product.1, !past, shape.allSatisfy({ $0 >= 0 }) else {
            throw StoreError(.tooLarge, file: path, object: name, reason: "a \(elementType) tensor of shape \(shape) is too large to write")
        }
        let size = product.0
        let rowCount = shape.count >= 2 ? shape[0] : 1
        let rowBytes = shape.count >= 2 ? shape.dropFirst().reduce(width, *) : size
        entries[name] = Entry(dtype: dtype, shape: shape, offset: end, size: size,
                              rowCount: size == 0 ? 0 : rowCount, rowBytes: rowBytes)
        end = newEnd
    }

    /// Writes rows `rows` of a tensor made by `create`; rows must come in order, each once.
    public func writeRawRows(_ name: String, rows: Range<Int>, from bytes: UnsafeRawBufferPointer) throws {
        guard var entry = entries[name], entry.rowBytes > 0 || entry.rowCount == 0 else {
            throw StoreError(.invalidRequest, file: path, object: name, reason: "was not created by this writer")
        }
        guard rows.lowerBound == entry.nextRow, rows.upperBound <= entry.rowCount, bytes.count >= rows.count * entry.rowBytes else {
            throw StoreError(.invalidRequest, file: path, object: name,
                             reason: "rows \(rows) cannot be written (next row \(entry.nextRow) of \(entry.rowCount), \(bytes.count) bytes)")
        }
        let part = UnsafeRawBufferPointer(rebasing: bytes[0..<(rows.count * entry.rowBytes)])
        try write(part, at: entry.offset + entry.nextRow * entry.rowBytes, name)
        entry.crc = CRC32C.extend(entry.crc, part)
        entry.nextRow = rows.upperBound
        entries[name] = entry
    }

    /// Writes `values` whole as tensor `name`: fixed-width types as their bytes, strings in TensorFlow's
    /// string layout. `source` and `sourceName` name the tensor in errors about its type.
    public func write(_ name: String, values: StoredValues, source: String? = nil, sourceName: String? = nil) throws {
        try checkNew(name)
        let dtype = try Self.dtype(of: values.elementType, file: source ?? path, object: sourceName ?? name)
        let bytes: [UInt8]
        var crc: UInt32
        switch values.storage {
        case .bytes(let raw):
            guard let width = TFDataType(rawValue: dtype).width, raw.count == values.elementCount * width else {
                throw StoreError(.invalidRequest, file: path, object: name, reason: "\(raw.count) bytes do not fill its shape")
            }
            bytes = raw
            crc = CRC32C.checksum(raw)
        case .strings(let strings):
            guard dtype == TFDataType.stringValue, strings.count == values.elementCount else {
                throw StoreError(.invalidRequest, file: path, object: name, reason: "\(strings.count) strings do not fill its shape")
            }
            (bytes, crc) = Self.stringLayout(strings)
        }
        try bytes.withUnsafeBytes { try write($0, at: end, name) }
        entries[name] = Entry(dtype: dtype, shape: values.shape, offset: end, size: bytes.count, crc: crc)
        end += bytes.count
    }

    /// TensorFlow's string tensor bytes (`WriteStringTensor`) and their unmasked crc32c: varint64 lengths,
    /// the masked crc32c of the lengths (each as uint32, or uint64 above 0xFFFFFFFF), the bytes; the crc
    /// covers the lengths as checksummed, the 4 stored checksum bytes and the strings.
    static func stringLayout(_ strings: [[UInt8]]) -> (bytes: [UInt8], crc: UInt32) {
        var bytes: [UInt8] = []
        var crc: UInt32 = 0
        for string in strings {
            bytes += SSTableWriter.varint(UInt64(string.count))
            if string.count > Int(UInt32.max) {
                crc = withUnsafeBytes(of: UInt64(string.count).littleEndian) { CRC32C.extend(crc, $0) }
            } else {
                crc = withUnsafeBytes(of: UInt32(string.count).littleEndian) { CRC32C.extend(crc, $0) }
            }
        }
        let lengthChecksum = CRC32C.mask(crc)
        withUnsafeBytes(of: lengthChecksum.littleEndian) { stored in
            bytes += stored
            crc = CRC32C.extend(crc, stored)
        }
        for string in strings {
            bytes += string
            crc = CRC32C.extend(crc, string)
        }
        return (bytes, crc)
    }

    /// Copies tensor `name` of `source` whole as `target`: float tensors of rank 1 or 2 in row blocks
    /// (`readRawRows`), any other tensor read whole (`readAll`). Its attributes follow `copyAttributes`.
    public func copy(_ name: String, from source: any TensorSource, as target: String) throws {
        guard let variable = try source.variables().first(where: { $0.name == name }) else {
            throw StoreError(.notFound, file: source.path, object: name, reason: "no such tensor")
        }
        _ = try Self.dtype(of: variable.elementType, file: source.path, object: name)
        if variable.elementType.byteWidth != nil, (1...2).contains(variable.shape.count) {
            try copyRows(of: variable, from: source, as: target)
        } else {
            try write(target, values: try HDF5Writer.readAll(name, from: source, into: "a TensorFlow checkpoint"),
                      source: source.path, sourceName: name)
        }
        try copyAttributes(of: name, from: source, to: target, skip: { _ in false })
    }

    // MARK: - Attributes

    /// A checkpoint holds no attributes: any attribute of `object` not skipped is an error naming it,
    /// except `gru_convert_layout`, which is left out and noted.
    public func copyAttributes(of object: String, from source: any TensorSource, to target: String,
                               skip: (String) -> Bool) throws {
        for name in try source.attributeNames(of: object) where !skip(name) {
            if name == Self.layoutAttribute {
                let value = try source.stringAttribute(name, of: object) ?? "?"
                try setStringAttribute(name, value, on: target)
                continue
            }
            if dropsAttributes {
                droppedAttributes.append("\(object.isEmpty ? "/" : object)@\(name)")
                continue
            }
            throw StoreError(.unsupportedType, file: source.path, object: "\(object.isEmpty ? "/" : object)@\(name)",
                             reason: "is an attribute, which a TensorFlow checkpoint cannot hold; convert to HDF5 to keep it, "
                                 + "or leave attributes out with --drop-attributes")
        }
    }

    /// Only `gru_convert_layout` is accepted, and left out with a note; any other attribute is an error.
    public func setStringAttribute(_ name: String, _ value: String, on object: String) throws {
        guard name == Self.layoutAttribute else {
            throw StoreError(.unsupportedType, file: path, object: "\(object.isEmpty ? "/" : object)@\(name)",
                             reason: "is an attribute, which a TensorFlow checkpoint cannot hold")
        }
        layoutNotes.append("\(object): a checkpoint cannot record that this cell was split from the \(value) layout "
                     + "(\(name)); fusing it back uses the default fused layout of its family")
    }

    // MARK: - Publishing

    private func write(_ bytes: UnsafeRawBufferPointer, at offset: Int, _ name: String) throws {
        let error = writeFully(descriptor, bytes, at: offset)
        guard error == 0 else {
            throw StoreError(.writeFailed, file: path, object: name, reason: "cannot write the data file: \(systemErrorDescription(error))")
        }
        writeback.wrote(bytes.count)
    }

    /// The serialized `BundleEntryProto` of an entry (proto3: zero fields left out; shape always present).
    private static func entryProto(_ entry: Entry) -> [UInt8] {
        var shape: [UInt8] = []
        for extent in entry.shape {
            let dim: [UInt8] = extent == 0 ? [] : [0x08] + SSTableWriter.varint(UInt64(extent))
            shape += [0x12] + SSTableWriter.varint(UInt64(dim.count)) + dim
        }
        var proto: [UInt8] = [0x08] + SSTableWriter.varint(UInt64(entry.dtype))
        proto += [0x12] + SSTableWriter.varint(UInt64(shape.count)) + shape
        if entry.offset != 0 { proto += [0x20] + SSTableWriter.varint(UInt64(entry.offset)) }
        if entry.size != 0 { proto += [0x28] + SSTableWriter.varint(UInt64(entry.size)) }
        let masked = CRC32C.mask(entry.crc)
        if masked != 0 {
            proto.append(0x35)
            withUnsafeBytes(of: masked.littleEndian) { proto += $0 }
        }
        return proto
    }

    /// The bytes of the index file for the tensors written so far.
    func indexBytes() -> [UInt8] {
        let header: [UInt8] = [0x08, 0x01, 0x1a, 0x02, 0x08, 0x01]  // num_shards 1, version { producer 1 }
        let sorted = entries.map { (key: Array($0.key.utf8), value: Self.entryProto($0.value)) }
            .sorted { SSTableWriter.less($0.key, $1.key) }
        return SSTableWriter.table([(key: [], value: header)] + sorted)
    }

    /// Checks every tensor was written in full, syncs the data file, writes and syncs the index, then
    /// renames the data file into place and the index after it.
    public func finish() throws {
        for (name, entry) in entries where entry.nextRow < entry.rowCount {
            throw StoreError(.invalidRequest, file: path, object: name,
                             reason: "only \(entry.nextRow) of its \(entry.rowCount) rows were written")
        }
        func fail(_ what: String) -> StoreError {
            StoreError(.writeFailed, file: path, reason: "\(what): \(systemErrorDescription(errno))")
        }
        guard fsync(descriptor) == 0 else { throw fail("cannot write the data file") }
        let closed = close(descriptor)
        descriptor = -1
        guard closed == 0 else { throw fail("cannot write the data file") }
        let index = indexBytes()
        let indexDescriptor = open(temporaryIndexPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard indexDescriptor >= 0 else { throw fail("cannot create \(temporaryIndexPath)") }
        descriptor = indexDescriptor
        try index.withUnsafeBytes { try write($0, at: 0, nil ?? "") }
        guard fsync(indexDescriptor) == 0 else { throw fail("cannot write the index file") }
        let indexClosed = close(indexDescriptor)
        descriptor = -1
        guard indexClosed == 0 else { throw fail("cannot write the index file") }
        try beforePublishing()
        // Two renames cannot be one step. With --force, the data file they replace is first set aside, so
        // that when the index cannot follow, the checkpoint that was there is put back as it was.
        var info = stat()
        let setAside = replacesExisting && lstat(dataPath, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
            ? temporaryDataPath + ".replaced" : nil
        if let setAside, rename(dataPath, setAside) != 0 {
            throw StoreError(.writeFailed, file: dataPath, reason: "cannot move the finished file into place: \(systemErrorDescription(errno))")
        }
        var dataPublished = false
        do {
            try OutputTarget.publish(temporaryDataPath, as: dataPath, replace: replacesExisting)
            dataPublished = true
            try OutputTarget.publish(temporaryIndexPath, as: indexPath, replace: replacesExisting)
        } catch {
            if dataPublished { unlink(dataPath) }   // ours: published a moment ago
            if let setAside { rename(setAside, dataPath) }
            throw error
        }
        if let setAside { unlink(setAside) }
        published = true
        OutputTarget.syncDirectory(of: indexPath)
    }

    /// Closes and removes both temporary files unless `finish()` published them.
    public func discard() {
        guard !published else { return }
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        unlink(temporaryDataPath)
        unlink(temporaryIndexPath)
    }

    deinit { discard() }
}
