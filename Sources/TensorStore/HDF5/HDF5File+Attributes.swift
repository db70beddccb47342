import CHDF5
import GRUCore

extension HDF5File {
    // MARK: - Attributes

    /// The string attribute `attribute` of `object` (`""`, the root group, by default), fixed- or
    /// variable-length; nil when there is no such attribute (`H5Aexists_by_name`, `H5Aopen_by_name`, `H5Aread`).
    public func stringAttribute(_ attribute: String, of object: String = "") throws -> String? {
        let place = object.isEmpty ? "/@\(attribute)" : "\(object)@\(attribute)"
        let object = object.isEmpty ? "." : object
        let exists = try call("look for the attribute", place) {
            H5Aexists_by_name(file.id, object, attribute, gc_default_plist())
        }
        guard exists > 0 else { return nil }
        let attr = try HDF5Handle(call("open the attribute", place) {
            H5Aopen_by_name(file.id, object, attribute, gc_default_plist(), gc_default_plist())
        }, .attribute, parent: file)
        let type = try HDF5Handle(call("read the attribute's type", place) { H5Aget_type(attr.id) }, .datatype)
        guard HDF5Library.locked({ H5Tget_class(type.id) }) == H5T_STRING else {
            throw StoreError(.unsupportedType, file: displayName, object: place, reason: "is not a string attribute")
        }
        let space = try HDF5Handle(call("read the attribute's shape", place) { H5Aget_space(attr.id) }, .dataspace)
        let count = try call("count the attribute's elements", place) { H5Sget_simple_extent_npoints(space.id) }
        guard count == 1 else {
            throw StoreError(.unsupportedType, file: displayName, object: place, reason: "holds \(count) strings, expected one")
        }
        let memory = try HDF5Handle(call("make a string type", place) { H5Tcopy(gc_c_string()) }, .datatype)
        let characterSet = HDF5Library.locked { H5Tget_cset(type.id) }
        _ = try call("make a string type", place) { H5Tset_cset(memory.id, characterSet) }
        if try call("read the attribute's type", place, { H5Tis_variable_str(type.id) }) > 0 {
            _ = try call("make a string type", place) { H5Tset_size(memory.id, gc_variable_size()) }
            var pointer: UnsafeMutablePointer<CChar>? = nil
            _ = try call("read the attribute", place) { H5Aread(attr.id, memory.id, &pointer) }
            defer { _ = HDF5Library.locked { gc_reclaim(memory.id, space.id, &pointer) } }
            return pointer.map { string(UnsafePointer($0)) } ?? ""
        }
        let size = HDF5Library.locked { H5Tget_size(type.id) }
        try memoryBudget.check(elements: size, of: 1, file: displayName, object: place, what: "reading this string")
        // One byte more than stored, so a null-terminated memory type keeps every stored character.
        _ = try call("make a string type", place) { H5Tset_size(memory.id, size + 1) }
        var bytes = [UInt8](repeating: 0, count: size + 1)
        _ = try call("read the attribute", place) { H5Aread(attr.id, memory.id, &bytes) }
        // Fixed-length strings are padded with NULs (or spaces, for H5T_STR_SPACEPAD).
        var text = bytes.prefix { $0 != 0 }
        if HDF5Library.locked({ H5Tget_strpad(type.id) }) == H5T_STR_SPACEPAD {
            while text.last == UInt8(ascii: " ") { text = text.dropLast() }
        }
        return String(decoding: text, as: UTF8.self)
    }
}
