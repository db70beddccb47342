import GRUCore
import Glibc

/// A safetensors file (Hugging Face's format, what `safetensors.torch.save_file` writes) opened read-only:
/// an 8-byte little-endian header length `N`, `N` bytes of JSON naming each tensor's dtype, shape and byte
/// range, then the tensors' bytes, little-endian, row-major, back to back.
///
/// The header is checked as the format's own library checks it before a byte of data is read: known
/// dtypes, shapes whose bytes are exactly the declared range, ranges that tile the data section from its
/// first byte to the file's last with no gap or overlap, `__metadata__` of strings only. Names are the keys
/// as written (`rnn.weight_ih_l0`); the file has no containers, and its metadata are the file's attributes.
public final class SafetensorsFile: TensorSource {
    /// `safetensors`.
    public var formatName: String { "safetensors" }
    /// The path as the caller gave it, used in every error message.
    public let path: String
    /// No read allocates more than this; a header or tensor declaring more is refused before allocation.
    public var memoryBudget: MemoryBudget
    private let file: ReadOnlyFile
    /// Where the data section starts: `8 + N`.
    private let dataStart: Int
    private let entries: [String: Entry]
    private let names: [String]
    private let metadata: [(key: String, value: String)]

    /// The safetensors library's limit on the header (`MAX_HEADER_SIZE`): 100 MB.
    public static let maximumHeaderBytes = 100_000_000

    /// One tensor as the header declares it.
    struct Entry {
        var type: ElementType
        /// The dtype as written (`F32`), for messages.
        var dtype: String
        var shape: [Int]
        /// Its bytes, relative to the data section.
        var range: Range<Int>
    }

    /// The element type and width of each safetensors dtype.
    static let dtypes: [String: (type: ElementType, width: Int)] = [
        "F16": (.float(bits: 16), 2), "F32": (.float(bits: 32), 4), "F64": (.float(bits: 64), 8),
        "BF16": (.other("bfloat16"), 2), "F8_E5M2": (.other("float8_e5m2"), 1), "F8_E4M3": (.other("float8_e4m3fn"), 1),
        "I8": (.integer(bits: 8, signed: true), 1), "I16": (.integer(bits: 16, signed: true), 2),
        "I32": (.integer(bits: 32, signed: true), 4), "I64": (.integer(bits: 64, signed: true), 8),
        "U8": (.integer(bits: 8, signed: false), 1), "U16": (.integer(bits: 16, signed: false), 2),
        "U32": (.integer(bits: 32, signed: false), 4), "U64": (.integer(bits: 64, signed: false), 8),
        "BOOL": (.other("bool"), 1), "C64": (.other("complex64"), 8), "F8_E8M0": (.other("float8_e8m0fnu"), 1),
    ]

