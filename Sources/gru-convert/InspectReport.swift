import GRUTools
import TensorStore
import GRUCore

/// What `inspect` prints: the JSON document of docs/JSON.md, and its text rendering.
struct InspectReport: Encodable {
    struct VariableEntry: Encodable {
        var name: String
        var dtype: String
        /// `null` for an HDF5 null dataspace (no value at all).
        var shape: Nullable<[Int]>
    }

    struct CellEntry: Encodable {
        var scope: String
        var layout: String
        /// `reset-before`, `reset-after`, or `null` when the tensors cannot tell (a Keras cell without a bias).
        var family: Nullable<String>
        var inputSize: Int
        var units: Int
        var dtype: String
        var variables: [String]
        var slots: [String]
        /// Other paths the cell is reachable by: its scope through a second name of the scope group or of
        /// a group above it (one substitution each).
        var otherScopes: [String]
        /// `TensorFlow 1`, `Keras`, `Keras 3`, `PyTorch`, `ONNX` or `explicit` (`LayoutTable.framework`).
        var framework: String
        /// The cell's layer in the model (`ModelLayers`), 0 first; null when the cells are not one model's layers.
        var layer: Nullable<Int>
        /// The layer's name where the file records it (a Keras layer, an ONNX node), else null.
        var layerName: Nullable<String>
        /// `forward` or `backward`.
        var direction: String

        enum CodingKeys: String, CodingKey {
            case scope, layout, family, units, dtype, variables, slots, framework, layer, direction
            case inputSize = "input_size"
            case otherScopes = "other_scopes"
            case layerName = "layer_name"
        }

    }

    struct ProblemEntry: Encodable {
        var scope: String
        var reason: String
    }

    /// One item of the file's structure (`StructureItem`): what it is and what it points to.
    struct StructureEntry: Encodable {
        var name: String
        /// `second_name`, `soft_link`, `external_link`, `named_type`, `references`, `reference_attribute`,
        /// `user_defined_link`.
        var kind: String
        /// The attribute's name for `reference_attribute`, else null.
        var attribute: Nullable<String>
        /// The first name of the object a second name names; a link's path (`file:/object` for an external
        /// one); each reference's target (null for a null reference); empty for a committed datatype.
        var pointsTo: [String?]

        enum CodingKeys: String, CodingKey {
            case name, kind, attribute
            case pointsTo = "points_to"
        }

        init(_ item: StructureItem) {
            name = item.name
            attribute = Nullable(value: nil)
            switch item.kind {
            case .secondName(let first): (kind, pointsTo) = ("second_name", [first])
            case .softLink(let target): (kind, pointsTo) = ("soft_link", [target])
            case .externalLink(let file, let object): (kind, pointsTo) = ("external_link", ["\(file):\(object)"])
            case .namedType: (kind, pointsTo) = ("named_type", [])
            case .references(let targets): (kind, pointsTo) = ("references", targets)
            case .referenceAttribute(let name, let targets):
                (kind, pointsTo) = ("reference_attribute", targets)
                attribute = Nullable(value: name)
            case .nestedReferences(let name):
                (kind, pointsTo) = ("nested_references", [])
                attribute = Nullable(value: name)
            case .unknownLink: (kind, pointsTo) = ("user_defined_link", [])
            }
        }

        /// The row of the text table: name, kind in words, targets (distinct, a few).
        var row: [String] {
            let shownName = shown(name.isEmpty ? "/" : name) + (attribute.value.map { "@" + shown($0) } ?? "")
            let words = ["second_name": "second name", "soft_link": "soft link", "external_link": "external link",
                         "named_type": "committed datatype", "references": "references", "reference_attribute": "references",
                         "nested_references": "nested references",
                         "user_defined_link": "user-defined link"][kind] ?? kind
            var distinct: [String] = []
            for target in pointsTo.map({ $0.map { $0.isEmpty ? "/" : $0 } ?? "null" }) where !distinct.contains(target) {
                distinct.append(target)
            }
            let targets = distinct.prefix(4).map(shown).joined(separator: ", ") + (distinct.count > 4 ? ", ..." : "")
            return [shownName, words, targets.isEmpty ? "-" : targets]
        }
    }

    var file: String
    var variables: [VariableEntry]
    var cells: [CellEntry]
    var problems: [ProblemEntry]
    var otherVariables: [String]
    var structure: [StructureEntry]

    enum CodingKeys: String, CodingKey {
        case file, variables, cells, problems, structure
        case otherVariables = "other_variables"
    }

