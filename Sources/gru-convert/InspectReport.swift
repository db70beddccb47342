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

        enum CodingKeys: String, CodingKey {
            case scope, layout, family, units, dtype, variables, slots
            case inputSize = "input_size"
        }

    }

    struct ProblemEntry: Encodable {
        var scope: String
        var reason: String
    }

    var file: String
    var variables: [VariableEntry]
    var cells: [CellEntry]
    var problems: [ProblemEntry]
    var otherVariables: [String]

    enum CodingKeys: String, CodingKey {
        case file, variables, cells, problems
        case otherVariables = "other_variables"
    }

    init(file: String, inventory: CellInventory) {
        self.file = file
        variables = inventory.variables.map {
            VariableEntry(name: $0.name, dtype: $0.elementType.description, shape: Nullable(value: $0.isNull ? nil : $0.shape))
        }
        cells = inventory.cells.map { cell in
            CellEntry(scope: cell.scope, layout: cell.layout.name, family: Nullable(value: cell.family?.rawValue), inputSize: cell.dimensions.inputSize,
                      units: cell.dimensions.units, dtype: cell.elementType.description,
                      variables: cell.tensors.map(\.stored), slots: cell.slots)
        }
        problems = inventory.problems.map { ProblemEntry(scope: $0.scope, reason: $0.reason) }
        otherVariables = inventory.otherVariables
        owner = Dictionary(
            inventory.cells.flatMap { cell in (cell.tensors.map(\.stored) + cell.slots).map { ($0, cell.scope) } }
                + inventory.problems.flatMap { problem in problem.variables.map { ($0, problem.scope + " (problem)") } },
            uniquingKeysWith: { first, _ in first })
        elementCounts = inventory.variables.map(\.elementCount)
        slotKinds = inventory.cells.map { cell in
            Array(Set(cell.slots.map { slotKind($0, of: cell) })).sorted()
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
                 kinds.isEmpty ? "-" : shown(kinds.joined(separator: ", "))]
            }
            out += table(header: ["CELL", "LAYOUT", "FAMILY", "INPUT", "UNITS", "DTYPE", "SLOTS"], rows: cellRows,
                         rightAligned: [3, 4])
        }
        if !problems.isEmpty {
            out += "\nProblems (variables that look like a GRU cell but do not form one):\n"
            for problem in problems {
                out += "  \(displayScope(problem.scope)): \(shown(problem.reason))\n"
            }
        }
        let totalElements = elementCounts.reduce(0) { $0.addingReportingOverflow($1).overflow ? Int.max : $0 + $1 }
        out += "\n\(plural(variables.count, "variable")) (\(plural(totalElements, "element"))), "
            + "\(plural(cells.count, "GRU cell")), \(plural(problems.count, "problem")), "
            + "\(plural(otherVariables.count, "other variable"))\n"
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
