import Foundation
import TensorStore
import Testing

/// Hostile checkpoints in fuzz/checkpoint-regressions/NAME/model.ckpt.* (one per folder; also seeds of
/// `fuzz/run.sh SECONDS checkpoint`): made by fuzz/checkpoint-seeds/craft.py from reading the reader while
/// it was fuzzed, and inputs the fuzzer finds. Each trapped or ran away in an earlier build. Every command
/// answers with its pinned status and at most one line, leaves no file behind and changes no input byte.
@Suite struct CheckpointRegressionTests {
    static let folders: [String] = {
        let directory = Fixtures.directory.deletingLastPathComponent().appendingPathComponent("fuzz/checkpoint-regressions")
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
            .map { directory.appendingPathComponent($0).path }
    }()

    static let inconsistent2e61 = "error: FILE: bidirectional_rnn/bw/gru_cell: not a consistent GRU cell, so it cannot be converted: candidate/bias is [2305843009213693952], expected [4] (input size 5, 4 units, from candidate/kernel [9, 4]) (name the cells to convert with --cell)\n"
    static let inconsistent2e32 = "error: FILE: bidirectional_rnn/bw/gru_cell: not a consistent GRU cell, so it cannot be converted: candidate/bias is [4294967296], expected [4] (input size 5, 4 units, from candidate/kernel [9, 4]) (name the cells to convert with --cell)\n"
    static let negativeSlice = "error: FILE.index: head/kernel: piece [-9223372036854775808:, 0:6]: has a negative start or length\n"
    static let growingKeys = "error: FILE.index: data block 0 at offset 0: the entry at byte 28746 has a key of 5774 bytes; with the keys before it, prefix compression undone, more than the memory budget left for the index (--max-memory)\n"

    /// Status and stderr (`FILE` for the prefix) of: inspect, verify, convert to HDF5, convert to a
    /// checkpoint, and convert of one named cell to HDF5 (which copies every other variable by rows).
    static let outcomes: [String: [(status: Int32, stderr: String)]] = [
        // A bias declared [2^61]: its byte count overflowed when its rows were copied (a trap).
        "crash-0e8615920014d6f2375f4f1474aa15d9d2c76f52": [
            (0, ""), (1, ""), (2, inconsistent2e61), (2, inconsistent2e61),
            (2, "error: FILE: bidirectional_rnn/bw/gru_cell/candidate/bias: copying a row of it would need more than 8 EiB, more than the memory budget of 64 MiB (--max-memory)\n")],
        // A slice starting at Int64.min: describing its extent overflowed (a trap).
        "crash-3c53fbae893f0df24a39a27374e91c4cccbb16f1": [
            (0, ""), (0, ""), (2, negativeSlice), (2, negativeSlice),
            (2, "error: FILE: bidirectional_rnn/fw/gru_cell: --cell names no GRU cell of this file (cells: encoder/rnn/gru_cell)\n")],
        // A bias declared [2^32]: 16 GiB to copy.
        "oom-29f59c4e8e427a044f8bb203172931bd9920de5e": [
            (0, ""), (1, ""), (2, inconsistent2e32), (2, inconsistent2e32),
            (2, "error: FILE: bidirectional_rnn/bw/gru_cell/candidate/bias: copying a row of it would need 16 GiB, more than the memory budget of 64 MiB (--max-memory)\n")],
        // A 60 KB index whose 12,000 keys each repeat the one before plus a byte: 72 MB of names.
        "timeout-defdc37e2a9757567cb74cfbe3a69cef52d7cc65": [
            (2, growingKeys), (2, growingKeys), (2, growingKeys), (2, growingKeys), (2, growingKeys)],
    ]

    @Test func everyFoundCheckpointHasAPinnedOutcome() {
        #expect(Self.folders.count == 4)
        #expect(Set(Self.folders.map { URL(fileURLWithPath: $0).lastPathComponent }) == Set(Self.outcomes.keys))
    }

    @Test(arguments: folders)
    func everyFoundCheckpointGetsItsExactAnswer(_ folder: String) throws {
        let prefix = folder + "/model.ckpt"
        let name = URL(fileURLWithPath: folder).lastPathComponent
        let expected = try #require(Self.outcomes[name], "no pinned outcome for \(name)")
        let before = try FileManager.default.contentsOfDirectory(atPath: folder).map { try Data(contentsOf: URL(fileURLWithPath: folder + "/" + $0)) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-regression-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let budget = ["--max-memory", "64M"]
        let commands = [["inspect", prefix] + budget, ["verify", prefix, "--batch", "2", "--steps", "2"] + budget,
                        ["convert", prefix, directory.path + "/out.h5"] + budget,
                        ["convert", prefix, directory.path + "/out.ckpt"] + budget,
                        ["convert", prefix, directory.path + "/cell.h5", "--cell", "bidirectional_rnn/fw/gru_cell"] + budget]
        for (n, arguments) in commands.enumerated() {
            let result = try GRUConvertBinary.run(arguments)
            let stderr = result.stderr.replacingOccurrences(of: prefix, with: "FILE")
            #expect(result.status == expected[n].status && stderr == expected[n].stderr,
                    "\(arguments[0]) \(name): status \(result.status), stderr \(stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        }
        let after = try FileManager.default.contentsOfDirectory(atPath: folder).map { try Data(contentsOf: URL(fileURLWithPath: folder + "/" + $0)) }
        #expect(before == after)
    }

    /// Negative control for the growing keys: with room for them the same index reads, all 12,000 names,
    /// the longest 12,000 bytes.
    @Test func theGrowingKeysReadWithRoomForThem() throws {
        let folder = try #require(Self.folders.first { $0.hasSuffix("timeout-defdc37e2a9757567cb74cfbe3a69cef52d7cc65") })
        let checkpoint = try TFCheckpointFile(readingFrom: folder + "/model.ckpt", memoryBudget: MemoryBudget(bytes: 1 << 30))
        let names = try checkpoint.variables().map(\.name)
        #expect(names.count == 12_000 && names.map(\.utf8.count).max() == 12_000)
        #expect(throws: StoreError.self) {
            try TFCheckpointFile(readingFrom: folder + "/model.ckpt", memoryBudget: MemoryBudget(bytes: 64 << 20))
        }
    }

    /// Conversion reads each tensor once, verifying its checksum as the rows pass: a flipped data byte is
    /// found at the end of its tensor, after rows of it were written, and no output appears.
    @Test(arguments: ["out.h5", "out.ckpt"])
    func aDamagedTensorFoundWhileStreamingLeavesNoOutput(_ output: String) throws {
        let prefix = Fixtures.path("checkpoints/bad/data_byte_flipped/model.ckpt")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-stream-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try GRUConvertBinary.run(["convert", prefix, directory.path + "/" + output])
        #expect(result.status == 2)
        #expect(result.stderr == "error: \(prefix).data-00000-of-00001: rnn/gru_cell/gates/kernel: checksum mismatch: "
                + "stored 0xa71b6bc0, computed 0x1ba1d85c (the data file is damaged)\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        // Negative control: the sound checkpoint converts.
        let sound = try GRUConvertBinary.run(["convert", Fixtures.path("checkpoints/tf1_single/model.ckpt"), directory.path + "/" + output])
        #expect(sound.status == 0)
    }
}