    init(file: String, inventory: CellInventory, structure: [StructureItem], source: (any TensorSource)? = nil) {
        let layers = try? ModelLayers.arrange(inventory.cells, in: source)
        self.structure = structure.map(StructureEntry.init)
        self.file = file
        variables = inventory.variables.map {
            VariableEntry(name: $0.name, dtype: $0.elementType.description, shape: Nullable(value: $0.isNull ? nil : $0.shape))
        }
        cells = inventory.cells.map { cell in
            CellEntry(scope: cell.scope, layout: cell.layout.name, family: Nullable(value: cell.family?.rawValue), inputSize: cell.dimensions.inputSize,
                      units: cell.dimensions.units, dtype: cell.elementType.description,
                      variables: cell.tensors.map(\.stored), slots: cell.slots,
                      otherScopes: Self.otherScopes(of: cell.scope, structure: structure), framework: cell.layout.framework,
                      layer: Nullable(value: layers?.place(of: cell)?.layer),
                      layerName: Nullable(value: source.flatMap { ModelLayers.layerName(of: cell, in: $0) }),
                      direction: ModelLayers.direction(of: cell, in: source).rawValue)
        }
        problems = inventory.problems.map { ProblemEntry(scope: $0.scope, reason: $0.reason) }
        otherVariables = inventory.otherVariables
        owner = Dictionary(
            inventory.cells.flatMap { cell in (cell.tensors.map(\.stored) + cell.slots).map { ($0, cell.scope) } }
                + inventory.problems.flatMap { problem in problem.variables.map { ($0, problem.scope + " (problem)") } },
            uniquingKeysWith: { first, _ in first })
        // A second name of a cell's tensor (or a tensor whose other name a cell has) is that cell's too.
        for item in structure {
            guard case .secondName(let first) = item.kind else { continue }
            if let cell = owner[first], owner[item.name] == nil { owner[item.name] = cell + " (same tensor as \(first))" }
            else if let cell = owner[item.name], owner[first] == nil { owner[first] = cell + " (same tensor as \(item.name))" }
        }
        elementCounts = inventory.variables.map(\.elementCount)
        slotKinds = inventory.cells.map { cell in
            Array(Set(cell.slots.map { slotKind($0, of: cell) })).sorted()
        }
    }

    /// Where else `scope` is reachable: for each second name of the scope's group or of a group above
    /// it, the scope under that name.
    static func otherScopes(of scope: String, structure: [StructureItem]) -> [String] {
        structure.compactMap { item in
            guard case .secondName(let first) = item.kind else { return nil }
            if first == scope { return item.name }
            if first.isEmpty { return scope.isEmpty ? item.name : item.name + "/" + scope }
            return scope.hasPrefix(first + "/") ? item.name + scope.dropFirst(first.count) : nil
        }
    }

    // For the text rendering only.
    private var owner: [String: String]
    private var elementCounts: [Int]
    private var slotKinds: [[String]]

    /// The report as aligned tables, then totals.
    var text: String {
        var out = "\(shown(file))\n\n"
        let variableRows = zip(variables, elementCounts).map { variable, count in
            [shown(variable.name), variable.dtype, variable.shape.value.map(shapeText) ?? "null", String(count),
             owner[variable.name].map(displayScope) ?? "-"]
        }
        out += table(header: ["VARIABLE", "DTYPE", "SHAPE", "ELEMENTS", "CELL"], rows: variableRows,
                     rightAligned: [3])
        out += "\n"
        if cells.isEmpty {
            out += "No GRU cells.\n"
        } else {
            let cellRows = zip(cells, slotKinds).map { cell, kinds in
                [displayScope(cell.scope), cell.layout, cell.family.value ?? "undecided", String(cell.inputSize), String(cell.units), cell.dtype,
                 kinds.isEmpty ? "-" : shown(kinds.joined(separator: ", ")), cell.framework,
                 (cell.layer.value.map(String.init) ?? "-") + (cell.layerName.value.map { " " + shown($0) } ?? ""), cell.direction]
            }
            out += table(header: ["CELL", "LAYOUT", "FAMILY", "INPUT", "UNITS", "DTYPE", "SLOTS", "FRAMEWORK", "LAYER", "DIRECTION"],
                         rows: cellRows, rightAligned: [3, 4])
            for cell in cells where !cell.otherScopes.isEmpty {
                out += "  \(displayScope(cell.scope)) is also reachable as \(cell.otherScopes.map(displayScope).joined(separator: ", "))\n"
            }
        }
        if !problems.isEmpty {
            out += "\nProblems (variables that look like a GRU cell but do not form one):\n"
            for problem in problems {
                out += "  \(displayScope(problem.scope)): \(shown(problem.reason))\n"
            }
        }
        if !structure.isEmpty {
            out += "\n" + table(header: ["OTHER OBJECT", "KIND", "POINTS TO"], rows: structure.map(\.row), rightAligned: [])
        }
        let totalElements = elementCounts.reduce(0) { $0.addingReportingOverflow($1).overflow ? Int.max : $0 + $1 }
        out += "\n\(plural(variables.count, "variable")) (\(plural(totalElements, "element"))), "
            + "\(plural(cells.count, "GRU cell")), \(plural(problems.count, "problem")), "
            + "\(plural(otherVariables.count, "other variable"))"
            + (structure.isEmpty ? "" : ", \(plural(structure.count, "other object"))") + "\n"
        return out
    }
}

