/// TensorFlow's `DataType` enum (`tensorflow/core/framework/types.proto`) as far as a reader needs it:
/// a name for reports, the bytes one element takes in a data file, and the store's element type.
struct TFDataType: Hashable, Sendable, CustomStringConvertible {
    /// The enum value as stored (`1` = `DT_FLOAT`).
    let rawValue: Int
    /// The name used in reports (`float32`, `bfloat16`, `string`; `unknown dtype 99`).
    let name: String
    /// Bytes per element for types stored as raw memory (`DataTypeCanUseMemcpy`); nil for strings,
    /// variants, resources and unknown values.
    let width: Int?
    /// The unit that byte order applies to: the width, or half of it for complex numbers.
    let swapUnit: Int
    /// What `variables()` reports.
    let elementType: ElementType

    var description: String { name }

    /// The type with enum value `rawValue`; an unknown value gets a type that can be listed but not read.
    init(rawValue: Int) {
        self.rawValue = rawValue
        if let known = Self.known[rawValue] {
            (name, width, swapUnit, elementType) = known
        } else {
            name = "unknown dtype \(rawValue)"
            (width, swapUnit, elementType) = (nil, 1, .other(name))
        }
    }

    /// `DT_STRING`.
    static let stringValue = 7
    /// `DT_VARIANT`.
    static let variantValue = 21

    /// True for `DT_STRING`.
    var isString: Bool { rawValue == Self.stringValue }

    /// Enum value → (name, width, byte-order unit, element type). Values 24–33 are the narrow types of
    /// recent releases (float8 variants, int4/uint4, int2/uint2, float4), which TensorFlow keeps one
    /// byte per element in memory and so in data files; 31–33 follow the format notes (TF 2.21 has 0..33).
    private static let known: [Int: (String, Int?, Int, ElementType)] = {
        var table: [Int: (String, Int?, Int, ElementType)] = [
            1: ("float32", 4, 4, .float(bits: 32)), 2: ("float64", 8, 8, .float(bits: 64)), 19: ("float16", 2, 2, .float(bits: 16)),
            7: ("string", nil, 1, .string), 20: ("resource", nil, 1, .other("resource")), 21: ("variant", nil, 1, .other("variant")),
            8: ("complex64", 8, 4, .other("complex64")), 18: ("complex128", 16, 8, .other("complex128")),
            10: ("bool", 1, 1, .other("bool")), 14: ("bfloat16", 2, 2, .other("bfloat16")),
        ]
        // Integers, by enum value: (bits, signed).
        let integers: [Int: (Int, Bool)] = [3: (32, true), 4: (8, false), 5: (16, true), 6: (8, true), 9: (64, true),
                                            17: (16, false), 22: (32, false), 23: (64, false)]
        for (value, (bits, signed)) in integers {
            table[value] = ((signed ? "int" : "uint") + "\(bits)", bits / 8, bits / 8, .integer(bits: bits, signed: signed))
        }
        // Quantized and narrow types, by enum value: (name, bytes per element).
        let others: [Int: (String, Int)] = [11: ("qint8", 1), 12: ("quint8", 1), 13: ("qint32", 4), 15: ("qint16", 2),
                                            16: ("quint16", 2), 24: ("float8_e5m2", 1), 25: ("float8_e4m3fn", 1),
                                            26: ("float8_e4m3fnuz", 1), 27: ("float8_e4m3b11fnuz", 1), 28: ("float8_e5m2fnuz", 1),
                                            29: ("int4", 1), 30: ("uint4", 1), 31: ("int2", 1), 32: ("uint2", 1), 33: ("float4_e2m1fn", 1)]
        for (value, (name, bytes)) in others { table[value] = (name, bytes, bytes, .other(name)) }
        return table
    }()
}

