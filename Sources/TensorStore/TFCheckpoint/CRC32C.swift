import CStorage

/// CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF), the
/// checksum TensorFlow puts on every table block and every tensor, and its "masked" form (§5 of the
/// format notes): crc32c("123456789") = 0xE3069283.
///
/// With the processor's crc32 instruction where it has one (CStorage: x86-64 SSE4.2, three streams at
/// once); otherwise slicing-by-8, eight 256-entry tables that consume eight bytes per step.
enum CRC32C {
    /// Whether the crc32 instruction is used (checked once, at first use).
    static let usesHardware = gc_crc32c_hardware() != 0

    /// Added after rotating, so a crc stored next to the bytes it covers is not itself a valid crc.
    static let maskDelta: UInt32 = 0xa282_ead8

    /// Eight tables of 256 entries, one after another; table 0 is the byte-at-a-time table.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[byte] = crc
        }
        for table in 1..<8 {
            for byte in 0..<256 {
                let previous = tables[(table - 1) * 256 + byte]
                tables[table * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xff)]
            }
        }
        return tables
    }()

    /// The crc of `bytes` continuing from `crc` (the crc of what came before; 0 to start),
    /// as TensorFlow's `crc32c::Extend`.
    static func extend(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        if usesHardware, let base = bytes.baseAddress { return ~gc_crc32c_extend(~crc, base, bytes.count) }
        return extendWithTables(crc, bytes)
    }

    /// `extend` by slicing-by-8 tables (what runs without the instruction; tests compare both).
    static func extendWithTables(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var state = ~crc
        tables.withUnsafeBufferPointer { table in
            let count = bytes.count
            var index = 0
            while count - index >= 8 {
                let low = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt32.self)) ^ state
                let high = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index + 4, as: UInt32.self))
                state = table[7 * 256 + Int(low & 0xff)] ^ table[6 * 256 + Int((low >> 8) & 0xff)]
                    ^ table[5 * 256 + Int((low >> 16) & 0xff)] ^ table[4 * 256 + Int(low >> 24)]
                    ^ table[3 * 256 + Int(high & 0xff)] ^ table[2 * 256 + Int((high >> 8) & 0xff)]
                    ^ table[256 + Int((high >> 16) & 0xff)] ^ table[Int(high >> 24)]
                index += 8
            }
            while index < count {
                state = table[Int((state ^ UInt32(bytes[index])) & 0xff)] ^ (state >> 8)
                index += 1
            }
        }
        return ~state
    }

    /// The crc of `bytes` continuing from `crc`.
    static func extend<Bytes: Collection>(_ crc: UInt32, _ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        if let result = bytes.withContiguousStorageIfAvailable({ extend(crc, UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return Array(bytes).withUnsafeBytes { extend(crc, $0) }
    }

    /// The crc of `bytes` (TensorFlow's `crc32c::Value`).
    static func checksum<Bytes: Collection>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        extend(0, bytes)
    }

    /// The form TensorFlow stores (`crc32c::Mask`): rotated right by 15 bits, plus `maskDelta`.
    static func mask(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ maskDelta
    }

    /// The crc a stored, masked value stands for (`crc32c::Unmask`).
    static func unmask(_ masked: UInt32) -> UInt32 {
        let rotated = masked &- maskDelta
        return (rotated >> 17) | (rotated << 15)
    }
}
