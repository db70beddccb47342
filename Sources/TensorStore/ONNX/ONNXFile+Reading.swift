import GRUCore
import Glibc

extension ONNXFile {
    /// The work of `init`: from a decoded graph to the exposed variables, their storage and attributes, with
    /// every check that can refuse the model.
    struct Reading {
        /// The model's path, for messages and to find external data beside it.
        let path: String
        /// The model file's bytes, for the values kept in typed fields.
        let bytes: [UInt8]
        /// What decoding typed values may allocate.
        let budget: MemoryBudget
        /// The exposed variables so far.
        var entries: [String: Entry] = [:]
        /// The string attributes of each GRU scope and direction scope.
        var attributes: [String: [String: String]] = [:]
        /// The GRU scopes, in graph order.
        var scopes: [String] = []
        var externalFiles: [String: ReadOnlyFile] = [:]
        /// The external data files, in the order first referenced.
        var externalOrder: [String] = []
        /// Each stored tensor's storage, resolved once, by initializer index.
        private var resolved: [Int: Resolved] = [:]

        /// A stored tensor: its type, shape, where its values are and how many bytes they take.
        struct Resolved {
            /// Its ONNX data type.
            var dataType: DataType
            /// Its dims.
            var shape: [Int]
            /// Where its values are.
            var storage: Storage
            /// The bytes of all its values (0 when they cannot be read).
            var byteCount: Int
        }

        /// Work on the model at `path` whose whole file is `bytes`.
        init(path: String, bytes: [UInt8], budget: MemoryBudget) {
            (self.path, self.bytes, self.budget) = (path, bytes, budget)
        }

        /// A `.damaged` error naming the model and `object`.
        func damaged(_ reason: String, _ object: String? = nil) -> StoreError {
            StoreError(.damaged, file: path, object: object, reason: reason)
        }

        /// `name` without its leading `/`s.
        static func trimmed(_ name: String) -> String { String(name.drop { $0 == "/" }) }

        /// Whether `a` and `b` are the same path or one lies under the other.
        static func overlaps(_ a: String, _ b: String) -> Bool { a == b || a.hasPrefix(b + "/") || b.hasPrefix(a + "/") }

        /// Exposes every GRU node of `graph` as scopes and every other initializer under its own name.
        mutating func expose(_ graph: ONNXGraph) throws {
            var index: [String: Int] = [:]
            for (position, tensor) in graph.initializers.enumerated() {
                guard !tensor.name.isEmpty else { throw damaged("initializer \(position) of the graph has no name") }
                guard index[tensor.name] == nil else { throw damaged("two initializers are named \(tensor.name)") }
                index[tensor.name] = position
            }
            let grus = graph.nodes.filter { $0.opType == "GRU" && ($0.domain.isEmpty || $0.domain == "ai.onnx") }
            let consumed = Set(grus.flatMap { $0.inputs.dropFirst().prefix(3) })
            var others: [String: Int] = [:]
            for (position, tensor) in graph.initializers.enumerated() where !consumed.contains(tensor.name) {
                let name = Self.trimmed(tensor.name)
                guard !name.isEmpty else { throw damaged("initializer \(position) of the graph is named \(tensor.name), which is empty without its leading /") }
                guard others[name] == nil else { throw damaged("two initializers are read as \(name) (a leading / is dropped)") }
                others[name] = position
            }
            for (k, node) in grus.enumerated() {
                let candidate = Self.trimmed(node.name)
                let earlier = scopes
                func taken(_ scope: String) -> Bool {
                    scope.isEmpty || earlier.contains { Self.overlaps($0, scope) } || others.keys.contains { Self.overlaps($0, scope) }
                }
                var scope = candidate
                if taken(scope) {
                    scope = "GRU_\(k)"
                    guard !taken(scope) else {
                        throw damaged("GRU node \(k) cannot be named \(candidate.isEmpty ? "by its empty name" : candidate) "
                                      + "nor GRU_\(k): both are taken by other GRU nodes or initializers", node.name.isEmpty ? nil : node.name)
                    }
                }
                try exposeGRU(node, k, scope: scope, graph: graph, index: index)
            }
            for (name, position) in others.sorted(by: { $0.value < $1.value }) {
                let tensor = try resolve(position, graph.initializers[position], name)
                entries[name] = Entry(type: tensor.dataType.type, shape: tensor.shape, storage: tensor.storage, offset: 0, byteCount: tensor.byteCount)
            }
        }

