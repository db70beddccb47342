import CHDF5
import GRUCore
import Glibc

/// A new HDF5 file being written, always through `HDF5Library`'s chokepoint: groups, datasets copied whole
/// (`H5Ocopy`: values, type, shape, attributes, chunking and compression), datasets written from raw
/// elements in row blocks, and attributes copied or set.
///
/// Everything goes into a temporary file that the caller names (beside the output, so that publishing is
/// one `rename(2)`); `finish()` flushes, closes, syncs and renames it into place, `discard()` removes it.
public final class HDF5Writer: TensorSink {
    /// The final path, as the user named it, for messages.
    public let path: String
    /// The file actually written until `finish()`.
    public let temporaryPath: String
    private(set) var file: HDF5Handle?
    let linkCreation: HDF5Handle
    private let datasetCreation: HDF5Handle
    /// `H5Ocopy`'s properties: committed datatypes already in this file are shared, not copied again.
    let copyObjects: HDF5Handle
    /// Datasets made by `create`, with their shapes, element types and rows written so far: open until
    /// their last row is written (libhdf5 holds tens of kilobytes per open dataset; a checkpoint can have
    /// thousands of them).
    private var created: [String: (dataset: HDF5Handle, shape: [Int], type: ElementType, rowsWritten: Int)] = [:]
    private var published = false
    /// Whether `finish()` may replace a file at `path` (`--force`); otherwise a file that appeared there
    /// while this one was written is kept, and `finish()` fails.
    public var replacesExisting = false
    /// Run by `finish()` once the file is complete and synced, just before it is renamed into place.
    public var beforePublishing: () throws -> Void = {}
    /// Starts the disk writes of the temporary file as it grows (a read-only descriptor of it).
    private var writeback: EarlyWriteback

    /// Creates `temporaryPath`, failing if it exists (`H5Fcreate` with `H5F_ACC_EXCL`), to become `path`.
    public init(creating path: String, temporaryPath: String) throws {
        self.path = path
        self.temporaryPath = temporaryPath
        let access = HDF5Handle(try HDF5Library.call("make a property list", file: path) {
            gc_file_access_plist_for_writing()
        }, .propertyList)
        let id = try HDF5Library.call("create the output file", file: path) {
            H5Fcreate(temporaryPath, gc_file_access_exclusive(), gc_default_plist(), access.id)
        }
        file = HDF5Handle(id, .file)
        writeback = EarlyWriteback(descriptor: open(temporaryPath, O_RDONLY | O_CLOEXEC))
        linkCreation = HDF5Handle(try HDF5Library.call("make a property list", file: path) {
            gc_link_create_plist_with_intermediate_groups()
        }, .propertyList)
        datasetCreation = HDF5Handle(try HDF5Library.call("make a property list", file: path) {
            gc_dataset_create_plist_written_in_full()
        }, .propertyList)
        copyObjects = HDF5Handle(try HDF5Library.call("make a property list", file: path) {
            gc_object_copy_plist_merging_committed_types()
        }, .propertyList)
    }

    var fileID: hid_t { file?.id ?? -1 }

    func call<R: BinaryInteger>(_ operation: String, _ object: String?, _ body: () -> R) throws -> R {
        do {
            return try HDF5Library.call(operation, file: path, object: object, body)
        } catch var error as StoreError {
            error.code = .writeFailed
            throw error
        }
    }

    /// Whether `name` exists in the output as a link (each path component checked, `H5Lexists`).
    public func exists(_ name: String) -> Bool {
        guard !name.isEmpty else { return true }
        var path = ""
        for component in name.split(separator: "/") {
            path += path.isEmpty ? String(component) : "/" + component
            guard HDF5Library.locked({ H5Lexists(fileID, path, gc_default_plist()) }) > 0 else { return false }
        }
        return true
    }

    /// Creates a group and any missing parents (`H5Gcreate2`), unless it exists.
    public func createContainer(_ name: String) throws {
        guard !exists(name) else { return }
        let id = try call("create the group", name) {
            H5Gcreate2(fileID, name, linkCreation.id, gc_default_plist(), gc_default_plist())
        }
        _ = HDF5Handle(id, .group)
    }

