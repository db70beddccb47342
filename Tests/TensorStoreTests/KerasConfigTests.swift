import Foundation
import Testing
@testable import TensorStore

/// Keras model configs read for their GRU layers: the facts, and the paths of each cell in both Keras
/// layouts, checked against what Keras 3.15.1 and tf-keras 2.21 wrote for the same models (the paths in the
/// comments were listed with h5py from files those versions saved).
@Suite struct KerasConfigTests {
    /// A GRU layer's config as Keras writes it (the settings read, and a few that are not).
    static func gru(_ name: String, units: Int = 4, resetAfter: Bool = true, goBackwards: Bool = false, extra: String = "") -> String {
        """
        {"module": "keras.layers", "class_name": "GRU", "config": {"name": "\(name)", "trainable": true, "units": \(units), \
        "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": true, "reset_after": \(resetAfter), \
        "go_backwards": \(goBackwards), "return_sequences": true, "dropout": 0.0\(extra)}}
        """
    }

    static func layer(_ className: String, _ name: String, _ rest: String = "") -> String {
        "{\"class_name\": \"\(className)\", \"config\": {\"name\": \"\(name)\"\(rest)}}"
    }

    static func model(_ className: String, _ name: String, _ layers: [String]) -> String {
        layer(className, name, ", \"layers\": [" + layers.joined(separator: ", ") + "]")
    }

    static func bidirectional(_ name: String, merge: String = "\"concat\"", layer: String, backward: String? = nil) -> String {
        Self.layer("Bidirectional", name, ", \"merge_mode\": \(merge), \"layer\": \(layer)" + (backward.map { ", \"backward_layer\": \($0)" } ?? ""))
    }

    static func parse(_ text: String, _ flavor: KerasModelConfig.Flavor) throws -> KerasModelConfig {
        try KerasModelConfig(parsing: text, flavor: flavor, file: "FILE", object: "config.json")
    }

    static func paths(_ config: KerasModelConfig) -> [String] { config.layers.map { "\($0.kerasLayer) \($0.keras3Path) \($0.keras2Path)" } }

    // MARK: - Keras 3

    /// Keras 3: Sequential([Input, GRU(name="encoder"), GRU(reset_after=False), Dense, Bidirectional(GRU(name="bg"),
    /// merge_mode="sum"), Bidirectional(GRU, backward_layer=GRU(go_backwards=True, name="mine")),
    /// Sequential([GRU(name="deep")], name="inner_seq")]) saved layers/gru/cell, layers/gru_1/cell,
    /// layers/bidirectional/{forward,backward}_layer/cell, layers/bidirectional_1/..., layers/sequential/layers/gru/cell.
    static let keras3Sequential = model("Sequential", "sequential", [
        layer("InputLayer", "input_layer"), gru("encoder"), gru("gru", resetAfter: false), layer("Dense", "d"),
        bidirectional("bidirectional", merge: "\"sum\"", layer: gru("forward_bg"), backward: gru("backward_bg", goBackwards: true)),
        bidirectional("bidirectional_1", layer: gru("forward_gru_1"), backward: gru("mine", goBackwards: true)),
        model("Sequential", "inner_seq", [layer("InputLayer", "input_layer_1"), gru("deep", units: 3)]),
    ])

