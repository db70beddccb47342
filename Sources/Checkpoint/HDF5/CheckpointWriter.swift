import CHDF5

/// A new HDF5 file being written, always through `HDF5Library`'s chokepoint: groups, datasets copied whole
/// (`H5Ocopy`: values, type, shape, attributes, chunking and compression), datasets written from raw
/// elements in row blocks, and attributes copied or set.
final class CheckpointWriter {
    /// The path written (a temporary file beside the user's OUTPUT).
    let path: String
    /// The path as the user named it, for messages.
    let displayName: String
    private let file: HDF5Handle
    private let linkCreation: HDF5Handle
    private let datasetCreation: HDF5Handle

    /// Creates the file, failing if it exists (`H5Fcreate` with `H5F_ACC_EXCL`).
    init(creating path: String, displayName: String) throws {
        self.path = path
        self.displayName = displayName
        let access = HDF5Handle(try HDF5Library.call("make a property list", file: displayName) {
            gc_file_access_plist_without_locking()
        }, .propertyList)
        let id = try HDF5Library.call("create the output file", file: displayName) {
            H5Fcreate(path, gc_file_access_exclusive(), gc_default_plist(), access.id)
        }
        file = HDF5Handle(id, .file)
        linkCreation = HDF5Handle(try HDF5Library.call("make a property list", file: displayName) {
            gc_link_create_plist_with_intermediate_groups()
        }, .propertyList)
        datasetCreation = HDF5Handle(try HDF5Library.call("make a property list", file: displayName) {
            gc_dataset_create_plist_written_in_full()
        }, .propertyList)
    }

    private func call<R: BinaryInteger>(_ operation: String, _ object: String?, _ body: () -> R) throws -> R {
        try HDF5Library.call(operation, file: displayName, object: object, body)
    }

    /// Whether `name` exists in the output as a link (each path component checked, `H5Lexists`).
    func exists(_ name: String) -> Bool {
        guard !name.isEmpty else { return true }
        var path = ""
        for component in name.split(separator: "/") {
            path += path.isEmpty ? String(component) : "/" + component
            guard HDF5Library.locked({ H5Lexists(file.id, path, gc_default_plist()) }) > 0 else { return false }
        }
        return true
    }

    /// Creates a group and any missing parents (`H5Gcreate2`), unless it exists.
    func createGroup(_ name: String) throws {
        guard !exists(name) else { return }
        let id = try call("create the group", name) {
            H5Gcreate2(file.id, name, linkCreation.id, gc_default_plist(), gc_default_plist())
        }
        _ = HDF5Handle(id, .group)
    }

    /// Copies a dataset whole from `source` (`H5Ocopy`), under a new name if given.
    func copyDataset(_ name: String, from source: CheckpointFile, as target: String? = nil) throws {
        _ = try call("copy the dataset", name) {
            H5Ocopy(source.fileID, name, file.id, target ?? name, gc_default_plist(), linkCreation.id)
        }
    }

    /// Copies every attribute of `object` in `source` to `target` here (read and written with the stored
    /// type, so values move unchanged), except those `skip` names.
    func copyAttributes(of object: String, from source: CheckpointFile, to target: String,
                        skip: (String) -> Bool = { _ in false }) throws {
        let sourceObject = try source.openObject(object)
        let targetObject = HDF5Handle(try call("open the object", target) {
            H5Oopen(file.id, target.isEmpty ? "/" : target, gc_default_plist())
        }, .object)
        for name in try source.attributeNames(of: sourceObject, object) where !skip(name) {
            let place = "\(object.isEmpty ? "/" : object)@\(name)"
            let attribute = HDF5Handle(try call("open the attribute", place) {
                H5Aopen(sourceObject.id, name, gc_default_plist())
            }, .attribute)
            let type = HDF5Handle(try call("read the attribute's type", place) { H5Aget_type(attribute.id) }, .datatype)
            let space = HDF5Handle(try call("read the attribute's shape", place) { H5Aget_space(attribute.id) }, .dataspace)
            let count = try call("count the attribute's elements", place) { H5Sget_simple_extent_npoints(space.id) }
            let size = HDF5Library.locked { H5Tget_size(type.id) }
            try source.memoryBudget.check(elements: Int(count), of: size, file: source.path, object: place,
                                          what: "copying this attribute")
            var buffer = [UInt8](repeating: 0, count: max(1, Int(count) * size))
            _ = try call("read the attribute", place) { H5Aread(attribute.id, type.id, &buffer) }
            defer {
                if HDF5Library.locked({ H5Tdetect_class(type.id, H5T_VLEN) }) > 0
                    || HDF5Library.locked({ H5Tis_variable_str(type.id) }) > 0 {
                    _ = HDF5Library.locked { gc_reclaim(type.id, space.id, &buffer) }
                }
            }
            let created = HDF5Handle(try call("write the attribute", place) {
                H5Acreate2(targetObject.id, name, type.id, space.id, gc_default_plist(), gc_default_plist())
            }, .attribute)
            _ = try call("write the attribute", place) { H5Awrite(created.id, type.id, buffer) }
        }
    }

    /// Sets a variable-length UTF-8 string attribute on `object`.
    func setStringAttribute(_ name: String, _ value: String, on object: String) throws {
        let place = "\(object.isEmpty ? "/" : object)@\(name)"
        let target = HDF5Handle(try call("open the object", object) {
            H5Oopen(file.id, object.isEmpty ? "/" : object, gc_default_plist())
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

    /// Creates a contiguous dataset of `shape` with the stored type `type` (parents created as needed),
    /// never pre-filled: every element is written afterwards.
    func createDataset(_ name: String, type: HDF5Handle, shape: [Int]) throws -> HDF5Handle {
        var dims = shape.map { hsize_t($0) }
        let space = HDF5Handle(try call("make a dataspace", name) {
            shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), &dims, nil)
        }, .dataspace)
        return HDF5Handle(try call("create the dataset", name) {
            H5Dcreate2(file.id, name, type.id, space.id, linkCreation.id, datasetCreation.id, gc_default_plist())
        }, .dataset, parent: file)
    }

    /// Writes raw elements into rows `rows` of a dataset of `shape` (rank 1 or 2), with the stored type.
    func writeRows(_ dataset: HDF5Handle, name: String, shape: [Int], rows: Range<Int>, type: HDF5Handle,
                   bytes: UnsafeRawPointer) throws {
        try HDF5Blocks.transfer(dataset: dataset, name: name, file: displayName, shape: shape, rows: rows, type: type) {
            memory, fileSpace in H5Dwrite(dataset.id, type.id, memory, fileSpace, gc_default_plist(), bytes)
        }
    }

    /// Flushes and closes the file (`H5Fflush`, then `H5Fclose` when the last handle goes).
    func finish() throws {
        _ = try call("write the output file", nil) { H5Fflush(file.id, H5F_SCOPE_GLOBAL) }
    }
}

/// Row-block transfers shared by reading and writing: select rows of a rank-1 or rank-2 dataset.
enum HDF5Blocks {
    static func transfer(dataset: HDF5Handle, name: String, file: String, shape: [Int], rows: Range<Int>,
                         type: HDF5Handle, _ body: (hid_t, hid_t) -> herr_t) throws {
        let width = shape.count == 2 ? shape[1] : 1
        var start: [hsize_t] = shape.count == 2 ? [hsize_t(rows.lowerBound), 0] : [hsize_t(rows.lowerBound)]
        var count: [hsize_t] = shape.count == 2 ? [hsize_t(rows.count), hsize_t(width)] : [hsize_t(rows.count)]
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
