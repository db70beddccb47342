import Foundation
import GRUCore
@testable import TensorStore
import Testing

/// The reader against checkpoints written by real TensorFlow (`fixtures/generate_checkpoints.py`): each
/// lists the keys TensorFlow lists and reads every tensor as TensorFlow's own reader returned it
/// (`expected.h5`), bit for bit.
@Suite struct TFCheckpointFixtureTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/checkpoints")

    static let fixtures = [
        "tf1_single", "tf1_stacked", "tf1_bidirectional", "tf1_adam", "tf1_float64", "tf1_sharded", "tf1_partitioned", "tf1_snappy",
        "tf1_multiblock", "tfk_object", "tfk_object_adam", "tfk_object_legacy_adam", "k3_object", "k3_object_adam",
    ]

    static func directory(_ name: String) -> String { root.appendingPathComponent(name).path }

    /// Opens the fixture by its directory (which exercises the `checkpoint` state file, or the single `*.index`).
    static func open(_ name: String) throws -> TFCheckpointFile { try TFCheckpointFile(readingFrom: directory(name)) }

    @Test(arguments: fixtures)
    func listsWhatTensorFlowListsAndReadsItBitForBit(_ name: String) throws {
        let expectedPath = Self.directory(name) + "/expected.h5"
        try #require(FileManager.default.fileExists(atPath: expectedPath), "fixture \(name) has no expected.h5 yet")
        let expected = try TFExpectedValues(expectedPath)
        let file = try Self.open(name)
        #expect(file.warnings.isEmpty)
        let variables = try file.variables()
        let graphKey = TFObjectGraph.key
        let keys = expected.keys.filter { $0 != graphKey }
        #expect(file.hasObjectGraph == expected.keys.contains(graphKey))
        // The same keys, once each, after name mapping.
        let listedKeys = variables.map { file.checkpointKey(for: $0.name) ?? "?" }
        #expect(listedKeys.sorted() == keys.sorted())
        #expect(variables.map(\.name) == variables.map(\.name).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })

        for (index, key) in expected.keys.enumerated() where key != graphKey {
            let listed = try #require(file.name(forCheckpointKey: key), "\(name): \(key) is not listed")
            let variable = try #require(variables.first { $0.name == listed })
            let info = try file.info(listed)
            let tfDtype = expected.dtypes[index] == "half" ? "float16" : expected.dtypes[index]
            #expect(info.dtype == tfDtype, "\(name): \(key)")
            let values = "values/\(index)"
            if info.dtype == "string" {
                let strings = try file.readStrings(listed)
                #expect(strings.scalars.flatMap { $0 } == (try expected.rawBytes(values)), "\(name): \(key)")
                let lengths = try expected.rawBytes("string_lengths/\(index)")
                #expect(TFWire.fixed64Array(lengths) == strings.scalars.map { UInt64($0.count) })
                #expect(variable.shape == (try expected.shape("string_lengths/\(index)")))
                continue
            }
            #expect(variable.shape == (try expected.shape(values)), "\(name): \(key)")
            // Every fixed-width tensor: the same bytes as TensorFlow's value.
            #expect(try file.readBytes(listed) == (try expected.rawBytes(values)), "\(name): \(key)")
            guard variable.elementType.isFloat else { continue }
            // Floats through the store interface, as Float and as Double, bit for bit with HDF5File's reading.
            let mine: Tensor<Float> = try file.read(listed), theirs: Tensor<Float> = try expected.file.read(values)
            #expect(mine.shape == theirs.shape && mine.scalars.map(\.bitPattern) == theirs.scalars.map(\.bitPattern), "\(name): \(key)")
            let wide: Tensor<Double> = try file.read(listed), wideTheirs: Tensor<Double> = try expected.file.read(values)
            #expect(wide.scalars.map(\.bitPattern) == wideTheirs.scalars.map(\.bitPattern), "\(name): \(key)")
            // Raw rows, one row at a time and all at once, equal the whole tensor's bytes.
            guard variable.shape.count == 1 || variable.shape.count == 2, let width = variable.elementType.byteWidth else { continue }
            let rowCount = variable.shape.count == 2 ? variable.shape[0] : 1
            let all = try file.readBytes(listed)
            let rowBytes = rowCount == 0 ? 0 : all.count / rowCount
            var rows = [UInt8](repeating: 0xee, count: all.count)
            try rows.withUnsafeMutableBytes { try file.readRawRows(listed, rows: 0..<rowCount, into: $0) }
            #expect(rows == all)
            for row in 0..<rowCount {
                var one = [UInt8](repeating: 0xee, count: rowBytes)
                try one.withUnsafeMutableBytes { try file.readRawRows(listed, rows: row..<row + 1, into: $0) }
                #expect(one[...] == all[row * rowBytes..<(row + 1) * rowBytes], "\(name): \(key) row \(row)")
            }
            _ = width
        }
    }

    @Test func namesAreTensorFlowsOrTheObjectGraphs() throws {
        let single = try Self.open("tf1_single")
        #expect(try single.variables().map(\.name) == [
            "rnn/gru_cell/candidate/bias", "rnn/gru_cell/candidate/kernel", "rnn/gru_cell/gates/bias", "rnn/gru_cell/gates/kernel",
        ])
        #expect(single.checkpointKey(for: "rnn/gru_cell/gates/kernel") == "rnn/gru_cell/gates/kernel")
        let keras = try Self.open("tfk_object")
        #expect(try keras.variables().map(\.name) == [
            "bidi/backward_gru/gru_cell/bias", "bidi/backward_gru/gru_cell/kernel", "bidi/backward_gru/gru_cell/recurrent_kernel",
            "bidi/forward_gru/gru_cell/bias", "bidi/forward_gru/gru_cell/kernel", "bidi/forward_gru/gru_cell/recurrent_kernel",
            "encoder_gru/gru_cell/bias", "encoder_gru/gru_cell/kernel", "encoder_gru/gru_cell/recurrent_kernel",
            "head/bias", "head/kernel",
        ])
        #expect(keras.checkpointKey(for: "encoder_gru/gru_cell/kernel") == "model/layer_with_weights-0/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE")
        // Keras 3 with an optimizer keys the model's weights only under the optimizer; the names are the same
        // kind as without one.
        let k3 = try Self.open("k3_object_adam")
        #expect(k3.checkpointKey(for: "sequential/encoder_gru/gru_cell/kernel") == "optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE")
        #expect(try Self.open("k3_object").checkpointKey(for: "sequential/encoder_gru/gru_cell/kernel")
                == "model/_functional/_operations/1/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE")
        // Negative control: TF2 names are not the keys.
        #expect(try keras.variables().map(\.name).allSatisfy { keras.checkpointKey(for: $0) != $0 })
    }

    @Test func sameTensorsAcrossFixturesAndDifferentOnesDiffer() throws {
        // tf1_snappy and tf1_multiblock rewrite the indexes of tf1_single and tf1_adam: identical values.
        let kernel = "rnn/gru_cell/gates/kernel"
        let single: Tensor<Float> = try Self.open("tf1_single").read(kernel)
        let snappy: Tensor<Float> = try Self.open("tf1_snappy").read(kernel)
        #expect(single.scalars.map(\.bitPattern) == snappy.scalars.map(\.bitPattern))
        let adam: Tensor<Float> = try Self.open("tf1_adam").read(kernel)
        let multiblock: Tensor<Float> = try Self.open("tf1_multiblock").read(kernel)
        #expect(adam.scalars.map(\.bitPattern) == multiblock.scalars.map(\.bitPattern))
        // Negative control: another checkpoint's tensor of the same shape differs.
        #expect(single.shape == adam.shape && single.scalars != adam.scalars)
        // The partitioned fixture is really partitioned, and the sharded one really spread over its files.
        let partitioned = try Self.open("tf1_partitioned").info("encoder/rnn/gru_cell/gates/kernel")
        #expect(partitioned.pieces.count == 3 && partitioned.shard == nil)
        let sharded = try Self.open("tf1_sharded")
        #expect(sharded.shardCount == 3)
        #expect(Set(try sharded.info("encoder/rnn/gru_cell/gates/kernel").pieces.compactMap(\.shard)) == [0, 1, 2])
    }
}

