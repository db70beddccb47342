import Foundation
import GRUCore
import Testing
@testable import TensorStore

/// The ONNX reader: the four framework-made fixtures listed exactly and their weights bit for bit against
/// the same torch weights in safetensors (ONNX rows z, r, h; torch rows r, z, n), and every way a model
/// can be damaged refused with its own line.
@Suite struct ONNXFileTests {
    static let frameworks = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/frameworks").path

    static func fixture(_ name: String) -> String { frameworks + "/" + name }

    /// Every variable as `name type shape`, for exact listings.
    static func listing(_ source: any TensorSource) throws -> [String] {
        try source.variables().map { "\($0.name) \($0.elementType) \(format($0.shape))" }
    }

    /// Every attribute of `object` as `name=value`.
    static func attributes(_ source: any TensorSource, of object: String) throws -> [String] {
        try source.attributeNames(of: object).map { "\($0)=\(try source.stringAttribute($0, of: object) ?? "nil")" }
    }

    /// The raw bytes of `rows` of `name`.
    static func rows(_ source: any TensorSource, _ name: String, _ rows: Range<Int>) throws -> [UInt8] {
        let variable = try #require(try source.variables().first { $0.name == name })
        let rowBytes = (variable.shape.count == 2 ? variable.shape[1] : variable.shape[0]) * 4
        var bytes = [UInt8](repeating: 0, count: rows.count * rowBytes)
        try bytes.withUnsafeMutableBytes { try source.readRawRows(name, rows: rows, into: $0) }
        return bytes
    }

    /// Torch's r, z, n row blocks of `torchName` (rows of 3H, or a bias of 3H) in ONNX's z, r, n order;
    /// with `swap` false, left as they are (the negative control).
    static func onnxOrder(_ torch: SafetensorsFile, _ torchName: String, swap: Bool = true) throws -> [UInt8] {
        let bytes = try torch.readAll(torchName)
        guard case .bytes(let all) = bytes.storage else { return [] }
        let block = all.count / 3
        let r = Array(all[0..<block]), z = Array(all[block..<(2 * block)]), n = Array(all[(2 * block)..<all.count])
        return swap ? z + r + n : all
    }

