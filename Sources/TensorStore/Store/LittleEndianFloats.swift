/// Little-endian IEEE floats as every format stores them, decoded for reading into `Float` or `Double`.
enum LittleEndianFloats {
    /// `count` elements of `bits` (16, 32 or 64) from `bytes`, each widened exactly or (float64 into
    /// `Float`) rounded to nearest.
    static func decode<Scalar: StoredFloat>(_ bytes: [UInt8], bits: Int, count: Int, as: Scalar.Type = Scalar.self) -> [Scalar] {
        bytes.withUnsafeBytes { raw -> [Scalar] in
            /// Element `index` as a little-endian integer of its width.
            func element<T: FixedWidthInteger>(_ index: Int, _: T.Type) -> T {
                T(littleEndian: raw.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
            }
            switch bits {
            case 16: return (0..<count).map { Scalar(widen(half: element($0, UInt16.self))) }
            case 32: return (0..<count).map { Scalar(Float(bitPattern: element($0, UInt32.self))) }
            default: return (0..<count).map { Scalar(Double(bitPattern: element($0, UInt64.self))) }
            }
        }
    }

    /// IEEE binary16 bits as the `Float` they denote (exact; NaN payloads kept).
    static func widen(half bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1f
        let mantissa = UInt32(bits & 0x3ff)
        switch exponent {
        case 0:
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1f:
            return Float(bitPattern: sign | 0x7f80_0000 | mantissa << 13)
        default:
            return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
        }
    }
}