    /// Copies a dataset whole: from another HDF5 file with `H5Ocopy` (type, storage, filters and
    /// attributes as they are); from any other source, every value of any rank (scalars too) and its
    /// string attributes. Float tensors of rank 1 or 2 move in row blocks (`readRawRows`); every other
    /// tensor is read whole (`readAll`, within the memory budget) and written as `write(_:values:)` says.
    public func copy(_ name: String, from source: any TensorSource, as target: String) throws {
        if let hdf5 = source as? HDF5File {
            _ = try call("copy the dataset", name) {
                H5Ocopy(hdf5.fileID, name, fileID, target, copyObjects.id, linkCreation.id)
            }
            try removeReferenceAttributes(of: target)
            return
        }
        guard let variable = try source.variables().first(where: { $0.name == name }) else {
            throw StoreError(.notFound, file: source.path, object: name, reason: "no such tensor")
        }
        if variable.elementType.byteWidth != nil, (1...2).contains(variable.shape.count) {
            try copyRows(of: variable, from: source, as: target)
        } else {
            // Refuse what HDF5 cannot hold before reading a byte of it.
            _ = try Self.fileType(for: variable.elementType, file: source.path, object: name)
            try write(target, values: try readAll(name, from: source, into: "HDF5"), source: source.path, sourceName: name)
        }
        try copyAttributes(of: name, from: source, to: target, skip: { _ in false })
    }

    /// `source.readAll(name)`, a refusal of the default reader naming the sink's format.
    static func readAll(_ name: String, from source: any TensorSource, into format: String) throws -> StoredValues {
        do {
            return try source.readAll(name)
        } catch var error as StoreError where error.reason == StoredValues.onlyFloats(from: source.formatName) {
            error.reason += " into \(format)"
            throw error
        }
    }

    private func readAll(_ name: String, from source: any TensorSource, into format: String) throws -> StoredValues {
        try Self.readAll(name, from: source, into: format)
    }

    /// The HDF5 type a value type is stored as: IEEE little-endian floats (16, 32, 64 bits), standard
    /// little-endian integers, `bool` as h5py's enum `{FALSE = 0, TRUE = 1}` over int8 (so h5py and NumPy
    /// read it back as `bool`), strings as variable-length strings. Anything else (bfloat16, complex,
    /// quantized and narrow types) is refused, naming the tensor.
    static func fileType(for type: ElementType, file: String, object: String) throws -> HDF5Handle {
        func make(_ body: () -> hid_t) throws -> HDF5Handle {
            HDF5Handle(try HDF5Library.call("make a datatype", file: file, object: object, body), .datatype)
        }
        switch type {
        case .float(let bits) where [16, 32, 64].contains(bits):
            return try make { gc_ieee_float_le(Int32(bits)) }
        case .integer(let bits, let signed) where [8, 16, 32, 64].contains(bits):
            return try make { HDF5Types.integer(bits: bits, signed: signed) }
        case .other("bool"):
            let base = try make { HDF5Types.integer(bits: 8, signed: true) }
            let type = try make { H5Tenum_create(base.id) }
            for (name, value) in [("FALSE", Int8(0)), ("TRUE", Int8(1))] {
                var value = value
                _ = try HDF5Library.call("make a datatype", file: file, object: object) { H5Tenum_insert(type.id, name, &value) }
            }
            return type
        case .string:
            let type = try make { H5Tcopy(gc_c_string()) }
            _ = try HDF5Library.call("make a datatype", file: file, object: object) { H5Tset_size(type.id, gc_variable_size()) }
            return type
        default:
            throw StoreError(.unsupportedType, file: file, object: object,
                             reason: "holds \(type) values, which HDF5 cannot hold without changing them; it is not converted")
        }
    }