/// `TensorShapeProto`: the extents, or an unknown rank (never valid for a stored tensor).
struct TFTensorShape: Hashable, Sendable {
    /// `dim.size`, outermost first; may be negative in a damaged entry.
    var dims: [Int64] = []
    /// `unknown_rank`.
    var unknownRank = false

    /// Parses the message (`dim` = 2 {size = 1, name = 2}, `unknown_rank` = 3).
    init(_ cursor: ByteCursor) throws(ByteCursor.Failure) {
        var reader = ProtobufReader(cursor)
        while let field = try reader.next() {
            switch (field.number, field.wireType) {
            case (2, .lengthDelimited):
                var dim = ProtobufReader(try reader.lengthDelimited())
                var size: Int64 = 0
                while let inner = try dim.next() {
                    if inner.number == 1, inner.wireType == .varint { size = try dim.int64() } else { try dim.skip(inner) }
                }
                dims.append(size)
            case (3, .varint): unknownRank = try reader.bool()
            default: try reader.skip(field)
            }
        }
    }

    /// A known shape with these extents.
    init(dims: [Int64]) { self.dims = dims }

    /// The extents as `Int`, or why this is not the shape of a stored tensor (TensorFlow's
    /// `TensorShape::IsValid`: known rank, at most 254 dimensions, no negative extent, no overflow).
    func validated() -> Result<[Int], ShapeProblem> {
        guard !unknownRank else { return .failure(.invalid("has an unknown rank")) }
        guard dims.count <= 254 else { return .failure(.invalid("has \(dims.count) dimensions, more than 254")) }
        var count = 1
        var shape: [Int] = []
        for extent in dims {
            guard extent >= 0, let value = Int(exactly: extent) else {
                return .failure(.invalid("has a negative extent (\(dims.map(String.init).joined(separator: ", ")))"))
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: value)
            guard !overflow else { return .failure(.tooLarge("declares \(dims) elements, too many to count")) }
            count = product
            shape.append(value)
        }
        return .success(shape)
    }

    /// Why a shape cannot be used.
    enum ShapeProblem: Error, Hashable {
        case invalid(String)
        case tooLarge(String)
    }
}

/// `TensorSliceProto`: one N-dimensional rectangle of a partitioned tensor; an extent without a length
/// covers its whole dimension.
struct TFTensorSlice: Hashable, Sendable {
    /// `extent`: `start` and, when present, `length`.
    var extents: [(start: Int64, length: Int64?)] = []

    /// Equal extents (tuples are not `Equatable`, so this is spelled out).
    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.extents.count == rhs.extents.count
            && zip(lhs.extents, rhs.extents).allSatisfy { $0.start == $1.start && $0.length == $1.length }
    }

    /// Hashes the extents, consistently with `==`.
    func hash(into hasher: inout Hasher) {
        for extent in extents {
            hasher.combine(extent.start)
            hasher.combine(extent.length)
        }
    }

    /// A slice with these extents (a nil length covers the whole dimension).
    init(extents: [(start: Int64, length: Int64?)]) { self.extents = extents }

    /// Parses the message (`extent` = 1 {start = 1, length = 2}).
    init(_ cursor: ByteCursor) throws(ByteCursor.Failure) {
        var reader = ProtobufReader(cursor)
        while let field = try reader.next() {
            guard field.number == 1, field.wireType == .lengthDelimited else {
                try reader.skip(field)
                continue
            }
            var extent = ProtobufReader(try reader.lengthDelimited())
            var start: Int64 = 0, length: Int64? = nil
            while let inner = try extent.next() {
                switch (inner.number, inner.wireType) {
                case (1, .varint): start = try extent.int64()
                case (2, .varint): length = try extent.int64()
                default: try extent.skip(inner)
                }
            }
            extents.append((start, length))
        }
    }

    /// True when every extent covers its whole dimension (TensorFlow's `TensorSlice::IsFull`).
    var isFull: Bool { extents.allSatisfy { $0.start == 0 && ($0.length == nil || $0.length == -1) } }

    /// `[3:6, :]`: the rectangle as Python would index it.
    var description: String {
        "[" + extents.map { extent in
            guard let length = extent.length, length != -1 else { return extent.start == 0 ? ":" : "\(extent.start):" }
            let (end, overflow) = extent.start.addingReportingOverflow(length)
            return "\(extent.start):\(overflow ? "overflow" : String(end))"
        }.joined(separator: ", ") + "]"
    }
}

