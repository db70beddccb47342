import Foundation
import GRUCore
@testable import TensorStore
import Testing

/// `TFCheckpointFile` on hand-built checkpoints: values, byte order, partitioned tensors, strings, TF2
/// names, the paths users pass, and one error line for each kind of damage.
@Suite struct TFCheckpointFileTests {
    static let kernel: [Float] = (0..<12).map { Float($0) * 0.25 - 1 }

    /// A small TF1-style checkpoint: a [3, 4] float32 kernel, a [4] bias, an int64 step, a string vector.
    static func small() -> TFCheckpointBuilder {
        var builder = TFCheckpointBuilder()
        builder.addFloats("rnn/gru_cell/gates/kernel", shape: [3, 4], kernel)
        builder.addFloats("rnn/gru_cell/gates/bias", shape: [4], [1, 2, 3, 4])
        builder.add("global_step", dtype: 9, shape: [], bytes: TFWire.fixed64(7))
        builder.addStrings("vocab", shape: [4], [Array("a".utf8), [], Array("hello world".utf8), [0x00, 0xff, 0x20]])
        return builder
    }

    @Test func listsAndReadsTensors() throws {
        try withCheckpointDirectory { directory in
            let prefix = try Self.small().write(to: directory)
            let file = try TFCheckpointFile(readingFrom: prefix)
            #expect(file.formatName == "TensorFlow checkpoint" && file.shardCount == 1 && !file.isBigEndian && !file.hasObjectGraph)
            #expect(try file.variables() == [
                Variable(name: "global_step", elementType: .integer(bits: 64, signed: true), shape: []),
                Variable(name: "rnn/gru_cell/gates/bias", elementType: .float(bits: 32), shape: [4]),
                Variable(name: "rnn/gru_cell/gates/kernel", elementType: .float(bits: 32), shape: [3, 4]),
                Variable(name: "vocab", elementType: .string, shape: [4]),
            ])
            #expect(try file.containers().isEmpty && file.attributeNames(of: "").isEmpty)
            #expect(try file.stringAttribute("x", of: "rnn/gru_cell/gates/kernel") == nil)
            let kernel: Tensor<Float> = try file.read("rnn/gru_cell/gates/kernel")
            #expect(kernel.shape == [3, 4] && kernel.scalars == Self.kernel)
            let wide: Tensor<Double> = try file.read("rnn/gru_cell/gates/kernel")
            #expect(wide.scalars == Self.kernel.map(Double.init))
            #expect(try file.readBytes("global_step") == TFWire.fixed64(7))
            let vocab = try file.readStrings("vocab")
            #expect(vocab.shape == [4] && vocab.scalars == [Array("a".utf8), [], Array("hello world".utf8), [0x00, 0xff, 0x20]])
            // Rows: each row, and all rows, equal the matching slice of the values.
            var rows = [UInt8](repeating: 0, count: 48)
            try rows.withUnsafeMutableBytes { try file.readRawRows("rnn/gru_cell/gates/kernel", rows: 1..<3, into: $0) }
            #expect(Array(rows[0..<32]) == TFCheckpointBuilder.float32Bytes(Array(Self.kernel[4...])))
            try rows.withUnsafeMutableBytes { try file.readRawRows("rnn/gru_cell/gates/bias", rows: 0..<1, into: $0) }
            #expect(Array(rows[0..<16]) == TFCheckpointBuilder.float32Bytes([1, 2, 3, 4]))
            // Refusals: not a float, no such tensor, rows out of range, a buffer too small.
            #expect(throws: StoreError(.unsupportedType, file: prefix, object: "global_step", reason: "holds int64 values, not float16, float32 or float64")) {
                let _: Tensor<Float> = try file.read("global_step")
            }
            #expect(throws: StoreError(.notFound, file: prefix + ".index", object: "nope", reason: "no such tensor in the checkpoint")) {
                let _: Tensor<Float> = try file.read("nope")
            }
            #expect(throws: StoreError(.invalidRequest, file: prefix, object: "rnn/gru_cell/gates/kernel",
                                       reason: "rows 2..<4 of a [3, 4] tensor cannot be read into 48 bytes")) {
                try rows.withUnsafeMutableBytes { try file.readRawRows("rnn/gru_cell/gates/kernel", rows: 2..<4, into: $0) }
            }
            var tiny = [UInt8](repeating: 0, count: 8)
            #expect(throws: StoreError.self) {
                try tiny.withUnsafeMutableBytes { try file.readRawRows("rnn/gru_cell/gates/kernel", rows: 0..<1, into: $0) }
            }
            #expect(throws: StoreError(.unsupportedType, file: prefix, object: "vocab", reason: "holds strings, not fixed-width values (readStrings reads them)")) {
                _ = try file.readBytes("vocab")
            }
        }
    }

    @Test func halfAndDoubleAndZeroSizeTensors() throws {
        try withCheckpointDirectory { directory in
            var builder = TFCheckpointBuilder()
            // float16: 1, -2, 65504 (largest), 2^-24 (smallest subnormal), -0, inf.
            let halves: [UInt16] = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00]
            builder.add("half", dtype: 19, shape: [6], bytes: halves.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] })
            let doubles: [Double] = [1.0 / 3.0, -1e300, 0x1p-1074]
            builder.add("double", dtype: 2, shape: [3], bytes: doubles.flatMap { TFWire.fixed64($0.bitPattern) })
            builder.add("empty", dtype: 1, shape: [0, 3], bytes: [])
            builder.add("brain", dtype: 14, shape: [1], bytes: [0x80, 0x3f])
            let prefix = try builder.write(to: directory)
            let file = try TFCheckpointFile(readingFrom: prefix)
            let half: Tensor<Float> = try file.read("half")
            #expect(half.scalars.map(\.bitPattern) == ([1, -2, 65504, 0x1p-24, -0.0, .infinity] as [Float]).map(\.bitPattern))
            let double: Tensor<Double> = try file.read("double")
            #expect(double.scalars == doubles)
            let narrowed: Tensor<Float> = try file.read("double")
            #expect(narrowed.scalars == doubles.map(Float.init))  // rounds to nearest (-1e300 → -inf, 2^-1074 → 0)
            let empty: Tensor<Float> = try file.read("empty")
            #expect(empty.shape == [0, 3] && empty.scalars.isEmpty)
            #expect(try file.variables().first { $0.name == "brain" }?.elementType == .other("bfloat16"))
            #expect(throws: StoreError(.unsupportedType, file: prefix, object: "brain",
                                       reason: "holds bfloat16 values, not float16, float32 or float64 (bfloat16 is not an IEEE type)")) {
                let _: Tensor<Float> = try file.read("brain")
            }
            #expect(try file.readBytes("brain") == [0x80, 0x3f])  // the raw bits are still available
        }
    }

    @Test func bigEndianHeaderSwapsValuesAfterTheChecksum() throws {
        try withCheckpointDirectory { directory in
            var builder = TFCheckpointBuilder()
            builder.header = TFWire.header(endianness: 1)
            let values: [Float] = [1.5, -2.25, 3e-8, 1e30]
            builder.add("w", dtype: 1, shape: [2, 2], bytes: values.flatMap { TFWire.fixed32($0.bitPattern).reversed() })
            builder.addStrings("s", shape: [1], [Array("x".utf8)])
            let prefix = try builder.write(to: directory)
            let file = try TFCheckpointFile(readingFrom: prefix)
            #expect(file.isBigEndian)
            let read: Tensor<Float> = try file.read("w")
            #expect(read.scalars == values)
            var rows = [UInt8](repeating: 0, count: 16)
            try rows.withUnsafeMutableBytes { try file.readRawRows("w", rows: 0..<2, into: $0) }
            #expect(rows == TFCheckpointBuilder.float32Bytes(values))
            // Negative control: the same file bytes under a little-endian header read as the swapped values.
            builder.header = TFWire.header()
            try builder.write(to: directory)
            let little: Tensor<Float> = try TFCheckpointFile(readingFrom: prefix).read("w")
            #expect(little.scalars != values)
            // Strings: the length checksum is over lengths in the writer's order, so a little-endian string
            // tensor under a big-endian header fails it.
            builder.header = TFWire.header(endianness: 1)
            try builder.write(to: directory)
            #expect(throws: StoreError.self) { try TFCheckpointFile(readingFrom: prefix).readStrings("s") }
        }
    }

    // MARK: - Partitioned tensors

    /// A [4, 6] tensor as irregular rectangles, like TF2's MaxShardSizePolicy writes them, over 3 shards.
    static let full: [Float] = (0..<24).map { Float($0) }
    static func rectangle(_ rows: Range<Int>, _ columns: Range<Int>) -> [Float] {
        rows.flatMap { row in columns.map { full[row * 6 + $0] } }
    }

    static func partitioned() -> TFCheckpointBuilder {
        var builder = TFCheckpointBuilder()
        builder.header = TFWire.header(shards: 3)
        builder.addPartitioned("w", shape: [4, 6], pieces: [
            ([(0, 1), (0, nil)], rectangle(0..<1, 0..<6)),
            ([(1, 3), (0, 2)], rectangle(1..<4, 0..<2)),
            ([(1, 2), (2, 4)], rectangle(1..<3, 2..<6)),
            ([(3, 1), (2, 4)], rectangle(3..<4, 2..<6)),
        ], shards: [2, 0, 1, 2])
        builder.addPartitioned("v", shape: [7], pieces: [([(0, 3)], [0, 1, 2]), ([(3, 4)], [3, 4, 5, 6])])
        return builder
    }

    @Test func partitionedTensorsAreAssembledFromTheirPieces() throws {
        try withCheckpointDirectory { directory in
            let prefix = try Self.partitioned().write(to: directory)
            let file = try TFCheckpointFile(readingFrom: prefix)
            #expect(try file.variables().map(\.name) == ["v", "w"])  // the binary piece keys are hidden
            #expect(file.warnings.isEmpty)
            let w: Tensor<Float> = try file.read("w")
            #expect(w.shape == [4, 6] && w.scalars == Self.full)
            let v: Tensor<Double> = try file.read("v")
            #expect(v.scalars == (0..<7).map(Double.init))
            for rows in [0..<4, 1..<3, 2..<4, 3..<4] {
                var bytes = [UInt8](repeating: 0, count: rows.count * 24)
                try bytes.withUnsafeMutableBytes { try file.readRawRows("w", rows: rows, into: $0) }
                #expect(bytes == TFCheckpointBuilder.float32Bytes(Self.rectangle(rows, 0..<6)))
            }
            var vector = [UInt8](repeating: 0, count: 28)
            try vector.withUnsafeMutableBytes { try file.readRawRows("v", rows: 0..<1, into: $0) }
            #expect(vector == TFCheckpointBuilder.float32Bytes((0..<7).map(Float.init)))
            let info = try file.info("w")
            #expect(info.dtype == "float32" && info.shard == nil && info.pieces.map(\.shard) == [2, 0, 1, 2])
            #expect(info.pieces[2].extents == [1..<3, 2..<6])
        }
    }

    @Test func partitionedTensorsThatDoNotAssembleAreRefused() throws {
        try withCheckpointDirectory { directory in
            // One piece's entry removed.
            var missing = Self.partitioned()
            let pieceKey = OrderedCode.sliceKey(name: Array("w".utf8), slice: TFTensorSlice(extents: [(1, 2), (2, 4)]))
            missing.entries[pieceKey] = nil
            let prefix = try missing.write(to: directory)
            let file = try TFCheckpointFile(readingFrom: prefix)
            let error = #expect(throws: StoreError.self) { let _: Tensor<Float> = try file.read("w") }
            #expect(error == StoreError(.damaged, file: prefix + ".index", object: "w", reason: "piece [1:3, 2:6]: has no entry in the index "
                                        + "(key \\x00w\\x00\\x01\\x01\\x02\\x81\\x82\\x82\\x84): the index is damaged or incomplete"))
            // The same error again (remembered), and from readRawRows; the other tensor still reads.
            #expect(throws: try #require(error)) { var b = [UInt8](repeating: 0, count: 96); try b.withUnsafeMutableBytes { try file.readRawRows("w", rows: 0..<4, into: $0) } }
            let v: Tensor<Float> = try file.read("v")
            #expect(v.scalars.count == 7)

            // The entry lists only 3 of 4 pieces: the fourth is an orphan, mentioned.
            var short = Self.partitioned()
            short.entries[Array("w".utf8)] = TFWire.entry(dtype: 1, shape: [4, 6], offset: 0, size: 0, crc: 0,
                                                         slices: [[(0, 1), (0, nil)], [(1, 3), (0, 2)], [(1, 2), (2, 4)]])
            try short.write(to: directory)
            let orphaned = try TFCheckpointFile(readingFrom: prefix)
            #expect(orphaned.warnings == ["the index holds a piece [3:4, 2:6] of w that no entry lists"])
            #expect(try orphaned.variables().map(\.name) == ["v", "w"])
            #expect(throws: StoreError(.damaged, file: prefix + ".index", object: "w", reason: "does not have sufficient slices: its 3 pieces "
                                       + "([0:1, :], [1:4, 0:2], [1:3, 2:6]) cover 20 of its 24 elements; the index holds a piece [3:4, 2:6] "
                                       + "of w that no entry lists (the index is damaged or incomplete)")) {
                let _: Tensor<Float> = try orphaned.read("w")
            }

            // Overlapping pieces that add up to the right count.
            var overlapping = TFCheckpointBuilder()
            overlapping.addPartitioned("v", shape: [4], pieces: [([(0, 2)], [0, 1]), ([(1, 2)], [1, 2])])
            try overlapping.write(to: directory)
            #expect(throws: StoreError(.damaged, file: prefix + ".index", object: "v", reason: "piece [1:3]: overlaps piece [0:2]")) {
                let _: Tensor<Float> = try TFCheckpointFile(readingFrom: prefix).read("v")
            }
        }
    }

    // MARK: - Damage

    /// Writes the small checkpoint, lets `damage` change its files, and returns the error of `read`.
    static func failure(_ damage: (String, inout TFCheckpointBuilder) throws -> Void,
                        read: (TFCheckpointFile) throws -> Void = { let _: Tensor<Float> = try $0.read("rnn/gru_cell/gates/kernel") }) throws -> StoreError? {
        try withCheckpointDirectory { directory in
            var builder = small()
            let prefix = directory.appendingPathComponent("model.ckpt").path
            try damage(prefix, &builder)
            if !FileManager.default.fileExists(atPath: prefix + ".index") { try builder.write(to: directory) }
            do {
                try read(try TFCheckpointFile(readingFrom: prefix))
                return nil
            } catch let error as StoreError {
                return StoreError(error.code, file: error.file.replacingOccurrences(of: directory.path + "/", with: ""),
                                  object: error.object, reason: error.reason)
            }
        }
    }

    static func rewrite(_ path: String, _ change: (inout [UInt8]) -> Void) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        change(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test func eachDamageIsOneLineNamingTheFileAndTensor() throws {
        let data = "model.ckpt.data-00000-of-00001", kernel = "rnn/gru_cell/gates/kernel"
        // Negative control: undamaged, it reads.
        #expect(try Self.failure { _, _ in } == nil)
        // A flipped data byte.
        let flipped = try Self.failure { prefix, builder in
            try builder.write(to: URL(fileURLWithPath: prefix).deletingLastPathComponent())
            try Self.rewrite(prefix + ".data-00000-of-00001") { $0[5] ^= 1 }
        }
        #expect(flipped?.code == .damaged && flipped?.file == data && flipped?.object == kernel)
        #expect(flipped?.reason.hasPrefix("checksum mismatch: stored 0x") == true && flipped?.reason.hasSuffix(" (the data file is damaged)") == true)
        // The entry's size, offset, shard, dtype.
        func entry(_ make: @escaping (Int) -> [UInt8]) -> (String, inout TFCheckpointBuilder) throws -> Void {
            { _, builder in builder.entries[Array(kernel.utf8)] = make(48) }
        }
        let crc = CRC32C.mask(CRC32C.checksum(TFCheckpointBuilder.float32Bytes(Self.kernel)))
        #expect(try Self.failure(entry { _ in TFWire.entry(dtype: 1, shape: [3, 4], offset: 0, size: 44, crc: crc) })
                == StoreError(.damaged, file: "model.ckpt.index", object: kernel,
                              reason: "invalid size in the index entry: stored size 44, expected size 48 for [3, 4] float32 values (the index is damaged)"))
        #expect(try Self.failure(entry { _ in TFWire.entry(dtype: 1, shape: [3, 4], offset: 1000, size: 48, crc: crc) })
                == StoreError(.damaged, file: data, object: kernel, reason: "data file too short: the tensor's 48 bytes at offset 1000 end "
                              + "at byte 1048, but the file has \(Self.small().shards[0].count) bytes (it is truncated or the index entry is damaged)"))
        #expect(try Self.failure(entry { _ in TFWire.entry(dtype: 1, shape: [3, 4], offset: Int(Int64.max - 10), size: 48, crc: crc) })?.reason
                .contains("end at byte past 2^63") == true)
        #expect(try Self.failure(entry { _ in TFWire.entry(dtype: 1, shape: [3, 4], shard: 3, offset: 0, size: 48, crc: crc) })
                == StoreError(.damaged, file: "model.ckpt.index", object: kernel,
                              reason: "the index entry names data shard 3, but the header declares 1 (shards 0...0); the index is damaged"))
        #expect(try Self.failure(entry { _ in TFWire.entry(dtype: 99, shape: [3, 4], offset: 0, size: 48, crc: crc) })
                == StoreError(.unsupportedType, file: "model.ckpt.index", object: kernel, reason: "has dtype 99, which is not a TensorFlow type this "
                              + "reader knows (the index is damaged, or the checkpoint comes from a newer TensorFlow)"))
        #expect(try Self.failure(entry { _ in TFWire.entry(dtype: 1, shape: [3, -4], offset: 0, size: 48, crc: crc) })
                == StoreError(.damaged, file: "model.ckpt.index", object: kernel, reason: "invalid tensor shape: has a negative extent (3, -4)"))
        #expect(try Self.failure(entry { _ in TFWire.entry(dtype: 1, shape: [1 << 40, 1 << 40], offset: 0, size: 48, crc: crc) })?.code == .tooLarge)
        // The data file missing, truncated; junk appended reads fine (as in TensorFlow).
        #expect(try Self.failure { prefix, builder in
            try builder.write(to: URL(fileURLWithPath: prefix).deletingLastPathComponent())
            try FileManager.default.removeItem(atPath: prefix + ".data-00000-of-00001")
        } == StoreError(.notFound, file: data, object: kernel, reason: "no such file: data shard 0 of 1 is missing (the checkpoint is incomplete)"))
        #expect(try Self.failure { prefix, builder in
            try builder.write(to: URL(fileURLWithPath: prefix).deletingLastPathComponent())
            try Self.rewrite(prefix + ".data-00000-of-00001") { $0.removeLast($0.count - 34) }
        } == StoreError(.damaged, file: data, object: kernel, reason: "data file too short: the tensor's 48 bytes at offset 0 end at byte 48, "
                        + "but the file has 34 bytes (it is truncated or the index entry is damaged)"))
        #expect(try Self.failure { prefix, builder in
            try builder.write(to: URL(fileURLWithPath: prefix).deletingLastPathComponent())
            try Self.rewrite(prefix + ".data-00000-of-00001") { $0 += [UInt8](repeating: 7, count: 4096) }
        } == nil)
        // Header versions.
        #expect(try Self.failure { _, builder in builder.header = TFWire.header(minConsumer: 2) }
                == StoreError(.wrongFormat, file: "model.ckpt.index", reason: "Checkpoint min consumer version 2 above current version 1 of this "
                              + "reader (as of TensorFlow 2.21): it was written by a newer TensorFlow with format changes"))
        #expect(try Self.failure { _, builder in builder.header = TFWire.header(badConsumers: [1]) }
                == StoreError(.wrongFormat, file: "model.ckpt.index", reason: "Checkpoint disallows consumer version 1, this reader's version "
                              + "(the writer marked version-1 readers as buggy for this checkpoint)"))
        #expect(try Self.failure { _, builder in builder.header = TFWire.header(minConsumer: 1, badConsumers: [0, 2]) } == nil)
        #expect(try Self.failure { _, builder in builder.header = TFWire.header(shards: 0) }
                == StoreError(.damaged, file: "model.ckpt.index", reason: "the bundle header declares 0 data shards (at least 1 exists)"))
        // Strings: a flipped string byte, a changed length.
        let vocab: (TFCheckpointFile) throws -> Void = { _ = try $0.readStrings("vocab") }
        let stringsStart = 48 + 16 + 8
        let stringByte = try Self.failure({ prefix, builder in
            try builder.write(to: URL(fileURLWithPath: prefix).deletingLastPathComponent())
            try Self.rewrite(prefix + ".data-00000-of-00001") { $0[stringsStart + 4 + 4 + 3] ^= 1 }
        }, read: vocab)
        #expect(stringByte?.file == data && stringByte?.reason.hasPrefix("checksum mismatch: stored 0x") == true)
        let length = try Self.failure({ prefix, builder in
            try builder.write(to: URL(fileURLWithPath: prefix).deletingLastPathComponent())
            try Self.rewrite(prefix + ".data-00000-of-00001") { $0[stringsStart] = 3 }
        }, read: vocab)
        #expect(length?.file == data && length?.object == "vocab")
        #expect(length?.reason.hasPrefix("the length checksum does not match: stored 0x") == true)
        #expect(try Self.failure({ _, _ in }, read: vocab) == nil)
    }

    @Test func indexDamageIsRefusedOnOpening() throws {
        #expect(try Self.failure { prefix, builder in
            try builder.write(to: URL(fileURLWithPath: prefix).deletingLastPathComponent())
            try Self.rewrite(prefix + ".index") { $0.removeLast(10) }
        }?.reason.hasPrefix("not an sstable (bad magic number") == true)
        #expect(try Self.failure { prefix, builder in
            try builder.write(to: URL(fileURLWithPath: prefix).deletingLastPathComponent())
            try Self.rewrite(prefix + ".index") { $0 = Array($0.prefix(20)) }
        } == StoreError(.damaged, file: "model.ckpt.index", reason: "file is too short to be an sstable (20 bytes; a table ends in a 48-byte footer) "
                        + "(the index file is truncated or damaged, or is not a checkpoint index)"))
        let flipped = try Self.failure { prefix, builder in
            try builder.write(to: URL(fileURLWithPath: prefix).deletingLastPathComponent())
            try Self.rewrite(prefix + ".index") { $0[10] ^= 0x20 }
        }
        #expect(flipped?.code == .damaged && flipped?.file == "model.ckpt.index")
        #expect(flipped?.reason.hasPrefix("block checksum mismatch in the data block 0 at offset 0: stored 0x") == true)
        // No header entry first.
        #expect(try Self.failure { prefix, builder in
            let sorted = builder.entries.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { ($0.key, $0.value) }
            try Data(builder.table.build(sorted)).write(to: URL(fileURLWithPath: prefix + ".index"))
            try builder.write(to: URL(fileURLWithPath: prefix).deletingLastPathComponent())
            try Data(builder.table.build(sorted)).write(to: URL(fileURLWithPath: prefix + ".index"))
        }?.reason.hasPrefix("the first entry is not the bundle header") == true)
    }

    @Test func readsSnappyAndMultiBlockIndexes() throws {
        try withCheckpointDirectory { directory in
            var builder = TFCheckpointBuilder()
            for index in 0..<200 { builder.addFloats(String(format: "layer_%03d/kernel", index), shape: [2], [Float(index), -Float(index)]) }
            builder.table = TFTableBuilder(blockSize: 512, restartInterval: 16, compressDataBlocks: true)
            let prefix = try builder.write(to: directory)
            let file = try TFCheckpointFile(readingFrom: prefix)
            let names = try file.variables().map(\.name)
            #expect(names.count == 200 && names.last == "layer_199/kernel")
            let last: Tensor<Float> = try file.read("layer_199/kernel")
            #expect(last.scalars == [199, -199])
        }
    }

    // MARK: - TF2 names

    static func objectGraph(_ attributes: [(full: String, key: String)]) -> [UInt8] {
        let node = attributes.flatMap { attribute in
            TFWire.field(2, bytes: TFWire.field(1, bytes: Array("VARIABLE_VALUE".utf8)) + TFWire.field(2, bytes: Array(attribute.full.utf8))
                         + TFWire.field(3, bytes: Array(attribute.key.utf8)))
        }
        return TFWire.field(1, bytes: TFWire.field(1, bytes: TFWire.field(1, 1) + TFWire.field(2, bytes: Array("model".utf8))))
            + TFWire.field(1, bytes: node)
    }

    @Test func objectGraphNamesTensorsAndClashesFallBackToKeys() throws {
        try withCheckpointDirectory { directory in
            let kernelKey = "model/layer_with_weights-0/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE"
            let aKey = "model/a/.ATTRIBUTES/VARIABLE_VALUE", bKey = "model/b/.ATTRIBUTES/VARIABLE_VALUE"
            var builder = TFCheckpointBuilder()
            builder.addFloats(kernelKey, shape: [2], [1, 2])
            builder.addFloats(aKey, shape: [1], [3])
            builder.addFloats(bKey, shape: [1], [4])
            builder.add("save_counter/.ATTRIBUTES/VARIABLE_VALUE", dtype: 9, shape: [], bytes: TFWire.fixed64(1))
            builder.addStrings(TFObjectGraph.key, shape: [], [Self.objectGraph([
                ("encoder_gru/gru_cell/kernel", kernelKey), ("dense/bias", aKey), ("dense/bias", bKey),
            ])])
            let prefix = try builder.write(to: directory)
            let file = try TFCheckpointFile(readingFrom: prefix)
            #expect(file.hasObjectGraph)
            #expect(try file.variables().map(\.name) == [
                "encoder_gru/gru_cell/kernel", aKey, bKey, "save_counter/.ATTRIBUTES/VARIABLE_VALUE",
            ])
            #expect(file.checkpointKey(for: "encoder_gru/gru_cell/kernel") == kernelKey)
            #expect(file.name(forCheckpointKey: kernelKey) == "encoder_gru/gru_cell/kernel")
            #expect(file.checkpointKey(for: kernelKey) == nil && file.name(forCheckpointKey: "encoder_gru/gru_cell/kernel") == nil)
            #expect(file.checkpointKey(for: aKey) == aKey)
            #expect(file.warnings == ["2 tensors would be named dense/bias (keys \(aKey), \(bKey)); they are listed by their keys"])
            let kernel: Tensor<Float> = try file.read("encoder_gru/gru_cell/kernel")
            #expect(kernel.scalars == [1, 2])
            let b: Tensor<Float> = try file.read(bKey)
            #expect(b.scalars == [4])
            // Reading by the raw key of a renamed tensor says which name to use.
            #expect(throws: StoreError(.notFound, file: prefix + ".index", object: kernelKey,
                                       reason: "no such tensor in the checkpoint (it is the key of encoder_gru/gru_cell/kernel)")) {
                let _: Tensor<Float> = try file.read(kernelKey)
            }
            // A damaged object graph is an error on opening, naming it.
            try Self.rewrite(prefix + ".data-00000-of-00001") { $0[$0.count - 3] ^= 1 }
            let error = #expect(throws: StoreError.self) { try TFCheckpointFile(readingFrom: prefix) }
            #expect(error?.object == TFObjectGraph.key && error?.reason.hasPrefix("checksum mismatch") == true)
        }
    }

    // MARK: - Paths

    @Test func acceptsEveryPathUsersPass() throws {
        try withCheckpointDirectory { directory in
            let prefix = try Self.small().write(to: directory)
            let fm = FileManager.default
            #expect(fm.createFile(atPath: prefix + ".meta", contents: Data([1, 2, 3])))
            for given in [prefix, prefix + ".index", prefix + ".data-00000-of-00001", prefix + ".meta", directory.path, directory.path + "/"] {
                #expect(try TFCheckpointFile(readingFrom: given).prefix == prefix, "\(given)")
            }
            // A `checkpoint` state file with an absolute path from another machine: its base name here.
            try "model_checkpoint_path: \"/home/someone/run/model.ckpt\"\nall_model_checkpoint_paths: \"/home/someone/run/model.ckpt\"\n"
                .write(toFile: directory.appendingPathComponent("checkpoint").path, atomically: true, encoding: .utf8)
            #expect(try TFCheckpointFile(readingFrom: directory.path).prefix == prefix)
            #expect(try TFCheckpointFile(readingFrom: directory.appendingPathComponent("checkpoint").path).prefix == prefix)
            // Two checkpoints: the state file decides; without it, the directory is ambiguous.
            let second = try Self.small().write(to: directory, name: "ckpt-2")
            try "model_checkpoint_path: \"ckpt-2\"\n".write(toFile: directory.appendingPathComponent("checkpoint").path, atomically: true, encoding: .utf8)
            #expect(try TFCheckpointFile(readingFrom: directory.path).prefix == second)
            #expect(try TFCheckpointFile(readingFrom: second).prefix == second)
            try fm.removeItem(atPath: directory.appendingPathComponent("checkpoint").path)
            #expect(throws: StoreError(.invalidRequest, file: directory.path, reason: "holds 2 checkpoints (ckpt-2, model.ckpt); pass one prefix, "
                                       + "such as \(prefix)")) { try TFCheckpointFile(readingFrom: directory.path) }
            // A stale state file and nothing to fall back on.
            try fm.removeItem(atPath: prefix + ".index")
            try fm.removeItem(atPath: second + ".index")
            try "model_checkpoint_path: \"/elsewhere/model.ckpt-9\"\n".write(toFile: directory.appendingPathComponent("checkpoint").path,
                                                                         atomically: true, encoding: .utf8)
            // Data files whose index is gone are named as such...
            #expect(throws: StoreError(.notFound, file: second + ".index", reason: "no such file: the checkpoint \(second) has data files "
                                       + "(ckpt-2.data-00000-of-00001) but no index, and they cannot be read without it (the index holds "
                                       + "the names, shapes and offsets)")) { try TFCheckpointFile(readingFrom: directory.path) }
            // ... and without them the stale state file is.
            for name in try fm.contentsOfDirectory(atPath: directory.path) where name.contains(".data-") {
                try fm.removeItem(atPath: directory.appendingPathComponent(name).path)
            }
            #expect(throws: StoreError(.notFound, file: directory.path, reason: "its checkpoint file names /elsewhere/model.ckpt-9, which exists "
                                       + "neither there nor as model.ckpt-9 in this directory, and the directory holds no *.index file")) {
                try TFCheckpointFile(readingFrom: directory.path)
            }
        }
    }

    @Test func wrongPathsSayWhatTheyAreAndWhatToPass() throws {
        try withCheckpointDirectory { directory in
            let prefix = try Self.small().write(to: directory)
            let fm = FileManager.default
            let hdf5 = directory.appendingPathComponent("weights.h5").path
            #expect(fm.createFile(atPath: hdf5, contents: Data([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a] + [UInt8](repeating: 0, count: 100))))
            #expect(throws: StoreError(.wrongFormat, file: hdf5, reason: "is an HDF5 file, not a TensorFlow checkpoint (open it as HDF5)")) {
                try TFCheckpointFile(readingFrom: hdf5)
            }
            let text = directory.appendingPathComponent("notes.txt").path
            #expect(fm.createFile(atPath: text, contents: Data("hello".utf8)))
            #expect(throws: StoreError(.wrongFormat, file: text, reason: "is not a TensorFlow checkpoint; " + CheckpointLocation.whatToPass)) {
                try TFCheckpointFile(readingFrom: text)
            }
            let renamedIndex = directory.appendingPathComponent("table.bin").path
            try fm.copyItem(atPath: prefix + ".index", toPath: renamedIndex)
            #expect((#expect(throws: StoreError.self) { try TFCheckpointFile(readingFrom: renamedIndex) })?.reason
                .hasPrefix("is a TensorFlow table file but not named PREFIX.index") == true)
            let missing = directory.appendingPathComponent("nothing").path
            #expect(throws: StoreError(.notFound, file: missing, reason: "no such file, and no nothing.index beside it; " + CheckpointLocation.whatToPass)) {
                try TFCheckpointFile(readingFrom: missing)
            }
            let meta = directory.appendingPathComponent("other.meta").path
            #expect(fm.createFile(atPath: meta, contents: Data([1])))
            #expect(throws: StoreError(.wrongFormat, file: meta, reason: "is a TensorFlow MetaGraph (the graph's structure, no weights), and "
                                       + "\(directory.path)/other.index is missing beside it; " + CheckpointLocation.whatToPass)) {
                try TFCheckpointFile(readingFrom: meta)
            }
            try fm.removeItem(atPath: prefix + ".index")
            #expect(throws: StoreError(.notFound, file: prefix + ".index", reason: "no such file: the checkpoint \(prefix) has data files "
                                       + "(model.ckpt.data-00000-of-00001) but no index, and they cannot be read without it (the index holds "
                                       + "the names, shapes and offsets)")) { try TFCheckpointFile(readingFrom: prefix) }
            #expect(throws: StoreError(.notFound, file: prefix + ".index", reason: "no such file: model.ckpt.data-00000-of-00001 is a data file "
                                       + "of the checkpoint \(prefix), whose index is missing (the data files alone cannot be read: the index "
                                       + "holds the names, shapes and offsets)")) { try TFCheckpointFile(readingFrom: prefix + ".data-00000-of-00001") }
        }
    }

    @Test func tensorFilesPicksTheFormatByContent() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fixtures")
        let hdf5 = try TensorFiles.open(fixtures.appendingPathComponent("gru_single.h5").path, memoryBudget: MemoryBudget(bytes: 1 << 20))
        #expect(hdf5 is HDF5File && hdf5.memoryBudget.bytes == 1 << 20)
        try withCheckpointDirectory { directory in
            let prefix = try Self.small().write(to: directory)
            let checkpoint = try TensorFiles.open(prefix + ".index", memoryBudget: MemoryBudget(bytes: 1 << 20))
            #expect(checkpoint is TFCheckpointFile && checkpoint.formatName == "TensorFlow checkpoint" && checkpoint.memoryBudget.bytes == 1 << 20)
            // What is neither says so, in HDF5's words first.
            let text = directory.appendingPathComponent("notes.txt").path
            #expect(FileManager.default.createFile(atPath: text, contents: Data("hello".utf8)))
            #expect(throws: StoreError(.wrongFormat, file: text, reason: "not an HDF5 file (no HDF5 signature found), nor a safetensors file "
                                       + "or a TensorFlow checkpoint; pass an HDF5 or safetensors file, or a checkpoint's prefix "
                                       + "(PREFIX for PREFIX.index + PREFIX.data-00000-of-00001), .index file or directory")) { try TensorFiles.open(text) }
            // A file named .keras is read as a Keras archive (a zip), and a broken one says so.
            let archive = directory.appendingPathComponent("model.keras").path
            #expect(FileManager.default.createFile(atPath: archive, contents: Data([0x50, 0x4B, 0x03, 0x04, 0, 0])))
            #expect(throws: StoreError(.damaged, file: archive, reason: "a truncated or damaged zip archive (no end of central directory "
                                       + "record)")) { try TensorFiles.open(archive) }
            let onnx = directory.appendingPathComponent("model.onnx").path
            #expect(FileManager.default.createFile(atPath: onnx, contents: Data([0x08, 0x07])))
            #expect(throws: StoreError(.damaged, file: onnx, reason: "is an ONNX model without a graph (ModelProto.graph): it is truncated "
                                       + "or damaged")) {
                try TensorFiles.open(onnx)
            }
            let saved = directory.appendingPathComponent("model.pt").path
            #expect(FileManager.default.createFile(atPath: saved, contents: Data([0x80, 0x02, 0x8A, 0x0A])))
            #expect(throws: StoreError(.wrongFormat, file: saved, reason: "a pickle that does not start with torch's magic number "
                                       + "(0x1950a86a20f9469cfc6c), so not a torch.save file")) { try TensorFiles.open(saved) }
            let missing = directory.appendingPathComponent("gone.h5").path
            #expect((#expect(throws: StoreError.self) { try TensorFiles.open(missing) })?.code == .notFound)
            #expect(throws: StoreError(.notFound, file: directory.path + "/sub", reason: "is a directory that holds no TensorFlow checkpoint "
                                       + "(no *.index file and no checkpoint file naming one)")) {
                try FileManager.default.createDirectory(atPath: directory.path + "/sub", withIntermediateDirectories: false)
                _ = try TensorFiles.open(directory.path + "/sub")
            }
            // The budget bounds the index itself.
            #expect((#expect(throws: StoreError.self) { try TensorFiles.open(prefix, memoryBudget: MemoryBudget(bytes: 100)) })?.code == .tooLarge)
            // And each tensor.
            let file = try TFCheckpointFile(readingFrom: prefix, memoryBudget: MemoryBudget(bytes: 1000))
            file.memoryBudget = MemoryBudget(bytes: 40)
            #expect((#expect(throws: StoreError.self) { let _: Tensor<Float> = try file.read("rnn/gru_cell/gates/kernel") })?.code == .tooLarge)
        }
    }
}