        /// The string value of a GRU attribute of the expected kind, or nil when the node does not have it.
        private func value(of name: String, in node: ONNXNode, kind: ONNXAttribute.Kind, _ object: String) throws -> String? {
            guard let attribute = node.attributes.last(where: { $0.name == name }) else { return nil }
            guard attribute.type == kind.rawValue || attribute.type == 0 else {
                throw damaged("its attribute \(name) has type \(attribute.type), not \(kind) (\(kind.rawValue))", object)
            }
            let missing = damaged("its attribute \(name) has no \(kind) value", object)
            switch kind {
            case .int:
                guard let value = attribute.i else { throw missing }
                return String(value)
            case .float:
                guard let value = attribute.f else { throw missing }
                return String(describing: value)
            case .string:
                guard let value = attribute.s else { throw missing }
                return String(decoding: value, as: UTF8.self)
            case .strings: return attribute.strings.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ",")
            case .floats: return attribute.floats.map { String(describing: $0) }.joined(separator: ",")
            default: return nil
            }
        }

        /// Checks GRU node `node` (the `k`th) and exposes its weights and attributes under `scope`.
        private mutating func exposeGRU(_ node: ONNXNode, _ k: Int, scope: String, graph: ONNXGraph, index: [String: Int]) throws {
            let object = node.name.isEmpty ? "GRU_\(k)" : node.name
            var attributes: [String: String] = [:]
            let direction = try value(of: "direction", in: node, kind: .string, object) ?? "forward"
            guard ["forward", "reverse", "bidirectional"].contains(direction) else {
                throw damaged("has direction \(direction), not forward, reverse or bidirectional", object)
            }
            attributes["direction"] = direction
            attributes["linear_before_reset"] = try value(of: "linear_before_reset", in: node, kind: .int, object) ?? "0"
            attributes["activations"] = try value(of: "activations", in: node, kind: .strings, object)
            attributes["activation_alpha"] = try value(of: "activation_alpha", in: node, kind: .floats, object)
            attributes["activation_beta"] = try value(of: "activation_beta", in: node, kind: .floats, object)
            attributes["clip"] = try value(of: "clip", in: node, kind: .float, object)
            if let layout = try value(of: "layout", in: node, kind: .int, object) {
                guard layout == "0" || layout == "1" else { throw damaged("has layout \(layout), not 0 or 1", object) }
                attributes["layout"] = layout
            }
            let hiddenSize = try value(of: "hidden_size", in: node, kind: .int, object)

            // W, R and B by the node's inputs 1, 2, 3, never by initializer names.
            var weights: [Resolved] = []
            for (slot, label) in ["W", "R", "B"].enumerated() {
                let input = slot + 1
                let name = input < node.inputs.count ? node.inputs[input] : ""
                if name.isEmpty {
                    guard label == "B" else { throw damaged("has no input \(input) (\(label))", object) }
                    break
                }
                guard let position = index[name] else {
                    let producer = graph.nodes.first { $0.outputs.contains(name) }
                    if let producer {
                        throw StoreError(.notACell, file: path, object: object, reason: "its input \(input) (\(label)) \(name) is computed by node "
                                         + "\(producer.name.isEmpty ? "(unnamed)" : producer.name) (\(producer.opType)), not an initializer")
                    }
                    if graph.inputs.contains(name) {
                        throw StoreError(.notACell, file: path, object: object, reason: "its input \(input) (\(label)) \(name) is a graph input, not an initializer")
                    }
                    throw damaged("its input \(input) (\(label)) \(name) is not an initializer, nor defined anywhere in the graph", object)
                }
                let dataType = graph.initializers[position].dataType
                guard ONNXFile.dataTypes[dataType] != nil else {
                    throw damaged("its \(label) \(name) has data_type \(dataType), which ONNX does not define", object)
                }
                let tensor = try resolve(position, graph.initializers[position], name)
                if case .unreadable(let code, let reason) = tensor.storage {
                    throw StoreError(code, file: path, object: object, reason: "its \(label) \(name) \(reason)")
                }
                guard tensor.dataType.type.isFloat else {
                    throw StoreError(.unsupportedType, file: path, object: object,
                                     reason: "its \(label) \(name) is \(tensor.dataType.name), not FLOAT16, FLOAT or DOUBLE")
                }
                weights.append(tensor)
            }
            let (w, r) = (weights[0], weights[1])
            let b = weights.count > 2 ? weights[2] : nil
            guard w.dataType.type == r.dataType.type, b == nil || b?.dataType.type == w.dataType.type else {
                throw damaged("its W, R and B are not of one type (\(weights.map(\.dataType.name).joined(separator: ", ")))", object)
            }
            let d = direction == "bidirectional" ? 2 : 1
            // H is at most Int.max / 6, so that 3H and 6H cannot overflow (a zero extent elsewhere lets any H through the count).
            guard r.shape.count == 3, r.shape[0] == d, r.shape[2] > 0, r.shape[2] <= Int.max / 6, r.shape[1] == 3 * r.shape[2] else {
                throw damaged("its R is \(format(r.shape)), not [D, 3H, H] with D = \(d) (direction \(direction))", object)
            }
            let h = r.shape[2]
            guard w.shape.count == 3, w.shape[0] == d, w.shape[1] == 3 * h else {
                throw damaged("its W is \(format(w.shape)), not [D, 3H, I] with D = \(d) (direction \(direction)) and 3H = \(3 * h) (R is \(format(r.shape)))", object)
            }
            if let b, b.shape != [d, 6 * h] {
                throw damaged("its B is \(format(b.shape)), not [\(d), \(6 * h)] ([D, 6H] with H = \(h))", object)
            }
            if let hiddenSize, hiddenSize != String(h) {
                throw damaged("its hidden_size is \(hiddenSize), but R \(format(r.shape)) holds H = \(h)", object)
            }
            attributes["hidden_size"] = String(h)

            scopes.append(scope)
            self.attributes[scope] = attributes
            let input = w.shape[2]
            let pieces: [(String, Resolved, [Int])] = [("W", w, [3 * h, input]), ("R", r, [3 * h, h])] + (b.map { [("B", $0, [6 * h])] } ?? [])
            for direction in 0..<d {
                let prefix = d == 1 ? scope : scope + (direction == 0 ? "/forward" : "/reverse")
                if d == 2 {
                    var inherited = attributes
                    inherited["direction"] = direction == 0 ? "forward" : "reverse"
                    self.attributes[prefix] = inherited
                }
                for (label, tensor, shape) in pieces {
                    let half = tensor.byteCount / d
                    entries[prefix + "/" + label] = Entry(type: tensor.dataType.type, shape: shape, storage: tensor.storage,
                                                          offset: direction * half, byteCount: half)
                }
            }
        }

