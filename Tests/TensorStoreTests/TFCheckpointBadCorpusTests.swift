import Foundation
import GRUCore
@testable import TensorStore
import Testing

/// The damaged checkpoints of `fixtures/checkpoints/bad/` (made by `generate_checkpoints_bad.py`, TensorFlow's
/// behaviour on each in `bad/CASES.md`): each gives its one line, naming the file and the tensor, and the
/// tensors the damage does not touch still read as TensorFlow read them from the sound source.
@Suite struct TFCheckpointBadCorpusTests {
    static let bad = TFCheckpointFixtureTests.root.appendingPathComponent("bad")

    /// (case, the tensor whose read fails, or nil when opening fails; the line, with the case directory removed;
    /// the code).
    static let cases: [(String, String?, String, StoreError.Code)] = [
        ("data_byte_flipped", "rnn/gru_cell/gates/kernel", "model.ckpt.data-00000-of-00001: rnn/gru_cell/gates/kernel: checksum mismatch: "
            + "stored 0xa71b6bc0, computed 0x1ba1d85c (the data file is damaged)", .damaged),
        ("entry_crc_wrong", "rnn/gru_cell/gates/kernel", "model.ckpt.data-00000-of-00001: rnn/gru_cell/gates/kernel: checksum mismatch: "
            + "stored 0xa71bebc0, computed 0xa71b6bc0 (the data file is damaged)", .damaged),
        ("entry_size_short", "rnn/gru_cell/gates/kernel", "model.ckpt.index: rnn/gru_cell/gates/kernel: invalid size in the index entry: "
            + "stored size 284, expected size 288 for [9, 8] float32 values (the index is damaged)", .damaged),
        ("entry_offset_past_eof", "rnn/gru_cell/gates/kernel", "model.ckpt.data-00000-of-00001: rnn/gru_cell/gates/kernel: data file too "
            + "short: the tensor's 288 bytes at offset 4096 end at byte 4384, but the file has 480 bytes (it is truncated or the index "
            + "entry is damaged)", .damaged),
        ("data_truncated_100", "rnn/gru_cell/gates/kernel", "model.ckpt.data-00000-of-00001: rnn/gru_cell/gates/kernel: data file too "
            + "short: the tensor's 288 bytes at offset 192 end at byte 480, but the file has 380 bytes (it is truncated or the index "
            + "entry is damaged)", .damaged),
        ("data_truncated_0", "rnn/gru_cell/candidate/bias", "model.ckpt.data-00000-of-00001: rnn/gru_cell/candidate/bias: data file too "
            + "short: the tensor's 16 bytes at offset 0 end at byte 16, but the file has 0 bytes (it is truncated or the index entry is "
            + "damaged)", .damaged),
        ("data_deleted", "rnn/gru_cell/gates/kernel", "model.ckpt.data-00000-of-00001: rnn/gru_cell/gates/kernel: no such file: data "
            + "shard 0 of 1 is missing (the checkpoint is incomplete)", .notFound),
        ("shard_deleted", "encoder/rnn/gru_cell/gates/kernel", "model.ckpt.data-00001-of-00003: encoder/rnn/gru_cell/gates/kernel: "
            + "piece [3:6, 0:8]: no such file: data shard 1 of 3 is missing (the checkpoint is incomplete)", .notFound),
        ("shards_renamed", "encoder/rnn/gru_cell/gates/kernel", "model.ckpt.data-00000-of-00003: encoder/rnn/gru_cell/gates/kernel: "
            + "piece [0:3, 0:8]: no such file: data shard 0 of 3 is missing (the directory holds model.ckpt.data-00000-of-00004, "
            + "model.ckpt.data-00001-of-00004, model.ckpt.data-00002-of-00004 instead: data files renamed, or of another save)", .notFound),
        ("index_deleted", nil, "model.ckpt.index: no such file: the checkpoint model.ckpt has data files (model.ckpt.data-00000-of-00001) "
            + "but no index, and they cannot be read without it (the index holds the names, shapes and offsets)", .notFound),
        ("index_tail_cut", nil, "model.ckpt.index: not an sstable (bad magic number: the last 8 bytes read 0x0000000000000000, not "
            + "0xdb4775248b80fb57) (the index file is truncated or damaged, or is not a checkpoint index)", .damaged),
        ("index_first_100", nil, "model.ckpt.index: not an sstable (bad magic number: the last 8 bytes read 0x0108736169622f73, not "
            + "0xdb4775248b80fb57) (the index file is truncated or damaged, or is not a checkpoint index)", .damaged),
        ("index_bad_magic", nil, "model.ckpt.index: not an sstable (bad magic number: the last 8 bytes read 0x244775248b80fb57, not "
            + "0xdb4775248b80fb57) (the index file is truncated or damaged, or is not a checkpoint index)", .damaged),
        ("index_20_bytes", nil, "model.ckpt.index: file is too short to be an sstable (20 bytes; a table ends in a 48-byte footer) (the "
            + "index file is truncated or damaged, or is not a checkpoint index)", .damaged),
        ("index_data_block_flipped", nil, "model.ckpt.index: block checksum mismatch in the data block 0 at offset 0: stored 0x09947e11, "
            + "computed 0x19059ad5 (the index file is damaged)", .damaged),
        ("index_index_block_flipped", nil, "model.ckpt.index: block checksum mismatch in the index block at offset 174: stored 0x324f7aa7, "
            + "computed 0x029d42c2 (the index file is damaged)", .damaged),
        ("block_type_2", nil, "model.ckpt.index: bad block type 2 in the data block 0 at offset 0 (0 = stored and 1 = Snappy exist)", .damaged),
        ("header_min_consumer_2", nil, "model.ckpt.index: Checkpoint min consumer version 2 above current version 1 of this reader (as of "
            + "TensorFlow 2.21): it was written by a newer TensorFlow with format changes", .wrongFormat),
        ("entry_dtype_99", "rnn/gru_cell/gates/kernel", "model.ckpt.index: rnn/gru_cell/gates/kernel: has dtype 99, which is not a "
            + "TensorFlow type this reader knows (the index is damaged, or the checkpoint comes from a newer TensorFlow)", .unsupportedType),
        ("partitioned_2_of_3_slices", "encoder/rnn/gru_cell/gates/kernel", "model.ckpt.index: encoder/rnn/gru_cell/gates/kernel: does not "
            + "have sufficient slices: its 2 pieces ([0:3, 0:8], [3:6, 0:8]) cover 48 of its 72 elements; the index holds a piece "
            + "[6:9, 0:8] of encoder/rnn/gru_cell/gates/kernel that no entry lists (the index is damaged or incomplete)", .damaged),
        ("slice_entry_removed", "encoder/rnn/gru_cell/gates/kernel", "model.ckpt.index: encoder/rnn/gru_cell/gates/kernel: piece "
            + "[6:9, 0:8]: has no entry in the index (key \\x00encoder/rnn/gru_cell/gates/kernel\\x00\\x01\\x01\\x02\\x86\\x83\\x80\\x88): "
            + "the index is damaged or incomplete", .damaged),
        ("string_byte_flipped", "vocab", "model.ckpt.data-00000-of-00001: vocab: checksum mismatch: stored 0x81979fac, computed 0xe61962ad "
            + "(the data file is damaged)", .damaged),
        ("string_length_corrupted", "vocab", "model.ckpt.data-00000-of-00001: vocab: the length checksum does not match: stored 0xed4606d5, "
            + "computed 0x0cb26bd8 (the data file is damaged)", .damaged),
        ("snappy_copy_offset_too_far", nil, "model.ckpt.index: corrupted compressed block contents in the data block 0 at offset 0: a copy "
            + "reaches 16777215 bytes back but only 119 were written at byte 114 of the compressed block", .damaged),
        ("snappy_length_too_long", nil, "model.ckpt.index: corrupted compressed block contents in the data block 0 at offset 0: the block "
            + "ends after 156 of its declared 157 bytes at byte 140 of the compressed block", .damaged),
        ("snappy_length_huge", nil, "model.ckpt.index: corrupted compressed block contents in the data block 0 at offset 0: the block "
            + "declares 4294967295 uncompressed bytes, more than its 143 compressed bytes can hold at byte 0 of the compressed block", .damaged),
    ]

