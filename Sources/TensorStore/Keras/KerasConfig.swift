/// One GRU layer of a Keras model as the model's config describes it: where its cell's weights are in each
/// Keras layout, and the settings that decide how those weights are read (what a weights-only file cannot
/// tell: activations, the reset placement when there is no bias, `go_backwards`).
///
/// The two GRUs of a `Bidirectional` are two layers here, `direction` forward and backward.
public struct KerasGRULayer: Hashable, Sendable {
    /// Which of a `Bidirectional`'s two GRUs a layer is.
    public enum Direction: String, Hashable, Sendable {
        /// The `Bidirectional`'s `forward_layer`.
        case forward
        /// The `Bidirectional`'s `backward_layer`.
        case backward
    }

    /// The user's names from the model down to this GRU, joined by `/`: `encoder` for a GRU of the model,
    /// `bidi/forward_gru` for a `Bidirectional` named `bidi`, `inner/gru` inside a nested model `inner`.
    public var kerasLayer: String
    /// The GRU layer's own name (`encoder`, `forward_gru`, `backward_gru`).
    public var name: String
    /// Where the cell's weights are in a Keras 3 weights file (`.weights.h5`, a `.keras` archive's
    /// `model.weights.h5`): `layers/gru/cell`, `layers/bidirectional/forward_layer/cell`,
    /// `layers/sequential/layers/gru_1/cell` (keys from class names, see `KerasModelConfig`).
    public var keras3Path: String
    /// Where the cell's weights are in a Keras 2 (tf-keras) legacy weights-only HDF5 file:
    /// `encoder/encoder/gru_cell`, `bidi/bidi/forward_gru/gru_cell`, `inner/gru/gru_cell` (the group of the
    /// model's layer, then the variables' name scope).
    public var keras2Path: String
    /// `keras2Path` in a Keras 2 full-model file (`model.save("x.h5")`): under `model_weights/`.
    public var keras2FullModelPath: String { "model_weights/" + keras2Path }
    /// `units`; nil when the config does not say.
    public var units: Int?
    /// `activation` (`tanh`); for a serialized custom function, its name; nil when the config does not say.
    public var activation: String?
    /// `recurrent_activation` (`sigmoid`); nil when the config does not say.
    public var recurrentActivation: String?
    /// `use_bias`; nil when the config does not say.
    public var useBias: Bool?
    /// `reset_after`: true for the reset-after family (bias `[2, 3H]`); nil when the config does not say.
    public var resetAfter: Bool?
    /// `go_backwards`: the layer reads the sequence from its end; nil when the config does not say.
    public var goBackwards: Bool?
    /// `return_sequences`; nil when the config does not say.
    public var returnSequences: Bool?
    /// Forward or backward for the GRUs of a `Bidirectional`; nil for a GRU of its own.
    public var direction: Direction?
    /// The `Bidirectional`'s `merge_mode` (`concat`, `sum`, `mul`, `ave`); nil for a GRU of its own and for
    /// a `Bidirectional` whose outputs are not merged (`merge_mode: null`).
    public var mergeMode: String?

    /// The facts as string attributes of the cell's scope, in name order, those the config records only:
    /// `activation`, `direction` (`forward`/`backward`, in a `Bidirectional` only), `go_backwards`,
    /// `keras_layer` (`kerasLayer`), `recurrent_activation`, `reset_after`, `use_bias`; booleans as `true`
    /// and `false`.
    public var attributes: [(name: String, value: String)] {
        let all: [(String, String?)] = [
            ("activation", activation), ("direction", direction?.rawValue), ("go_backwards", goBackwards.map(String.init)),
            ("keras_layer", kerasLayer), ("recurrent_activation", recurrentActivation),
            ("reset_after", resetAfter.map(String.init)), ("use_bias", useBias.map(String.init)),
        ]
        return all.compactMap { name, value in value.map { (name, $0) } }
    }

    /// Whether `path` is the cell's scope, or inside it, in either layout (`layers/gru/cell/vars/0`,
    /// `gru/gru/gru_cell/kernel:0`, `model_weights/gru/gru/gru_cell`).
    public func contains(_ path: String) -> Bool {
        [keras3Path, keras2Path, keras2FullModelPath].contains { path == $0 || path.hasPrefix($0 + "/") }
    }
}

