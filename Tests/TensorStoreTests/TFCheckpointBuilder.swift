import Foundation
@testable import TensorStore

/// Hand-built bytes for the checkpoint tests: protobuf fields, table blocks and files, and whole
/// checkpoints, written the way TensorFlow writes them (§2–§7 of the format notes) so that each test can
/// damage exactly one thing.
enum TFWire {
    static func varint(_ value: UInt64) -> [UInt8] {
        var bytes: [UInt8] = [], rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7f) | 0x80)
            rest >>= 7
        }
        return bytes + [UInt8(rest)]
    }

    static func fixed32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    static func fixed64(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    /// A varint field (`int32`, `int64`, enum; negative values as 10-byte two's complement).
    static func field(_ number: Int, _ value: Int64) -> [UInt8] {
        varint(UInt64(number << 3)) + varint(UInt64(bitPattern: value))
    }

    /// A length-delimited field.
    static func field(_ number: Int, bytes: [UInt8]) -> [UInt8] {
        varint(UInt64(number << 3 | 2)) + varint(UInt64(bytes.count)) + bytes
    }

    static func fixed32Field(_ number: Int, _ value: UInt32) -> [UInt8] { varint(UInt64(number << 3 | 5)) + fixed32(value) }

    static func shape(_ dims: [Int]) -> [UInt8] { dims.flatMap { field(2, bytes: field(1, Int64($0))) } }

    static func slice(_ extents: [(Int, Int?)]) -> [UInt8] {
        extents.flatMap { start, length in
            field(1, bytes: (start == 0 ? [] : field(1, Int64(start))) + (length.map { field(2, Int64($0)) } ?? []))
        }
    }

    static func header(shards: Int = 1, endianness: Int = 0, minConsumer: Int = 0, badConsumers: [Int] = []) -> [UInt8] {
        let version = field(1, 1) + (minConsumer == 0 ? [] : field(2, Int64(minConsumer)))
            + (badConsumers.isEmpty ? [] : field(3, bytes: badConsumers.flatMap { varint(UInt64($0)) }))
        return field(1, Int64(shards)) + (endianness == 0 ? [] : field(2, Int64(endianness))) + field(3, bytes: version)
    }

    static func entry(dtype: Int, shape dims: [Int], shard: Int = 0, offset: Int, size: Int, crc: UInt32,
                      slices: [[(Int, Int?)]] = []) -> [UInt8] {
        var bytes = field(1, Int64(dtype)) + field(2, bytes: shape(dims))
        if shard != 0 { bytes += field(3, Int64(shard)) }
        if offset != 0 { bytes += field(4, Int64(offset)) }
        if size != 0 { bytes += field(5, Int64(size)) }
        bytes += fixed32Field(6, crc)
        for extents in slices { bytes += field(7, bytes: slice(extents)) }
        return bytes
    }

    /// Raw Snappy of `bytes` using literals only (valid Snappy: a compressor may always emit literals).
    static func snappyLiterals(_ bytes: [UInt8]) -> [UInt8] {
        var output = varint(UInt64(bytes.count))
        var index = 0
        while index < bytes.count {
            let count = min(60, bytes.count - index)
            output.append(UInt8((count - 1) << 2))
            output += bytes[index..<index + count]
            index += count
        }
        return output
    }
}

/// Builds table files as TensorFlow's `TFTableBuilder` does: data blocks cut at `blockSize`, restart
/// points every `restartInterval` entries, an index block of one handle per data block (restart
/// interval 1), an empty metaindex block, and the 48-byte footer.
struct TFTableBuilder {
    var blockSize = 4096
    var restartInterval = 16
    var compressDataBlocks = false

    static func block(_ entries: [([UInt8], [UInt8])], restartInterval: Int) -> [UInt8] {
        var bytes: [UInt8] = [], restarts: [UInt32] = [], previous: [UInt8] = []
        for (index, (key, value)) in entries.enumerated() {
            var shared = 0
            if index % restartInterval == 0 {
                restarts.append(UInt32(bytes.count))
            } else {
                while shared < min(previous.count, key.count), previous[shared] == key[shared] { shared += 1 }
            }
            bytes += TFWire.varint(UInt64(shared)) + TFWire.varint(UInt64(key.count - shared)) + TFWire.varint(UInt64(value.count))
            bytes += key[shared...] + value
            previous = key
        }
        if restarts.isEmpty { restarts = [0] }
        return bytes + restarts.flatMap(TFWire.fixed32) + TFWire.fixed32(UInt32(restarts.count))
    }

    /// Appends a block with its trailer; returns its handle bytes.
    static func append(_ contents: [UInt8], type: UInt8, to file: inout [UInt8]) -> [UInt8] {
        let handle = TFWire.varint(UInt64(file.count)) + TFWire.varint(UInt64(contents.count))
        let crc = CRC32C.extend(CRC32C.checksum(contents), [type])
        file += contents + [type] + TFWire.fixed32(CRC32C.mask(crc))
        return handle
    }