    /// The source checkpoint a case was copied from (`source.json`).
    static func source(_ name: String) throws -> String {
        let json = try Data(contentsOf: bad.appendingPathComponent(name).appendingPathComponent("source.json"))
        let object = try JSONSerialization.jsonObject(with: json) as? [String: String]
        return try #require(object?["source"])
    }

    /// Reads one tensor as the command line would: values of a float, strings of a string tensor, bytes otherwise.
    static func read(_ file: TFCheckpointFile, _ name: String) throws {
        let variable = try #require(try file.variables().first { $0.name == name })
        if variable.elementType.isFloat {
            let _: Tensor<Float> = try file.read(name)
        } else if variable.elementType == .string {
            _ = try file.readStrings(name)
        } else {
            _ = try file.readBytes(name)
        }
    }

    @Test(arguments: cases.map { $0.0 })
    func eachDamageGivesItsLine(_ name: String) throws {
        let directory = Self.bad.appendingPathComponent(name).path
        try #require(FileManager.default.fileExists(atPath: directory), "bad case \(name) is missing")
        let (_, tensor, line, code) = try #require(Self.cases.first { $0.0 == name })
        // The prefix, as users pass it; messages then name files under the case directory.
        let prefix = directory + "/model.ckpt"
        let error: StoreError?
        if let tensor {
            let file = try TFCheckpointFile(readingFrom: prefix)
            error = #expect(throws: StoreError.self) { try Self.read(file, tensor) }
            // The tensors the damage does not reach read as TensorFlow read them from the sound source; the
            // damaged one fails the same way again.
            let expected = try TFExpectedValues(TFCheckpointFixtureTests.directory(try Self.source(name)) + "/expected.h5")
            var intact = 0
            for variable in try file.variables() where variable.name != tensor {
                guard let bytes = try? file.readBytes(variable.name) else { continue }
                let index = try #require(expected.keys.firstIndex(of: file.checkpointKey(for: variable.name) ?? ""))
                #expect(bytes == (try expected.rawBytes("values/\(index)")), "\(name): \(variable.name)")
                intact += 1
            }
            // Every tensor is lost only where the damage reaches every data file.
            #expect((intact == 0) == ["data_truncated_0", "data_deleted", "shards_renamed"].contains(name), "\(name): \(intact) intact")
            #expect(throws: try #require(error)) { try Self.read(file, tensor) }
        } else {
            error = #expect(throws: StoreError.self) { try TFCheckpointFile(readingFrom: prefix) }
        }
        #expect(error?.code == code)
        #expect(error?.description.replacingOccurrences(of: directory + "/", with: "") == line)
        #expect(error?.description.contains("\n") == false)
    }

