/// Writes a table in TensorFlow's variant of the LevelDB table format (§2 of the format notes), as
/// `BundleWriter::Finish` does for a checkpoint's `.index`: uncompressed blocks (type 0) each followed by
/// its trailer (type byte + masked crc32c of the block and the type), data blocks cut once their size
/// estimate reaches 256 KiB with a restart point every 16 keys, an empty metaindex block, an index block
/// with a restart point at every entry whose keys are TensorFlow's shortest separators, and the 48-byte
/// footer ending in the magic number.
struct SSTableWriter {
    /// `table::Options::block_size`.
    static let blockSize = 262_144
    /// `table::Options::block_restart_interval` for data blocks.
    static let dataRestartInterval = 16

    /// The whole table for `entries`, whose keys must be strictly increasing (bytewise).
    static func table(_ entries: [(key: [UInt8], value: [UInt8])]) -> [UInt8] {
        var file: [UInt8] = []
        var data = BlockBuilder(restartInterval: dataRestartInterval)
        var index = BlockBuilder(restartInterval: 1)
        var pendingHandle: (offset: Int, size: Int)? = nil
        var lastKey: [UInt8] = []
        for (key, value) in entries {
            precondition(file.isEmpty && data.isEmpty || Self.less(lastKey, key), "table keys must be strictly increasing")
            if let handle = pendingHandle {
                index.add(key: shortestSeparator(lastKey, key), value: encode(handle))
                pendingHandle = nil
            }
            data.add(key: key, value: value)
            lastKey = key
            if data.sizeEstimate >= blockSize {
                pendingHandle = writeBlock(data.finish(), to: &file)
                data = BlockBuilder(restartInterval: dataRestartInterval)
            }
        }
        if !data.isEmpty { pendingHandle = writeBlock(data.finish(), to: &file) }
        let metaindex = writeBlock(BlockBuilder(restartInterval: dataRestartInterval).finish(), to: &file)
        if let handle = pendingHandle { index.add(key: shortSuccessor(lastKey), value: encode(handle)) }
        let indexHandle = writeBlock(index.finish(), to: &file)
        var footer = encode(metaindex) + encode(indexHandle)
        footer += [UInt8](repeating: 0, count: 40 - footer.count)
        withUnsafeBytes(of: SSTable.magic.littleEndian) { footer += $0 }
        return file + footer
    }

    /// Appends a block and its trailer; returns its handle.
    private static func writeBlock(_ block: [UInt8], to file: inout [UInt8]) -> (offset: Int, size: Int) {
        let offset = file.count
        file += block
        let crc = CRC32C.mask(CRC32C.extend(CRC32C.checksum(block), [UInt8(0)]))
        file.append(0)
        withUnsafeBytes(of: crc.littleEndian) { file += $0 }
        return (offset, block.count)
    }

    private static func encode(_ handle: (offset: Int, size: Int)) -> [UInt8] {
        varint(UInt64(handle.offset)) + varint(UInt64(handle.size))
    }

    /// A base-128 varint, low groups first.
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value, bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7f) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
        return bytes
    }

    static func less(_ a: [UInt8], _ b: [UInt8]) -> Bool { a.lexicographicallyPrecedes(b) }

    /// `BytewiseComparator::FindShortestSeparator`: a short key k with start <= k < limit.
    static func shortestSeparator(_ start: [UInt8], _ limit: [UInt8]) -> [UInt8] {
        let common = zip(start, limit).prefix { $0 == $1 }.count
        guard common < min(start.count, limit.count) else { return start }
        let byte = start[common]
        guard byte < 0xff, byte + 1 < limit[common] else { return start }
        return Array(start[..<common]) + [byte + 1]
    }

    /// `BytewiseComparator::FindShortSuccessor`: a short key >= key.
    static func shortSuccessor(_ key: [UInt8]) -> [UInt8] {
        guard let index = key.firstIndex(where: { $0 != 0xff }) else { return key }
        return Array(key[..<index]) + [key[index] + 1]
    }

    /// `BlockBuilder`: prefix-compressed entries, restart points, their count.
    struct BlockBuilder {
        let restartInterval: Int
        private var buffer: [UInt8] = []
        private var restarts: [UInt32] = [0]
        private var counter = 0
        private var last: [UInt8] = []
        private(set) var isEmpty = true

        init(restartInterval: Int) { self.restartInterval = restartInterval }

        /// `CurrentSizeEstimate`.
        var sizeEstimate: Int { buffer.count + restarts.count * 4 + 4 }

        mutating func add(key: [UInt8], value: [UInt8]) {
            var shared = 0
            if counter < restartInterval {
                shared = zip(last, key).prefix { $0 == $1 }.count
            } else {
                restarts.append(UInt32(buffer.count))
                counter = 0
            }
            buffer += varint(UInt64(shared)) + varint(UInt64(key.count - shared)) + varint(UInt64(value.count))
            buffer += key[shared...]
            buffer += value
            last = key
            counter += 1
            isEmpty = false
        }

        func finish() -> [UInt8] {
            var block = buffer
            for restart in restarts { withUnsafeBytes(of: restart.littleEndian) { block += $0 } }
            withUnsafeBytes(of: UInt32(restarts.count).littleEndian) { block += $0 }
            return block
        }
    }
}
