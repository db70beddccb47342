import CHDF5
import Foundation
import GRUCore
@testable import TensorStore

/// What TensorFlow's own reader returned for a fixture checkpoint, as `generate_checkpoints.py` recorded it in
/// `expected.h5`: the keys of `tf.train.list_variables` in order, their dtype names, and each value, read here
/// through `HDF5File` (floats) and, for the rest, as the raw little-endian bytes of the stored dataset.
struct TFExpectedValues {
    let file: HDF5File
    let keys: [String]
    let dtypes: [String]

    init(_ path: String) throws {
        file = try HDF5File(readingFrom: path)
        keys = try Self.strings(file, "keys")
        dtypes = try Self.strings(file, "dtypes")
    }

    /// A variable-length string dataset (`H5Dread` with a C-string memory type of variable size).
    static func strings(_ file: HDF5File, _ name: String) throws -> [String] {
        let dataset = try file.openDataset(name)
        return HDF5Library.locked {
            let space = H5Dget_space(dataset.id)
            defer { H5Sclose(space) }
            let count = Int(H5Sget_simple_extent_npoints(space))
            let type = H5Tcopy(gc_c_string())
            defer { H5Tclose(type) }
            H5Tset_size(type, gc_variable_size())
            H5Tset_cset(type, H5T_CSET_UTF8)
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            guard H5Dread(dataset.id, type, gc_all_space(), gc_all_space(), gc_default_plist(), &pointers) >= 0 else { return [] }
            defer { gc_reclaim(type, space, &pointers) }
            return pointers.map { $0.map { String(cString: $0) } ?? "" }
        }
    }

    /// The dataset's bytes as stored (`H5Dread` with its own file type: little-endian in these fixtures).
    func rawBytes(_ name: String) throws -> [UInt8] {
        let dataset = try file.openDataset(name)
        return HDF5Library.locked {
            let type = H5Dget_type(dataset.id)
            defer { H5Tclose(type) }
            let space = H5Dget_space(dataset.id)
            defer { H5Sclose(space) }
            let count = Int(H5Sget_simple_extent_npoints(space)) * H5Tget_size(type)
            var bytes = [UInt8](repeating: 0, count: count)
            if count > 0 { _ = H5Dread(dataset.id, type, gc_all_space(), gc_all_space(), gc_default_plist(), &bytes) }
            return bytes
        }
    }

    /// The shape of a dataset.
    func shape(_ name: String) throws -> [Int] { try file.describe(name).shape }
}