/// A Keras model config (Keras 3's `config.json` in a `.keras` archive, or the `model_config` attribute of a
/// Keras 2 full-model HDF5 file) read for its GRU layers.
///
/// Layers are found in `Sequential` and `Functional` (`Model`) models, nested ones too, and in
/// `Bidirectional` wrappers (its `layer` and `backward_layer`); a GRU anywhere else (inside `TimeDistributed`,
/// a custom layer, `RNN(GRUCell)`) is not one of `layers`. Keras 3's weight paths are keyed by class, not by
/// the user's name: each layer of a model gets the snake_case of its class name (`gru`, `dense`,
/// `bidirectional`, Keras's `to_snake_case`), made unique in the model's layer order by `_1`, `_2`, ...
/// (`gru`, `gru_1`); a `Sequential`'s first `InputLayer` is not one of its layers, a `Functional` model's
/// `InputLayer`s are.
public struct KerasModelConfig: Sendable {
    /// Which Keras wrote a config: they name a `Bidirectional`'s two GRUs differently.
    public enum Flavor: String, Hashable, Sendable {
        /// tf-keras 2 (`model_config`): the config's `layer` is the user's GRU (`gru`), its copies are
        /// `forward_gru` and `backward_gru` (`backward_` + the name of a given `backward_layer` too).
        case keras2
        /// Keras 3 (`config.json`): the config's `layer` is already the forward copy (`forward_gru`), and
        /// `backward_layer` is the backward one as named (`backward_gru`, or the user's own name).
        case keras3
    }

    /// The class name of the model (`Sequential`, `Functional`).
    public let modelClass: String
    /// The model's name (`sequential`), or "" when the config has none.
    public let modelName: String
    /// Every GRU layer, in model order (a `Bidirectional`'s forward GRU before its backward one).
    public let layers: [KerasGRULayer]

    /// How deeply a config may nest (a Functional model's inbound nodes need about a dozen levels, nested
    /// models more): deeper is refused, so no config exhausts the stack.
    public static let maximumDepth = 256

    /// Parses `json`, the bytes of a model config of `flavor`. Every failure is a `StoreError` of code
    /// `damaged` naming `file` and `object` (where the caller found the config: `config.json` of an
    /// archive, `/@model_config` of an HDF5 file): not JSON, not a model config, or a GRU setting of the
    /// wrong type (`"units": "six"`). Settings a config leaves out stay nil; nothing is assumed.
    public init(parsing json: [UInt8], flavor: Flavor, file: String, object: String?) throws {
        func damaged(_ reason: String) -> StoreError { StoreError(.damaged, file: file, object: object, reason: reason) }
        let root: JSONValue
        do { root = try JSONValue.parse(json, maximumDepth: Self.maximumDepth, pythonNumbers: true) } catch {
            throw damaged("is not valid JSON at byte \(error.offset) of \(json.count): \(error.reason)")
        }
        guard case .string(let modelClass)? = root["class_name"], let config = root["config"], case .object = config else {
            throw damaged("is not a Keras model config (no class_name and config)")
        }
        self.modelClass = modelClass
        if case .string(let name)? = config["name"] { modelName = name } else { modelName = "" }
        var walker = Walker(flavor: flavor, fail: damaged)
        try walker.model(root, keras3Prefix: "", keras2Group: nil, names: [])
        layers = walker.found
    }

    /// Parses `text`, a model config of `flavor` (see `init(parsing:flavor:file:object:)`).
    public init(parsing text: String, flavor: Flavor, file: String, object: String?) throws {
        try self.init(parsing: Array(text.utf8), flavor: flavor, file: file, object: object)
    }

    /// The GRU layer whose cell is at `path` or contains it, in either layout: a Keras 3 path
    /// (`layers/gru/cell`, `layers/gru/cell/vars/0`) or a Keras 2 one (`gru/gru/gru_cell`,
    /// `model_weights/gru/gru/gru_cell/kernel:0`); nil when no GRU of the config is there.
    public func layer(at path: String) -> KerasGRULayer? {
        let path = path.hasPrefix("/") ? String(path.dropFirst()) : path
        return layers.first { $0.contains(path) }
    }

