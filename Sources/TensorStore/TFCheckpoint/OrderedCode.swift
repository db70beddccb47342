/// The binary keys under which the pieces of a partitioned tensor are stored (§7 of the format notes):
/// TensorFlow's `EncodeTensorNameSlice`, built from `OrderedCode` (`tensorflow/core/lib/strings/ordered_code.cc`).
///
/// `00` (the number 0), the name as an escaped string ending in `00 01`, the rank as a number, then each
/// dimension's start and length as signed numbers; a whole dimension is start 0, length -1.
/// Example: `extra/part`, rank 2, `[(3, 3), (0, 4)]` → `00 "extra/part" 00 01 01 02 83 83 80 84`.
enum OrderedCode {
    /// The key of the piece `slice` of the tensor stored under `name`.
    static func sliceKey(name: [UInt8], slice: TFTensorSlice) -> [UInt8] {
        var key: [UInt8] = []
        appendNumber(0, to: &key)
        appendString(name, to: &key)
        appendNumber(UInt64(slice.extents.count), to: &key)
        for extent in slice.extents {
            appendSigned(extent.start, to: &key)
            appendSigned(extent.length ?? -1, to: &key)
        }
        return key
    }

    /// A slice key taken apart: the tensor's key and the rectangle, or nil when `key` is not one.
    static func parseSliceKey(_ key: [UInt8]) -> (name: [UInt8], slice: TFTensorSlice)? {
        var position = 0
        guard readNumber(key, &position) == 0, let name = readString(key, &position),
              let rank = readNumber(key, &position), rank <= 254 else { return nil }
        var extents: [(start: Int64, length: Int64?)] = []
        for _ in 0..<rank {
            guard let start = readSigned(key, &position), let length = readSigned(key, &position) else { return nil }
            extents.append((start, length == -1 ? nil : length))
        }
        guard position == key.count else { return nil }
        return (name, TFTensorSlice(extents: extents))
    }

    // MARK: - Writing (WriteNumIncreasing, WriteString, WriteSignedNumIncreasing)

    /// A length byte, then the value's big-endian bytes without leading zeros (`0` is the single byte `00`).
    static func appendNumber(_ value: UInt64, to key: inout [UInt8]) {
        var bytes: [UInt8] = []
        var rest = value
        while rest > 0 {
            bytes.insert(UInt8(rest & 0xff), at: 0)
            rest >>= 8
        }
        key.append(UInt8(bytes.count))
        key += bytes
    }

    /// The bytes with `00` → `00 ff` and `ff` → `ff 00`, then the terminator `00 01`.
    static func appendString(_ bytes: [UInt8], to key: inout [UInt8]) {
        for byte in bytes {
            key.append(byte)
            if byte == 0x00 { key.append(0xff) } else if byte == 0xff { key.append(0x00) }
        }
        key += [0x00, 0x01]
    }

    /// Header bits of the first two bytes for each encoded length (`kLengthToHeaderBits`).
    private static let headerBits: [(UInt8, UInt8)] = [
        (0, 0), (0x80, 0), (0xc0, 0), (0xe0, 0), (0xf0, 0), (0xf8, 0), (0xfc, 0), (0xfe, 0), (0xff, 0), (0xff, 0x80), (0xff, 0xc0),
    ]

    /// A signed number whose byte order sorts like its value: one byte `0x80 ^ v` for -64 ≤ v < 64,
    /// longer forms with the length in the leading bits.
    static func appendSigned(_ value: Int64, to key: inout [UInt8]) {
        let magnitude = UInt64(bitPattern: value < 0 ? ~value : value)
        if magnitude < 64 {
            key.append(0x80 ^ UInt8(truncatingIfNeeded: value))
            return
        }
        let bits = 64 - magnitude.leadingZeroBitCount
        let length = bits / 7 + 1  // kBitsToLength: 7–13 bits → 2 bytes, ..., 63 bits → 10 bytes
        let sign: UInt8 = value < 0 ? 0xff : 0x00
        var buffer = [sign, sign]
        for index in 0..<8 { buffer.append(UInt8(truncatingIfNeeded: UInt64(bitPattern: value) >> (56 - 8 * index))) }
        var encoded = Array(buffer[(10 - length)...])
        encoded[0] ^= headerBits[length].0
        encoded[1] ^= headerBits[length].1
        key += encoded
    }

    // MARK: - Reading

    /// Reads what `appendNumber` writes; nil when malformed.
    static func readNumber(_ key: [UInt8], _ position: inout Int) -> UInt64? {
        guard position < key.count else { return nil }
        let length = Int(key[position])
        guard length <= 8, key.count - position - 1 >= length else { return nil }
        var value: UInt64 = 0
        for index in 0..<length { value = value << 8 | UInt64(key[position + 1 + index]) }
        position += 1 + length
        return value
    }

    /// Reads what `appendString` writes, unescaped; nil without its terminator or with a bad escape.
    static func readString(_ key: [UInt8], _ position: inout Int) -> [UInt8]? {
        var bytes: [UInt8] = []
        while position < key.count {
            let byte = key[position]
            position += 1
            guard byte == 0x00 || byte == 0xff else {
                bytes.append(byte)
                continue
            }
            guard position < key.count else { return nil }
            let next = key[position]
            position += 1
            switch (byte, next) {
            case (0x00, 0x01): return bytes
            case (0x00, 0xff): bytes.append(0x00)
            case (0xff, 0x00): bytes.append(0xff)
            default: return nil
            }
        }
        return nil
    }

    /// Reads what `appendSigned` writes; nil for a malformed or non-canonical encoding.
    static func readSigned(_ key: [UInt8], _ position: inout Int) -> Int64? {
        guard position < key.count else { return nil }
        let negative = key[position] & 0x80 == 0
        let flip: UInt8 = negative ? 0xff : 0x00
        // The length is the count of leading bits equal to the sign bit, over the first two bytes.
        let first = key[position] ^ flip
        var length: Int
        if first != 0xff {
            length = (~first).leadingZeroBitCount  // 10xxxxxx → 1, 110xxxxx → 2, ...
        } else {
            guard key.count - position >= 2 else { return nil }
            let second = key[position + 1] ^ flip
            switch second {
            case ..<0x80: length = 8
            case 0x80..<0xc0: length = 9
            case 0xc0:
                guard key.count - position >= 3, key[position + 2] ^ flip < 0x80 else { return nil }
                length = 10
            default: return nil
            }
        }
        guard length >= 1, key.count - position >= length else { return nil }
        var encoded = Array(key[position..<position + length])
        encoded[0] ^= headerBits[length].0
        if length >= 2 { encoded[1] ^= headerBits[length].1 }
        var value: UInt64 = negative ? ~0 : 0
        for byte in encoded.suffix(8) { value = value << 8 | UInt64(byte) }
        if length < 8 {
            // Sign-extend: the bytes before the payload were all sign bytes.
            let payloadBits = 8 * length
            value = negative ? value | (~0 << payloadBits) : value & ((1 << payloadBits) - 1)
        }
        let result = Int64(bitPattern: value)
        var check: [UInt8] = []
        appendSigned(result, to: &check)
        guard check.elementsEqual(key[position..<position + length]) else { return nil }
        position += length
        return result
    }
}
