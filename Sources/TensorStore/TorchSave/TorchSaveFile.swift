import GRUCore
import ZIPFoundation

/// A PyTorch `torch.save` file opened read-only, without executing anything: its pickle is decoded by
/// `PickleMachine`, which knows only tensors, storages, dicts and plain values and refuses any other global.
///
/// Two layouts: the zip archive torch writes by default since 1.6 (`ROOT/data.pkl`, the storages as members
/// `ROOT/data/KEY`, `ROOT/byteorder`, `ROOT/version`; ROOT is whatever single folder every member is in), and
/// the legacy stream (`_use_new_zipfile_serialization=False`): pickles of torch's magic number, the protocol
/// version (1001) and the system's facts, the object, the storage keys, then each storage as an 8-byte
/// little-endian element count and its bytes. Zip members get `ZipMembers`' checks (sizes, CRC-32, zip bombs,
/// names outside the archive); a big-endian file is refused.
///
/// Variables and attributes: see `TorchObjects` (tensors by their `.`-joined dict keys: `model.rnn.weight_ih_l0`;
/// every other value a string attribute of the file). Each tensor is a view into its storage
/// (`_rebuild_tensor_v2`: offset, size, stride): its elements are checked to lie within the storage when the file
/// is opened; a row-major view is read as it lies, any other (transposed, strided) is gathered element by
/// element, both within the memory budget. Tensors sharing a storage each read their own view. Element types
/// are safetensors': float16/32/64, bfloat16, int8/16/32/64, uint8, bool. Values are read when asked for (a zip
/// storage member whole, a legacy storage by position), never kept.
public final class TorchSaveFile: TensorSource {
    /// `torch.save`.
    public var formatName: String { "torch.save" }
    /// The path as the caller gave it, used in every error message.
    public let path: String
    /// No read allocates more than this; the pickle counts against it when the file is opened.
    public var memoryBudget: MemoryBudget

    /// The two layouts torch.save writes.
    public enum Layout: String, Sendable {
        /// A zip archive (torch 1.6 and later, the default).
        case zip
        /// The stream of pickles and storages (`_use_new_zipfile_serialization=False`).
        case legacy
    }
    /// The file's layout.
    public let layout: Layout
    /// The zip's single top folder (`gru` for `gru.pt`), nil for the legacy layout.
    public let root: String?