extension TFWire {
    /// Little-endian uint64s from bytes.
    static func fixed64Array(_ bytes: [UInt8]) -> [UInt64] {
        stride(from: 0, to: bytes.count - 7, by: 8).map { start in
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[start + $1]) << (8 * $1) }
        }
    }
}

/// Optimizer slots attached to their variables, in each generation's way of recording them.
@Suite struct TFCheckpointSlotTests {
    static func slots(_ name: String) throws -> [String: (String, String)] {
        let file = try TFCheckpointFixtureTests.open(name)
        var result: [String: (String, String)] = [:]
        for slot in file.optimizerSlots() { result[slot.name] = (slot.variable, slot.slot) }
        return result
    }

    @Test func slotsOfEveryGeneration() throws {
        let tf1 = try Self.slots("tf1_adam")
        #expect(tf1.count == 12)
        #expect(tf1["rnn/gru_cell/gates/kernel/Adam_1"] ?? ("", "") == ("rnn/gru_cell/gates/kernel", "Adam_1"))
        let legacy = try Self.slots("tfk_object_legacy_adam")
        #expect(legacy.count == 10)
        #expect(legacy["Adam/encoder_gru/gru_cell/kernel/m"] ?? ("", "") == ("encoder_gru/gru_cell/kernel", "m"))
        let tfk = try Self.slots("tfk_object_adam")
        #expect(tfk.count == 10)
        #expect(tfk["Adam/v/head/bias"] ?? ("", "") == ("head/bias", "v"))
        let k3 = try Self.slots("k3_object_adam")
        #expect(k3.count == 10)
        #expect(k3["adam/sequential_encoder_gru_gru_cell_recurrent_kernel_momentum"] ?? ("", "")
                == ("sequential/encoder_gru/gru_cell/recurrent_kernel", "momentum"))
        // Negative controls: no optimizer, no slots; the step counters and learning rates are not slots.
        #expect(try Self.slots("tf1_single").isEmpty && Self.slots("tfk_object").isEmpty && Self.slots("k3_object").isEmpty)
        #expect(tf1["global_step"] == nil && tf1["beta1_power"] == nil && k3["adam/learning_rate"] == nil && tfk["iteration"] == nil)
    }
}
