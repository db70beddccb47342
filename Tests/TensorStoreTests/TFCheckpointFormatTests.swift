import Foundation
@testable import TensorStore
import Testing

/// The byte-level pieces of the checkpoint reader, on hand-built bytes: the cursor, crc32c, Snappy, the
/// protobuf wire reader, table blocks and files, and the slice keys. Every accepted input has a damaged
/// twin that must be refused.
@Suite struct TFCheckpointFormatTests {
    // MARK: - ByteCursor

    @Test func cursorReadsLittleEndianAndVarints() throws {
        var cursor = ByteCursor([0x78, 0x56, 0x34, 0x12, 0xac, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, 0x7f])
        #expect(try cursor.readFixed32() == 0x1234_5678)
        #expect(try cursor.readVarint32() == 300)
        #expect(try cursor.readFixed64() == 0x0807_0605_0403_0201)
        #expect(try cursor.readByte() == 0x7f)
        #expect(cursor.isAtEnd)
        // The largest varint64: nine 0xff then 0x01.
        var largest = ByteCursor([UInt8](repeating: 0xff, count: 9) + [0x01])
        #expect(try largest.readVarint64() == UInt64.max)
    }

    @Test func cursorRefusalsNameTheOffset() throws {
        // Three bytes left for a fixed32, in a window starting at byte 2 of a buffer found at file offset 100.
        var short = ByteCursor([0, 0, 1, 2, 3], range: 2..<5, origin: 100)
        let error = #expect(throws: ByteCursor.Failure.self) { try short.readFixed32() }
        #expect(error == ByteCursor.Failure(offset: 102, reason: "a fixed32 needs 4 bytes but only 3 remain"))
        // A failed read does not move the cursor: the same bytes still read as bytes.
        #expect(try short.readByte() == 1)

        var overlong = ByteCursor([UInt8](repeating: 0x80, count: 11))
        #expect(throws: ByteCursor.Failure(offset: 0, reason: "a varint is longer than 10 bytes")) { try overlong.readVarint64() }
        var overflow = ByteCursor([UInt8](repeating: 0xff, count: 9) + [0x02])
        #expect(throws: ByteCursor.Failure(offset: 0, reason: "a varint overflows 64 bits")) { try overflow.readVarint64() }
        var wide = ByteCursor(TFWire.varint(1 << 32))
        #expect(throws: ByteCursor.Failure(offset: 0, reason: "a varint32 holds 4294967296, more than 32 bits")) { try wide.readVarint32() }
        var unterminated = ByteCursor([0x80, 0x80], origin: 7)
        #expect(throws: ByteCursor.Failure(offset: 7, reason: "a varint runs past the end (2 bytes left)")) { try unterminated.readVarint64() }
        // A sub-cursor cannot read past its own window, even though the buffer goes on.
        var outer = ByteCursor([1, 2, 3, 4])
        var inner = try outer.subcursor(2)
        #expect(Array(try inner.readBytes(2)) == [1, 2])
        #expect(throws: ByteCursor.Failure.self) { try inner.readByte() }
        #expect(try outer.readByte() == 3)
        #expect(throws: ByteCursor.Failure.self) { try outer.readBytes(2) }
        #expect(throws: ByteCursor.Failure.self) { try outer.readBytes(-1) }
    }

    // MARK: - crc32c

