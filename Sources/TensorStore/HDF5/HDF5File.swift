import CHDF5
import GRUCore
import Glibc

/// An HDF5 checkpoint opened read-only: its datasets, their values, and string attributes.
///
/// Every failure is a `StoreError` naming this file, the object and the reason; HDF5 never prints.
public final class HDF5File: TensorSource {
    /// `HDF5`.
    public var formatName: String { "HDF5" }
    /// The path as the caller gave it; for a file read from a member of an archive, the archive's path.
    public let path: String
    /// The member of the archive at `path` this file was read from (`model.weights.h5`), or nil for a file
    /// of its own.
    public let member: String?
    /// How every error names the file: its path, or `ARCHIVE: MEMBER` for a file read from a member of an
    /// archive (`model.keras: model.weights.h5`), so that a message reads
    /// `model.keras: model.weights.h5: layers/gru/cell/vars/0: <reason>`.
    public let displayName: String
    /// The file's size in bytes when it was opened (the image's size, for a file held in memory).
    private let fileSize: Int
    /// The bytes of a file held in memory, which libhdf5 reads in place; nil for a file on disk.
    private let image: HDF5Image?
    /// No read allocates more than this; a dataset declaring more is refused before allocation.
    public var memoryBudget = MemoryBudget.machineDefault
    /// Accept files that reach outside themselves: datasets whose values live in other files (external
    /// storage, virtual datasets) are then read, and external links are ignored. Off by default: such
    /// a file is refused, naming the object and where it points. External links are never followed.
    public var allowExternal = false
    let file: HDF5Handle
    /// The file's walks, made once (the file is read-only and checked unchanged at the end of a conversion):
    /// every link, the kind of every object by address, every name of every object, every dataset described.
    var walkedLinks: [Link]?
    private var kinds: [UInt64: H5O_type_t]?
    private var walked: [(name: String, type: H5O_type_t)]?
    private var described: [Variable]?

    /// Opens `path` read-only (`H5Fopen` with `H5F_ACC_RDONLY`), after checking that it is a readable,
    /// non-empty regular file that starts like HDF5, so that each way of being wrong has its own message.
    public init(readingFrom path: String) throws {
        self.path = path
        member = nil
        displayName = path
        image = nil
        fileSize = try Self.checkIsOpenable(path)
        let signature = HDF5Library.locked { gc_is_hdf5(path) }
        guard signature > 0 else {
            throw StoreError(.wrongFormat, file: displayName, reason: "not an HDF5 file (no HDF5 signature found)")
        }
        let access = HDF5Handle(try HDF5Library.call("make a property list", file: displayName) {
            gc_file_access_plist_without_locking()
        }, .propertyList)
        let id = try HDF5Library.call("open it as HDF5, it is truncated or damaged", file: displayName) {
            H5Fopen(path, gc_file_access_read_only(), access.id)
        }
        file = HDF5Handle(id, .file)
        // h5py's default compressor, which Debian's libhdf5 lacks (its LZF plugin package does not load):
        // a decoder of our own, unless a working one is there.
        _ = HDF5Library.locked { gc_register_lzf() }
    }

    /// Opens the HDF5 file whose bytes are `image` (a copy is made), read from `member` of the archive at
    /// `path`: every error names `PATH: MEMBER` as its file. See `init(image:path:member:)` for the checks.
    public convenience init(image: [UInt8], path: String, member: String) throws {
        try self.init(image: HDF5Image(copying: image), path: path, member: member)
    }