    /// Writes `values` whole as a new dataset `name` of any rank (`[]` is a scalar), with the type
    /// `fileType(for:)` gives. Strings are stored as variable-length strings, UTF-8 when they all are
    /// (ASCII otherwise, bytes unchanged); a string holding a NUL byte cannot be an HDF5 string and is
    /// refused. `source` and `sourceName` name the tensor in errors about its values.
    public func write(_ name: String, values: StoredValues, source: String? = nil, sourceName: String? = nil) throws {
        let type = try Self.fileType(for: values.elementType, file: source ?? path, object: sourceName ?? name)
        var dims = values.shape.map { hsize_t($0) }
        let space = HDF5Handle(try call("make a dataspace", name) {
            values.shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), &dims, nil)
        }, .dataspace)
        switch values.storage {
        case .bytes(let bytes):
            guard let width = StoredValues.width(of: values.elementType), bytes.count == values.elementCount * width else {
                throw StoreError(.invalidRequest, file: path, object: name, reason: "\(bytes.count) bytes do not fill its shape")
            }
            let dataset = HDF5Handle(try call("create the dataset", name) {
                H5Dcreate2(fileID, name, type.id, space.id, linkCreation.id, datasetCreation.id, gc_default_plist())
            }, .dataset)
            if !bytes.isEmpty {
                _ = try call("write the dataset", name) {
                    bytes.withUnsafeBytes { H5Dwrite(dataset.id, type.id, gc_all_space(), gc_all_space(), gc_default_plist(), $0.baseAddress) }
                }
            }
        case .strings(let strings):
            guard strings.count == values.elementCount else {
                throw StoreError(.invalidRequest, file: path, object: name, reason: "\(strings.count) strings do not fill its shape")
            }
            if let index = strings.firstIndex(where: { $0.contains(0) }) {
                throw StoreError(.unsupportedType, file: source ?? path, object: sourceName ?? name,
                                 reason: "string \(index) holds a NUL byte, which an HDF5 string cannot hold; it is not converted")
            }
            let utf8 = strings.allSatisfy { String(validating: $0, as: UTF8.self) != nil }
            _ = try call("make a datatype", name) { H5Tset_cset(type.id, utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII) }
            // Variable-length types need a fill value, so the default creation properties.
            let dataset = HDF5Handle(try call("create the dataset", name) {
                H5Dcreate2(fileID, name, type.id, space.id, linkCreation.id, gc_default_plist(), gc_default_plist())
            }, .dataset)
            guard !strings.isEmpty else { return }
            let copies = strings.map { bytes -> UnsafeMutablePointer<CChar> in
                let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
                bytes.withUnsafeBytes { UnsafeMutableRawPointer(pointer).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
                pointer[bytes.count] = 0
                return pointer
            }
            defer { copies.forEach { $0.deallocate() } }
            var pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
            _ = try call("write the dataset", name) {
                H5Dwrite(dataset.id, type.id, gc_all_space(), gc_all_space(), gc_default_plist(), &pointers)
            }
        }
    }

    /// Copies every attribute of `object` in `source` to `target` here, except those `skip` names: from
    /// HDF5, read and written with the stored type, so values move unchanged; from another format, its
    /// string attributes (any other kind is refused, never dropped).
    public func copyAttributes(of object: String, from source: any TensorSource, to target: String,
                               skip: (String) -> Bool) throws {
        guard let source = source as? HDF5File else {
            for name in try source.attributeNames(of: object) where !skip(name) {
                // A source lists an attribute it then cannot give as a string: refuse it, never drop it.
                guard let value = try source.stringAttribute(name, of: object) else {
                    throw StoreError(.unsupportedType, file: source.path, object: "\(object.isEmpty ? "/" : object)@\(name)",
                                     reason: "only string attributes can be copied from \(source.formatName) into HDF5")
                }
                try setStringAttribute(name, value, on: target)
            }
            return
        }
        let sourceObject = try source.openObject(object)
        let targetObject = HDF5Handle(try call("open the object", target) {
            H5Oopen(fileID, target.isEmpty ? "/" : target, gc_default_plist())
        }, .object)
        for name in try source.attributeNames(of: sourceObject, object) where !skip(name) {
            let place = "\(object.isEmpty ? "/" : object)@\(name)"
            // References would point into the source: they are carried (`carry`), re-pointed, or refused.
            guard try !HDF5File.holdsReferences(attribute: name, of: sourceObject, place: place, file: source.path) else { continue }
            // Reading is the source's business: a failure there names the source file, never the output.
            let attribute = HDF5Handle(try source.call("open the attribute", place) {
                H5Aopen(sourceObject.id, name, gc_default_plist())
            }, .attribute)
            let type = HDF5Handle(try source.call("read the attribute's type", place) { H5Aget_type(attribute.id) }, .datatype)
            let space = HDF5Handle(try source.call("read the attribute's shape", place) { H5Aget_space(attribute.id) }, .dataspace)
            let count = try source.call("count the attribute's elements", place) { H5Sget_simple_extent_npoints(space.id) }
            let size = HDF5Library.locked { H5Tget_size(type.id) }
            try source.memoryBudget.check(elements: Int(count), of: size, file: source.path, object: place,
                                          what: "copying this attribute")
            var buffer = [UInt8](repeating: 0, count: max(1, Int(count) * size))
            _ = try source.call("read the attribute", place) { H5Aread(attribute.id, type.id, &buffer) }
            defer {
                if HDF5Library.locked({ H5Tdetect_class(type.id, H5T_VLEN) }) > 0
                    || HDF5Library.locked({ H5Tis_variable_str(type.id) }) > 0 {
                    _ = HDF5Library.locked { gc_reclaim(type.id, space.id, &buffer) }
                }
            }
            // A committed datatype of the source is carried under its name: the attribute shares it here too.
            let shared = try source.committedTypeName(type).flatMap { typeName -> HDF5Handle? in
                guard exists(typeName) else { return nil }
                return HDF5Handle(try call("open the committed datatype", typeName) { H5Topen2(fileID, typeName, gc_default_plist()) },
                                  .datatype)
            }
            let created = HDF5Handle(try call("write the attribute", place) {
                H5Acreate2(targetObject.id, name, (shared ?? type).id, space.id, gc_default_plist(), gc_default_plist())
            }, .attribute)
            _ = try call("write the attribute", place) { H5Awrite(created.id, type.id, buffer) }
        }
    }

    /// Removes the attributes of references of `object` that `H5Ocopy` carried with their references
    /// nulled (it cannot re-point them into another file): `carry` writes them again, re-pointed.
    func removeReferenceAttributes(of object: String) throws {
        let handle = HDF5Handle(try call("open the object", object) { H5Oopen(fileID, object, gc_default_plist()) }, .object)
        guard HDF5Library.locked({ gc_object_attribute_count(handle.id) }) > 0 else { return }
        for name in try HDF5File.attributeNames(of: handle, object, file: path) {
            let attribute = HDF5Handle(try call("open the attribute", object) { H5Aopen(handle.id, name, gc_default_plist()) }, .attribute)
            let type = HDF5Handle(try call("read the attribute's type", object) { H5Aget_type(attribute.id) }, .datatype)
            if HDF5Library.locked({ H5Tdetect_class(type.id, H5T_REFERENCE) }) > 0 {
                _ = try call("replace the attribute", object) { H5Adelete(handle.id, name) }
            }
        }
    }

    /// Sets a variable-length UTF-8 string attribute on `object`.
    public func setStringAttribute(_ name: String, _ value: String, on object: String) throws {
        let place = "\(object.isEmpty ? "/" : object)@\(name)"
        let target = HDF5Handle(try call("open the object", object) {
            H5Oopen(fileID, object.isEmpty ? "/" : object, gc_default_plist())
        }, .object)
        let type = HDF5Handle(try call("make a string type", place) { H5Tcopy(gc_c_string()) }, .datatype)
        _ = try call("make a string type", place) { H5Tset_size(type.id, gc_variable_size()) }
        _ = try call("make a string type", place) { H5Tset_cset(type.id, H5T_CSET_UTF8) }
        let space = HDF5Handle(try call("make a dataspace", place) { H5Screate(H5S_SCALAR) }, .dataspace)
        let attribute = HDF5Handle(try call("write the attribute", place) {
            H5Acreate2(target.id, name, type.id, space.id, gc_default_plist(), gc_default_plist())
        }, .attribute)
        try value.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            _ = try call("write the attribute", place) { H5Awrite(attribute.id, type.id, &pointer) }
        }
    }

    /// Sets an attribute of `values` as a one-dimensional array of variable-length UTF-8 strings (what
    /// Keras writes for `layer_names` and `weight_names`); an empty list is written as Keras writes it, an
    /// empty float64 array of shape (0,).
    public func setStringListAttribute(_ name: String, _ values: [String], on object: String) throws {
        let place = "\(object.isEmpty ? "/" : object)@\(name)"
        let target = HDF5Handle(try call("open the object", object) {
            H5Oopen(fileID, object.isEmpty ? "/" : object, gc_default_plist())
        }, .object)
        var dims = [hsize_t(values.count)]
        let space = HDF5Handle(try call("make a dataspace", place) { H5Screate_simple(1, &dims, nil) }, .dataspace)
        if values.isEmpty {
            let type = HDF5Handle(try call("make a float type", place) { gc_ieee_float_le(64) }, .datatype)
            _ = HDF5Handle(try call("write the attribute", place) {
                H5Acreate2(target.id, name, type.id, space.id, gc_default_plist(), gc_default_plist())
            }, .attribute)
            return
        }
        let type = HDF5Handle(try call("make a string type", place) { H5Tcopy(gc_c_string()) }, .datatype)
        _ = try call("make a string type", place) { H5Tset_size(type.id, gc_variable_size()) }
        _ = try call("make a string type", place) { H5Tset_cset(type.id, H5T_CSET_UTF8) }
        let attribute = HDF5Handle(try call("write the attribute", place) {
            H5Acreate2(target.id, name, type.id, space.id, gc_default_plist(), gc_default_plist())
        }, .attribute)
        let copies = values.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        var pointers = copies.map { $0.map { UnsafePointer<CChar>($0) } }
        _ = try call("write the attribute", place) { H5Awrite(attribute.id, type.id, &pointers) }
    }

    /// Creates a contiguous dataset of `shape` holding little-endian IEEE floats of the given width
    /// (parents created as needed), never pre-filled: every element is written afterwards.
    public func create(_ name: String, elementType: ElementType, shape: [Int]) throws {
        guard case .float(let bits) = elementType, elementType.byteWidth != nil else {
            throw StoreError(.unsupportedType, file: path, object: name, reason: "cannot create a \(elementType) tensor")
        }
        let type = HDF5Handle(try call("make a float type", name) { gc_ieee_float_le(Int32(bits)) }, .datatype)
        var dims = shape.map { hsize_t($0) }
        let space = HDF5Handle(try call("make a dataspace", name) {
            shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), &dims, nil)
        }, .dataspace)
        let dataset = HDF5Handle(try call("create the dataset", name) {
            H5Dcreate2(fileID, name, type.id, space.id, linkCreation.id, datasetCreation.id, gc_default_plist())
        }, .dataset, parent: file)
        created[name] = (dataset, shape, elementType, 0)
    }

    /// Writes rows `rows` of a dataset made by `create` from little-endian IEEE elements.
    public func writeRawRows(_ name: String, rows: Range<Int>, from bytes: UnsafeRawBufferPointer) throws {
        guard let (dataset, shape, elementType, rowsWritten) = created[name], case .float(let bits) = elementType else {
            throw StoreError(.invalidRequest, file: path, object: name, reason: "was not created by this writer")
        }
        let rowElements = shape.count == 2 ? shape[1] : (shape.first ?? 1)
        let rowCount = shape.count == 2 ? shape[0] : 1
        guard rows.upperBound <= rowCount, bytes.count >= rows.count * rowElements * (bits / 8) else {
            throw StoreError(.invalidRequest, file: path, object: name,
                             reason: "rows \(rows) of a \(format(shape)) tensor cannot be written from \(bytes.count) bytes")
        }
        guard !rows.isEmpty, rowElements > 0 else { return }
        let type = HDF5Handle(try call("make a float type", name) { gc_ieee_float_le(Int32(bits)) }, .datatype)
        do {
            try HDF5Blocks.transfer(dataset: dataset, name: name, file: path, shape: shape, rows: rows) { memory, fileSpace in
                H5Dwrite(dataset.id, type.id, memory, fileSpace, gc_default_plist(), bytes.baseAddress)
            }
            writeback.wrote(rows.count * rowElements * (bits / 8))
            // Rows come once each: with the last one the dataset is complete and is closed.
            created[name]!.rowsWritten = rowsWritten + rows.count
            if rowsWritten + rows.count >= rowCount { created[name] = nil }
        } catch var error as StoreError {
            error.code = .writeFailed
            throw error
        }
    }

    /// Flushes and closes the file (`H5Fflush`, `H5Fclose`), syncs it to disk and renames it to `path`.
    public func finish() throws {
        _ = try call("write the output file", nil) { H5Fflush(fileID, H5F_SCOPE_GLOBAL) }
        created = [:]
        file = nil
        let descriptor = open(temporaryPath, O_RDONLY)
        guard descriptor >= 0, fsync(descriptor) == 0 else {
            let error = errno
            if descriptor >= 0 { close(descriptor) }
            throw StoreError(.writeFailed, file: path, reason: "cannot write the output: \(systemErrorDescription(error))")
        }
        guard close(descriptor) == 0 else {
            throw StoreError(.writeFailed, file: path, reason: "cannot write the output: \(systemErrorDescription(errno))")
        }
        try beforePublishing()
        try OutputTarget.publish(temporaryPath, as: path, replace: replacesExisting)
        published = true
        OutputTarget.syncDirectory(of: path)
    }

    /// Closes and removes the temporary file unless `finish()` published it.
    public func discard() {
        guard !published else { return }
        created = [:]
        file = nil
        unlink(temporaryPath)
    }

    deinit {
        discard()
        if writeback.descriptor >= 0 { close(writeback.descriptor) }
    }
}

