import GRUTools
import TensorStore

/// What `convert` prints: the mapping it applied (or would apply, with --dry-run) and what it wrote.
struct ConvertReport: Encodable {
    struct Dataset: Encodable {
        var from: [String]
        var to: String
    }

    struct Cell: Encodable {
        var scope: String
        var newScope: String
        var from: String
        var to: String
        var datasets: [Dataset]

        enum CodingKeys: String, CodingKey {
            case scope, from, to, datasets
            case newScope = "new_scope"
        }
    }

    var input: String
    var output: String
    var target: String
    var names: String
    var dryRun: Bool
    var cells: [Cell]
    var copied: [String]
    /// Places of what is carried besides datasets (`StructureItem.place`): links, second names, committed
    /// datatypes, references.
    var carried: [String]
    var bytes: Int?

    enum CodingKeys: String, CodingKey {
        case input, output, to, names, cells, copied, carried, bytes
        case dryRun = "dry_run"
    }

    init(input: String, output: String, options: ConversionOptions, plan: ConversionPlan, bytes: Int?) {
        self.input = input
        self.output = output
        target = options.target.rawValue
        names = options.names.rawValue
        dryRun = bytes == nil
        self.bytes = bytes
        copied = plan.copied
        carried = plan.carried.map(\.place)
        cells = plan.cells.map { cell in
            Cell(scope: cell.scope, newScope: cell.targetScope, from: cell.from.name, to: cell.to.name,
                 datasets: cell.datasets.map { Dataset(from: $0.sources, to: $0.name) })
        }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(input, forKey: .input)
        try c.encode(output, forKey: .output)
        try c.encode(target, forKey: .to)
        try c.encode(names, forKey: .names)
        try c.encode(dryRun, forKey: .dryRun)
        try c.encode(cells, forKey: .cells)
        try c.encode(copied, forKey: .copied)
        try c.encode(carried, forKey: .carried)
        try c.encode(bytes, forKey: .bytes)
    }

    var text: String {
        var out = ""
        for cell in cells {
            let scope = cell.scope.isEmpty ? "/" : shown(cell.scope)
            let renamed = cell.newScope == cell.scope ? "" : " -> \(cell.newScope.isEmpty ? "/" : shown(cell.newScope))"
            out += "\(scope)\(renamed): \(cell.from) -> \(cell.to)\n"
            for dataset in cell.datasets {
                out += "  \(shown(dataset.from.joined(separator: " + "))) -> \(shown(dataset.to))\n"
            }
        }
        var what = "\(cells.count) cell\(cells.count == 1 ? "" : "s") converted, \(copied.count) other dataset\(copied.count == 1 ? "" : "s") copied"
        if !carried.isEmpty {
            what += ", \(carried.count) other object\(carried.count == 1 ? "" : "s") carried (links, second names, datatypes, references)"
        }
        if let bytes {
            out += "\nwrote \(shown(output)): \(what), \(bytes) bytes\n"
        } else {
            out += "\ndry run, nothing written: \(what) to \(shown(output))\n"
        }
        return out
    }
}
