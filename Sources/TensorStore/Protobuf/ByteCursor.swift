/// A forward-only reader over a window of bytes: every read is checked against the window's end, and a
/// failure names the offset where it happened, so nothing read from a file can index out of bounds.
///
/// Offsets in errors are `origin + position`: `origin` is where byte 0 of `bytes` lies in the thing
/// being described (a file, or an uncompressed block), so messages can point at the damaged byte.
struct ByteCursor {
    /// A read that would pass the end of the window, or a value the format forbids, at `offset`.
    struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// Where the bad read started, counted like `ByteCursor.offset`.
        var offset: Int
        /// What was wrong, in words (`varint64 longer than 10 bytes`).
        var reason: String

        /// `<reason> at byte <offset>`.
        var description: String { "\(reason) at byte \(offset)" }
    }

    /// The whole buffer; only `position..<end` is still readable.
    private let bytes: [UInt8]
    /// The index in `bytes` of the next byte to read.
    private(set) var position: Int
    /// One past the last byte this cursor may read.
    let end: Int
    /// The offset of `bytes[0]` in whatever the messages describe.
    let origin: Int

    /// A cursor over `bytes[range]` (all of `bytes` when nil); a range outside `bytes` is clamped to it.
    init(_ bytes: [UInt8], range: Range<Int>? = nil, origin: Int = 0) {
        self.bytes = bytes
        let lower = min(max(range?.lowerBound ?? 0, 0), bytes.count)
        let upper = min(max(range?.upperBound ?? bytes.count, lower), bytes.count)
        position = lower
        end = upper
        self.origin = origin
    }

    /// The offset of the next byte, counted from `origin`.
    var offset: Int { origin + position }
    /// How many bytes are left to read.
    var remaining: Int { end - position }
    /// True when every byte has been read.
    var isAtEnd: Bool { position >= end }

    /// A failure at the current position.
    func failure(_ reason: String) -> Failure { Failure(offset: offset, reason: reason) }

    /// Throws unless `count` more bytes can be read.
    private func require(_ count: Int, _ what: String) throws(Failure) {
        guard count >= 0, count <= remaining else {
            throw failure("\(what) needs \(count) bytes but only \(remaining) remain")
        }
    }

    /// Reads one byte.
    mutating func readByte() throws(Failure) -> UInt8 {
        try require(1, "a byte")
        defer { position += 1 }
        return bytes[position]
    }

    /// Reads a little-endian 32-bit integer (LevelDB `DecodeFixed32`).
    mutating func readFixed32() throws(Failure) -> UInt32 { try readFixed(UInt32.self, "a fixed32") }

    /// Reads a little-endian 64-bit integer (LevelDB `DecodeFixed64`).
    mutating func readFixed64() throws(Failure) -> UInt64 { try readFixed(UInt64.self, "a fixed64") }

    /// Reads a little-endian unsigned integer of `T`'s width.
    private mutating func readFixed<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, _ what: String) throws(Failure) -> T {
        let width = T.bitWidth / 8
        try require(width, what)
        var value: T = 0
        for index in 0..<width { value |= T(bytes[position + index]) << (8 * index) }
        position += width
        return value
    }

    /// Reads a base-128 varint of at most 10 bytes whose value fits 64 bits (LevelDB `GetVarint64`,
    /// protobuf's varint); a longer one or one that overflows is refused.
    mutating func readVarint64() throws(Failure) -> UInt64 {
        let start = position
        var value: UInt64 = 0
        for index in 0..<10 {
            guard position < end else {
                position = start
                throw failure("a varint runs past the end (\(end - start) bytes left)")
            }
            let byte = bytes[position]
            position += 1
            if index == 9, byte > 1 {
                position = start
                throw failure(byte & 0x80 != 0 ? "a varint is longer than 10 bytes" : "a varint overflows 64 bits")
            }
            value |= UInt64(byte & 0x7f) << (7 * index)
            if byte & 0x80 == 0 { return value }
        }
        position = start
        throw failure("a varint is longer than 10 bytes")  // not reached: the 10th byte is checked above
    }

    /// Reads a varint whose value must fit 32 bits (LevelDB `GetVarint32`; at most 5 bytes).
    mutating func readVarint32() throws(Failure) -> UInt32 {
        let start = position
        let value = try readVarint64()
        guard position - start <= 5, let narrow = UInt32(exactly: value) else {
            position = start
            throw failure("a varint32 holds \(value), more than 32 bits")
        }
        return narrow
    }

    /// Reads the next `count` bytes.
    mutating func readBytes(_ count: Int) throws(Failure) -> ArraySlice<UInt8> {
        try require(count, "a field")
        defer { position += count }
        return bytes[position..<position + count]
    }

    /// A cursor over the next `count` bytes (sharing the buffer), and moves past them.
    mutating func subcursor(_ count: Int) throws(Failure) -> ByteCursor {
        try require(count, "a field")
        defer { position += count }
        return ByteCursor(bytes, range: position..<position + count, origin: origin)
    }

    /// Moves past the next `count` bytes.
    mutating func skip(_ count: Int) throws(Failure) {
        try require(count, "skipping")
        position += count
    }

    /// The bytes not read yet, without moving.
    var rest: ArraySlice<UInt8> { bytes[position..<end] }
}