    /// The ONNX W, R, B of one direction scope against torch's tensors of one cell (`l0`, `l1_reverse`).
    static func expectTorchWeights(_ onnx: ONNXFile, scope: String, torch: SafetensorsFile, cell: String) throws {
        let suffix = cell.dropFirst(1)          // "0", "1_reverse"
        #expect(try onnx.readAll(scope + "/W").storage == .bytes(try onnxOrder(torch, "weight_ih_l" + suffix)))
        #expect(try onnx.readAll(scope + "/R").storage == .bytes(try onnxOrder(torch, "weight_hh_l" + suffix)))
        #expect(try onnx.readAll(scope + "/B").storage
                == .bytes(try onnxOrder(torch, "bias_ih_l" + suffix) + onnxOrder(torch, "bias_hh_l" + suffix)))
        // Negative control: without the z/r swap the bytes differ.
        #expect(try onnx.readAll(scope + "/W").storage != .bytes(try onnxOrder(torch, "weight_ih_l" + suffix, swap: false)))
    }

    @Test func torchExportWithExternalData() throws {
        let path = Self.fixture("torch_gru.onnx")
        let file = try ONNXFile(readingFrom: path)
        #expect(try Self.listing(file) == ["node_gru__1/B float32 [36]", "node_gru__1/R float32 [18, 6]", "node_gru__1/W float32 [18, 5]",
                                            "val_57 int64 [3]", "val_9 float32 [1, 3, 6]"])
        #expect(try file.containers() == ["node_gru__1"])
        #expect(try Self.attributes(file, of: "node_gru__1")
                == ["direction=forward", "hidden_size=6", "layout=0", "linear_before_reset=1"])
        #expect(try Self.attributes(file, of: "")
                == ["ir_version=10", "opset=20", "producer_name=pytorch", "producer_version=2.13.0+cpu"])
        #expect(file.storedFiles == [path, path + ".data"])
        #expect(file.formatName == "ONNX")
        let torch = try SafetensorsFile(readingFrom: Self.fixture("torch_gru.safetensors"))
        try Self.expectTorchWeights(file, scope: "node_gru__1", torch: torch, cell: "l0")
        // Rows as the row reader gives them: W rows 6..<12 are torch's r rows 0..<6.
        #expect(try Self.rows(file, "node_gru__1/W", 6..<12) == Array(try Self.onnxOrder(torch, "weight_ih_l0", swap: false)[0..<(6 * 5 * 4)]))
        #expect(try file.read("node_gru__1/R", as: Float.self).shape == [18, 6])
        // Another initializer, whole: the Reshape's target shape.
        #expect(try file.readAll("val_57") == StoredValues(elementType: .integer(bits: 64, signed: true), shape: [3], storage: .bytes(Self.int64s([7, 3, 6]))))
        // A lookup in the wrong scope fails with its own line.
        #expect(throws: StoreError(.notFound, file: path, object: "node_gru__1/forward/W", reason: "no such tensor")) {
            try file.readAll("node_gru__1/forward/W")
        }
    }

    static func int64s(_ values: [Int64]) -> [UInt8] { values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } } }

    @Test func torchBidirectionalStack() throws {
        let file = try ONNXFile(readingFrom: Self.fixture("torch_gru2_bidir.onnx"))
        var expected: [String] = []
        for (scope, input) in [("node_GRU_163", 12), ("node_GRU_80", 5)] {
            for direction in ["forward", "reverse"] {
                expected += ["\(scope)/\(direction)/B float32 [36]", "\(scope)/\(direction)/R float32 [18, 6]", "\(scope)/\(direction)/W float32 [18, \(input)]"]
            }
        }
        #expect(try Self.listing(file) == expected + ["val_10 float32 [2, 3, 6]", "val_94 int64 [3]"])
        #expect(try file.containers() == ["node_GRU_163", "node_GRU_163/forward", "node_GRU_163/reverse",
                                          "node_GRU_80", "node_GRU_80/forward", "node_GRU_80/reverse"])
        #expect(file.gruScopes == ["node_GRU_80", "node_GRU_163"])        // graph order, not name order
        #expect(try Self.attributes(file, of: "node_GRU_80")
                == ["direction=bidirectional", "hidden_size=6", "layout=0", "linear_before_reset=1"])
        #expect(try Self.attributes(file, of: "node_GRU_80/reverse")
                == ["direction=reverse", "hidden_size=6", "layout=0", "linear_before_reset=1"])
        #expect(try Self.attributes(file, of: "node_GRU_163/forward")
                == ["direction=forward", "hidden_size=6", "layout=0", "linear_before_reset=1"])
        let torch = try SafetensorsFile(readingFrom: Self.fixture("torch_gru2_bidir.safetensors"))
        for (scope, cell) in [("node_GRU_80/forward", "l0"), ("node_GRU_80/reverse", "l0_reverse"),
                              ("node_GRU_163/forward", "l1"), ("node_GRU_163/reverse", "l1_reverse")] {
            try Self.expectTorchWeights(file, scope: scope, torch: torch, cell: cell)
        }
        // Negative control: the reverse half is not the forward one.
        #expect(try file.readAll("node_GRU_80/reverse/R") != file.readAll("node_GRU_80/forward/R"))
        #expect(try Self.rows(file, "node_GRU_80/reverse/B", 0..<1) == Array(try Self.onnxOrder(torch, "bias_ih_l0_reverse")
                                                                              + Self.onnxOrder(torch, "bias_hh_l0_reverse")))
    }

    @Test func torchScriptExport() throws {
        let file = try ONNXFile(readingFrom: Self.fixture("torch_gru_ts.onnx"))
        #expect(try Self.listing(file) == ["GRU/B float32 [36]", "GRU/R float32 [18, 6]", "GRU/W float32 [18, 5]"])
        #expect(try file.containers() == ["GRU"])
        #expect(try Self.attributes(file, of: "GRU") == ["direction=forward", "hidden_size=6", "linear_before_reset=1"])
        #expect(try Self.attributes(file, of: "") == ["ir_version=9", "opset=20", "producer_name=pytorch", "producer_version=2.13.0"])
        #expect(try file.attributeNames(of: "/GRU").isEmpty)
        let torch = try SafetensorsFile(readingFrom: Self.fixture("torch_gru.safetensors"))
        try Self.expectTorchWeights(file, scope: "GRU", torch: torch, cell: "l0")
    }

    @Test func tf1ResetBefore() throws {
        let path = Self.fixture("tf1_gru.onnx")
        let file = try ONNXFile(readingFrom: path)
        #expect(try Self.listing(file) == ["gru/B float32 [36]", "gru/R float32 [18, 6]", "gru/W float32 [18, 5]"])
        #expect(try Self.attributes(file, of: "gru") == ["direction=forward", "hidden_size=6", "linear_before_reset=0"])
        #expect(try Self.attributes(file, of: "")
                == ["ir_version=8", "opset=17", "producer_name=gru-convert fixtures/frameworks/generate_onnx_tf1.py"])
        #expect(file.storedFiles == [path])
        // The generator's recurrent biases are zero (Rb = 0), its input biases normal(0, 0.5): not zero.
        let bias = try file.read("gru/B", as: Float.self).scalars
        #expect(bias[18...].allSatisfy { $0 == 0 } && !bias[..<18].contains(0))
        #expect(try Self.rows(file, "gru/W", 0..<18) == { if case .bytes(let b) = try file.readAll("gru/W").storage { b } else { [] } }())
    }
}