/// The scope as shown to people: `/` for the root.
private func displayScope(_ scope: String) -> String { scope.isEmpty ? "/" : shown(scope) }

private func shapeText(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}

/// The optimizer's name for a slot: `Adam_1` for `rnn/gru_cell/gates/kernel/Adam_1:0` (under its
/// variable's path), `Adam/m` for `Adam/m/encoder_gru/gru_cell/kernel` (a tf-keras moment named after it),
/// `momentum` for Keras 3's `adam/encoder_gru_gru_cell_kernel_momentum`.
private func slotKind(_ stored: String, of cell: GRUCell) -> String {
    let slot = stored.split(separator: ":").first.map(String.init) ?? stored
    for variable in cell.storedNames.values {
        let base = variable.split(separator: ":").first.map(String.init) ?? variable
        if slot.hasPrefix(base + "/") { return String(slot.dropFirst(base.count + 1)) }
        if slot.hasSuffix("/" + base) { return String(slot.dropLast(base.count + 1)) }
        // Keras 3: `adam/<variable, "/" → "_">_<slot>`.
        let flattened = String(base.map { $0 == "/" ? "_" : $0 }) + "_"
        if let last = slot.split(separator: "/").last, last.hasPrefix(flattened) { return String(last.dropFirst(flattened.count)) }
    }
    return slot.split(separator: "/").last.map(String.init) ?? slot
}

private func plural(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}

/// Columns padded to their widest cell, two spaces apart; `rightAligned` columns are numbers.
private func table(header: [String], rows: [[String]], rightAligned: Set<Int>) -> String {
    let all = [header] + rows
    // Each cell's width once (a String's count walks its grapheme clusters; ASCII needs only its length).
    let cellWidths = all.map { row in row.map(displayWidth) }
    let widths = header.indices.map { column in cellWidths.map { $0[column] }.max() ?? 0 }
    var text = ""
    text.reserveCapacity(all.count * (widths.reduce(0, +) + 2 * widths.count + 1))
    for (row, rowWidths) in zip(all, cellWidths) {
        for column in row.indices {
            if column > 0 { text += "  " }
            let pad = widths[column] - rowWidths[column]
            let last = column == row.count - 1 && !rightAligned.contains(column)
            if rightAligned.contains(column) { text += String(repeating: " ", count: pad) }
            text += row[column]
            if !rightAligned.contains(column) && !last { text += String(repeating: " ", count: pad) }
        }
        text += "\n"
    }
    return text
}

/// Terminal columns `text` takes: 2 for East Asian wide and fullwidth characters (and emoji), 0 for
/// combining marks and zero-width characters, 1 otherwise; ASCII by its length.
func displayWidth(_ text: String) -> Int {
    if text.utf8.allSatisfy({ $0 < 0x80 }) { return text.utf8.count }
    var width = 0
    for scalar in text.unicodeScalars {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: continue
        default: break
        }
        let v = scalar.value
        let wide = (0x1100...0x115F).contains(v) || (0x2E80...0x303E).contains(v) || (0x3041...0x33FF).contains(v)
            || (0x3400...0x4DBF).contains(v) || (0x4E00...0x9FFF).contains(v) || (0xA000...0xA4CF).contains(v)
            || (0xAC00...0xD7A3).contains(v) || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v)
            || (0xFF00...0xFF60).contains(v) || (0xFFE0...0xFFE6).contains(v) || (0x1F300...0x1F64F).contains(v)
            || (0x1F900...0x1F9FF).contains(v) || (0x20000...0x3FFFD).contains(v)
        width += wide ? 2 : 1
    }
    return width
}

/// An optional that JSON shows as `null` instead of leaving its key out: every documented key is always there.
struct Nullable<Wrapped: Encodable>: Encodable {
    var value: Wrapped?

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value { try container.encode(value) } else { try container.encodeNil() }
    }
}
