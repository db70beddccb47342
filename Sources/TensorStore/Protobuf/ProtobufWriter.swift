/// A minimal writer of the protobuf binary wire format: fields appended in the order they are written,
/// nested messages written into a writer of their own and appended whole (their length first), enough for
/// the few messages of an ONNX model (`ONNXWriter`).
struct ProtobufWriter {
    /// The message so far.
    private(set) var bytes: [UInt8] = []

    /// An empty message.
    init() {}

    /// The bytes a varint of `value` takes (1 ... 10).
    static func varintSize(_ value: UInt64) -> Int {
        var size = 1, rest = value >> 7
        while rest != 0 { size += 1; rest >>= 7 }
        return size
    }

    /// Appends `value` as a base-128 varint.
    mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7f) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// Appends a field's key: its number and wire type.
    mutating func key(_ number: Int, _ wireType: ProtobufReader.WireType) {
        varint(UInt64(number) << 3 | UInt64(wireType.rawValue))
    }

    /// An `int64`, `int32` or enum field (a negative value takes ten bytes, as protobuf writes it).
    mutating func int64(_ number: Int, _ value: Int64) {
        key(number, .varint)
        varint(UInt64(bitPattern: value))
    }

    /// A `float` field.
    mutating func float(_ number: Int, _ value: Float) {
        key(number, .fixed32)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
    }

    /// A `bytes` field.
    mutating func bytes(_ number: Int, _ value: [UInt8]) {
        lengthPrefix(number, value.count)
        bytes += value
    }

    /// A `string` field, as UTF-8.
    mutating func string(_ number: Int, _ value: String) { bytes(number, Array(value.utf8)) }

    /// A nested message field.
    mutating func message(_ number: Int, _ value: ProtobufWriter) { bytes(number, value.bytes) }

    /// A repeated `int64` field, packed (one length-delimited run of varints).
    mutating func packedInt64(_ number: Int, _ values: [Int64]) {
        var run = ProtobufWriter()
        for value in values { run.varint(UInt64(bitPattern: value)) }
        bytes(number, run.bytes)
    }

    /// Appends `more` as it is: fixed-width values of a packed run, or a field's value after `lengthPrefix`.
    mutating func raw(_ more: [UInt8]) { bytes += more }

    /// The key and length of a length-delimited field whose `count` bytes the caller appends (or writes
    /// elsewhere, for a field too large to hold in memory).
    mutating func lengthPrefix(_ number: Int, _ count: Int) {
        key(number, .lengthDelimited)
        varint(UInt64(count))
    }
}