/// `BundleHeaderProto`, the value of the key `""`.
struct TFBundleHeader: Hashable, Sendable {
    /// `num_shards`: how many `.data-NNNNN-of-MMMMM` files there are.
    var numShards: Int32 = 0
    /// `endianness`: 0 little, 1 big.
    var endianness: Int32 = 0
    /// `version.producer`.
    var producer: Int32 = 0
    /// `version.min_consumer`.
    var minConsumer: Int32 = 0
    /// `version.bad_consumers`.
    var badConsumers: [Int32] = []
    /// True when field 1 is length-delimited, as in a V1 checkpoint's `SavedTensorSlices` (`meta` = 1).
    var looksLikeV1 = false

    /// Parses the message (`num_shards` = 1, `endianness` = 2, `version` = 3 {producer = 1,
    /// min_consumer = 2, bad_consumers = 3}).
    init(_ bytes: [UInt8]) throws(ByteCursor.Failure) {
        var reader = ProtobufReader(bytes)
        while let field = try reader.next() {
            switch (field.number, field.wireType) {
            case (1, .varint): numShards = try reader.int32()
            case (1, .lengthDelimited):
                looksLikeV1 = true
                try reader.skip(field)
            case (2, .varint): endianness = try reader.int32()
            case (3, .lengthDelimited):
                var version = ProtobufReader(try reader.lengthDelimited())
                while let inner = try version.next() {
                    switch (inner.number, inner.wireType) {
                    case (1, .varint): producer = try version.int32()
                    case (2, .varint): minConsumer = try version.int32()
                    case (3, _): badConsumers += try version.repeatedInt32(inner)
                    default: try version.skip(inner)
                    }
                }
            default: try reader.skip(field)
            }
        }
    }
}

/// `BundleEntryProto`, the value of every key but the header.
struct TFBundleEntry: Hashable, Sendable {
    /// `dtype`.
    var dtype = TFDataType(rawValue: 0)
    /// `shape`.
    var shape = TFTensorShape(dims: [])
    /// `shard_id`: which data file.
    var shardID: Int32 = 0
    /// `offset`: where the bytes start in that file.
    var offset: Int64 = 0
    /// `size`: how many bytes.
    var size: Int64 = 0
    /// `crc32c`: the masked crc32c of those bytes.
    var maskedCRC: UInt32 = 0
    /// `slices`: the stored pieces of a partitioned tensor; when present, fields 3–6 are meaningless.
    var slices: [TFTensorSlice] = []

    /// Parses the message (`dtype` = 1, `shape` = 2, `shard_id` = 3, `offset` = 4, `size` = 5,
    /// `crc32c` = 6 (fixed32), `slices` = 7).
    init(_ bytes: [UInt8]) throws(ByteCursor.Failure) {
        var reader = ProtobufReader(bytes)
        while let field = try reader.next() {
            switch (field.number, field.wireType) {
            case (1, .varint): dtype = TFDataType(rawValue: Int(try reader.int32()))
            case (2, .lengthDelimited): shape = try TFTensorShape(try reader.lengthDelimited())
            case (3, .varint): shardID = try reader.int32()
            case (4, .varint): offset = try reader.int64()
            case (5, .varint): size = try reader.int64()
            case (6, .fixed32): maskedCRC = try reader.fixed32()
            case (7, .lengthDelimited): slices.append(try TFTensorSlice(try reader.lengthDelimited()))
            default: try reader.skip(field)
            }
        }
    }
}