    /// Keras's `to_snake_case` of a class name: characters other than letters, digits and `_` dropped,
    /// `_` put before each capital that starts a lowercase run (`(.)([A-Z][a-z]+)`) and between a lowercase
    /// letter and a capital (`([a-z])([A-Z])`), then lowercased: `GRU` → `gru`, `InputLayer` → `input_layer`,
    /// `HTTPServer` → `http_server`, `Conv1D` → `conv1d`.
    public static func snakeCase(_ name: String) -> String {
        let word = Array(name.filter { $0.isLetter || $0.isNumber || $0 == "_" })
        func upper(_ c: Character) -> Bool { c.isASCII && c.isUppercase }
        func lower(_ c: Character) -> Bool { c.isASCII && c.isLowercase }
        // Each pass matches left to right without overlap, as `re.sub` does.
        var first: [Character] = []
        var i = 0
        while i < word.count {
            if i + 2 < word.count, upper(word[i + 1]), lower(word[i + 2]) {
                var end = i + 3
                while end < word.count, lower(word[end]) { end += 1 }
                first += [word[i], "_"] + word[(i + 1)..<end]
                i = end
            } else {
                first.append(word[i])
                i += 1
            }
        }
        var second: [Character] = []
        i = 0
        while i < first.count {
            if i + 1 < first.count, lower(first[i]), upper(first[i + 1]) {
                second += [first[i], "_", first[i + 1]]
                i += 2
            } else {
                second.append(first[i])
                i += 1
            }
        }
        return String(second).lowercased()
    }

    /// Walks a model's layers, collecting GRUs.
    private struct Walker {
        let flavor: Flavor
        let fail: (String) -> StoreError
        var found: [KerasGRULayer] = []

        /// The layers of a `Sequential` or `Functional` model `model` whose Keras 3 weights are under
        /// `keras3Prefix` and whose Keras 2 group is `keras2Group` (nil for the top model: each layer is a
        /// group of its own).
        mutating func model(_ config: JSONValue, keras3Prefix: String, keras2Group: String?, names: [String]) throws {
            guard case .array(var members)? = config["config"]?["layers"] else { return }
            if case .string("Sequential")? = config["class_name"], case .string("InputLayer")? = members.first?["class_name"] {
                members.removeFirst()
            }
            var used: [String: Int] = [:]
            for layer in members {
                guard case .string(let className)? = layer["class_name"] else { throw fail("has a layer without a class_name") }
                let base = KerasModelConfig.snakeCase(className)
                let key: String
                if let count = used[base] {
                    used[base] = count + 1
                    key = "\(base)_\(count + 1)"
                } else {
                    used[base] = 0
                    key = base
                }
                let path = keras3Prefix + "layers/" + key
                guard ["GRU", "Bidirectional", "Sequential", "Functional", "Model"].contains(className) else { continue }
                let name = try string("name", of: layer, className) ?? key
                switch className {
                case "GRU":
                    try gru(layer, name: name, keras3Path: path + "/cell",
                            keras2Path: "\(keras2Group ?? name)/\(name)/gru_cell", names: names + [name])
                case "Bidirectional":
                    try bidirectional(layer, name: name, keras3Path: path, keras2Group: keras2Group ?? name, names: names + [name])
                case "Sequential", "Functional", "Model":
                    try model(layer, keras3Prefix: path + "/", keras2Group: keras2Group ?? name, names: names + [name])
                default:
                    continue
                }
            }
        }