    @Test func harmlessDamageReads() throws {
        let expected = try TFExpectedValues(TFCheckpointFixtureTests.directory("tf1_single") + "/expected.h5")
        // 4096 junk bytes after the data: every tensor as the source (TensorFlow does not check the size either).
        let junk = try TFCheckpointFile(readingFrom: Self.bad.appendingPathComponent("data_junk_appended").path + "/model.ckpt")
        // A big-endian flag on little-endian data: honoured, so every float comes back byte-swapped, as from TensorFlow.
        let big = try TFCheckpointFile(readingFrom: Self.bad.appendingPathComponent("header_endianness_big").path + "/model.ckpt")
        #expect(big.isBigEndian && !junk.isBigEndian)
        for (index, key) in expected.keys.enumerated() {
            let source = try expected.rawBytes("values/\(index)")
            #expect(try junk.readBytes(key) == source)
            let swapped = stride(from: 0, to: source.count, by: 4).flatMap { source[$0..<$0 + 4].reversed() }
            #expect(try big.readBytes(key) == swapped)
            #expect(swapped != source)  // negative control: swapping changes them
        }
    }

    @Test func everyCaseOnDiskHasAPinnedLine() throws {
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: Self.bad.path).filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: Self.bad.appendingPathComponent($0).path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
        let pinned = Set(Self.cases.map(\.0)).union(["data_junk_appended", "header_endianness_big"])
        #expect(Set(onDisk).subtracting(pinned).isEmpty, "cases without a test: \(Set(onDisk).subtracting(pinned).sorted())")
    }
}