    /// Opens the HDF5 file held in `image`, read from `member` of the archive at `path`, read-only and in
    /// place (the core driver, `H5Pset_file_image` with callbacks that neither copy nor free: see
    /// `gc_open_file_image`), after checking that it is not empty and carries HDF5's signature where libhdf5
    /// looks for one (byte 0, 512, 1024, 2048, ...). The image stays alive as long as the file.
    init(image: HDF5Image, path: String, member: String) throws {
        self.path = path
        self.member = member
        displayName = "\(path): \(member)"
        self.image = image
        fileSize = image.count
        guard image.count > 0 else {
            throw StoreError(.wrongFormat, file: displayName, reason: "empty, not an HDF5 file")
        }
        guard image.hasSignature else {
            throw StoreError(.wrongFormat, file: displayName, reason: "not an HDF5 file (no HDF5 signature found)")
        }
        let id = try HDF5Library.call("open it as HDF5, it is truncated or damaged", file: displayName) {
            image.open()
        }
        // The image outlives the file: the file's handle keeps it, and closes the file before releasing it.
        file = HDF5Handle(id, .file, keeping: image)
        _ = HDF5Library.locked { gc_register_lzf() }
    }

    /// Each way a path can fail to be a readable, non-empty file gets its own message (`stat`, `access`).
    @discardableResult
    private static func checkIsOpenable(_ path: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let missing = errno == ENOENT || errno == ENOTDIR
            throw StoreError(missing ? .notFound : .notReadable, file: path,
                             reason: missing ? "no such file" : systemErrorDescription(errno))
        }
        guard info.st_mode & S_IFMT != S_IFDIR else {
            throw StoreError(.notReadable, file: path, reason: "is a directory, not an HDF5 file")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw StoreError(.notReadable, file: path, reason: "is not a regular file")
        }
        guard access(path, R_OK) == 0 else {
            throw StoreError(.notReadable, file: path, reason: "permission denied")
        }
        guard info.st_size > 0 else {
            throw StoreError(.wrongFormat, file: path, reason: "empty file, not an HDF5 file")
        }
        return Int(info.st_size)
    }

    // MARK: - Walking

    /// Every dataset reachable from the root by hard links, in name order, with its type and shape
    /// (`H5Ovisit` by name, then `H5Dget_type` and `H5Dget_space` on each). Reads no data.
    /// Soft and external links are not followed; a dataset linked twice is listed once.
    public func variables() throws -> [Variable] {
        if let described { return described }
        described = try datasetNames().map(describe)
        return described!
    }

    /// The paths of all datasets, without the leading `/`, in increasing name order.
    public func datasetNames() throws -> [String] {
        try objectNames().filter { $0.type == H5O_TYPE_DATASET }.map(\.name)
    }

    /// The paths of all groups but the root, in increasing name order.
    public func containers() throws -> [String] {
        try objectNames().filter { $0.type == H5O_TYPE_GROUP }.map(\.name)
    }

    /// Refuses external links among `links` unless `allowExternal` (they are never followed either way).
    private func checkLinks(_ links: [Link]) throws {
        guard !allowExternal else { return }
        guard let link = links.first(where: { $0.kind == .external })?.name else { return }
        var target = [CChar](repeating: 0, count: 4096), object = [CChar](repeating: 0, count: 4096)
        let known = HDF5Library.locked { gc_external_link_target(file.id, link, &target, target.count, &object, object.count) } >= 0
        let destination = known ? "\(string(target)):\(string(object))" : "another file"
        throw StoreError(.external, file: displayName, object: link, reason: "is an external link to \(destination), outside this file "
                              + "(links are never followed; --allow-external accepts files that have them)")
    }

    /// Every name of every object reachable by hard links, in name order, without the root: an object
    /// with several names (hard links) is listed under each (`H5Ovisit` for the objects and their kinds,
    /// `H5Lvisit` for the names).
    private func objectNames() throws -> [(name: String, type: H5O_type_t)] {
        if let walked { return walked }
        let links = try links()
        try checkLinks(links)
        walked = try objectNames(from: links)
        return walked!
    }

    /// `objectNames()` from the file's links, already walked.
    func objectNames(from links: [Link]) throws -> [(name: String, type: H5O_type_t)] {
        let kinds = try objectKinds()
        return links.compactMap { link in
            guard link.kind == .hard, let type = kinds[link.address] else { return nil }
            return (link.name, type)
        }
    }

    /// The kind of every object reachable by hard links but the root, by address (`H5Ovisit`).
    func objectKinds() throws -> [UInt64: H5O_type_t] {
        if let kinds { return kinds }
        final class Collector { var objects: [UInt64: H5O_type_t] = [:] }
        let collector = Collector()
        let visitor: gc_object_visitor = { name, type, address, context in
            HDF5Calls.callingBack {
                guard let name, let context else { return 0 }
                if String(cString: name) != "." {
                    Unmanaged<Collector>.fromOpaque(context).takeUnretainedValue().objects[UInt64(address)] = type
                }
                return 0
            }
        }
        _ = try HDF5Library.call("list the objects in the file", file: displayName) {
            gc_visit_objects(file.id, visitor, Unmanaged.passUnretained(collector).toOpaque())
        }
        kinds = collector.objects
        return collector.objects
    }

    /// The type and shape of one dataset, without reading its data.
    public func describe(_ name: String) throws -> Variable {
        let dataset = try openDataset(name)
        let type = try HDF5Handle(call("read the type", name) { H5Dget_type(dataset.id) }, .datatype)
        let space = try HDF5Handle(call("read the shape", name) { H5Dget_space(dataset.id) }, .dataspace)
        let isNull = HDF5Library.locked { H5Sget_simple_extent_type(space.id) } == H5S_NULL
        return Variable(name: name, elementType: try elementType(type, name), shape: try shape(of: dataset, name), isNull: isNull)
    }

    // MARK: - Reading values

    /// Reads a float dataset of any float width into `Scalar` (`H5Dread` with a native memory type;
    /// HDF5 converts float16 and float64 exactly or by rounding to nearest, as the types require).
    public func read<Scalar: StoredFloat>(_ name: String, as: Scalar.Type = Scalar.self) throws -> Tensor<Scalar> {
        let dataset = try openDataset(name)
        let type = try HDF5Handle(call("read the type", name) { H5Dget_type(dataset.id) }, .datatype)
        let stored = try elementType(type, name)
        guard stored.isFloat else {
            throw StoreError(.unsupportedType, file: displayName, object: name, reason: "holds \(stored) values, not float16, float32 or float64")
        }
        let dims = try shape(of: dataset, name)
        let count = try Self.elementCount(dims, file: displayName, object: name)
        try memoryBudget.check(elements: count, of: MemoryLayout<Scalar>.stride, file: displayName, object: name,
                               what: "reading its \(format(dims)) \(stored) values")
        let scalars = try [Scalar](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 {
                _ = try call("read the values", name) {
                    H5Dread(dataset.id, Scalar.memoryType, gc_all_space(), gc_all_space(), gc_default_plist(),
                            buffer.baseAddress)
                }
            }
            initialized = count
        }
        return Tensor(shape: dims, scalars: scalars)
    }

    // MARK: - Helpers

    func call<R: BinaryInteger>(_ operation: String, _ object: String, _ body: () -> R) throws -> R {
        try HDF5Library.call(operation, file: displayName, object: object, body)
    }

    /// Opens a dataset, refusing one whose values live in another file unless `allowExternal`.
    func openDataset(_ name: String) throws -> HDF5Handle {
        let id = try call("open the dataset", name) { H5Dopen2(file.id, name, gc_default_plist()) }
        let dataset = HDF5Handle(id, .dataset, parent: file)
        let end = HDF5Library.locked { gc_contiguous_storage_end(dataset.id) }
        if end > UInt64(fileSize) {
            throw StoreError(.damaged, file: displayName, object: name, reason: "declares values stored up to byte \(end), "
                                  + "past the end of the file (\(fileSize) bytes); the file is truncated or damaged")
        }
        guard !allowExternal else { return dataset }
        var other = [CChar](repeating: 0, count: 4096)
        let outside = try call("read the dataset's storage", name) {
            gc_dataset_storage_outside(dataset.id, &other, other.count)
        }
        if outside > 0 {
            let where_ = string(other)
            let what = outside == 1 ? "keeps its values in another file, \(where_)" : "is a virtual dataset reading from \(where_)"
            throw StoreError(.external, file: displayName, object: name, reason: "\(what) (--allow-external to read it)")
        }
        return dataset
    }

    func elementType(_ type: HDF5Handle, _ name: String) throws -> ElementType {
        let typeClass = HDF5Library.locked { H5Tget_class(type.id) }
        let bits = HDF5Library.locked { H5Tget_size(type.id) } * 8
        switch typeClass {
        case H5T_FLOAT: return .float(bits: bits)
        case H5T_INTEGER:
            let sign = HDF5Library.locked { H5Tget_sign(type.id) }
            return .integer(bits: bits, signed: sign == H5T_SGN_2)
        case H5T_STRING: return .string
        case H5T_COMPOUND: return .other("compound")
        case H5T_ENUM: return isBool(type) ? .other("bool") : .other("enum")
        case H5T_OPAQUE: return .other("opaque")
        case H5T_BITFIELD: return .other("bitfield")
        case H5T_REFERENCE: return .other("reference")
        case H5T_VLEN: return .other("vlen")
        case H5T_ARRAY: return .other("array")
        case H5T_TIME: return .other("time")
        default:
            throw StoreError(.damaged, file: displayName, object: name, reason: "has an unreadable element type")
        }
    }

    /// Whether an enum type is h5py's bool: one byte, `FALSE = 0` and `TRUE = 1`, as it writes NumPy bools.
    private func isBool(_ type: HDF5Handle) -> Bool {
        guard HDF5Library.locked({ H5Tget_size(type.id) }) == 1, HDF5Library.locked({ H5Tget_nmembers(type.id) }) == 2 else { return false }
        var names = [CChar](repeating: 0, count: 16), other = [CChar](repeating: 0, count: 16)
        var zero: Int8 = 0, one: Int8 = 1
        let memory = HDF5Library.locked { H5Tget_native_type(type.id, H5T_DIR_DEFAULT) }
        defer { _ = HDF5Library.locked { H5Tclose(memory) } }
        return HDF5Library.locked({ H5Tenum_nameof(memory, &zero, &names, 16) }) >= 0
            && HDF5Library.locked({ H5Tenum_nameof(memory, &one, &other, 16) }) >= 0
            && string(names) == "FALSE" && string(other) == "TRUE"
    }

    /// The dataset's extents (`H5Sget_simple_extent_dims`); `[]` for a scalar or a null dataspace.
    func shape(of dataset: HDF5Handle, _ name: String) throws -> [Int] {
        let space = try HDF5Handle(call("read the shape", name) { H5Dget_space(dataset.id) }, .dataspace)
        let rank = try call("read the shape", name) { H5Sget_simple_extent_ndims(space.id) }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        if rank > 0 {
            _ = try call("read the shape", name) { H5Sget_simple_extent_dims(space.id, &dims, nil) }
        }
        let shape = try dims.map { extent in
            guard let value = Int(exactly: extent) else {
                throw StoreError(.tooLarge, file: displayName, object: name, reason: "has an extent too large to address (\(extent))")
            }
            return value
        }
        _ = try Self.elementCount(shape, file: displayName, object: name)
        return shape
    }

    /// The product of `shape`, or an error when it overflows `Int`.
    static func elementCount(_ shape: [Int], file: String, object: String) throws -> Int {
        try shape.reduce(1) { count, extent in
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            guard !overflow else {
                throw StoreError(.tooLarge, file: file, object: object, reason: "declares \(shape) elements, too many to count")
            }
            return product
        }
    }
}

extension StoredFloat {
    /// HDF5's native memory type for this Swift type (`H5T_NATIVE_FLOAT` or `H5T_NATIVE_DOUBLE`).
    static var memoryType: hid_t { MemoryLayout<Self>.size == 4 ? gc_native_float() : gc_native_double() }
}

/// The text of a NUL-terminated C buffer, decoded as UTF-8 (invalid bytes replaced).
func string(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The text of a NUL-terminated C string, decoded as UTF-8 (invalid bytes replaced).
func string(_ pointer: UnsafePointer<CChar>) -> String {
    String(decoding: UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), as: UTF8.self)
}
