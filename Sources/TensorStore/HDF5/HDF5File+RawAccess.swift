import CHDF5
import GRUCore

extension HDF5File {
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
        try Self.attributeNames(of: object, name, file: displayName)
    }

    /// The names of the attributes of an open object of the file at `file`, in name order.
    static func attributeNames(of object: HDF5Handle, _ name: String, file: String) throws -> [String] {
        final class Collector { var names: [String] = [] }
        let collector = Collector()
        let visitor: gc_attribute_visitor = { name, context in
            HDF5Calls.callingBack {
                guard let name, let context else { return 0 }
                Unmanaged<Collector>.fromOpaque(context).takeUnretainedValue().names.append(string(name))
                return 0
            }
        }
        _ = try HDF5Library.call("list the attributes", file: file, object: name.isEmpty ? "/" : name) {
            gc_visit_attributes(object.id, visitor, Unmanaged.passUnretained(collector).toOpaque())
        }
        return collector.names
    }

    /// The names of the attributes of `object` (`""` is the root group), in name order.
    public func attributeNames(of object: String) throws -> [String] {
        try attributeNames(of: try openObject(object), object)
    }

    /// Copies rows `rows` of a rank-1 or rank-2 float dataset into `bytes` as little-endian IEEE elements
    /// of the stored width (`H5Dread` of a hyperslab; the same encoding moves unchanged).
    public func readRawRows(_ name: String, rows: Range<Int>, into bytes: UnsafeMutableRawBufferPointer) throws {
        let dataset = try openDataset(name)
        let stored = try HDF5Handle(call("read the type", name) { H5Dget_type(dataset.id) }, .datatype)
        let elementType = try elementType(stored, name)
        let shape = try shape(of: dataset, name)
        guard let width = elementType.byteWidth, case .float(let bits) = elementType else {
            throw StoreError(.unsupportedType, file: displayName, object: name,
                             reason: "holds \(elementType) values, not float16, float32 or float64")
        }
        let rowElements = shape.count == 2 ? shape[1] : (shape.first ?? 1)
        let rowCount = shape.count == 2 ? shape[0] : 1
        guard shape.count == 1 || shape.count == 2, rows.upperBound <= rowCount,
              bytes.count >= rows.count * rowElements * width else {
            throw StoreError(.invalidRequest, file: displayName, object: name,
                             reason: "rows \(rows) of a \(format(shape)) tensor cannot be read into \(bytes.count) bytes")
        }
        guard !rows.isEmpty, rowElements > 0 else { return }
        let memory = try HDF5Handle(call("make a float type", name) { gc_ieee_float_le(Int32(bits)) }, .datatype)
        try HDF5Blocks.transfer(dataset: dataset, name: name, file: displayName, shape: shape, rows: rows) { memorySpace, fileSpace in
            H5Dread(dataset.id, memory.id, memorySpace, fileSpace, gc_default_plist(), bytes.baseAddress)
        }
    }
}
