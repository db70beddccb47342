import CHDF5
import GRUReference

extension CheckpointFile {
    // MARK: - Raw access, for conversion

    /// The HDF5 file identifier, for `H5Ocopy` out of this file.
    var fileID: hid_t { file.id }

    /// Opens any object by path (`""` is the root; `H5Oopen`).
    func openObject(_ name: String) throws -> HDF5Handle {
        HDF5Handle(try call("open the object", name.isEmpty ? "/" : name) {
            H5Oopen(file.id, name.isEmpty ? "/" : name, gc_default_plist())
        }, .object, parent: file)
    }

    /// The names of an object's attributes in name order (`H5Aiterate2`).
    func attributeNames(of object: HDF5Handle, _ name: String) throws -> [String] {
        final class Collector { var names: [String] = [] }
        let collector = Collector()
        let visitor: gc_attribute_visitor = { name, context in
            guard let name, let context else { return 0 }
            Unmanaged<Collector>.fromOpaque(context).takeUnretainedValue().names.append(String(cString: name))
            return 0
        }
        _ = try call("list the attributes", name.isEmpty ? "/" : name) {
            gc_visit_attributes(object.id, visitor, Unmanaged.passUnretained(collector).toOpaque())
        }
        return collector.names
    }

    /// A dataset opened for raw reading, with its stored type.
    func openForRawReading(_ name: String) throws -> (dataset: HDF5Handle, type: HDF5Handle) {
        let dataset = try openDataset(name)
        let type = try HDF5Handle(call("read the type", name) { H5Dget_type(dataset.id) }, .datatype)
        return (dataset, type)
    }

    /// Reads rows `rows` of a rank-1 or rank-2 dataset as raw elements of its stored type (no conversion).
    func readRows(_ dataset: HDF5Handle, name: String, shape: [Int], rows: Range<Int>, type: HDF5Handle,
                  into bytes: UnsafeMutableRawPointer) throws {
        try HDF5Blocks.transfer(dataset: dataset, name: name, file: path, shape: shape, rows: rows, type: type) {
            memory, fileSpace in H5Dread(dataset.id, type.id, memory, fileSpace, gc_default_plist(), bytes)
        }
    }
}
