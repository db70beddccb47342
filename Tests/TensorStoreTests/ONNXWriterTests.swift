import Foundation
import GRUCore
import Testing
@testable import TensorStore

/// The ONNX writer: every fixture's GRUs written and read back the same (names, bytes, attributes), a
/// bidirectional layer as one node of stacked tensors, and everything an ONNX model of GRU layers cannot
/// be refused with its own line. (onnx.checker and onnxruntime on written files: interop/check_onnx_writer.py.)
@Suite struct ONNXWriterTests {
    /// A fresh folder, removed after `body`.
    static func inFolder<T>(_ body: (String) throws -> T) throws -> T {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("onnxw-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try body(dir)
    }

    static func writer(_ dir: String, _ name: String = "out.onnx") throws -> ONNXWriter {
        try ONNXWriter(creating: dir + "/" + name, temporaryPath: dir + "/" + name + ".tmp", temporaryDataPath: dir + "/" + name + ".data")
    }

    /// Copies the GRU scopes `scopes` of `source` (in that order: layer order) with their attributes.
    static func copyGRUs(_ source: ONNXFile, scopes: [String], into writer: ONNXWriter) throws {
        let containers = try source.containers()
        for scope in scopes {
            for variable in try source.variables() where variable.name.hasPrefix(scope + "/") {
                try writer.copy(variable.name, from: source, as: variable.name)
            }
            for object in containers where object == scope || object.hasPrefix(scope + "/") {
                try writer.copyAttributes(of: object, from: source, to: object, skip: { _ in false })
            }
        }
        try writer.copyAttributes(of: "", from: source, to: "", skip: { _ in false })
    }

    /// The four fixtures and their GRU scopes in graph order.
    static let fixtures: [(String, [String])] = [("torch_gru.onnx", ["node_gru__1"]), ("torch_gru2_bidir.onnx", ["node_GRU_80", "node_GRU_163"]),
                                                 ("torch_gru_ts.onnx", ["GRU"]), ("tf1_gru.onnx", ["gru"])]

    @Test(arguments: fixtures.map(\.0))
    func roundTrip(_ fixture: String) throws {
        let scopes = try #require(Self.fixtures.first { $0.0 == fixture }?.1)
        let source = try ONNXFile(readingFrom: ONNXFileTests.fixture(fixture))
        #expect(source.gruScopes == scopes)
        try Self.inFolder { dir in
            let writer = try Self.writer(dir)
            try Self.copyGRUs(source, scopes: scopes, into: writer)
            try writer.finish()
            #expect(writer.notes.isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["out.onnx"])
            let written = try ONNXFile(readingFrom: dir + "/out.onnx")
            let gruVariables = try source.variables().filter { v in scopes.contains { v.name.hasPrefix($0 + "/") } }
            #expect(try written.variables() == gruVariables)
            for variable in gruVariables { #expect(try written.readAll(variable.name) == source.readAll(variable.name)) }
            #expect(try written.containers() == source.containers())
            for object in try source.containers() {
                #expect(try ONNXFileTests.attributes(written, of: object) == ONNXFileTests.attributes(source, of: object))
            }
            #expect(try ONNXFileTests.attributes(written, of: "") == ["ir_version=8", "opset=14", "producer_name=gru-convert"])
        }
    }

    /// The decoded graph of a written model.
    static func graph(_ path: String) throws -> ONNXGraph {
        var sawVersion = false
        return try #require(try ONNXDecoder.model(Array(try Data(contentsOf: URL(fileURLWithPath: path))), sawVersion: &sawVersion).graph)
    }

    @Test func aBidirectionalLayerIsOneNodeOfStackedTensors() throws {
        let source = try ONNXFile(readingFrom: ONNXFileTests.fixture("torch_gru2_bidir.onnx"))
        try Self.inFolder { dir in
            let writer = try Self.writer(dir)
            try Self.copyGRUs(source, scopes: ["node_GRU_80", "node_GRU_163"], into: writer)
            try writer.finish()
            let graph = try Self.graph(dir + "/out.onnx")
            #expect(graph.nodes.map { "\($0.opType) \($0.name)" } == [
                "GRU node_GRU_80", "Constant node_GRU_80/Y_shape", "Transpose node_GRU_80/Transpose", "Reshape node_GRU_80/Reshape",
                "GRU node_GRU_163", "Constant node_GRU_163/Y_shape", "Transpose node_GRU_163/Transpose", "Reshape node_GRU_163/Reshape"])
            #expect(graph.nodes[0].inputs == ["X", "node_GRU_80/W", "node_GRU_80/R", "node_GRU_80/B"])
            #expect(graph.nodes[4].inputs == ["node_GRU_80/Y_reshaped", "node_GRU_163/W", "node_GRU_163/R", "node_GRU_163/B"])
            #expect(graph.nodes[7].outputs == ["Y"])
            #expect(graph.initializers.map { "\($0.name) \($0.dims)" } == [
                "node_GRU_80/W [2, 18, 5]", "node_GRU_80/R [2, 18, 6]", "node_GRU_80/B [2, 36]",
                "node_GRU_163/W [2, 18, 12]", "node_GRU_163/R [2, 18, 6]", "node_GRU_163/B [2, 36]"])
            #expect(graph.inputs == ["X"] && graph.outputs == ["Y", "node_GRU_80/Y_h", "node_GRU_163/Y_h"])
            // The stacked W is forward then reverse, as the fixture stores it.
            let stacked = try Data(contentsOf: URL(fileURLWithPath: dir + "/out.onnx"))
            let range = try #require(graph.initializers[0].rawData)
            guard case .bytes(let forward) = try source.readAll("node_GRU_80/forward/W").storage,
                  case .bytes(let reverse) = try source.readAll("node_GRU_80/reverse/W").storage else { Issue.record("not bytes"); return }
            #expect(Array(stacked[range]) == forward + reverse)
            #expect(Array(stacked[range]) != reverse + forward)     // negative control
        }
        // Only the forward half: one forward node named after its scope, not a bidirectional one.
        try Self.inFolder { dir in
            let writer = try Self.writer(dir)
            for label in ["W", "R", "B"] { try writer.copy("node_GRU_80/forward/" + label, from: source, as: "node_GRU_80/forward/" + label) }
            try writer.copyAttributes(of: "node_GRU_80/forward", from: source, to: "node_GRU_80/forward", skip: { _ in false })
            try writer.finish()
            let written = try ONNXFile(readingFrom: dir + "/out.onnx")
            #expect(try ONNXFileTests.listing(written) == ["node_GRU_80/forward/B float32 [36]", "node_GRU_80/forward/R float32 [18, 6]",
                                                           "node_GRU_80/forward/W float32 [18, 5]"])
            #expect(try written.stringAttribute("direction", of: "node_GRU_80/forward") == "forward")
            #expect(try Self.graph(dir + "/out.onnx").initializers[0].dims == [1, 18, 5])
        }
    }

    /// What is refused, and where: `nil` from `build` is the error `finish()` throws.
    static func refusal(_ build: (ONNXWriter, ONNXFile) throws -> Void) throws -> String {
        let source = try ONNXFile(readingFrom: ONNXFileTests.fixture("torch_gru2_bidir.onnx"))
        return try inFolder { dir in
            let writer = try writer(dir)
            do {
                try build(writer, source)
                try writer.finish()
                return "accepted"
            } catch let error as StoreError {
                writer.discard()
                #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
                return "\(error.code): " + error.description.replacingOccurrences(of: dir, with: "DIR")
                    .replacingOccurrences(of: ONNXFileTests.frameworks, with: "FIXTURES")
            }
        }
    }

    @Test func layersThatDoNotStackAreRefused() throws {
        let layers = ["node_GRU_80", "node_GRU_163"]
        #expect(try Self.refusal { writer, source in try Self.copyGRUs(source, scopes: layers, into: writer) } == "accepted")
        // Containers created first, in name order (as a conversion does), do not set the layer order.
        #expect(try Self.refusal { writer, source in
            for container in try source.containers() { try writer.createContainer(container) }
            try Self.copyGRUs(source, scopes: layers, into: writer)
        } == "accepted")
        #expect(try Self.refusal { writer, source in try Self.copyGRUs(source, scopes: layers.reversed(), into: writer) }
                == "invalidRequest: DIR/out.onnx: node_GRU_80: its input size is 5, not 12 (D*H of node_GRU_163 before it): "
                + "the GRUs do not form a stack, which is all an ONNX output holds")
        #expect(try Self.refusal { writer, source in
            try Self.copyGRUs(source, scopes: layers, into: writer)
            try writer.copy("node_GRU_80/forward/W", from: source, as: "node_GRU_163/W")
        } == "invalidRequest: DIR/out.onnx: node_GRU_163: has no R; a GRU layer needs W, R and optionally B")
    }

    @Test func anythingButGRULayersIsRefused() throws {
        #expect(try Self.refusal { writer, source in try writer.copy("val_94", from: source, as: "val_94") }
                == "unsupportedType: FIXTURES/torch_gru2_bidir.onnx: val_94: ONNX output holds GRU layers only; this is not a GRU's W, R or B")
        #expect(try Self.refusal { writer, _ in try writer.create("kernel", elementType: .float(bits: 32), shape: [2, 2]) }
                == "unsupportedType: DIR/out.onnx: kernel: ONNX output holds GRU layers only: this is not a GRU's SCOPE/W, SCOPE/R or SCOPE/B")
        #expect(try Self.refusal { writer, _ in try writer.create("g/W", elementType: .integer(bits: 32, signed: true), shape: [6, 2]) }
                == "unsupportedType: DIR/out.onnx: g/W: holds int32 values; a GRU's are float16, float32 or float64")
        #expect(try Self.refusal { writer, source in
            try Self.copyGRUs(source, scopes: ["node_GRU_80", "node_GRU_163"], into: writer)
            try writer.setStringAttribute("gru_convert_layout", "torch-gru", on: "node_GRU_80")
        } == "unsupportedType: DIR/out.onnx: node_GRU_80@gru_convert_layout: is an attribute, which an ONNX output of GRU layers cannot hold")
        #expect(try Self.refusal { writer, _ in try writer.setStringAttribute("epoch", "3", on: "") }
                == "unsupportedType: DIR/out.onnx: /@epoch: is an attribute, which an ONNX output of GRU layers cannot hold")
        #expect(try Self.refusal { writer, source in
            try Self.copyGRUs(source, scopes: ["node_GRU_80", "node_GRU_163"], into: writer)
            try writer.createContainer("optimizer")
        } == "unsupportedType: DIR/out.onnx: optimizer: is a container that holds no GRU layer, which an ONNX output cannot hold")
        #expect(try Self.refusal { writer, source in
            try Self.copyGRUs(source, scopes: ["node_GRU_80", "node_GRU_163"], into: writer)
            try writer.carry([StructureItem(name: "a", kind: .softLink(target: "b"))], from: source, outputName: { $0 })
        }.hasPrefix("unsupportedType: FIXTURES/torch_gru2_bidir.onnx: a: is "))
        // A layer without linear_before_reset: the GRU family must be said.
        #expect(try Self.refusal { writer, source in
            for label in ["W", "R"] { try writer.copy("node_GRU_80/forward/" + label, from: source, as: "g/" + label) }
        } == "invalidRequest: DIR/out.onnx: g: has no linear_before_reset attribute: say which GRU family it is (1: reset after, as PyTorch's; 0: reset before)")
        #expect(try Self.refusal { writer, source in
            for label in ["W", "R"] { try writer.copy("node_GRU_80/forward/" + label, from: source, as: "g/" + label) }
            try writer.setStringAttribute("linear_before_reset", "1", on: "g")
            try writer.setStringAttribute("hidden_size", "7", on: "g")
        } == "invalidRequest: DIR/out.onnx: g: says hidden_size 7, but its R holds H = 6")
        #expect(try Self.refusal { writer, _ in
            try writer.create("g/W", elementType: .float(bits: 32), shape: [0, 5])
            try writer.create("g/R", elementType: .float(bits: 32), shape: [0, 1 << 62])
            try writer.setStringAttribute("linear_before_reset", "1", on: "g")
        } == "invalidRequest: DIR/out.onnx: g: has W [0, 5], R [0, 4611686018427387904], not [3H, I], [3H, H], [6H] with one H > 0")
        // One float type throughout: within a layer, and across layers.
        #expect(try Self.refusal { writer, _ in
            let zeros = [UInt8](repeating: 0, count: 6 * 3 * 8)
            for (label, bits, shape) in [("W", 64, [6, 3]), ("R", 32, [6, 2])] {
                try writer.create("g/" + label, elementType: .float(bits: bits), shape: shape)
                try zeros.withUnsafeBytes { try writer.writeRawRows("g/" + label, rows: 0..<6, from: $0) }
            }
            try writer.setStringAttribute("linear_before_reset", "1", on: "g")
        } == "invalidRequest: DIR/out.onnx: g: holds tensors of several types; a GRU's are of one")
        #expect(try Self.refusal { writer, source in
            try Self.copyGRUs(source, scopes: ["node_GRU_80"], into: writer)
            let zeros = [UInt8](repeating: 0, count: 18 * 12 * 8)
            for (label, shape) in [("W", [18, 12]), ("R", [18, 6])] {
                try writer.create("next/" + label, elementType: .float(bits: 64), shape: shape)
                try zeros.withUnsafeBytes { try writer.writeRawRows("next/" + label, rows: 0..<18, from: $0) }
            }
            try writer.setStringAttribute("linear_before_reset", "1", on: "next")
        } == "invalidRequest: DIR/out.onnx: next: holds float64 values but node_GRU_80 holds float32: an ONNX model of GRUs has one float type")
        #expect(try Self.refusal { writer, source in
            try Self.copyGRUs(source, scopes: ["node_GRU_80"], into: writer)
            try writer.setStringAttribute("direction", "reverse", on: "node_GRU_80/forward")
        } == "invalidRequest: DIR/out.onnx: node_GRU_80/forward: says direction reverse, but it is the forward part of a bidirectional layer")
        #expect(try Self.refusal { writer, _ in try writer.finish() }
                == "invalidRequest: DIR/out.onnx: holds no GRU layer (no SCOPE/W and SCOPE/R): nothing to write")
        // Past protobuf's limit, refused before a byte is written.
        #expect(try Self.refusal { writer, _ in try writer.create("g/W", elementType: .float(bits: 32), shape: [3 << 20, 1 << 10]) }
                == "tooLarge: DIR/out.onnx: g/W: would make the model larger than protobuf's 2 GiB limit (ONNX external data is not written)")
    }

    /// A layout of 1 is written as 0 (the model is time-major) and said in `notes`; activations and clip
    /// are written and read back as given.
    @Test func layoutActivationsAndClip() throws {
        let source = try ONNXFile(readingFrom: ONNXFileTests.fixture("tf1_gru.onnx"))
        try Self.inFolder { dir in
            let writer = try Self.writer(dir)
            try Self.copyGRUs(source, scopes: ["gru"], into: writer)
            try writer.setStringAttribute("layout", "1", on: "gru")
            try writer.setStringAttribute("activations", "Sigmoid,Tanh", on: "gru")
            try writer.setStringAttribute("clip", "3.5", on: "gru")
            try writer.finish()
            #expect(writer.notes == ["gru: written with layout 0 (time-major), not its layout 1; the weights are the same"])
            let written = try ONNXFile(readingFrom: dir + "/out.onnx")
            #expect(try ONNXFileTests.attributes(written, of: "gru")
                    == ["activations=Sigmoid,Tanh", "clip=3.5", "direction=forward", "hidden_size=6", "layout=0", "linear_before_reset=0"])
        }
    }
}