/// Small ONNX models built in the tests, one GRU node by default, to damage one thing at a time.
struct ONNXBuilder {
    /// An initializer: name, dims, data type and either raw bytes or external data entries.
    struct Initializer {
        var name: String
        var dims: [Int64]
        var dataType: Int64 = 1
        var raw: [UInt8]? = nil
        var floatData: [Float]? = nil
        var int32Data: [Int32]? = nil
        var external: [(String, String)]? = nil
    }

    var nodeName = "gru"
    var opType = "GRU"
    var inputs = ["X", "W", "R", "B"]
    var intAttributes: [(String, Int64)] = [("hidden_size", 2), ("linear_before_reset", 1)]
    var stringAttributes: [(String, String)] = [("direction", "forward")]
    var initializers: [Initializer]
    var extraNodes: [(name: String, op: String, outputs: [String])] = []
    var graphInputs = ["X"]
    var irVersion: Int64? = 8

    /// H = 2, I = 3, direction forward: W [1, 6, 3], R [1, 6, 2], B [1, 12], values 0, 1, 2, ...
    init() {
        initializers = [Initializer(name: "W", dims: [1, 6, 3], raw: Self.floats(count: 18)),
                        Initializer(name: "R", dims: [1, 6, 2], raw: Self.floats(count: 12)),
                        Initializer(name: "B", dims: [1, 12], raw: Self.floats(count: 12))]
    }

    static func floats(count: Int, from start: Float = 0) -> [UInt8] {
        (0..<count).flatMap { i in withUnsafeBytes(of: (start + Float(i)).bitPattern.littleEndian) { Array($0) } }
    }

    func bytes() -> [UInt8] {
        var node = ProtobufWriter()
        for input in inputs { node.string(1, input) }
        node.string(2, "Y")
        node.string(3, nodeName)
        node.string(4, opType)
        for (name, value) in intAttributes {
            var attribute = ProtobufWriter()
            attribute.string(1, name)
            attribute.int64(3, value)
            attribute.int64(20, 2)
            node.message(5, attribute)
        }
        for (name, value) in stringAttributes {
            var attribute = ProtobufWriter()
            attribute.string(1, name)
            attribute.string(4, value)
            attribute.int64(20, 3)
            node.message(5, attribute)
        }
        var graph = ProtobufWriter()
        for extra in extraNodes {
            var other = ProtobufWriter()
            for output in extra.outputs { other.string(2, output) }
            other.string(3, extra.name)
            other.string(4, extra.op)
            graph.message(1, other)
        }
        graph.message(1, node)
        graph.string(2, "g")
        for initializer in initializers {
            var tensor = ProtobufWriter()
            tensor.packedInt64(1, initializer.dims)
            tensor.int64(2, initializer.dataType)
            if let floats = initializer.floatData {
                var run = ProtobufWriter()
                for value in floats { withUnsafeBytes(of: value.bitPattern.littleEndian) { run.raw(Array($0)) } }
                tensor.bytes(4, run.bytes)
            }
            if let ints = initializer.int32Data {
                tensor.packedInt64(5, ints.map(Int64.init))
            }
            tensor.string(8, initializer.name)
            if let raw = initializer.raw { tensor.bytes(9, raw) }
            if let external = initializer.external {
                for (key, value) in external {
                    var entry = ProtobufWriter()
                    entry.string(1, key)
                    entry.string(2, value)
                    tensor.message(13, entry)
                }
                tensor.int64(14, 1)
            }
            graph.message(5, tensor)
        }
        for input in graphInputs {
            var info = ProtobufWriter()
            info.string(1, input)
            graph.message(11, info)
        }
        var model = ProtobufWriter()
        if let irVersion { model.int64(1, irVersion) }
        model.string(2, "test")
        model.message(7, graph)
        var opset = ProtobufWriter()
        opset.string(1, "")
        opset.int64(2, 14)
        model.message(8, opset)
        return model.bytes
    }
}

