import Foundation
@testable import TensorStore
import Testing

/// Rows read in order are verified as they pass (one read of the data file, as conversion reads); any
/// other read verifies the whole piece first. Either way a damaged piece never reads to its end.
@Suite struct TFCheckpointStreamingTests {
    static let sound = TFCheckpointFixtureTests.directory("tf1_single") + "/model.ckpt"
    static let flipped = TFCheckpointBadCorpusTests.bad.appendingPathComponent("data_byte_flipped").path + "/model.ckpt"
    static let kernel = "rnn/gru_cell/gates/kernel"
    static let mismatch = "checksum mismatch"

    /// Reads every row of `name` in blocks of `rows`, in order, and returns the bytes.
    static func readInOrder(_ file: TFCheckpointFile, _ name: String, rows: Int) throws -> [UInt8] {
        let shape = try #require(try file.variables().first { $0.name == name }).shape
        let rowBytes = shape[1] * 4
        var bytes = [UInt8](repeating: 0, count: shape[0] * rowBytes)
        try bytes.withUnsafeMutableBytes { all in
            for start in stride(from: 0, to: shape[0], by: rows) {
                let block = start..<min(shape[0], start + rows)
                try file.readRawRows(name, rows: block,
                                     into: UnsafeMutableRawBufferPointer(rebasing: all[block.lowerBound * rowBytes..<block.upperBound * rowBytes]))
            }
        }
        return bytes
    }

    @Test func rowsReadInOrderAreTheTensorAndVerifiedOnTheWay() throws {
        let file = try TFCheckpointFile(readingFrom: Self.sound)
        #expect(try Self.readInOrder(file, Self.kernel, rows: 2) == (try TFCheckpointFile(readingFrom: Self.sound).readBytes(Self.kernel)))
        // Verified by the pass: the remembered verdict is "sound", and reads out of order need no second pass.
        #expect(file.state.withLock { $0.verified[Array(Self.kernel.utf8)] } == .some(nil))
        #expect(file.state.withLock { $0.streamed.isEmpty })
    }

    @Test func aDamagedPieceReadInOrderThrowsOnItsLastBlockAndAfter() throws {
        let file = try TFCheckpointFile(readingFrom: Self.flipped)
        let shape = try #require(try file.variables().first { $0.name == Self.kernel }).shape
        let rowBytes = shape[1] * 4
        var buffer = [UInt8](repeating: 0, count: rowBytes)
        // Every row but the last reads (provisional: the crc is not complete yet) ...
        for row in 0..<shape[0] - 1 {
            try buffer.withUnsafeMutableBytes { try file.readRawRows(Self.kernel, rows: row..<row + 1, into: $0) }
        }
        // ... the last one completes the crc and throws, and so does every read after it.
        let last = #expect(throws: StoreError.self) {
            try buffer.withUnsafeMutableBytes { try file.readRawRows(Self.kernel, rows: shape[0] - 1..<shape[0], into: $0) }
        }
        #expect(last?.description.contains(Self.mismatch) == true)
        #expect(throws: StoreError.self) { try buffer.withUnsafeMutableBytes { try file.readRawRows(Self.kernel, rows: 0..<1, into: $0) } }
    }

    /// Negative control: a read that does not start where the pass is verifies the whole piece first, so
    /// the damage shows on that very read.
    @Test func aReadOutOfOrderVerifiesTheWholePieceFirst() throws {
        let file = try TFCheckpointFile(readingFrom: Self.flipped)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let error = #expect(throws: StoreError.self) {
            try buffer.withUnsafeMutableBytes { try file.readRawRows(Self.kernel, rows: 1..<2, into: $0) }
        }
        #expect(error?.description.contains(Self.mismatch) == true)
        // And reading in order from the first row would have passed the first row without complaint.
        let fresh = try TFCheckpointFile(readingFrom: Self.flipped)
        try buffer.withUnsafeMutableBytes { try fresh.readRawRows(Self.kernel, rows: 0..<1, into: $0) }
    }
}