        /// Where the values of initializer `position` are, checked against its declared type and shape.
        mutating func resolve(_ position: Int, _ tensor: ONNXTensor, _ object: String) throws -> Resolved {
            if let done = resolved[position] { return done }
            guard tensor.dataType != 0 else { throw damaged("has no data_type (UNDEFINED)", object) }
            guard !tensor.dims.contains(where: { $0 < 0 || $0 > Int64(Int.max) }) else {
                throw damaged("has dims \(tensor.dims), with a negative extent", object)
            }
            let shape = tensor.dims.map { Int($0) }
            var count = 1
            for extent in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: extent)
                guard !overflow else { throw StoreError(.tooLarge, file: path, object: object, reason: "declares \(shape) elements, too many to count") }
                count = product
            }
            guard let dataType = ONNXFile.dataTypes[tensor.dataType] else {
                let result = Resolved(dataType: DataType(type: .other("onnx data_type \(tensor.dataType)"), name: "data_type \(tensor.dataType)",
                                                         width: nil, field: nil),
                                      shape: shape, storage: .unreadable(.unsupportedType, "has data_type \(tensor.dataType), which gru-convert does not read"),
                                      byteCount: 0)
                resolved[position] = result
                return result
            }
            var byteCount: Int?
            if let width = dataType.width {
                let (bytes, overflow) = count.multipliedReportingOverflow(by: width)
                guard !overflow else { throw StoreError(.tooLarge, file: path, object: object, reason: "declares \(shape) elements, too many to count") }
                byteCount = bytes
            }
            let result: Resolved
            if tensor.segmented {
                result = Resolved(dataType: dataType, shape: shape, storage: .unreadable(.unsupportedType, "is split into segments, which gru-convert does not read"),
                                  byteCount: 0)
            } else if tensor.dataLocation == 1 {
                guard tensor.rawData == nil, tensor.typed.isEmpty else {
                    throw damaged("keeps its values in an external file and in the model too", object)
                }
                result = try external(tensor, dataType, shape, byteCount, object)
            } else if tensor.dataLocation != 0 {
                throw damaged("has data_location \(tensor.dataLocation), not DEFAULT (0) or EXTERNAL (1)", object)
            } else if let raw = tensor.rawData {
                guard tensor.typed.isEmpty else {
                    let field = ONNXFile.typedFieldNames[tensor.typed[0].number] ?? "typed values"
                    throw damaged("keeps its values in both raw_data and \(field)", object)
                }
                guard let byteCount else {
                    return remember(position, Resolved(dataType: dataType, shape: shape,
                                                       storage: .unreadable(.unsupportedType, "holds packed \(dataType.name) values, which gru-convert does not read"),
                                                       byteCount: 0))
                }
                guard raw.count == byteCount else {
                    throw damaged("its raw_data holds \(raw.count) bytes, but \(dataType.name) \(format(shape)) takes \(byteCount)", object)
                }
                result = Resolved(dataType: dataType, shape: shape, storage: .model(offset: raw.lowerBound), byteCount: byteCount)
            } else if !tensor.typed.isEmpty {
                result = try typed(tensor, dataType, shape, count, object)
            } else {
                guard count == 0 else { throw damaged("declares \(count) elements of \(format(shape)) but holds no values", object) }
                result = Resolved(dataType: dataType, shape: shape, storage: dataType.type == .string ? .strings([]) : .bytes([]), byteCount: 0)
            }
            return remember(position, result)
        }

        /// Keeps `result` as initializer `position`'s, and returns it.
        private mutating func remember(_ position: Int, _ result: Resolved) -> Resolved {
            resolved[position] = result
            return result
        }

        /// Values kept in an external data file beside the model: `location` inside the model's folder, the
        /// file long enough for `offset + length`, `length` the declared size.
        private mutating func external(_ tensor: ONNXTensor, _ dataType: DataType, _ shape: [Int], _ byteCount: Int?,
                                       _ object: String) throws -> Resolved {
            func entry(_ key: String) -> String? { tensor.externalData.last { $0.key == key }?.value }
            func number(_ key: String) throws -> Int? {
                guard let text = entry(key) else { return nil }
                guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let value = Int(text) else {
                    throw damaged("its external data \(key) is \(text), not a non-negative integer", object)
                }
                return value
            }
            guard let location = entry("location"), !location.isEmpty else { throw damaged("keeps its values in an external file but names none (no location)", object) }
            let offset = try number("offset") ?? 0
            let length = try number("length")
            guard let byteCount else {
                return Resolved(dataType: dataType, shape: shape,
                                storage: .unreadable(.unsupportedType, "holds packed \(dataType.name) values, which gru-convert does not read"), byteCount: 0)
            }
            if let length, length != byteCount {
                throw damaged("its external data length is \(length) bytes, but \(dataType.name) \(format(shape)) takes \(byteCount)", object)
            }
            let key = try externalPath(location, object)
            if externalFiles[key] == nil {
                do { externalFiles[key] = try ReadOnlyFile(key) } catch {
                    throw TFCheckpointFile.openError(error, file: path, object: object, what: "its external data file \(key)")
                }
                externalOrder.append(key)
            }
            let size = externalFiles[key]?.size ?? 0
            let (end, overflow) = offset.addingReportingOverflow(byteCount)
            guard !overflow, end <= size else {
                throw damaged("its external data file \(key) holds \(size) bytes, fewer than its offset \(offset) + length \(byteCount)", object)
            }
            return Resolved(dataType: dataType, shape: shape, storage: .external(file: key, offset: offset), byteCount: byteCount)
        }

        /// The path of external data file `location`, refused unless it is a relative path that stays inside
        /// the model's folder, through symbolic links too.
        private func externalPath(_ location: String, _ object: String) throws -> String {
            func refuse(_ why: String) -> StoreError {
                StoreError(.external, file: path, object: object, reason: "keeps its values in \(location), \(why); only files in the model's folder are read")
            }
            guard !location.hasPrefix("/") else { throw refuse("an absolute path") }
            guard !location.utf8.contains(0) else { throw refuse("a name holding a NUL byte") }
            guard !location.split(separator: "/").contains("..") else { throw refuse("which climbs out of the model's folder (..)") }
            let folder = path.lastIndex(of: "/").map { String(path[..<$0]) }
            let joined = folder.map { ($0.isEmpty ? "" : $0) + "/" + location } ?? location
            guard let base = Self.realPath(folder.map { $0.isEmpty ? "/" : $0 } ?? ".") else { return joined }
            // A missing file is reported when it is opened; one that exists must resolve inside the folder.
            if let resolved = Self.realPath(joined), !resolved.hasPrefix(base == "/" ? "/" : base + "/") {
                throw refuse("which resolves to \(resolved), outside the model's folder")
            }
            return joined
        }

        /// `realpath(3)` of `path`, nil when it cannot be resolved.
        static func realPath(_ path: String) -> String? {
            guard let resolved = realpath(path, nil) else { return nil }
            defer { free(resolved) }
            return String(cString: resolved)
        }

        /// Values kept in the typed repeated fields, decoded to little-endian bytes (or strings) within the
        /// memory budget; the count must be the declared one exactly.
        private func typed(_ tensor: ONNXTensor, _ dataType: DataType, _ shape: [Int], _ count: Int, _ object: String) throws -> Resolved {
            guard let field = dataType.field else {
                return Resolved(dataType: dataType, shape: shape,
                                storage: .unreadable(.unsupportedType, "holds packed \(dataType.name) values, which gru-convert does not read"), byteCount: 0)
            }
            if let other = tensor.typed.first(where: { $0.number != field }) {
                throw damaged("keeps its values in \(ONNXFile.typedFieldNames[other.number] ?? "field \(other.number)"), which a \(dataType.name) tensor does not use", object)
            }
            let fieldName = ONNXFile.typedFieldNames[field] ?? "typed values"
            let values = count * dataType.perElement
            if field == 6 {
                var strings: [[UInt8]] = []
                var total = 0
                for occurrence in tensor.typed {
                    total += occurrence.range.count
                    try budget.check(elements: total, of: 1, file: path, object: object, what: "reading its strings")
                    strings.append(Array(bytes[occurrence.range]))
                }
                guard strings.count == count else { throw damaged("its string_data holds \(strings.count) strings, but \(format(shape)) takes \(count)", object) }
                return Resolved(dataType: dataType, shape: shape, storage: .strings(strings), byteCount: 0)
            }
            guard let width = dataType.width else { throw damaged("has no fixed width", object) }
            let valueWidth = width / dataType.perElement
            try budget.check(elements: count, of: width, file: path, object: object, what: "decoding its \(fieldName)")
            var out: [UInt8] = []
            out.reserveCapacity(count * width)
            var seen = 0
            let tooMany = damaged("its \(fieldName) holds more than the \(values) values \(dataType.name) \(format(shape)) takes", object)
            func append(_ value: UInt64) throws {
                guard seen < values else { throw tooMany }
                seen += 1
                for byte in 0..<valueWidth { out.append(UInt8(truncatingIfNeeded: value >> (8 * byte))) }
            }
            do {
                for occurrence in tensor.typed {
                    var cursor = ByteCursor(bytes, range: occurrence.range, origin: 0)
                    let fixed = field == 4 ? 4 : field == 10 ? 8 : 0
                    while !cursor.isAtEnd {
                        if fixed == 4 { try append(UInt64(try cursor.readFixed32())) }
                        else if fixed == 8 { try append(try cursor.readFixed64()) }
                        else { try append(try cursor.readVarint64()) }
                        if occurrence.wireType != .lengthDelimited { break }
                    }
                }
            } catch let failure as ByteCursor.Failure {
                throw damaged("its \(fieldName) is damaged: \(failure)", object)
            }
            guard seen == values else {
                throw damaged("its \(fieldName) holds \(seen) values, but \(dataType.name) \(format(shape)) takes \(values)", object)
            }
            return Resolved(dataType: dataType, shape: shape, storage: .bytes(out), byteCount: count * width)
        }
    }
}