/// Standard HDF5 types that the shim does not wrap, taken from HDF5's own globals.
enum HDF5Types {
    /// A copy of `H5T_STD_{I,U}<bits>LE` (the caller closes it), or -1. HDF5 spells these as macros over
    /// C globals that Swift cannot import safely, so the global is found by name (`dlsym`) after `H5open`.
    static func integer(bits: Int, signed: Bool) -> hid_t {
        guard H5open() >= 0,
              let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "H5T_STD_\(signed ? "I" : "U")\(bits)LE_g") else { return -1 }
        return H5Tcopy(symbol.load(as: hid_t.self))
    }
}

extension HDF5File {
    /// Every value of dataset `name`, whatever its rank: floats and integers as little-endian bytes of
    /// their stored width, h5py's boolean enum (`{FALSE = 0, TRUE = 1}` over one byte) as `bool`, and
    /// strings (variable-length, or fixed-length with their padding removed) as bytes. Other types
    /// (compound, other enums, opaque, references ...) are refused, naming the dataset.
    public func readAll(_ name: String) throws -> StoredValues {
        let dataset = try openDataset(name)
        let stored = try HDF5Handle(call("read the type", name) { H5Dget_type(dataset.id) }, .datatype)
        let shape = try shape(of: dataset, name)
        let count = shape.reduce(1, *)
        let type = try elementType(stored, name)
        let width: Int
        let memory: HDF5Handle
        switch type {
        case .string:
            return StoredValues(elementType: .string, shape: shape, storage: .strings(try readStrings(dataset, stored, count, name)))
        case .other("bool"):
            width = 1
            memory = HDF5Handle(try call("read the type", name) { H5Tget_native_type(stored.id, H5T_DIR_DEFAULT) }, .datatype)
        case .float(let bits) where [16, 32, 64].contains(bits):
            width = bits / 8
            memory = HDF5Handle(try call("make a float type", name) { gc_ieee_float_le(Int32(bits)) }, .datatype)
        case .integer(let bits, let signed) where [8, 16, 32, 64].contains(bits):
            width = bits / 8
            memory = HDF5Handle(try call("make an integer type", name) { HDF5Types.integer(bits: bits, signed: signed) }, .datatype)
        default:
            throw StoreError(.unsupportedType, file: path, object: name, reason: "holds \(type) values, which cannot be converted")
        }
        try memoryBudget.check(elements: count, of: width, file: path, object: name, what: "reading its \(format(shape)) \(type) values")
        var bytes = [UInt8](repeating: 0, count: count * width)
        if count > 0 {
            _ = try call("read the values", name) {
                bytes.withUnsafeMutableBytes { H5Dread(dataset.id, memory.id, gc_all_space(), gc_all_space(), gc_default_plist(), $0.baseAddress) }
            }
        }
        return StoredValues(elementType: type, shape: shape, storage: .bytes(bytes))
    }

