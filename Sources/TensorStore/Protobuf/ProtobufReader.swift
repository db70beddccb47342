/// A minimal reader of the protobuf binary wire format, enough for the few messages a checkpoint index
/// and an ONNX model hold: fields are read in order, the caller decodes the numbers it knows, and
/// everything else (unknown numbers, and, for the checkpoint's messages, known numbers with an unexpected
/// wire type, as protobuf itself does) is skipped.
struct ProtobufReader {
    /// How a field's value is encoded on the wire.
    enum WireType: UInt8, Sendable {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
    }

    /// One field's key: its number and wire type.
    struct Field: Hashable, Sendable {
        /// The field number (1 ... 2^29 - 1).
        var number: Int
        /// How its value is encoded.
        var wireType: WireType
    }

    /// Deepest nesting of (deprecated) groups that skipping follows before giving up.
    static let maximumGroupDepth = 64

    /// The message's bytes not read yet.
    private(set) var cursor: ByteCursor

    /// A reader of the message in `cursor`'s window.
    init(_ cursor: ByteCursor) { self.cursor = cursor }

    /// A reader of a whole byte array.
    init(_ bytes: [UInt8]) { cursor = ByteCursor(bytes) }

    /// The next field's key, or nil at the end of the message.
    mutating func next() throws(ByteCursor.Failure) -> Field? {
        guard !cursor.isAtEnd else { return nil }
        let start = cursor.offset
        let key = try cursor.readVarint64()
        guard let wireType = WireType(rawValue: UInt8(key & 7)) else {
            throw ByteCursor.Failure(offset: start, reason: "a protobuf field has wire type \(key & 7), which does not exist")
        }
        let number = key >> 3
        guard number >= 1, number < 1 << 29 else {
            throw ByteCursor.Failure(offset: start, reason: "a protobuf field has number \(number), outside 1...536870911")
        }
        return Field(number: Int(number), wireType: wireType)
    }

    /// A varint field's value.
    mutating func varint() throws(ByteCursor.Failure) -> UInt64 { try cursor.readVarint64() }

    /// An `int32` or enum field: the low 32 bits of the varint, sign included, as protobuf decodes them.
    mutating func int32() throws(ByteCursor.Failure) -> Int32 { Int32(truncatingIfNeeded: try cursor.readVarint64()) }

    /// An `int64` field.
    mutating func int64() throws(ByteCursor.Failure) -> Int64 { Int64(bitPattern: try cursor.readVarint64()) }

    /// A `bool` field.
    mutating func bool() throws(ByteCursor.Failure) -> Bool { try cursor.readVarint64() != 0 }

    /// A `fixed32` field.
    mutating func fixed32() throws(ByteCursor.Failure) -> UInt32 { try cursor.readFixed32() }

    /// A `fixed64` field.
    mutating func fixed64() throws(ByteCursor.Failure) -> UInt64 { try cursor.readFixed64() }

    /// A length-delimited field (bytes, string, message or packed values) as a cursor over its bytes.
    mutating func lengthDelimited() throws(ByteCursor.Failure) -> ByteCursor {
        let start = cursor.offset
        let length = try cursor.readVarint64()
        guard length <= UInt64(cursor.remaining) else {
            throw ByteCursor.Failure(offset: start, reason: "a protobuf field of \(length) bytes runs past the end of its message "
                                     + "(\(cursor.remaining) bytes left)")
        }
        return try cursor.subcursor(Int(length))
    }

    /// A length-delimited field's bytes.
    mutating func bytes() throws(ByteCursor.Failure) -> [UInt8] {
        var field = try lengthDelimited()
        return Array(try field.readBytes(field.remaining))
    }

    /// A `string` field, decoded as UTF-8 (invalid sequences replaced, as they can only be damage).
    mutating func string() throws(ByteCursor.Failure) -> String {
        String(decoding: try bytes(), as: UTF8.self)
    }

    /// Skips the value of `field`, whatever its wire type, groups included.
    mutating func skip(_ field: Field) throws(ByteCursor.Failure) {
        switch field.wireType {
        case .varint: _ = try cursor.readVarint64()
        case .fixed64: try cursor.skip(8)
        case .fixed32: try cursor.skip(4)
        case .lengthDelimited: _ = try lengthDelimited()
        case .endGroup:
            throw cursor.failure("a protobuf group ends (field \(field.number)) that never started")
        case .startGroup:
            var open = [field.number]
            while let last = open.last {
                guard let inner = try next() else {
                    throw cursor.failure("a protobuf group (field \(last)) never ends")
                }
                switch inner.wireType {
                case .startGroup:
                    guard open.count < Self.maximumGroupDepth else {
                        throw cursor.failure("protobuf groups nest deeper than \(Self.maximumGroupDepth)")
                    }
                    open.append(inner.number)
                case .endGroup:
                    guard inner.number == last else {
                        throw cursor.failure("a protobuf group of field \(last) ends as field \(inner.number)")
                    }
                    open.removeLast()
                default:
                    try skip(inner)
                }
            }
        }
    }

    /// The values of a repeated `int32` field, packed (one length-delimited run) or not (one varint).
    mutating func repeatedInt32(_ field: Field) throws(ByteCursor.Failure) -> [Int32] {
        switch field.wireType {
        case .varint: return [try int32()]
        case .lengthDelimited:
            var packed = ProtobufReader(try lengthDelimited())
            var values: [Int32] = []
            while !packed.cursor.isAtEnd { values.append(try packed.int32()) }
            return values
        default:
            try skip(field)
            return []
        }
    }
}
