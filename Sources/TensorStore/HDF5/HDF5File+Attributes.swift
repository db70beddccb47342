import CHDF5
import GRUCore

extension HDF5File {
    // MARK: - Attributes

    /// The string attribute `attribute` of `object` (`""`, the root group, by default), fixed- or
    /// variable-length; nil when there is no such attribute (`H5Aexists_by_name`, `H5Aopen_by_name`, `H5Aread`).
    public func stringAttribute(_ attribute: String, of object: String = "") throws -> String? {
        guard let values = try strings(attribute, of: object, expectOne: true) else { return nil }
        return values[0]
    }

    /// Every string of the string attribute `attribute` of `object` (Keras's `layer_names`, `weight_names`),
    /// in order; nil when there is no such attribute, `[]` for an empty one of another type (Keras writes an
    /// empty `weight_names` as a float64 array of shape (0,)).
    public func stringListAttribute(_ attribute: String, of object: String) throws -> [String]? {
        try strings(attribute, of: object, expectOne: false)
    }

    private func strings(_ attribute: String, of object: String, expectOne: Bool) throws -> [String]? {
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
        let space = try HDF5Handle(call("read the attribute's shape", place) { H5Aget_space(attr.id) }, .dataspace)
        let count = try call("count the attribute's elements", place) { H5Sget_simple_extent_npoints(space.id) }
        guard HDF5Library.locked({ H5Tget_class(type.id) }) == H5T_STRING else {
            if !expectOne, count == 0 { return [] }
            throw StoreError(.unsupportedType, file: displayName, object: place, reason: "is not a string attribute")
        }
        guard !expectOne || count == 1 else {
            throw StoreError(.unsupportedType, file: displayName, object: place, reason: "holds \(count) strings, expected one")
        }
        let memory = try HDF5Handle(call("make a string type", place) { H5Tcopy(gc_c_string()) }, .datatype)
        let characterSet = HDF5Library.locked { H5Tget_cset(type.id) }
        _ = try call("make a string type", place) { H5Tset_cset(memory.id, characterSet) }
        if try call("read the attribute's type", place, { H5Tis_variable_str(type.id) }) > 0 {
            _ = try call("make a string type", place) { H5Tset_size(memory.id, gc_variable_size()) }
            try memoryBudget.check(elements: Int(count), of: MemoryLayout<UnsafeMutablePointer<CChar>?>.size, file: displayName, object: place,
                                   what: "reading these strings")
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: Int(count))
            _ = try call("read the attribute", place) { H5Aread(attr.id, memory.id, &pointers) }
            defer { _ = HDF5Library.locked { gc_reclaim(memory.id, space.id, &pointers) } }
            return pointers.map { $0.map { string(UnsafePointer($0)) } ?? "" }
        }
        let size = HDF5Library.locked { H5Tget_size(type.id) }
        let (total, overflow) = (size + 1).multipliedReportingOverflow(by: Int(count))
        guard !overflow else { throw StoreError(.tooLarge, file: displayName, object: place, reason: "declares more strings than can be counted") }
        try memoryBudget.check(elements: total, of: 1, file: displayName, object: place, what: "reading these strings")
        // One byte more than stored, so a null-terminated memory type keeps every stored character.
        _ = try call("make a string type", place) { H5Tset_size(memory.id, size + 1) }
        var bytes = [UInt8](repeating: 0, count: total)
        _ = try call("read the attribute", place) { H5Aread(attr.id, memory.id, &bytes) }
        let spacePadded = HDF5Library.locked({ H5Tget_strpad(type.id) }) == H5T_STR_SPACEPAD
        return (0..<Int(count)).map { index in
            // Fixed-length strings are padded with NULs (or spaces, for H5T_STR_SPACEPAD).
            var text = bytes[(index * (size + 1))..<((index + 1) * (size + 1))].prefix { $0 != 0 }
            if spacePadded { while text.last == UInt8(ascii: " ") { text = text.dropLast() } }
            return String(decoding: text, as: UTF8.self)
        }
    }
}