    private func readStrings(_ dataset: HDF5Handle, _ stored: HDF5Handle, _ count: Int, _ name: String) throws -> [[UInt8]] {
        guard count > 0 else { return [] }
        let space = try HDF5Handle(call("read the shape", name) { H5Dget_space(dataset.id) }, .dataspace)
        if HDF5Library.locked({ H5Tis_variable_str(stored.id) }) > 0 {
            try memoryBudget.check(elements: count, of: MemoryLayout<UnsafeMutablePointer<CChar>?>.stride, file: path, object: name,
                                   what: "reading its strings")
            let memory = try HDF5Handle(call("make a string type", name) { H5Tcopy(gc_c_string()) }, .datatype)
            _ = try call("make a string type", name) { H5Tset_size(memory.id, gc_variable_size()) }
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            _ = try call("read the values", name) {
                H5Dread(dataset.id, memory.id, gc_all_space(), gc_all_space(), gc_default_plist(), &pointers)
            }
            defer { _ = HDF5Library.locked { gc_reclaim(memory.id, space.id, &pointers) } }
            return pointers.map { pointer in
                guard let pointer else { return [] }
                return Array(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)))
            }
        }
        let size = HDF5Library.locked { H5Tget_size(stored.id) }
        let padding = HDF5Library.locked { H5Tget_strpad(stored.id) }
        try memoryBudget.check(elements: count, of: size, file: path, object: name, what: "reading its strings")
        var bytes = [UInt8](repeating: 0, count: count * size)
        _ = try call("read the values", name) {
            bytes.withUnsafeMutableBytes { H5Dread(dataset.id, stored.id, gc_all_space(), gc_all_space(), gc_default_plist(), $0.baseAddress) }
        }
        return (0..<count).map { index in
            var element = Array(bytes[(index * size)..<((index + 1) * size)])
            switch padding {
            case H5T_STR_NULLTERM: if let end = element.firstIndex(of: 0) { element.removeSubrange(end...) }
            case H5T_STR_SPACEPAD: while element.last == 0x20 { element.removeLast() }
            default: while element.last == 0 { element.removeLast() }
            }
            return element
        }
    }
}

/// Row-block transfers shared by reading and writing: select rows of a rank-2 dataset, or the whole of a
/// rank-1 one (its only row).
enum HDF5Blocks {
    static func transfer(dataset: HDF5Handle, name: String, file: String, shape: [Int], rows: Range<Int>,
                         _ body: (hid_t, hid_t) -> herr_t) throws {
        var start: [hsize_t] = shape.count == 2 ? [hsize_t(rows.lowerBound), 0] : [0]
        var count: [hsize_t] = shape.count == 2 ? [hsize_t(rows.count), hsize_t(shape[1])] : [hsize_t(shape.first ?? 1)]
        let fileSpace = HDF5Handle(try HDF5Library.call("select rows", file: file, object: name) {
            H5Dget_space(dataset.id)
        }, .dataspace)
        _ = try HDF5Library.call("select rows", file: file, object: name) {
            H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, &start, nil, &count, nil)
        }
        let memory = HDF5Handle(try HDF5Library.call("select rows", file: file, object: name) {
            H5Screate_simple(Int32(count.count), &count, nil)
        }, .dataspace)
        _ = try HDF5Library.call("transfer rows", file: file, object: name) { body(memory.id, fileSpace.id) }
    }
}