    /// Whether the first bytes look like safetensors: a header length that fits the file, then `{`.
    static func looksLikeSafetensors(_ file: ReadOnlyFile) -> Bool {
        guard file.size >= 10, let start = try? file.read(at: 0, count: 9) else { return false }
        let length = start[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return start[8] == UInt8(ascii: "{") && length <= UInt64(file.size - 8)
    }

    /// Opens `path` and checks its header (see the type's description); reads no tensor data.
    public init(readingFrom path: String, memoryBudget: MemoryBudget = .machineDefault) throws {
        self.path = path
        self.memoryBudget = memoryBudget
        do { file = try ReadOnlyFile(path) } catch {
            throw TFCheckpointFile.openError(error, file: path, object: nil, what: "opening it")
        }
        func damaged(_ reason: String, _ object: String? = nil) -> StoreError {
            StoreError(.damaged, file: path, object: object, reason: reason)
        }
        guard file.size >= 8 else {
            throw StoreError(.wrongFormat, file: path, reason: "\(file.size) bytes, too short for a safetensors file (8-byte header length)")
        }
        let lengthBytes = try Self.read(file, at: 0, count: 8, path: path)
        let declared = lengthBytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard declared <= UInt64(file.size - 8) else {
            throw damaged("declares a \(declared)-byte header, but only \(file.size - 8) bytes follow; it is truncated or not safetensors")
        }
        let length = Int(declared)
        guard length <= Self.maximumHeaderBytes else {
            throw StoreError(.tooLarge, file: path, reason: "declares a \(length)-byte header, more than safetensors allows (\(Self.maximumHeaderBytes))")
        }
        try memoryBudget.check(elements: length, of: 1, file: path, object: nil, what: "reading its header")
        let header = try Self.read(file, at: 8, count: length, path: path)
        // The format's library skips whitespace before the header's `{`, as JSON allows.
        guard header.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{") else {
            throw damaged("its header does not start with {, so it is not safetensors")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(header) } catch {
            throw damaged("its header is not valid JSON at byte \(error.offset) of \(length): \(error.reason)")
        }
        guard case .object(let members) = json else { throw damaged("its header is not a JSON object") }
        dataStart = 8 + length
        let dataBytes = file.size - dataStart
        var entries: [String: Entry] = [:]
        var metadata: [(String, String)] = []
        for (name, value) in members {
            if name == "__metadata__" {
                if value == .null { continue }
                guard case .object(let pairs) = value else { throw damaged("__metadata__ is not an object of strings") }
                for (key, item) in pairs {
                    guard case .string(let text) = item else { throw damaged("__metadata__ \(key) is not a string") }
                    metadata.append((key, text))
                }
                continue
            }
            guard case .string(let dtype)? = value["dtype"] else { throw damaged("has no dtype string", name) }
            guard let (type, width) = Self.dtypes[dtype] else {
                throw StoreError(.unsupportedType, file: path, object: name, reason: "has dtype \(dtype), which gru-convert does not read")
            }
            guard case .array(let extents)? = value["shape"] else { throw damaged("has no shape list", name) }
            let shape = try extents.map { extent -> Int in
                guard case .number(let text) = extent, !text.hasPrefix("-"), let value = Int(text) else {
                    throw damaged("has a shape that is not a list of non-negative integers", name)
                }
                return value
            }
            guard case .array(let offsets)? = value["data_offsets"], offsets.count == 2,
                  case .number(let beginText) = offsets[0], case .number(let endText) = offsets[1],
                  !beginText.hasPrefix("-"), !endText.hasPrefix("-"), let begin = Int(beginText), let end = Int(endText), begin <= end else {
                throw damaged("has no data_offsets [begin, end] with begin <= end", name)
            }
            var bytes = width
            for extent in shape {
                let (product, overflow) = bytes.multipliedReportingOverflow(by: extent)
                guard !overflow else { throw StoreError(.tooLarge, file: path, object: name, reason: "declares \(shape) elements, too many to count") }
                bytes = product
            }
            guard bytes == end - begin else {
                throw damaged("is \(dtype) \(format(shape)), \(bytes) bytes, but its data_offsets [\(begin), \(end)] hold \(end - begin)", name)
            }
            entries[name] = Entry(type: type, dtype: dtype, shape: shape, range: begin..<end)
        }
        // The ranges tile the data section exactly, as the format's own reader requires.
        var position = 0
        for (name, entry) in entries.sorted(by: { ($0.value.range.lowerBound, $0.value.range.upperBound) < ($1.value.range.lowerBound, $1.value.range.upperBound) }) {
            guard entry.range.lowerBound == position else {
                throw damaged(entry.range.lowerBound < position
                              ? "its bytes [\(entry.range.lowerBound), \(entry.range.upperBound)) overlap another tensor's (which end at \(position))"
                              : "its bytes start at \(entry.range.lowerBound), leaving a gap after byte \(position) of the data", name)
            }
            guard entry.range.upperBound <= dataBytes else {
                throw damaged("its bytes end at \(entry.range.upperBound), past the file's \(dataBytes) bytes of data; it is truncated", name)
            }
            position = entry.range.upperBound
        }
        guard position == dataBytes else {
            throw damaged("the tensors' bytes end at \(position), but the file holds \(dataBytes) bytes of data after its header")
        }
        self.entries = entries
        self.metadata = metadata
        names = entries.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    private static func read(_ file: ReadOnlyFile, at offset: Int, count: Int, path: String) throws -> [UInt8] {
        do { return try file.read(at: offset, count: count) } catch {
            throw TFCheckpointFile.openError(error, file: path, object: nil, what: "reading it")
        }
    }

    private func entry(_ name: String) throws -> Entry {
        guard let entry = entries[name] else { throw StoreError(.notFound, file: path, object: name, reason: "no such tensor") }
        return entry
    }

    /// Every tensor, in name order.
    public func variables() throws -> [Variable] {
        names.map { Variable(name: $0, elementType: entries[$0]!.type, shape: entries[$0]!.shape) }
    }

    /// None: the names are flat keys.
    public func containers() throws -> [String] { [] }

    /// The `__metadata__` keys for the file (`""`), in file order; for a cell's scope, the split record this
    /// tool keeps in `__metadata__` as `SCOPE@gru_convert_layout` (`SafetensorsWriter`).
    public func attributeNames(of object: String) throws -> [String] {
        if object.isEmpty { return metadata.map(\.key).filter { splitRecordScope($0) == nil } }
        return metadata.contains { splitRecordScope($0.key) == object } ? [SafetensorsWriter.layoutAttribute] : []
    }

    /// The scope whose split record the metadata key `key` is (`SCOPE@gru_convert_layout`, for a scope that
    /// has tensors here); nil for any other key, which is the file's own.
    private func splitRecordScope(_ key: String) -> String? {
        let suffix = "@" + SafetensorsWriter.layoutAttribute
        guard key.hasSuffix(suffix) else { return nil }
        let scope = String(key.dropLast(suffix.count))
        return names.contains { $0.hasPrefix(scope + "/") } ? scope : nil
    }

    /// A `__metadata__` value (`object` `""`), or a scope's split record; nil for anything else.
    public func stringAttribute(_ attribute: String, of object: String) throws -> String? {
        guard try attributeNames(of: object).contains(attribute) else { return nil }
        let key = object.isEmpty ? attribute : object + "@" + attribute
        return metadata.first { $0.key == key }?.value
    }

    /// Reads a float tensor (F16, F32 or F64) into `Scalar`: float16 and float32 widen exactly, float64
    /// read as `Float` rounds to nearest.
    public func read<Scalar: StoredFloat>(_ name: String, as: Scalar.Type = Scalar.self) throws -> Tensor<Scalar> {
        let entry = try entry(name)
        guard case .float(let bits) = entry.type, entry.type.isFloat else {
            throw StoreError(.unsupportedType, file: path, object: name, reason: "holds \(entry.type) values, not float16, float32 or float64")
        }
        let count = entry.shape.reduce(1, *)
        try memoryBudget.check(elements: count, of: MemoryLayout<Scalar>.stride + bits / 8, file: path, object: name,
                               what: "reading its \(format(entry.shape)) \(entry.type) values")
        let bytes = try bytes(of: entry, name)
        let scalars = LittleEndianFloats.decode(bytes, bits: bits, count: count, as: Scalar.self)
        return Tensor(shape: entry.shape, scalars: scalars)
    }

    /// Copies rows `rows` of a rank-1 or rank-2 float tensor into `bytes`, unchanged (little-endian IEEE).
    public func readRawRows(_ name: String, rows: Range<Int>, into bytes: UnsafeMutableRawBufferPointer) throws {
        let entry = try entry(name)
        guard let request = try RawRowRequest(rows: rows, type: entry.type, shape: entry.shape, bufferBytes: bytes.count,
                                              file: path, object: name) else { return }
        let target = UnsafeMutableRawBufferPointer(rebasing: bytes[0..<request.count])
        do {
            try file.read(at: dataStart + entry.range.lowerBound + request.start, into: target)
        } catch {
            throw TFCheckpointFile.openError(error, file: path, object: name, what: "reading its values")
        }
    }

    /// Every value of tensor `name`, whatever its dtype, as little-endian bytes.
    public func readAll(_ name: String) throws -> StoredValues {
        let entry = try entry(name)
        try memoryBudget.check(elements: entry.range.count, of: 1, file: path, object: name, what: "reading its values")
        return StoredValues(elementType: entry.type, shape: entry.shape, storage: .bytes(try bytes(of: entry, name)))
    }

    private func bytes(of entry: Entry, _ name: String) throws -> [UInt8] {
        do { return try file.read(at: dataStart + entry.range.lowerBound, count: entry.range.count) } catch {
            throw TFCheckpointFile.openError(error, file: path, object: name, what: "reading its values")
        }
    }
}
