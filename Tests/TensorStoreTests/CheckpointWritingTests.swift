import Foundation
import GRUCore
@testable import TensorStore
import Testing

/// Writing what a checkpoint holds: every tensor of every fixture checkpoint copied into HDF5 (any rank and
/// type HDF5 can hold) and into a new checkpoint (`TFCheckpointWriter`), read back bit-identically; the
/// attribute rule of the checkpoint sink; tables with several data blocks.
@Suite struct CheckpointWritingTests {
    func temporaryDirectory() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gru-convert-writer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    func checkpointWriter(_ prefix: String) throws -> TFCheckpointWriter {
        try TFCheckpointWriter(creating: prefix, temporaryIndexPath: prefix + ".index.tmp", temporaryDataPath: prefix + ".data.tmp")
    }

    /// Every tensor into HDF5 under a flat name (a checkpoint may hold `a/b` and `a/b/Adam`, which HDF5
    /// cannot): each reads back with the checkpoint's type, shape and bytes; only strings holding a NUL
    /// byte are refused, naming the tensor.
    @Test(arguments: TFCheckpointFixtureTests.fixtures)
    func everyTensorGoesIntoHDF5BitForBit(_ name: String) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = try TFCheckpointFixtureTests.open(name)
        let variables = try source.variables()
        let writer = try HDF5Writer(creating: dir + "/out.h5", temporaryPath: dir + "/out.h5.tmp")
        var written: [(String, String)] = []
        for (index, variable) in variables.enumerated() {
            do {
                try writer.copy(variable.name, from: source, as: "t\(index)")
                written.append((variable.name, "t\(index)"))
            } catch let error as StoreError {
                #expect(variable.name == "vocab", "\(name): \(error)")
                #expect(error.code == .unsupportedType)
                #expect("\(error)".contains("vocab: string 3 holds a NUL byte, which an HDF5 string cannot hold; it is not converted"))
            }
        }
        try writer.finish()
        let output = try HDF5File(readingFrom: dir + "/out.h5")
        for (original, copy) in written {
            let expected = try source.readAll(original)
            let got = try output.readAll(copy)
            #expect(got == expected, "\(name): \(original)")
        }
        #expect(written.count == variables.count - (name == "tf1_adam" || name == "tf1_multiblock" ? 1 : 0))
    }

    /// Every tensor into a new checkpoint under its listed name: the new checkpoint lists the same names,
    /// types and shapes and reads every tensor back bit for bit (strings with NUL and 0xff bytes included).
    @Test(arguments: TFCheckpointFixtureTests.fixtures)
    func everyTensorGoesIntoACheckpointBitForBit(_ name: String) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = try TFCheckpointFixtureTests.open(name)
        let writer = try checkpointWriter(dir + "/model.ckpt")
        for variable in try source.variables() { try writer.copy(variable.name, from: source, as: variable.name) }
        try writer.finish()
        #expect(!FileManager.default.fileExists(atPath: dir + "/model.ckpt.index.tmp"))
        let output = try TFCheckpointFile(readingFrom: dir + "/model.ckpt")
        #expect(output.shardCount == 1 && !output.isBigEndian && output.warnings.isEmpty)
        #expect(try output.variables() == source.variables())
        for variable in try source.variables() {
            #expect(try output.readAll(variable.name) == source.readAll(variable.name), "\(name): \(variable.name)")
        }
    }

    /// Values of every type a checkpoint holds, scalars to rank 3, zero-size ones, and thousands of
    /// entries with long names (several data blocks, index separators): written and read back.
    @Test func everyTypeAndManyEntriesRoundTrip() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try checkpointWriter(dir + "/many.ckpt")
        var expected: [String: StoredValues] = [:]
        let types: [ElementType] = [.float(bits: 16), .float(bits: 32), .float(bits: 64), .integer(bits: 8, signed: true),
                                    .integer(bits: 16, signed: false), .integer(bits: 32, signed: true), .integer(bits: 64, signed: false),
                                    .other("bool"), .other("bfloat16"), .other("complex64"), .other("complex128")]
        for (index, type) in types.enumerated() {
            for shape in [[], [3], [2, 3], [2, 0, 4], [2, 2, 2]] as [[Int]] {
                let width = try #require(StoredValues.width(of: type))
                let count = shape.reduce(1, *)
                let bytes = (0..<(count * width)).map { UInt8(truncatingIfNeeded: $0 * 7 + index) & (type == .other("bool") ? 1 : 0xff) }
                let values = StoredValues(elementType: type, shape: shape, storage: .bytes(bytes))
                let name = "types/\(type)/rank\(shape.count)_\(count)"
                try writer.write(name, values: values)
                expected[name] = values
            }
        }
        let strings = StoredValues(elementType: .string, shape: [2, 2], storage: .strings([[], [0, 0xff], Array("héllo".utf8),
                                                                                            [UInt8](repeating: 65, count: 300)]))
        try writer.write("strings", values: strings)
        expected["strings"] = strings
        for index in 0..<14000 {
            let name = "block_\(String(repeating: "x", count: 40))/\(index)"
            let values = StoredValues(elementType: .float(bits: 32), shape: [1], storage: .bytes(withUnsafeBytes(of: Float(index).bitPattern.littleEndian, Array.init)))
            try writer.write(name, values: values)
            expected[name] = values
        }
        try writer.finish()
        let table = try SSTable(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/many.ckpt.index"))), limit: 1 << 30)
        #expect(table.dataBlocks.count > 1)
        let output = try TFCheckpointFile(readingFrom: dir + "/many.ckpt")
        #expect(try output.variables().count == expected.count)
        for (name, values) in expected { #expect(try output.readAll(name) == values, "\(name)") }
    }

    /// HDF5 holds floats, integers, bool (h5py's enum) and strings of any rank and reads them back
    /// unchanged; bfloat16 and complex are refused, naming the tensor.
    @Test func everyTypeHDF5CanHoldRoundTrips() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try HDF5Writer(creating: dir + "/types.h5", temporaryPath: dir + "/types.h5.tmp")
        var expected: [String: StoredValues] = [:]
        let types: [ElementType] = [.float(bits: 16), .float(bits: 32), .float(bits: 64), .integer(bits: 8, signed: true),
                                    .integer(bits: 16, signed: false), .integer(bits: 32, signed: true), .integer(bits: 64, signed: false),
                                    .other("bool")]
        for (index, type) in types.enumerated() {
            for shape in [[], [3], [2, 3], [2, 0, 4], [2, 2, 2]] as [[Int]] {
                let width = try #require(StoredValues.width(of: type))
                let count = shape.reduce(1, *)
                let bytes = (0..<(count * width)).map { UInt8(truncatingIfNeeded: $0 * 7 + index) & (type == .other("bool") ? 1 : 0xff) }
                let name = "t\(index)_\(shape.count)_\(count)"
                let values = StoredValues(elementType: type, shape: shape, storage: .bytes(bytes))
                try writer.write(name, values: values)
                expected[name] = values
            }
        }
        let strings = StoredValues(elementType: .string, shape: [3], storage: .strings([[], [0xff, 0x41], Array("héllo".utf8)]))
        try writer.write("strings", values: strings)
        expected["strings"] = strings
        for type in [ElementType.other("bfloat16"), .other("complex64")] {
            #expect {
                try writer.write("x", values: StoredValues(elementType: type, shape: [1], storage: .bytes([0, 0, 0, 0, 0, 0, 0, 0])),
                                 source: "in.ckpt", sourceName: "weights")
            } throws: { "\($0)".contains("weights: holds \(type) values, which HDF5 cannot hold without changing them; it is not converted") }
        }
        try writer.finish()
        let output = try HDF5File(readingFrom: dir + "/types.h5")
        for (name, values) in expected { #expect(try output.readAll(name) == values, "\(name)") }
    }

    /// A checkpoint holds no attributes: copying one is an error naming it; the layout record is left out
    /// with a note; nothing is published by a discarded writer.
    @Test func attributesAreRefusedNotDropped() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let hdf5 = try HDF5Writer(creating: dir + "/a.h5", temporaryPath: dir + "/a.h5.tmp")
        try hdf5.createContainer("cell")
        try hdf5.write("cell/x", values: StoredValues(elementType: .float(bits: 32), shape: [], storage: .bytes([0, 0, 128, 63])))
        try hdf5.setStringAttribute("keras_version", "2.15", on: "")
        try hdf5.setStringAttribute("gru_convert_layout", "tf-gru-cell", on: "cell")
        try hdf5.finish()
        let source = try HDF5File(readingFrom: dir + "/a.h5")
        let writer = try checkpointWriter(dir + "/out.ckpt")
        try writer.copy("cell/x", from: source, as: "cell/x")
        #expect(writer.exists("cell") && writer.exists("cell/x") && !writer.exists("other"))
        try writer.copyAttributes(of: "cell", from: source, to: "cell", skip: { _ in false })
        #expect(writer.notes.count == 1 && writer.notes[0].hasPrefix("cell: a checkpoint cannot record that this cell was split from the tf-gru-cell layout"))
        #expect {
            try writer.copyAttributes(of: "", from: source, to: "", skip: { _ in false })
        } throws: { error in
            "\(error)".contains("/@keras_version: is an attribute, which a TensorFlow checkpoint cannot hold")
        }
        try writer.copyAttributes(of: "", from: source, to: "", skip: { $0 == "keras_version" })
        writer.discard()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["a.h5"])
    }

    /// Rows written in order make the same entry as the whole tensor; out of order or incomplete is refused.
    @Test func rowsMustComeInOrderAndInFull() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try checkpointWriter(dir + "/rows.ckpt")
        try writer.create("m", elementType: .float(bits: 32), shape: [3, 2])
        let bytes = (0..<24).map { UInt8($0) }
        try bytes.withUnsafeBytes { try writer.writeRawRows("m", rows: 0..<2, from: $0) }
        #expect(throws: StoreError.self) { try bytes.withUnsafeBytes { try writer.writeRawRows("m", rows: 0..<1, from: $0) } }
        try writer.create("n", elementType: .float(bits: 64), shape: [2])
        #expect(throws: StoreError.self) { try writer.finish() }
        try bytes.withUnsafeBytes { try writer.writeRawRows("m", rows: 2..<3, from: UnsafeRawBufferPointer(rebasing: $0[16...])) }
        try bytes.withUnsafeBytes { try writer.writeRawRows("n", rows: 0..<1, from: UnsafeRawBufferPointer(rebasing: $0[8...])) }
        try writer.finish()
        let output = try TFCheckpointFile(readingFrom: dir + "/rows.ckpt")
        #expect(try output.readAll("m") == StoredValues(elementType: .float(bits: 32), shape: [3, 2], storage: .bytes(bytes)))
        #expect(try output.readAll("n") == StoredValues(elementType: .float(bits: 64), shape: [2], storage: .bytes(Array(bytes[8..<24]))))
    }

    /// Replacing a checkpoint (`--force`) renames two files, which cannot be one step: when the index
    /// cannot be moved into place after the data file was, the checkpoint that was there is put back, both
    /// files as they were, and nothing of the new one is left.
    @Test func aReplacementThatFailsHalfwayPutsTheOldCheckpointBack() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/model.ckpt"
        func write(_ value: Float, replacing: Bool, hook: @escaping () throws -> Void = {}) throws {
            let writer = try checkpointWriter(prefix)
            writer.replacesExisting = replacing
            writer.beforePublishing = hook
            try writer.create("v", elementType: .float(bits: 32), shape: [1])
            try withUnsafeBytes(of: value) { try writer.writeRawRows("v", rows: 0..<1, from: $0) }
            do { try writer.finish() } catch { writer.discard(); throw error }
        }
        try write(1, replacing: false)
        let (index, data) = (prefix + ".index", prefix + ".data-00000-of-00001")
        let (oldIndex, oldData) = (try Data(contentsOf: URL(fileURLWithPath: index)), try Data(contentsOf: URL(fileURLWithPath: data)))
        // The index path becomes a directory just before publishing: the data file moves, the index cannot.
        let failure = #expect(throws: StoreError.self) {
            try write(2, replacing: true) {
                try FileManager.default.removeItem(atPath: index)
                try FileManager.default.createDirectory(atPath: index, withIntermediateDirectories: false)
            }
        }
        #expect(failure?.description.hasSuffix("model.ckpt.index: is a directory; name the output file") == true, "\(String(describing: failure))")
        #expect(try Data(contentsOf: URL(fileURLWithPath: data)) == oldData)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["model.ckpt.data-00000-of-00001", "model.ckpt.index"])
        // Negative control: with the index back as it was, the same replacement succeeds and replaces both.
        try FileManager.default.removeItem(atPath: index)
        try oldIndex.write(to: URL(fileURLWithPath: index))
        try write(2, replacing: true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: data)) != oldData)
        #expect(try TFCheckpointFile(readingFrom: prefix).readAll("v") == StoredValues(elementType: .float(bits: 32), shape: [1],
                                                                                       storage: .bytes(withUnsafeBytes(of: Float(2)) { Array($0) })))
    }
}