    @Test func keras3KeysComeFromClassNamesInLayerOrder() throws {
        let config = try Self.parse(Self.keras3Sequential, .keras3)
        #expect(config.modelClass == "Sequential" && config.modelName == "sequential")
        #expect(Self.paths(config) == [
            "encoder layers/gru/cell encoder/encoder/gru_cell",
            "gru layers/gru_1/cell gru/gru/gru_cell",
            "bidirectional/forward_bg layers/bidirectional/forward_layer/cell bidirectional/bidirectional/forward_bg/gru_cell",
            "bidirectional/backward_bg layers/bidirectional/backward_layer/cell bidirectional/bidirectional/backward_bg/gru_cell",
            "bidirectional_1/forward_gru_1 layers/bidirectional_1/forward_layer/cell bidirectional_1/bidirectional_1/forward_gru_1/gru_cell",
            "bidirectional_1/mine layers/bidirectional_1/backward_layer/cell bidirectional_1/bidirectional_1/mine/gru_cell",
            "inner_seq/deep layers/sequential/layers/gru/cell inner_seq/deep/gru_cell",
        ])
        #expect(config.layers.map(\.resetAfter) == [true, false, true, true, true, true, true])
        #expect(config.layers.map(\.direction) == [nil, nil, .forward, .backward, .forward, .backward, nil])
        #expect(config.layers.map(\.mergeMode) == [nil, nil, "sum", "sum", "concat", "concat", nil])
        #expect(config.layers.map(\.goBackwards) == [false, false, false, true, false, true, false])
        #expect(config.layers.map(\.units) == [4, 4, 4, 4, 4, 4, 3])
        // Negative control: the user's name is never the key (a GRU named `encoder` is `layers/gru`).
        #expect(config.layer(at: "layers/encoder/cell") == nil)
        #expect(config.layer(at: "layers/gru/cell")?.name == "encoder")
        #expect(config.layer(at: "layers/gru_1/cell/vars/2")?.name == "gru")
        #expect(config.layer(at: "layers/gru_10/cell") == nil)
    }

    @Test func aHandWrittenConfigWithTwoGRUsADenseAndABidirectional() throws {
        let config = try Self.parse(Self.model("Sequential", "s", [
            Self.gru("a"), Self.gru("b"), Self.layer("Dense", "d"),
            Self.bidirectional("c", layer: Self.gru("forward_e"), backward: Self.gru("backward_e", goBackwards: true)),
        ]), .keras3)
        #expect(config.layers.map(\.keras3Path) == ["layers/gru/cell", "layers/gru_1/cell", "layers/bidirectional/forward_layer/cell",
                                                    "layers/bidirectional/backward_layer/cell"])
        // Negative control: a Dense before the GRUs takes no GRU key, but a second Dense is `dense_1`, not `gru`.
        let dense = try Self.parse(Self.model("Sequential", "s", [Self.layer("Dense", "x"), Self.layer("Dense", "y"), Self.gru("a")]), .keras3)
        #expect(dense.layers.map(\.keras3Path) == ["layers/gru/cell"])
    }

    /// Keras 3: Model([x, y], Bidirectional(GRU)(Concatenate()([GRU()(x), GRU()(y)]))): its layers are
    /// input_layer, input_layer_1, gru, gru_1, concatenate, bidirectional, and the cells layers/gru/cell,
    /// layers/gru_1/cell, layers/bidirectional/{forward,backward}_layer/cell.
    @Test func aFunctionalModelCountsItsInputLayers() throws {
        let config = try Self.parse(Self.model("Functional", "functional", [
            Self.layer("InputLayer", "x"), Self.layer("InputLayer", "y"), Self.gru("gru_2"), Self.gru("gru_3"),
            Self.layer("Concatenate", "concatenate"),
            Self.bidirectional("bidirectional_2", layer: Self.gru("forward_gru_4"), backward: Self.gru("backward_gru_4", goBackwards: true)),
        ]), .keras3)
        #expect(Self.paths(config) == [
            "gru_2 layers/gru/cell gru_2/gru_2/gru_cell", "gru_3 layers/gru_1/cell gru_3/gru_3/gru_cell",
            "bidirectional_2/forward_gru_4 layers/bidirectional/forward_layer/cell bidirectional_2/bidirectional_2/forward_gru_4/gru_cell",
            "bidirectional_2/backward_gru_4 layers/bidirectional/backward_layer/cell bidirectional_2/bidirectional_2/backward_gru_4/gru_cell",
        ])
        // A Functional model's InputLayers are layers (`input_layer`, `input_layer_1`) and a Sequential's first is
        // not, but an InputLayer's key collides only with another's: no GRU's key depends on them.
    }

    @Test func snakeCaseIsKeras() {
        // Keras 3.15.1's naming.to_snake_case of each: gru, input_layer, conv1d, time_distributed, lstm_cell,
        // http_server, my2_layer, ab_cdef.
        let names = ["GRU", "InputLayer", "Conv1D", "TimeDistributed", "LSTMCell", "HTTPServer", "My2Layer", "ABCdef"]
        #expect(names.map(KerasModelConfig.snakeCase) == ["gru", "input_layer", "conv1d", "time_distributed", "lstm_cell",
                                                          "http_server", "my2_layer", "ab_cdef"])
        #expect(KerasModelConfig.snakeCase("GRU") != "g_r_u")
        // Keras keeps a `_` the class name has: `Input_Layer` is `input__layer`, `Input_layer` is `input_layer`.
        #expect(KerasModelConfig.snakeCase("Input_Layer") == "input__layer" && KerasModelConfig.snakeCase("Input_layer") == "input_layer")
    }

    // MARK: - Keras 2

    /// tf-keras 2.21: Sequential([Input, GRU(name="enc"), Bidirectional(GRU(name="bg"), merge_mode="sum", name="bidi"),
    /// Bidirectional(GRU, backward_layer=GRU(go_backwards=True, name="mine")), Sequential([GRU(name="deep")],
    /// name="inner_seq")]) saved model_weights/enc/enc/gru_cell, bidi/bidi/forward_bg/gru_cell,
    /// bidi/bidi/backward_bg/gru_cell, bidirectional/bidirectional/forward_gru/gru_cell,
    /// bidirectional/bidirectional/backward_mine/gru_cell, inner_seq/deep/gru_cell; its config's `layer` is the
    /// user's GRU and `backward_layer` appears only when given.
    static let keras2Sequential = model("Sequential", "sequential", [
        layer("InputLayer", "input_1"), gru("enc"),
        bidirectional("bidi", merge: "\"sum\"", layer: gru("bg")),
        bidirectional("bidirectional", layer: gru("gru"), backward: gru("mine", goBackwards: true)),
        model("Sequential", "inner_seq", [layer("InputLayer", "deep_input"), gru("deep", units: 3)]),
    ])

    @Test func keras2NamesBidirectionalChildrenItsOwnWay() throws {
        let config = try Self.parse(Self.keras2Sequential, .keras2)
        #expect(config.layers.map(\.keras2FullModelPath) == [
            "model_weights/enc/enc/gru_cell", "model_weights/bidi/bidi/forward_bg/gru_cell", "model_weights/bidi/bidi/backward_bg/gru_cell",
            "model_weights/bidirectional/bidirectional/forward_gru/gru_cell",
            "model_weights/bidirectional/bidirectional/backward_mine/gru_cell", "model_weights/inner_seq/deep/gru_cell",
        ])
        #expect(config.layers.map(\.keras3Path) == [
            "layers/gru/cell", "layers/bidirectional/forward_layer/cell", "layers/bidirectional/backward_layer/cell",
            "layers/bidirectional_1/forward_layer/cell", "layers/bidirectional_1/backward_layer/cell", "layers/sequential/layers/gru/cell",
        ])
        // The backward copy of `bg` reads backwards, though its config (the forward one's) says otherwise.
        #expect(config.layers.map(\.goBackwards) == [false, false, true, false, true, false])
        #expect(config.layer(at: "model_weights/bidi/bidi/backward_bg/gru_cell/kernel:0")?.direction == .backward)
        #expect(config.layer(at: "bidi/bidi/backward_bg/gru_cell")?.kerasLayer == "bidi/backward_bg")
        // Negative control: read as Keras 3, a given backward layer keeps its own name (`mine`, not `backward_mine`).
        let asKeras3 = try Self.parse(Self.keras2Sequential, .keras3)
        #expect(asKeras3.layers.map(\.name) == ["enc", "forward_bg", "backward_bg", "forward_gru", "mine", "deep"])
        #expect(config.layers.map(\.name) == ["enc", "forward_bg", "backward_bg", "forward_gru", "backward_mine", "deep"])
    }

    @Test func theFullModelFixturesConfig() throws {
        let path = KerasArchiveTests.fixture("k2_full.h5")
        let file = try HDF5File(readingFrom: path)
        let text = try #require(try file.stringAttribute("model_config"))
        let config = try KerasModelConfig(parsing: text, flavor: .keras2, file: path, object: "/@model_config")
        #expect(config.layers == [KerasGRULayer(
            kerasLayer: "encoder", name: "encoder", keras3Path: "layers/gru/cell", keras2Path: "encoder/encoder/gru_cell",
            units: 6, activation: "tanh", recurrentActivation: "sigmoid", useBias: true, resetAfter: true, goBackwards: false,
            returnSequences: true, direction: nil, mergeMode: nil)])
        // The path is where the weights are; the optimizer's slots of the same name are not the layer.
        let names = try file.variables().map(\.name)
        #expect(names.contains(config.layers[0].keras2FullModelPath + "/kernel:0"))
        #expect(config.layer(at: "model_weights/encoder/encoder/gru_cell/kernel:0")?.name == "encoder")
        #expect(names.contains("optimizer_weights/Adam/m/encoder/gru_cell/kernel:0"))
        #expect(config.layer(at: "optimizer_weights/Adam/m/encoder/gru_cell/kernel:0") == nil)
        #expect(config.layer(at: "model_weights/head/head/kernel:0") == nil)
    }

    @Test(arguments: [("k3_gru.keras", true), ("k3_gru_rb.keras", false)])
    func theArchiveFixturesConfigs(name: String, resetAfter: Bool) throws {
        let archive = try KerasArchive(readingFrom: KerasArchiveTests.fixture(name))
        #expect(archive.config.modelClass == "Sequential")
        #expect(archive.config.layers == [KerasGRULayer(
            kerasLayer: "gru", name: "gru", keras3Path: "layers/gru/cell", keras2Path: "gru/gru/gru_cell",
            units: 6, activation: "tanh", recurrentActivation: "sigmoid", useBias: true, resetAfter: resetAfter, goBackwards: false,
            returnSequences: true, direction: nil, mergeMode: nil)])
        #expect(archive.config.layers.first?.attributes.map(\.name) == (try archive.attributeNames(of: "layers/gru/cell")))
    }

    // MARK: - Refusals

    @Test func badConfigsAreRefusedInOneLine() throws {
        func refusal(_ text: String) -> String {
            do { _ = try Self.parse(text, .keras3); return "accepted" } catch { return "\(error)" }
        }
        #expect(refusal("nope") == "FILE: config.json: is not valid JSON at byte 1 of 4: expected null")
        #expect(refusal("{\"class_name\": \"Sequential\"}") == "FILE: config.json: is not a Keras model config (no class_name and config)")
        #expect(refusal(Self.model("Sequential", "s", [Self.gru("g", extra: ", \"units\": 1")]))
                == "FILE: config.json: is not valid JSON at byte 328 of 343: the name \"units\" appears twice")
        let six = Self.model("Sequential", "s", [Self.gru("g").replacingOccurrences(of: "\"units\": 4", with: "\"units\": \"six\"")])
        #expect(refusal(six) == "FILE: config.json: GRU g: units is not a non-negative integer")
        let flag = Self.model("Sequential", "s", [Self.gru("g").replacingOccurrences(of: "\"reset_after\": true", with: "\"reset_after\": 1")])
        #expect(refusal(flag) == "FILE: config.json: GRU g: reset_after is not true or false")
        // Python's NaN and Infinity (json.dumps writes them) are read; what the settings leave out stays nil.
        let python = try Self.parse(Self.model("Sequential", "s", [Self.layer("GRU", "g", ", \"dropout\": NaN, \"clip\": -Infinity")]), .keras3)
        #expect(python.layers.count == 1 && python.layers[0].units == nil && python.layers[0].resetAfter == nil)
        #expect(python.layers[0].attributes.map(\.name) == ["keras_layer"])
        // Deep nesting is refused, not a crash.
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        #expect(refusal(deep) == "FILE: config.json: is not valid JSON at byte 256 of 600: nested more than 256 levels deep")
    }
}