extension ONNXFileTests {
    /// Writes `bytes` (and `extra` files beside it) into a fresh folder, opens the model, and returns the
    /// error's line with the folder's path replaced by `DIR`, or `accepted`.
    static func refusal(_ bytes: [UInt8], extra: [String: [UInt8]] = [:], budget: MemoryBudget = .machineDefault,
                        inspect: (ONNXFile) throws -> Void = { _ in }) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir + "/m", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/m/model.onnx"))
        for (name, contents) in extra { try Data(contents).write(to: URL(fileURLWithPath: dir + "/" + name)) }
        do {
            let file = try ONNXFile(readingFrom: dir + "/m/model.onnx", memoryBudget: budget)
            try inspect(file)
            return "accepted"
        } catch let error as StoreError {
            return "\(error.code): " + error.description.replacingOccurrences(of: dir, with: "DIR")
        }
    }

    /// Expects the model to be read, then checks it with `inspect`.
    static func accepted(_ bytes: [UInt8], extra: [String: [UInt8]] = [:], inspect: (ONNXFile) throws -> Void) throws {
        #expect(try refusal(bytes, extra: extra, inspect: inspect) == "accepted")
    }

    static func refusal(_ build: (inout ONNXBuilder) -> Void, extra: [String: [UInt8]] = [:]) throws -> String {
        var builder = ONNXBuilder()
        build(&builder)
        return try refusal(builder.bytes(), extra: extra)
    }

    @Test func theBuiltModelIsRead() throws {
        // The positive control for every refusal below.
        #expect(try Self.refusal({ _ in }) == "accepted")
        try Self.accepted(ONNXBuilder().bytes()) { file throws in
            #expect(try Self.listing(file) == ["gru/B float32 [12]", "gru/R float32 [6, 2]", "gru/W float32 [6, 3]"])
            #expect(try file.read("gru/R", as: Float.self).scalars == (0..<12).map(Float.init))
        }
    }

    @Test func damagedModelsAreRefused() throws {
        let good = ONNXBuilder().bytes()
        #expect(good.count == 334)
        #expect(try Self.refusal(Array(good.prefix(good.count - 20)))
                == "damaged: DIR/m/model.onnx: is a damaged or truncated ONNX model: a protobuf field of 317 bytes runs past the end of its message (303 bytes left) at byte 9")
        #expect(try Self.refusal(Array("this is not a model at all\n".utf8))
                == "wrongFormat: DIR/m/model.onnx: is not an ONNX model (not a protobuf ModelProto: a protobuf group ends (field 14) that never started at byte 1)")
        #expect(try Self.refusal([]) == "wrongFormat: DIR/m/model.onnx: empty file, not an ONNX model")
        #expect(try Self.refusal { $0.irVersion = nil } == "wrongFormat: DIR/m/model.onnx: is not an ONNX model (no ir_version)")
        #expect(try Self.refusal([0x08, 0x08]) == "damaged: DIR/m/model.onnx: is an ONNX model without a graph (ModelProto.graph): it is truncated or damaged")
        #expect(try Self.refusal([0x08, 0x7F]) == "wrongFormat: DIR/m/model.onnx: is not an ONNX model (ir_version 127, which no ONNX release writes)")
        #expect(try Self.refusal { $0.initializers.remove(at: 1) }
                == "damaged: DIR/m/model.onnx: gru: its input 2 (R) R is not an initializer, nor defined anywhere in the graph")
        #expect(try Self.refusal { $0.initializers.remove(at: 0); $0.extraNodes = [("make_w", "MatMul", ["W"])] }
                == "notACell: DIR/m/model.onnx: gru: its input 1 (W) W is computed by node make_w (MatMul), not an initializer")
        #expect(try Self.refusal { $0.initializers.remove(at: 0); $0.graphInputs.append("W") }
                == "notACell: DIR/m/model.onnx: gru: its input 1 (W) W is a graph input, not an initializer")
        #expect(try Self.refusal { $0.initializers[0] = .init(name: "W", dims: [1, 6, 2], raw: ONNXBuilder.floats(count: 12)) } == "accepted")
        #expect(try Self.refusal { $0.initializers[0] = .init(name: "W", dims: [1, 4, 3], raw: ONNXBuilder.floats(count: 12)) }
                == "damaged: DIR/m/model.onnx: gru: its W is [1, 4, 3], not [D, 3H, I] with D = 1 (direction forward) and 3H = 6 (R is [1, 6, 2])")
        #expect(try Self.refusal { $0.initializers[2] = .init(name: "B", dims: [1, 6], raw: ONNXBuilder.floats(count: 6)) }
                == "damaged: DIR/m/model.onnx: gru: its B is [1, 6], not [1, 12] ([D, 6H] with H = 2)")
        #expect(try Self.refusal { $0.intAttributes[0].1 = 3 }
                == "damaged: DIR/m/model.onnx: gru: its hidden_size is 3, but R [1, 6, 2] holds H = 2")
        #expect(try Self.refusal { $0.stringAttributes = [("direction", "bidirectional")] }
                == "damaged: DIR/m/model.onnx: gru: its R is [1, 6, 2], not [D, 3H, H] with D = 2 (direction bidirectional)")
        #expect(try Self.refusal { $0.initializers[1].raw = ONNXBuilder.floats(count: 11) }
                == "damaged: DIR/m/model.onnx: R: its raw_data holds 44 bytes, but FLOAT [1, 6, 2] takes 48")
        #expect(try Self.refusal { $0.initializers[0].dataType = 99 }
                == "damaged: DIR/m/model.onnx: gru: its W W has data_type 99, which ONNX does not define")
        #expect(try Self.refusal { $0.initializers[0].dataType = 7; $0.initializers[0].raw = ONNXBuilder.floats(count: 36) }
                == "unsupportedType: DIR/m/model.onnx: gru: its W W is INT64, not FLOAT16, FLOAT or DOUBLE")
        #expect(try Self.refusal { $0.initializers[1].dims = [1, -6, 2] }
                == "damaged: DIR/m/model.onnx: R: has dims [1, -6, 2], with a negative extent")
        #expect(try Self.refusal { $0.initializers.append($0.initializers[0]) } == "damaged: DIR/m/model.onnx: two initializers are named W")
        #expect(try Self.refusal { $0.intAttributes.removeFirst(); $0.stringAttributes.append(("hidden_size", "2")) }
                == "damaged: DIR/m/model.onnx: gru: its attribute hidden_size has type 3, not int (2)")
        #expect(try Self.refusal { $0.stringAttributes = [("direction", "sideways")] }
                == "damaged: DIR/m/model.onnx: gru: has direction sideways, not forward, reverse or bidirectional")
        #expect(try Self.refusal { $0.inputs = ["X", "W"] } == "damaged: DIR/m/model.onnx: gru: has no input 2 (R)")
        // Extents whose 3H would overflow, behind a zero extent that keeps the element count at 0: refused, not a trap.
        #expect(try Self.refusal { $0.initializers[1] = .init(name: "R", dims: [1, 0, 1 << 62], raw: []) }
                == "damaged: DIR/m/model.onnx: gru: its R is [1, 0, 4611686018427387904], not [D, 3H, H] with D = 1 (direction forward)")
    }

    @Test func externalDataStaysInTheModelsFolder() throws {
        func external(_ location: String, offset: String = "0", length: String = "72") -> (inout ONNXBuilder) -> Void {
            { $0.initializers[0] = .init(name: "W", dims: [1, 6, 3], external: [("location", location), ("offset", offset), ("length", length)]) }
        }
        let data = ONNXBuilder.floats(count: 18, from: 100)
        // The positive control: a data file beside the model.
        var builder = ONNXBuilder()
        external("w.bin")(&builder)
        try Self.accepted(builder.bytes(), extra: ["m/w.bin": data]) { file throws in
            #expect(file.storedFiles.map { $0.components(separatedBy: "/").suffix(2).joined(separator: "/") } == ["m/model.onnx", "m/w.bin"])
            #expect(try file.readAll("gru/W").storage == .bytes(data))
        }
        #expect(try Self.refusal(external("../w.bin"), extra: ["w.bin": data])
                == "external: DIR/m/model.onnx: W: keeps its values in ../w.bin, which climbs out of the model's folder (..); only files in the model's folder are read")
        #expect(try Self.refusal(external("/etc/passwd"))
                == "external: DIR/m/model.onnx: W: keeps its values in /etc/passwd, an absolute path; only files in the model's folder are read")
        #expect(try Self.refusal(external("w.bin"), extra: ["m/w.bin": Array(data.prefix(71))])
                == "damaged: DIR/m/model.onnx: W: its external data file DIR/m/w.bin holds 71 bytes, fewer than its offset 0 + length 72")
        #expect(try Self.refusal(external("w.bin", offset: "4"), extra: ["m/w.bin": data])
                == "damaged: DIR/m/model.onnx: W: its external data file DIR/m/w.bin holds 72 bytes, fewer than its offset 4 + length 72")
        #expect(try Self.refusal(external("w.bin", length: "68"), extra: ["m/w.bin": data])
                == "damaged: DIR/m/model.onnx: W: its external data length is 68 bytes, but FLOAT [1, 6, 3] takes 72")
        #expect(try Self.refusal(external("w.bin", offset: "-1"), extra: ["m/w.bin": data])
                == "damaged: DIR/m/model.onnx: W: its external data offset is -1, not a non-negative integer")
        #expect(try Self.refusal(external("missing.bin"))
                == "notFound: DIR/m/model.onnx: W: no such file (its external data file DIR/m/missing.bin)")
        // A symbolic link inside the folder that points outside it.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-link-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir + "/m", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(data).write(to: URL(fileURLWithPath: dir + "/outside.bin"))
        try FileManager.default.createSymbolicLink(atPath: dir + "/m/w.bin", withDestinationPath: dir + "/outside.bin")
        try Data(builder.bytes()).write(to: URL(fileURLWithPath: dir + "/m/model.onnx"))
        #expect(throws: StoreError.self) { try ONNXFile(readingFrom: dir + "/m/model.onnx") }
        do { _ = try ONNXFile(readingFrom: dir + "/m/model.onnx") } catch let error as StoreError { #expect(error.code == .external) }
    }

    @Test func typedFieldsAndClashingNames() throws {
        // float_data, and float16 bit patterns in int32_data.
        #expect(try Self.refusal({ $0.initializers[1] = .init(name: "R", dims: [1, 6, 2], floatData: (0..<12).map { Float($0) / 4 }) }) == "accepted")
        var builder = ONNXBuilder()
        builder.initializers = [.init(name: "W", dims: [1, 6, 3], dataType: 10, int32Data: Array(repeating: 0x3C00, count: 18)),
                                .init(name: "R", dims: [1, 6, 2], dataType: 10, int32Data: Array(repeating: 0xC000, count: 12))]
        builder.inputs = ["X", "W", "R"]
        try Self.accepted(builder.bytes()) { file throws in
            #expect(try Self.listing(file) == ["gru/R float16 [6, 2]", "gru/W float16 [6, 3]"])
            #expect(try file.read("gru/W", as: Float.self).scalars == Array(repeating: 1, count: 18))
            #expect(try file.read("gru/R", as: Float.self).scalars == Array(repeating: -2, count: 12))
        }
        #expect(try Self.refusal({ $0.initializers[1] = .init(name: "R", dims: [1, 6, 2], floatData: [1, 2]) })
                == "damaged: DIR/m/model.onnx: R: its float_data holds 2 values, but FLOAT [1, 6, 2] takes 12")
        // A node named like another initializer is renamed GRU_0; a name with a leading / loses it.
        #expect(try Self.refusal({ $0.nodeName = "/rnn/GRU" }) == "accepted")
        var clash = ONNXBuilder()
        clash.nodeName = "extra"
        clash.initializers.append(.init(name: "extra/x", dims: [1], raw: ONNXBuilder.floats(count: 1)))
        try Self.accepted(clash.bytes()) { file throws in
            #expect(try Self.listing(file) == ["GRU_0/B float32 [12]", "GRU_0/R float32 [6, 2]", "GRU_0/W float32 [6, 3]", "extra/x float32 [1]"])
            #expect(try file.containers() == ["GRU_0"])
        }
        var nested = ONNXBuilder()
        nested.nodeName = "/rnn/GRU"
        try Self.accepted(nested.bytes()) { file throws in
            #expect(try file.containers() == ["rnn", "rnn/GRU"])
            #expect(try Self.attributes(file, of: "rnn/GRU") == ["direction=forward", "hidden_size=2", "linear_before_reset=1"])
        }
        // A GRU of another domain is not read as one: its weights are other initializers.
        var custom = ONNXBuilder()
        custom.opType = "GRUx"
        try Self.accepted(custom.bytes()) { file throws in
            #expect(try Self.listing(file) == ["B float32 [1, 12]", "R float32 [1, 6, 2]", "W float32 [1, 6, 3]"])
        }
    }

    /// Wire types that a known field cannot have, groups nested without end, and a subgraph nested deep
    /// (never decoded, so never followed).
    @Test func protobufDamageAndDepth() throws {
        var model = ProtobufWriter()
        model.int64(1, 8)
        model.int64(7, 5)                                   // graph as a varint
        #expect(try Self.refusal(model.bytes)
                == "damaged: DIR/m/model.onnx: is a damaged or truncated ONNX model: ModelProto.graph (field 7) has wire type 0, not 2 at byte 3")
        var groups = ProtobufWriter()
        groups.int64(1, 8)
        for _ in 0..<100 { groups.key(15, .startGroup) }
        for _ in 0..<100 { groups.key(15, .endGroup) }
        #expect(try Self.refusal(groups.bytes)
                == "damaged: DIR/m/model.onnx: is a damaged or truncated ONNX model: protobuf groups nest deeper than 64 at byte 67")
        // A GRU whose attribute holds a graph nested 2000 deep: skipped whole.
        var builder = ONNXBuilder()
        builder.extraNodes = []
        var deep = ProtobufWriter()
        for _ in 0..<2000 {
            var outer = ProtobufWriter()
            outer.message(1, deep)
            deep = outer
        }
        var bytes = builder.bytes()
        var attribute = ProtobufWriter()
        attribute.string(1, "body")
        attribute.message(6, deep)
        attribute.int64(20, 5)
        var node = ProtobufWriter()
        node.string(4, "Loop")
        node.message(5, attribute)
        var graph = ProtobufWriter()
        graph.message(1, node)
        var extra = ProtobufWriter()
        extra.message(7, graph)                             // a second graph field: protobuf merges, so append the node
        bytes += extra.bytes
        try Self.accepted(bytes) { file throws in
            #expect(try Self.listing(file) == ["gru/B float32 [12]", "gru/R float32 [6, 2]", "gru/W float32 [6, 3]"])
        }
    }

    /// The whole model is checked against the memory budget before it is read.
    @Test func aModelBeyondTheBudgetIsRefused() throws {
        let bytes = ONNXBuilder().bytes()
        #expect(try Self.refusal(bytes, budget: MemoryBudget(bytes: 64)).hasPrefix("tooLarge: DIR/m/model.onnx: reading the model would need"))
        #expect(try Self.refusal(bytes, budget: MemoryBudget(bytes: 1 << 20)) == "accepted")
    }
}