        /// The two GRUs of a `Bidirectional` named `name` (a wrapper of anything else adds nothing).
        mutating func bidirectional(_ layer: JSONValue, name: String, keras3Path: String, keras2Group: String, names: [String]) throws {
            guard case .string("GRU")? = layer["config"]?["layer"]?["class_name"], let forward = layer["config"]?["layer"] else { return }
            let mergeMode = try string("merge_mode", of: layer, name)
            let inner = try string("name", of: forward, "Bidirectional \(name)'s layer") ?? "gru"
            let given = layer["config"]?["backward_layer"].flatMap { $0 == .null ? nil : $0 }
            if let given, given["class_name"] != .string("GRU") { return }
            let givenName = try given.flatMap { try string("name", of: $0, "Bidirectional \(name)'s backward_layer") }
            let forwardName: String, backwardName: String
            switch flavor {
            case .keras2:
                forwardName = "forward_" + inner
                backwardName = "backward_" + (givenName ?? inner)
            case .keras3:
                forwardName = "forward_" + Self.removingPrefix("forward_", from: inner)
                backwardName = givenName ?? "backward_" + Self.removingPrefix("backward_", from: inner)
            }
            try gru(forward, name: forwardName, keras3Path: keras3Path + "/forward_layer/cell",
                    keras2Path: "\(keras2Group)/\(name)/\(forwardName)/gru_cell", names: names + [forwardName],
                    direction: .forward, mergeMode: mergeMode)
            let forwardGoesBackwards = found.last?.goBackwards
            try gru(given ?? forward, name: backwardName, keras3Path: keras3Path + "/backward_layer/cell",
                    keras2Path: "\(keras2Group)/\(name)/\(backwardName)/gru_cell", names: names + [backwardName],
                    direction: .backward, mergeMode: mergeMode)
            // Made from the forward layer's config, the backward layer reads the other way: tf-keras flips
            // `go_backwards`, Keras 3 sets it.
            if given == nil { found[found.count - 1].goBackwards = flavor == .keras2 ? forwardGoesBackwards.map(!) : true }
        }

        /// One GRU layer, its settings read from `layer`'s config.
        mutating func gru(_ layer: JSONValue, name: String, keras3Path: String, keras2Path: String, names: [String],
                          direction: KerasGRULayer.Direction? = nil, mergeMode: String? = nil) throws {
            let what = "GRU \(names.joined(separator: "/"))"
            var units: Int?
            if let value = layer["config"]?["units"], value != .null {
                guard case .number(let text) = value, let number = Int(text), number >= 0 else {
                    throw fail("\(what): units is not a non-negative integer")
                }
                units = number
            }
            found.append(KerasGRULayer(
                kerasLayer: names.joined(separator: "/"), name: name, keras3Path: keras3Path, keras2Path: keras2Path,
                units: units, activation: try activation("activation", of: layer, what),
                recurrentActivation: try activation("recurrent_activation", of: layer, what),
                useBias: try bool("use_bias", of: layer, what), resetAfter: try bool("reset_after", of: layer, what),
                goBackwards: try bool("go_backwards", of: layer, what), returnSequences: try bool("return_sequences", of: layer, what),
                direction: direction, mergeMode: mergeMode))
        }

        /// The string setting `key` of `layer`'s config; nil when absent or null.
        func string(_ key: String, of layer: JSONValue, _ what: String) throws -> String? {
            guard let value = layer["config"]?[key], value != .null else { return nil }
            guard case .string(let text) = value else { throw fail("\(what): \(key) is not a string") }
            return text
        }

        /// The boolean setting `key` of `layer`'s config; nil when absent or null.
        func bool(_ key: String, of layer: JSONValue, _ what: String) throws -> Bool? {
            guard let value = layer["config"]?[key], value != .null else { return nil }
            guard case .bool(let flag) = value else { throw fail("\(what): \(key) is not true or false") }
            return flag
        }

        /// An activation: its name, or for a serialized function (`{"class_name": "function", "config":
        /// "my_tanh", ...}`) the name in its `config`; nil when absent or null.
        func activation(_ key: String, of layer: JSONValue, _ what: String) throws -> String? {
            guard let value = layer["config"]?[key], value != .null else { return nil }
            if case .string(let text) = value { return text }
            if case .string(let text)? = value["config"] { return text }
            if case .string(let text)? = value["class_name"] { return text }
            throw fail("\(what): \(key) is neither a name nor a serialized function")
        }

        /// `text` without `prefix` when it starts with it (Python's `str.removeprefix`).
        static func removingPrefix(_ prefix: String, from text: String) -> String {
            text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text
        }
    }
}