    func build(_ entries: [([UInt8], [UInt8])]) -> [UInt8] {
        var file: [UInt8] = [], index: [([UInt8], [UInt8])] = [], pending: [([UInt8], [UInt8])] = [], size = 0
        func flush() {
            guard let last = pending.last else { return }
            let contents = Self.block(pending, restartInterval: restartInterval)
            let handle = compressDataBlocks ? Self.append(TFWire.snappyLiterals(contents), type: 1, to: &file)
                : Self.append(contents, type: 0, to: &file)
            index.append((last.0, handle))  // the last key is a valid separator
            pending = []
            size = 0
        }
        for entry in entries {
            pending.append(entry)
            size += entry.0.count + entry.1.count + 3
            if size >= blockSize { flush() }
        }
        flush()
        let meta = Self.append(Self.block([], restartInterval: 1), type: 0, to: &file)
        let indexHandle = Self.append(Self.block(index, restartInterval: 1), type: 0, to: &file)
        var footer = meta + indexHandle
        footer += [UInt8](repeating: 0, count: 40 - footer.count)
        return file + footer + TFWire.fixed64(SSTable.magic)
    }
}

/// A checkpoint under construction: entries and data shards, written as `PREFIX.index` +
/// `PREFIX.data-NNNNN-of-MMMMM`.
struct TFCheckpointBuilder {
    var header = TFWire.header()
    var shards: [[UInt8]] = [[]]
    var entries: [[UInt8]: [UInt8]] = [:]
    var table = TFTableBuilder()

    static func float32Bytes(_ values: [Float]) -> [UInt8] { values.flatMap { TFWire.fixed32($0.bitPattern) } }

    /// Appends raw bytes to a shard and an entry pointing at them with their crc.
    mutating func add(_ key: String, dtype: Int, shape: [Int], bytes: [UInt8], shard: Int = 0) {
        add(Array(key.utf8), dtype: dtype, shape: shape, bytes: bytes, shard: shard)
    }

    mutating func add(_ key: [UInt8], dtype: Int, shape: [Int], bytes: [UInt8], shard: Int = 0) {
        while shards.count <= shard { shards.append([]) }
        let offset = shards[shard].count
        shards[shard] += bytes
        entries[key] = TFWire.entry(dtype: dtype, shape: shape, shard: shard, offset: offset, size: bytes.count,
                                  crc: CRC32C.mask(CRC32C.checksum(bytes)))
    }

    mutating func addFloats(_ key: String, shape: [Int], _ values: [Float], shard: Int = 0) {
        add(key, dtype: 1, shape: shape, bytes: Self.float32Bytes(values), shard: shard)
    }

    /// A string tensor as TensorFlow writes it: varint64 lengths, masked crc of the lengths as uint32,
    /// the bytes; the entry crc covers lengths (as uint32), the stored length checksum and the bytes.
    mutating func addStrings(_ key: String, shape: [Int], _ strings: [[UInt8]], shard: Int = 0) {
        var lengths: [UInt8] = [], crc: UInt32 = 0
        for string in strings {
            lengths += TFWire.varint(UInt64(string.count))
            crc = CRC32C.extend(crc, TFWire.fixed32(UInt32(string.count)))
        }
        let lengthChecksum = TFWire.fixed32(CRC32C.mask(crc))
        crc = CRC32C.extend(crc, lengthChecksum)
        for string in strings { crc = CRC32C.extend(crc, string) }
        let bytes = lengths + lengthChecksum + strings.flatMap { $0 }
        while shards.count <= shard { shards.append([]) }
        let offset = shards[shard].count
        shards[shard] += bytes
        entries[Array(key.utf8)] = TFWire.entry(dtype: 7, shape: shape, shard: shard, offset: offset, size: bytes.count,
                                              crc: CRC32C.mask(crc))
    }

    /// A partitioned float32 tensor: the full entry lists the slices, each piece has its own entry under
    /// its binary key. `pieces` are (extents as (start, length), row-major values).
    mutating func addPartitioned(_ key: String, shape: [Int], pieces: [([(Int, Int?)], [Float])], shards pieceShards: [Int]? = nil) {
        entries[Array(key.utf8)] = TFWire.entry(dtype: 1, shape: shape, offset: 0, size: 0, crc: 0, slices: pieces.map(\.0))
        for (index, (extents, values)) in pieces.enumerated() {
            let slice = TFTensorSlice(extents: extents.map { (Int64($0.0), $0.1.map(Int64.init)) })
            let pieceShape = zip(extents, shape).map { extent, size in extent.1 ?? size }
            add(OrderedCode.sliceKey(name: Array(key.utf8), slice: slice), dtype: 1, shape: pieceShape,
                bytes: Self.float32Bytes(values), shard: pieceShards?[index] ?? 0)
        }
    }

    func indexBytes() -> [UInt8] {
        let sorted = entries.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        return table.build([([], header)] + sorted.map { ($0.key, $0.value) })
    }

    /// Writes the files under `directory/name`; returns the prefix.
    @discardableResult
    func write(to directory: URL, name: String = "model.ckpt", shardCount: Int? = nil) throws -> String {
        let prefix = directory.appendingPathComponent(name).path
        try Data(indexBytes()).write(to: URL(fileURLWithPath: prefix + ".index"))
        let count = shardCount ?? shards.count
        for (index, bytes) in shards.enumerated() {
            try Data(bytes).write(to: URL(fileURLWithPath: CheckpointLocation(prefix: prefix).dataPath(shard: index, of: count)))
        }
        return prefix
    }
}

/// A fresh temporary directory, removed when `body` returns.
func withCheckpointDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tf-checkpoint-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}