    /// A bit-at-a-time CRC-32C, independent of the tables.
    static func slowCRC(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82f6_3b78 : crc >> 1 }
        }
        return ~crc
    }

    @Test func crc32cMatchesTheStandardVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xe306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // RFC 3720 (iSCSI) B.4: 32 zeros, 32 × 0xff, 0...31.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8a91_36aa)
        #expect(CRC32C.checksum([UInt8](repeating: 0xff, count: 32)) == 0x62a8_ab43)
        #expect(CRC32C.checksum((0..<32).map(UInt8.init)) == 0x46dd_794e)
        // Negative control: one changed byte changes the crc; the standard CRC-32 (zlib) differs.
        #expect(CRC32C.checksum(Array("123456780".utf8)) != 0xe306_9283)
        #expect(CRC32C.checksum(Array("123456789".utf8)) != 0xcbf4_3926)
    }

    @Test func crc32cSlicingAgreesWithBitwiseAtEveryAlignmentAndSplit() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<1000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for start in 0..<9 {
            for length in [0, 1, 7, 8, 9, 15, 16, 17, 100, 991 - start] {
                let part = Array(bytes[start..<start + length])
                #expect(CRC32C.checksum(part) == Self.slowCRC(part))
            }
        }
        for split in [0, 1, 5, 8, 13, 500, 1000] {
            #expect(CRC32C.extend(CRC32C.checksum(bytes[..<split]), bytes[split...]) == CRC32C.checksum(bytes))
        }
    }

    /// The crc32 instruction's path (three 8 KB streams a round, combined by multiplication) against the
    /// tables, around the 24 KB round size and across rounds, from every start alignment.
    @Test func crc32cHardwareAgreesWithTheTables() throws {
        try #require(CRC32C.usesHardware, "this processor has no crc32 instruction; the tables are all that runs")
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<200_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes.withUnsafeBytes { all in
            for start in [0, 1, 3, 8] {
                for length in [0, 7, 24_575, 24_576, 24_577, 49_152, 49_159, 100_003, 199_990] {
                    let part = UnsafeRawBufferPointer(rebasing: all[start..<start + length])
                    #expect(CRC32C.extend(0x1234_5678, part) == CRC32C.extendWithTables(0x1234_5678, part), "\(start) \(length)")
                }
            }
            // Negative control: one flipped bit in the second stream of the first round changes the crc.
            var copy = Array(all[0..<49_152])
            let before = copy.withUnsafeBytes { CRC32C.extend(0, $0) }
            copy[10_000] ^= 1
            #expect(copy.withUnsafeBytes { CRC32C.extend(0, $0) } != before)
            #expect(copy.withUnsafeBytes { CRC32C.extend(0, $0) } == copy.withUnsafeBytes { CRC32C.extendWithTables(0, $0) })
        }
    }

    @Test func crc32cMaskingIsTensorFlowsAndReversible() {
        #expect(CRC32C.mask(0) == 0xa282_ead8)  // the crc field of every zero-size tensor (§4)
        let crc: UInt32 = 0xe306_9283
        #expect(CRC32C.mask(crc) == ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8)
        #expect(CRC32C.mask(crc) != crc)
        for value: UInt32 in [0, 1, 0xffff_ffff, 0x8000_0000, crc] { #expect(CRC32C.unmask(CRC32C.mask(value)) == value) }
        #expect(CRC32C.unmask(crc) != crc)
    }

    // MARK: - Snappy

    @Test func snappyLiteralsAndEveryCopyForm() throws {
        // "abcd" literal, then a 1-byte-offset copy of 4 from 4 back: "abcdabcd".
        #expect(try Snappy.decompress([8, 3 << 2] + Array("abcd".utf8) + [0b000_000_01, 4], limit: 100) == Array("abcdabcd".utf8))
        // 2-byte offset: copy 3 bytes from 5 back.
        #expect(try Snappy.decompress([8, 4 << 2] + Array("hello".utf8) + [(3 - 1) << 2 | 2, 5, 0], limit: 100) == Array("hellohel".utf8))
        // 4-byte offset: copy 2 bytes from 3 back.
        #expect(try Snappy.decompress([5, 2 << 2] + Array("xyz".utf8) + [(2 - 1) << 2 | 3, 3, 0, 0, 0], limit: 100) == Array("xyzxy".utf8))
        // A 1-byte-offset copy with offset bits in the tag: offset 256 + 4 = 260, length 5.
        let first = (0..<260).map { UInt8($0 % 251) }
        let expected = first + first[0..<5]
        // A 260-byte literal needs the 2-byte length form (tag 61 << 2, then length - 1 = 259 little-endian).
        let input = TFWire.varint(265) + [61 << 2, 0x03, 0x01] + first + [0b001_001_01, 4]
        #expect(try Snappy.decompress(input[...], limit: 1000) == expected)
        // An empty block.
        #expect(try Snappy.decompress([0], limit: 0) == [])
    }

    @Test func snappyOverlappingCopiesRepeatAPattern() throws {
        // "ab" then copy offset 2, length 6 → "abababab"; offset 1 length 5 after "z" → "zzzzzz".
        #expect(try Snappy.decompress([8, 1 << 2] + Array("ab".utf8) + [(6 - 1) << 2 | 2, 2, 0], limit: 100) == Array("abababab".utf8))
        #expect(try Snappy.decompress([6, 0, UInt8(ascii: "z"), (5 - 4) << 2 | 1, 1], limit: 100) == Array("zzzzzz".utf8))
    }

    @Test func snappyMalformedInputsAreErrors() throws {
        let cases: [([UInt8], String)] = [
            ([8, 1 << 2] + Array("ab".utf8) + [(6 - 1) << 2 | 2, 0, 0], "a copy has offset 0 at byte 4 of the compressed block"),
            ([8, 1 << 2] + Array("ab".utf8) + [(6 - 1) << 2 | 2, 3, 0], "a copy reaches 3 bytes back but only 2 were written at byte 4 of the compressed block"),
            ([4, 3 << 2, 1, 2], "a literal of 4 bytes runs past the end of the block (2 bytes left) at byte 1 of the compressed block"),
            ([2, 3 << 2, 1, 2, 3, 4], "a literal of 4 bytes overflows the declared length of 2 at byte 1 of the compressed block"),
            ([3, 1 << 2, 1, 2, (6 - 1) << 2 | 2, 2, 0], "a copy of 6 bytes overflows the declared length of 3 at byte 4 of the compressed block"),
            ([9, 1 << 2, 1, 2], "the block ends after 2 of its declared 9 bytes at byte 4 of the compressed block"),
            ([2, 1 << 2, 1, 2, 2], "a copy's offset runs past the end of the block at byte 4 of the compressed block"),
            ([2, 60 << 2], "a literal's length runs past the end of the block at byte 1 of the compressed block"),
            ([0x80, 0x80, 0x80, 0x80, 0x80, 0x01], "bad uncompressed length (a varint32 holds 34359738368, more than 32 bits) at byte 0 of the compressed block"),
        ]
        for (input, message) in cases {
            let error = #expect(throws: Snappy.Failure.self) { try Snappy.decompress(input[...], limit: 1000) }
            #expect(error?.description == message)
            #expect(error?.tooLarge == false)
        }
        // The declared length is checked against the limit before anything is allocated.
        let copies = TFWire.varint(64 * 64 + 1) + [0, 7] + [UInt8](repeating: 0, count: 64).enumerated().flatMap { _ in [(64 - 1) << 2 | 2, 1, 0] }
        #expect(try Snappy.decompress(copies[...], limit: 1 << 20) == [UInt8](repeating: 7, count: 64 * 64 + 1))
        let huge = #expect(throws: Snappy.Failure.self) { try Snappy.decompress(copies[...], limit: 4096) }
        #expect(huge?.tooLarge == true)
        #expect(huge?.reason == "the block declares 4097 uncompressed bytes, more than the limit of 4096")
        // A declared length no stream of this size can produce is refused before allocating.
        let lying = #expect(throws: Snappy.Failure.self) { try Snappy.decompress((TFWire.varint(0xffff_ffff) + [0])[...], limit: .max) }
        #expect(lying?.tooLarge == false)
        #expect(lying?.reason == "the block declares 4294967295 uncompressed bytes, more than its 6 compressed bytes can hold")
    }

    // MARK: - Protobuf

    @Test func protobufSkipsUnknownFieldsOfEveryWireType() throws {
        let plain = TFWire.entry(dtype: 1, shape: [9, 8], shard: 2, offset: 360, size: 288, crc: 0x1234_5678)
        let unknown = TFWire.field(15, -5)                                           // varint, 10 bytes
            + TFWire.varint(16 << 3 | 1) + TFWire.fixed64(42)                         // fixed64
            + TFWire.field(17, bytes: [1, 2, 3])                                      // length-delimited
            + TFWire.varint(18 << 3 | 3) + TFWire.field(1, 7)                         // a group with a nested group
            + TFWire.varint(19 << 3 | 3) + TFWire.varint(19 << 3 | 4) + TFWire.varint(18 << 3 | 4)
            + TFWire.fixed32Field(20, 9)                                              // fixed32
            + TFWire.field(1, bytes: [0xff])                                          // a known number with the wrong wire type
        let entry = try TFBundleEntry(unknown + plain + unknown)
        #expect(entry == (try TFBundleEntry(plain)))
        #expect(entry.dtype.rawValue == 1 && entry.shape.dims == [9, 8] && entry.shardID == 2 && entry.offset == 360
                && entry.size == 288 && entry.maskedCRC == 0x1234_5678 && entry.slices.isEmpty)
        // Negative control: the same unknown fields in front of a different entry give a different entry.
        #expect(try TFBundleEntry(unknown + TFWire.entry(dtype: 2, shape: [9, 8], offset: 360, size: 288, crc: 1)) != entry)
    }

    @Test func protobufRefusesMalformedMessages() {
        let cases: [([UInt8], String)] = [
            ([0x0e, 0], "a protobuf field has wire type 6, which does not exist at byte 0"),
            ([0x07], "a protobuf field has wire type 7, which does not exist at byte 0"),
            ([0x00, 1], "a protobuf field has number 0, outside 1...536870911 at byte 0"),
            ([0x12, 5, 1, 2], "a protobuf field of 5 bytes runs past the end of its message (2 bytes left) at byte 1"),
            ([0x1b, 0x08, 1], "a protobuf group (field 3) never ends at byte 3"),
            ([0x1c], "a protobuf group ends (field 3) that never started at byte 1"),
            ([0x1b, 0x24], "a protobuf group of field 3 ends as field 4 at byte 2"),
            ([0x08, 0x80], "a varint runs past the end (1 bytes left) at byte 1"),
        ]
        for (bytes, message) in cases {
            let error = #expect(throws: ByteCursor.Failure.self) { try TFBundleEntry(bytes) }
            #expect(error?.description == message)
        }
    }

    @Test func headerReadsPackedAndUnpackedBadConsumers() throws {
        let packed = try TFBundleHeader(TFWire.header(shards: 3, endianness: 1, minConsumer: 1, badConsumers: [4, 1]))
        #expect(packed.numShards == 3 && packed.endianness == 1 && packed.producer == 1 && packed.minConsumer == 1)
        #expect(packed.badConsumers == [4, 1])
        let unpacked = try TFBundleHeader(TFWire.field(3, bytes: TFWire.field(3, 4) + TFWire.field(3, 1)))
        #expect(unpacked.badConsumers == [4, 1] && unpacked.numShards == 0)
        #expect(try TFBundleHeader([8, 1, 0x1a, 2, 8, 1]).badConsumers.isEmpty)  // what TF writes for one shard
    }

    // MARK: - Table blocks and files

    static let keys: [[UInt8]] = ["", "a", "ab", "abc", "abd", "b", "ba", "bab", "c"].map { Array($0.utf8) }
    nonisolated(unsafe) static var unlimited = Int.max

    static func pairs(_ keys: [[UInt8]] = keys) -> [([UInt8], [UInt8])] { keys.map { ($0, Array("v:".utf8) + $0) } }

    @Test func blocksUndoPrefixCompressionWithRestarts() throws {
        for interval in [1, 2, 3, 16] {
            let block = TFTableBuilder.block(Self.pairs(), restartInterval: interval)
            let entries = try SSTable.entries(of: block, what: "block", budget: &Self.unlimited)
            #expect(entries.map(\.key) == Self.keys)
            #expect(entries.map(\.value) == Self.pairs().map(\.1))
        }
        // Negative control: the same entries with interval 16 store fewer key bytes than with interval 1.
        #expect(TFTableBuilder.block(Self.pairs(), restartInterval: 16).count < TFTableBuilder.block(Self.pairs(), restartInterval: 1).count)
    }

    @Test func keysGrownByPrefixCompressionAreChargedToTheBudget() throws {
        // 2,000 keys of one restart run, each the previous plus one byte: a 12 KB block spelling 2 MB of keys.
        let growing = (1...2_000).map { [UInt8](repeating: UInt8(ascii: "a"), count: $0) }
        let block = TFTableBuilder.block(growing.map { ($0, [0]) }, restartInterval: 1_000_000)
        #expect(block.count < 20_000)
        var tight = 1 << 20
        let error = #expect(throws: SSTable.Failure.self) { try SSTable.entries(of: block, what: "block", budget: &tight) }
        #expect(error?.tooLarge == true)
        // 64 + 4k + 1 bytes are charged for the k-byte key: 1,047,067 for the first 707 keys, 1,049,964 with the 708th.
        #expect(error?.reason == "block: the entry at byte 4114 has a key of 708 bytes; with the keys before it, prefix compression "
                + "undone, more than the memory budget left for the index (--max-memory)")
        // Negative control: with room for four copies of the keys (and the values) it reads.
        var enough = 16 << 20
        #expect(try SSTable.entries(of: block, what: "block", budget: &enough).count == growing.count)
        #expect(enough < 16 << 20 - 4 * (2_000 * 2_001 / 2))
    }

    @Test func damagedBlocksAreRefused() throws {
        let good = TFTableBuilder.block(Self.pairs(), restartInterval: 3)  // restarts at entries 0, 3, 6
        let restartArray = good.count - 4 - 12
        func damaged(_ change: (inout [UInt8]) -> Void) -> String? {
            var block = good
            change(&block)
            return (#expect(throws: SSTable.Failure.self) { try SSTable.entries(of: block, what: "block", budget: &Self.unlimited) })?.reason
        }
        #expect(damaged { $0 = [1, 0] } == "block: 2 bytes, too small to hold its restart count")
        #expect(damaged { $0.replaceSubrange($0.count - 4..<$0.count, with: TFWire.fixed32(1000)) }
                == "block: declares 1000 restart points, more than its \(good.count) bytes can hold")
        // Restart point 1 moved off an entry boundary.
        #expect(damaged { $0.replaceSubrange(restartArray + 4..<restartArray + 8, with: TFWire.fixed32(6)) }
                == "block: restart point 1 at byte 6 is not the start of an entry (restart points must be increasing entry offsets)")
        // The second entry ("a", at byte 5) claims to share 5 bytes with "".
        #expect(damaged { $0[5] = 5 } == "block: an entry shares 5 bytes with a previous key of 0 at byte 5")
        // The first entry's value length runs past the entries.
        #expect(damaged { $0[2] = 120 } == "block: an entry of 0 key and 120 value bytes runs past the entries' end at byte \(restartArray) at byte 0")
        // Negative control: the good block reads.
        #expect(try SSTable.entries(of: good, what: "block", budget: &Self.unlimited).count == Self.keys.count)
    }

    @Test func tablesFollowTheIndexThroughEveryBlock() throws {
        let many = (0..<300).map { Array(String(format: "key/%05d", $0).utf8) }
        for compress in [false, true] {
            let file = TFTableBuilder(blockSize: 256, restartInterval: 4, compressDataBlocks: compress).build(Self.pairs(many))
            let table = try SSTable(file, limit: 1 << 20)
            #expect(table.dataBlocks.count > 10)
            #expect(table.compressedBlocks == (compress ? table.dataBlocks.count : 0))
            #expect(table.entries.map(\.key) == many)
            #expect(table.entries.last?.value == Array("v:key/00299".utf8))
        }
    }

    @Test func damagedTablesAreRefused() throws {
        let good = TFTableBuilder(blockSize: 64, restartInterval: 2).build(Self.pairs())
        func failure(_ file: [UInt8], limit: Int = 1 << 20) -> SSTable.Failure? {
            #expect(throws: SSTable.Failure.self) { try SSTable(file, limit: limit) }
        }
        #expect(try SSTable(good, limit: 1 << 20).entries.count == Self.keys.count)  // negative control
        #expect(failure(Array(good.prefix(20)))?.reason == "file is too short to be an sstable (20 bytes; a table ends in a 48-byte footer)")
        #expect(failure(Array(good.prefix(100)))?.notATable == true)
        var magic = good
        magic[magic.count - 1] ^= 1
        #expect(failure(magic)?.reason == "not an sstable (bad magic number: the last 8 bytes read 0xda4775248b80fb57, not 0xdb4775248b80fb57)")
        // One byte flipped inside the first data block: its checksum fails.
        var flipped = good
        flipped[3] ^= 0x40
        let mismatch = failure(flipped)?.reason ?? ""
        #expect(mismatch.hasPrefix("block checksum mismatch in the data block 0 at offset 0: stored 0x"))
        #expect(mismatch.hasSuffix(" (the index file is damaged)"))
        // Block type 2 with a valid checksum.
        let table = try SSTable(good, limit: 1 << 20)
        let first = table.dataBlocks[0]
        var typed = good
        typed[first.size] = 2
        let crc = CRC32C.extend(CRC32C.checksum(typed[0..<first.size]), [2])
        typed.replaceSubrange(first.size + 1..<first.size + 5, with: TFWire.fixed32(CRC32C.mask(crc)))
        #expect(failure(typed)?.reason == "bad block type 2 in the data block 0 at offset 0 (0 = stored and 1 = Snappy exist)")
        // A block handle pointing past the data: the index handle in the footer made huge.
        var footer = good
        let footerStart = footer.count - 48
        footer.replaceSubrange(footerStart..<footerStart + 40, with: TFWire.varint(0) + TFWire.varint(8) + TFWire.varint(1 << 40) + TFWire.varint(10)
                               + [UInt8](repeating: 0, count: 40 - 2 - 6 - 1))
        #expect(failure(footer)?.reason == "index block (offset 1099511627776, 10 bytes + 5-byte trailer) runs past the table's data, which ends "
                + "at byte \(good.count - 48) (the file is truncated or damaged)")
        // Keys out of order across blocks.
        let unsorted = TFTableBuilder(blockSize: 16, restartInterval: 1).build(Self.pairs([[1], [3], [2]]))
        #expect(failure(unsorted)?.reason.hasSuffix("key \\x02 does not sort after the key before it, \\x03") == true)
        // A Snappy block that declares more than the budget left.
        let compressed = TFTableBuilder(blockSize: 4096, compressDataBlocks: true).build(Self.pairs())
        #expect(failure(compressed, limit: 10)?.tooLarge == true)
        #expect(try SSTable(compressed, limit: 1 << 20).entries.count == Self.keys.count)
    }

    // MARK: - Slice keys (OrderedCode)

    @Test func sliceKeysAreTensorFlows() throws {
        let slice = TFTensorSlice(extents: [(3, 3), (0, 4)])
        let key = OrderedCode.sliceKey(name: Array("extra/part".utf8), slice: slice)
        #expect(key == [0x00] + Array("extra/part".utf8) + [0x00, 0x01, 0x01, 0x02, 0x83, 0x83, 0x80, 0x84])
        let parsed = try #require(OrderedCode.parseSliceKey(key))
        #expect(parsed.name == Array("extra/part".utf8) && parsed.slice == slice)
        // A whole dimension is start 0, length -1 (0x7f); escapes of 00 and ff in names.
        #expect(OrderedCode.sliceKey(name: [0x61, 0x00, 0xff], slice: TFTensorSlice(extents: [(0, nil)]))
                == [0x00, 0x61, 0x00, 0xff, 0xff, 0x00, 0x00, 0x01, 0x01, 0x01, 0x80, 0x7f])
        // Negative controls: another slice, another name, a plain key, trailing bytes.
        #expect(OrderedCode.sliceKey(name: Array("extra/part".utf8), slice: TFTensorSlice(extents: [(0, 3), (0, 4)])) != key)
        #expect(OrderedCode.parseSliceKey(Array("extra/part".utf8)) == nil)
        #expect(OrderedCode.parseSliceKey(key + [0]) == nil)
        #expect(OrderedCode.parseSliceKey(Array(key.dropLast())) == nil)
    }

    @Test func signedNumbersRoundTripAndSortLikeTheirValues() throws {
        let values: [Int64] = [.min, -(1 << 62), -8193, -8192, -65, -64, -1, 0, 1, 63, 64, 300, 8191, 8192, 1 << 40, 1 << 55, 1 << 62, .max]
        var encoded: [[UInt8]] = []
        for value in values {
            var bytes: [UInt8] = []
            OrderedCode.appendSigned(value, to: &bytes)
            var position = 0
            #expect(OrderedCode.readSigned(bytes, &position) == value)
            #expect(position == bytes.count)
            encoded.append(bytes)
        }
        for index in 1..<encoded.count { #expect(encoded[index - 1].lexicographicallyPrecedes(encoded[index])) }
        var small: [UInt8] = []
        OrderedCode.appendSigned(-64, to: &small)
        OrderedCode.appendSigned(64, to: &small)
        #expect(small == [0x40, 0xc0, 0x40])  // one byte for -64, two for 64 (TF's table: [-64, 64) fits one)
    }
}