    /// torch's magic number, the first pickle of a legacy file (LONG1, little-endian).
    static let legacyMagic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]
    /// The legacy format's protocol version.
    static let legacyProtocol = 1001

    /// Where a storage's bytes are.
    enum StorageBytes {
        case member(Entry)
        case legacy(offset: Int)
    }

    /// One storage: its element type and bytes.
    struct Storage {
        var reference: TorchStorageReference
        var type: ElementType
        var width: Int
        var bytes: StorageBytes
        /// Where it is, for messages (`gru/data/0`, `storage 94696361861680`).
        var place: String
    }

    /// One variable: a view into a storage.
    struct View {
        var view: TorchTensorView
        var storage: Storage
        var count: Int
    }

    private let file: ReadOnlyFile
    private let archive: ZipMembers?
    private let entries: [String: View]
    private let names: [String]
    private let attributes: [String: String]
    private let attributeOrder: [String]

    /// Opens `path`, decodes its pickle (nothing is executed) and checks every tensor's view against its
    /// storage (see the type's description); reads no tensor values.
    public init(readingFrom path: String, memoryBudget: MemoryBudget = .machineDefault) throws {
        self.path = path
        self.memoryBudget = memoryBudget
        do { file = try ReadOnlyFile(path) } catch {
            throw TFCheckpointFile.openError(error, file: path, object: nil, what: "opening it")
        }
        let start = file.size >= 4 ? (try? file.read(at: 0, count: 4)) ?? [] : []
        let parsed: Parsed
        if start == [0x50, 0x4B, 0x03, 0x04] || start == [0x50, 0x4B, 0x05, 0x06] {
            layout = .zip
            let zip = try ZipMembers(path: path, file: file, budget: memoryBudget, format: "a torch.save archive",
                                     encryptedAdvice: "torch.save never encrypts; save it again")
            self.archive = zip
            parsed = try Self.parseZip(zip, path: path, budget: memoryBudget)
            root = parsed.root
        } else if start.first == 0x80 {
            layout = .legacy
            archive = nil
            root = nil
            parsed = try Self.parseLegacy(file, path: path, budget: memoryBudget)
        } else {
            throw StoreError(.wrongFormat, file: path, reason: file.size == 0 ? "empty file, not a torch.save file"
                             : "not a torch.save file (neither a zip archive nor a pickle at its start)")
        }
        var entries: [String: View] = [:]
        for (name, view) in parsed.objects.tensors {
            entries[name] = try Self.check(view, name: name, storages: parsed.storages, path: path)
        }
        self.entries = entries
        names = entries.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        attributes = Dictionary(parsed.objects.attributes.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        attributeOrder = attributes.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// What either layout gives: the walked object and the storages by key.
    private struct Parsed {
        var objects: TorchObjects
        var storages: [String: Storage]
        var root: String?
    }

    // MARK: - The zip layout

    private static func parseZip(_ zip: ZipMembers, path: String, budget: MemoryBudget) throws -> Parsed {
        guard let first = zip.entries.first else {
            throw StoreError(.wrongFormat, file: path, reason: "a zip archive without members, so not a torch.save file")
        }
        let root = String(first.path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)[0])
        if let stray = zip.entries.first(where: { !$0.path.hasPrefix(root + "/") }) {
            throw StoreError(.wrongFormat, file: path, reason: "a zip archive whose members are not all in one folder (\(first.path), "
                             + "\(stray.path)), so not a torch.save file")
        }
        guard let pickle = try zip.member(root + "/data.pkl", reader: "torch.load") else {
            let torchScript = zip.entries.contains { $0.path == root + "/constants.pkl" || $0.path.hasPrefix(root + "/code/") }
            throw StoreError(.wrongFormat, file: path, reason: torchScript
                             ? "a TorchScript archive (torch.jit.save), which gru-convert does not read; save the model's state_dict() instead"
                             : "a zip archive without \(root)/data.pkl, so not a torch.save file")
        }
        if let order = try zip.member(root + "/byteorder", reader: "torch.load") {
            let text = try zip.bytes(of: order, budget: budget, limit: (16, "a byteorder record"))
            switch text {
            case Array("little".utf8): break
            case Array("big".utf8):
                throw StoreError(.unsupportedType, file: "\(path): \(order.path)", reason: "is big, and big-endian storages are not read "
                                 + "(load and save it again on a little-endian machine)")
            default:
                throw StoreError(.damaged, file: "\(path): \(order.path)", reason: "is neither little nor big")
            }
        }
        let bytes = try zip.bytes(of: pickle, budget: budget)
        let place = "\(path): \(pickle.path)"
        var machine = PickleMachine(bytes, limits: PickleMachine.Limits(budget: budget))
        defer { machine.release() }
        let value = try run(&machine, place: place)
        let objects = try walk(value, place: place, budget: budget)
        var storages: [String: Storage] = [:]
        for reference in Set(objects.tensors.map(\.view.storage)) {
            let memberName = "\(root)/data/\(reference.key)"
            guard let member = try zip.member(memberName, reader: "torch.load") else {
                let users = objects.tensors.filter { $0.view.storage.key == reference.key }.map(\.name).sorted()
                throw StoreError(.damaged, file: path, object: users.first,
                                 reason: "its storage \(memberName) is not in the archive: the file is damaged")
            }
            storages[reference.key] = try storage(reference, bytes: .member(member), place: memberName,
                                                  byteCount: Int(exactly: member.uncompressedSize) ?? -1, path: path, previous: storages)
        }
        return Parsed(objects: objects, storages: storages, root: root)
    }

    // MARK: - The legacy layout

    private static func parseLegacy(_ file: ReadOnlyFile, path: String, budget: MemoryBudget) throws -> Parsed {
        if file.size > 262, let tar = try? file.read(at: 257, count: 5), tar == Array("ustar".utf8) {
            throw StoreError(.wrongFormat, file: path, reason: "a tar-format torch.save file (torch before 0.4), which gru-convert does not read")
        }
        try budget.check(elements: file.size, of: 1, file: path, object: nil, what: "reading its pickles")
        let bytes: [UInt8]
        do { bytes = try file.read(at: 0, count: file.size) } catch {
            throw TFCheckpointFile.openError(error, file: path, object: nil, what: "reading it")
        }
        let limits = PickleMachine.Limits(budget: budget)
        // The magic number, the protocol version, the system's facts: small pickles of plain values.
        var header = PickleMachine(bytes, limits: limits)
        defer { header.release() }
        let magic = try? header.run()
        guard case .bigInt(let number)? = magic, number == legacyMagic else {
            throw StoreError(.wrongFormat, file: path, reason: "a pickle that does not start with torch's magic number "
                             + "(0x1950a86a20f9469cfc6c), so not a torch.save file")
        }
        let version = try run(&header, place: path)
        guard version == .int(legacyProtocol) else {
            throw StoreError(.unsupportedType, file: path, reason: "legacy torch.save protocol version \(describe(version)), not \(legacyProtocol)")
        }
        let system = try run(&header, place: path)
        guard case .container(let facts) = system, facts.kind == .dict,
              let little = Swift.zip(facts.keys, facts.items).first(where: { $0.0 == .string("little_endian") })?.1 else {
            throw StoreError(.damaged, file: path, reason: "its third pickle is not the saving system's facts (a dict with little_endian)")
        }
        guard little == .bool(true) else {
            throw StoreError(.unsupportedType, file: path, reason: "was saved on a big-endian machine (little_endian \(describe(little))), "
                             + "whose storages are not read (load and save it again on a little-endian machine)")
        }
        var machine = PickleMachine(bytes, range: header.offset..<bytes.count, limits: limits)
        defer { machine.release() }
        let value = try run(&machine, place: path)
        let objects = try walk(value, place: path, budget: budget)
        var keysMachine = PickleMachine(bytes, range: machine.offset..<bytes.count, limits: limits)
        defer { keysMachine.release() }
        let keysValue = try run(&keysMachine, place: path)
        guard case .container(let list) = keysValue, list.kind == .list else {
            throw StoreError(.damaged, file: path, reason: "its storage keys are \(keysValue.kind), not a list")
        }
        var keys: [String] = []
        for item in list.items {
            guard case .string(let key) = item else { throw StoreError(.damaged, file: path, reason: "a storage key that is not a string") }
            keys.append(key)
        }
        var references: [String: TorchStorageReference] = [:]
        for (name, view) in objects.tensors {
            if let known = references[view.storage.key], known != view.storage {
                throw StoreError(.damaged, file: path, object: name, reason: "its storage \(view.storage.key) is declared twice, differently")
            }
            references[view.storage.key] = view.storage
        }
        var storages: [String: Storage] = [:]
        var position = keysMachine.offset
        for key in keys {
            guard let reference = references[key] else {
                throw StoreError(.damaged, file: path, reason: "its storage \(key) is listed, but no tensor uses it, so its element size is not known")
            }
            guard storages[key] == nil else { throw StoreError(.damaged, file: path, reason: "its storage \(key) is listed twice") }
            let width = SafetensorsFile.dtypes[reference.dtype]?.width ?? 1
            guard bytes.count - position >= 8 else {
                throw StoreError(.damaged, file: path, reason: "it ends before storage \(key)'s element count (at byte \(position)): it is truncated")
            }
            let count = bytes[position..<position + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            position += 8
            let (byteCount, overflow) = (Int(exactly: count) ?? Int.max).multipliedReportingOverflow(by: width)
            guard !overflow, byteCount <= bytes.count - position else {
                throw StoreError(.damaged, file: path, reason: "storage \(key) records \(count) elements of \(width) bytes, more than the "
                                 + "\(bytes.count - position) bytes left: it is truncated or damaged")
            }
            storages[key] = try storage(reference, bytes: .legacy(offset: position), place: "storage \(key)", byteCount: byteCount,
                                        path: path, previous: storages)
            position += byteCount
        }
        if let missing = references.keys.sorted().first(where: { storages[$0] == nil }) {
            let user = objects.tensors.first { $0.view.storage.key == missing }?.name
            throw StoreError(.damaged, file: path, object: user, reason: "its storage \(missing) is not in the file: the file is damaged")
        }
        guard position == bytes.count else {
            throw StoreError(.damaged, file: path, reason: "\(bytes.count - position) bytes follow its last storage (at byte \(position)), "
                             + "which torch.save never writes")
        }
        return Parsed(objects: objects, storages: storages, root: nil)
    }

    // MARK: - Shared checks

    /// Runs `machine` to its STOP, its failures as store errors naming `place`.
    private static func run(_ machine: inout PickleMachine, place: String) throws -> PickleValue {
        do { return try machine.run() } catch {
            let code: StoreError.Code = switch error.kind {
            case .damaged: .damaged
            case .refused: .unsupportedType
            case .tooLarge: .tooLarge
            }
            throw StoreError(code, file: place, reason: "its pickle \(error)")
        }
    }

    private static func walk(_ value: PickleValue, place: String, budget: MemoryBudget) throws -> TorchObjects {
        do { return try TorchObjects(walking: value, maximumVisits: PickleMachine.Limits(budget: budget).maximumValues) } catch {
            throw StoreError(error.code, file: place, reason: error.reason)
        }
    }

    private static func describe(_ value: PickleValue) -> String {
        switch value {
        case .int(let number): String(number)
        case .bool(let flag): flag ? "True" : "False"
        default: value.kind
        }
    }

    /// The storage `reference`, once its type is read and its bytes are as many as its elements need.
    private static func storage(_ reference: TorchStorageReference, bytes: StorageBytes, place: String, byteCount: Int,
                                path: String, previous: [String: Storage]) throws -> Storage {
        guard let (type, width) = SafetensorsFile.dtypes[reference.dtype] else {
            throw StoreError(.unsupportedType, file: path, object: place, reason: "holds \(reference.dtype) elements, which gru-convert does not read")
        }
        let (needed, overflow) = reference.count.multipliedReportingOverflow(by: width)
        guard !overflow else {
            throw StoreError(.tooLarge, file: path, object: place, reason: "declares \(reference.count) \(type) elements, too many to address")
        }
        guard needed == byteCount else {
            throw StoreError(.damaged, file: path, object: place, reason: "declares \(reference.count) \(type) elements (\(needed) bytes), "
                             + "but holds \(byteCount) bytes: the file is damaged")
        }
        return Storage(reference: reference, type: type, width: width, bytes: bytes, place: place)
    }

    /// The variable of `view`: its storage known and consistent, every element it reaches inside the storage.
    private static func check(_ view: TorchTensorView, name: String, storages: [String: Storage], path: String) throws -> View {
        guard let storage = storages[view.storage.key] else {
            throw StoreError(.damaged, file: path, object: name, reason: "its storage \(view.storage.key) is not in the file")
        }
        guard storage.reference == view.storage else {
            throw StoreError(.damaged, file: path, object: name, reason: "its storage \(storage.place) is declared differently by another "
                             + "tensor (\(storage.reference.count) \(storage.reference.dtype) elements, here \(view.storage.count) \(view.storage.dtype))")
        }
        var count = 1, last = view.offset
        for (extent, stride) in Swift.zip(view.shape, view.stride) {
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            guard !overflow else { throw StoreError(.tooLarge, file: path, object: name, reason: "declares \(format(view.shape)) elements, too many to count") }
            count = product
            if extent > 0 {
                let (reach, overflowReach) = (extent - 1).multipliedReportingOverflow(by: stride)
                let (sum, overflowSum) = last.addingReportingOverflow(reach)
                guard !overflowReach, !overflowSum else {
                    throw StoreError(.damaged, file: path, object: name, reason: "its view reaches beyond any storage (stride \(format(view.stride)))")
                }
                last = sum
            }
        }
        let what = "its view (offset \(view.offset), size \(format(view.shape)), stride \(format(view.stride)))"
        if count > 0, last >= storage.reference.count {
            throw StoreError(.damaged, file: path, object: name, reason: "\(what) reaches element \(last) of its storage \(storage.place), "
                             + "which holds \(storage.reference.count): the file is damaged")
        }
        if count == 0, view.offset > storage.reference.count {
            throw StoreError(.damaged, file: path, object: name, reason: "\(what) starts past the end of its storage \(storage.place), "
                             + "which holds \(storage.reference.count): the file is damaged")
        }
        return View(view: view, storage: storage, count: count)
    }

    // MARK: - Listing

    private func entry(_ name: String) throws -> View {
        guard let entry = entries[name] else { throw StoreError(.notFound, file: path, object: name, reason: "no such tensor") }
        return entry
    }

    /// Every tensor, in name order.
    public func variables() throws -> [Variable] {
        names.map { Variable(name: $0, elementType: entries[$0]!.storage.type, shape: entries[$0]!.view.shape) }
    }

    /// None: names are flat `.`-joined paths, as in a state dict.
    public func containers() throws -> [String] { [] }

    /// For the file (`""`), every value of the saved object that is not a tensor, by its path (`epoch`,
    /// `optimizer.param_groups`, `_metadata`), in name order; nothing for anything else.
    public func attributeNames(of object: String) throws -> [String] { object.isEmpty ? attributeOrder : [] }

    /// The value at path `attribute` of the saved object (object `""`), as text: a string as it is, anything else
    /// as its Python literal (`3`, `[{'lr': 0.001, ...}]`); nil for anything else.
    public func stringAttribute(_ attribute: String, of object: String) throws -> String? {
        object.isEmpty ? attributes[attribute] : nil
    }

    /// Whether `view` reads its elements in row-major order, one after the other (dimensions of one element
    /// have any stride).
    static func isRowMajor(_ view: TorchTensorView) -> Bool {
        var expected = 1
        for (extent, stride) in Swift.zip(view.shape, view.stride).reversed() where extent != 1 {
            if extent == 0 { return true }
            guard stride == expected else { return false }
            expected *= extent
        }
        return true
    }

    // MARK: - Reading

    /// The tensor's elements, row-major, each as little-endian bytes: the row-major part of its storage, or its
    /// elements gathered one by one. The storage and the result count against the budget.
    private func bytes(_ entry: View, _ name: String) throws -> [UInt8] {
        let width = entry.storage.width
        let storageBytes = entry.storage.reference.count * width
        let (resultBytes, overflow) = entry.count.multipliedReportingOverflow(by: width)
        guard !overflow else { throw StoreError(.tooLarge, file: path, object: name, reason: "declares too many elements to address") }
        let contiguous = Self.isRowMajor(entry.view)
        let needed = storageBytes.addingReportingOverflow(resultBytes)
        try memoryBudget.check(elements: needed.overflow ? Int.max : needed.partialValue, of: 1, file: path, object: name,
                               what: "reading its storage \(entry.storage.place) (\(storageBytes) bytes) and its \(format(entry.view.shape)) values")
        if entry.count == 0 { return [] }
        let storage = try storageContents(entry, name, contiguous: contiguous ? entry.view.offset * width..<entry.view.offset * width + resultBytes : nil)
        if contiguous { return storage }
        var result = [UInt8](repeating: 0, count: resultBytes)
        let shape = entry.view.shape, stride = entry.view.stride
        var index = [Int](repeating: 0, count: shape.count)
        var source = entry.view.offset
        storage.withUnsafeBytes { from in
            result.withUnsafeMutableBytes { to in
                for element in 0..<entry.count {
                    (to.baseAddress! + element * width).copyMemory(from: from.baseAddress! + source * width, byteCount: width)
                    // The next index, last dimension fastest.
                    var dimension = shape.count - 1
                    while dimension >= 0 {
                        index[dimension] += 1
                        source += stride[dimension]
                        if index[dimension] < shape[dimension] { break }
                        source -= stride[dimension] * shape[dimension]
                        index[dimension] = 0
                        dimension -= 1
                    }
                }
            }
        }
        return result
    }

    /// The storage's bytes (only `range` of them when given: a legacy storage reads no more).
    private func storageContents(_ entry: View, _ name: String, contiguous range: Range<Int>?) throws -> [UInt8] {
        switch entry.storage.bytes {
        case .member(let member):
            let all = try archive!.bytes(of: member, budget: memoryBudget)
            return range.map { Array(all[$0]) } ?? all
        case .legacy(let offset):
            let range = range ?? 0..<(entry.storage.reference.count * entry.storage.width)
            do { return try file.read(at: offset + range.lowerBound, count: range.count) } catch {
                throw TFCheckpointFile.openError(error, file: path, object: name, what: "reading its values")
            }
        }
    }

    /// Reads a float tensor (float16, float32 or float64) into `Scalar`: float16 and float32 widen exactly,
    /// float64 read as `Float` rounds to nearest.
    public func read<Scalar: StoredFloat>(_ name: String, as: Scalar.Type = Scalar.self) throws -> Tensor<Scalar> {
        let entry = try entry(name)
        guard case .float(let bits) = entry.storage.type, entry.storage.type.isFloat else {
            throw StoreError(.unsupportedType, file: path, object: name, reason: "holds \(entry.storage.type) values, not float16, float32 or float64")
        }
        try memoryBudget.check(elements: entry.count, of: MemoryLayout<Scalar>.stride, file: path, object: name,
                               what: "reading its \(format(entry.view.shape)) \(entry.storage.type) values")
        let bytes = try bytes(entry, name)
        return Tensor(shape: entry.view.shape, scalars: LittleEndianFloats.decode(bytes, bits: bits, count: entry.count, as: Scalar.self))
    }

    /// Copies rows `rows` of a rank-1 or rank-2 float tensor into `bytes`, unchanged (little-endian IEEE).
    public func readRawRows(_ name: String, rows: Range<Int>, into bytes: UnsafeMutableRawBufferPointer) throws {
        let entry = try entry(name)
        guard let width = entry.storage.type.byteWidth else {
            throw StoreError(.unsupportedType, file: path, object: name, reason: "holds \(entry.storage.type) values, not float16, float32 or float64")
        }
        let shape = entry.view.shape
        let rowElements = shape.count == 2 ? shape[1] : (shape.first ?? 1)
        let rowCount = shape.count == 2 ? shape[0] : 1
        let (rowBytes, overflow) = rowElements.multipliedReportingOverflow(by: width)
        guard shape.count == 1 || shape.count == 2, rows.lowerBound >= 0, rows.upperBound <= rowCount, !overflow,
              bytes.count >= rows.count * rowBytes else {
            throw StoreError(.invalidRequest, file: path, object: name,
                             reason: "rows \(rows) of a \(format(shape)) tensor cannot be read into \(bytes.count) bytes")
        }
        guard !rows.isEmpty, rowBytes > 0 else { return }
        let all = try self.bytes(entry, name)
        all.withUnsafeBytes { source in
            bytes.baseAddress!.copyMemory(from: source.baseAddress! + rows.lowerBound * rowBytes, byteCount: rows.count * rowBytes)
        }
    }

    /// Every value of tensor `name`, whatever its dtype, as little-endian bytes (row-major).
    public func readAll(_ name: String) throws -> StoredValues {
        let entry = try entry(name)
        return StoredValues(elementType: entry.storage.type, shape: entry.view.shape, storage: .bytes(try bytes(entry, name)))
    }
}
