import GRUCore
import TensorStore

/// A GRU cell found in a checkpoint, with everything checked to agree.
public struct GRUCell: Hashable, Sendable {
    /// The scope in front of the cell's variable names (`rnn/multi_rnn_cell/cell_0/gru_cell`); `""` at the root.
    public var scope: String
    public var layout: CellLayout
    public var dimensions: CellDimensions
    /// The element type shared by all of the cell's tensors.
    public var elementType: ElementType
    /// The stored name of each tensor, in the layout's order.
    public var tensors: [(tensor: CellTensor, stored: String)] {
        layout.names.compactMap { entry in storedNames[entry.key].map { (entry.key, $0) } }
    }
    /// Optimizer slots of the cell's variables (`.../gates/kernel/Adam:0`), by stored name, sorted.
    public var slots: [String]

    var storedNames: [CellTensor: String]

    /// The stored name of one tensor.
    public func storedName(of tensor: CellTensor) -> String? { storedNames[tensor] }
}

/// A group of variables that looks like a GRU cell but is not a consistent one, and why.
public struct CellProblem: Hashable, Sendable {
    public var scope: String
    public var reason: String
    /// The stored names of the variables involved, slots included.
    public var variables: [String]
}

/// What a checkpoint holds: every variable, the GRU cells they form, the would-be cells that do not
/// add up, and the variables that belong to no cell.
///
/// Cells are recognised by the names of their tensors under any scope, in every spelling of
/// `CellLayout`, with or without the `:0` suffix. A variable stored under another variable's path
/// (`gates/kernel/Adam`) is that variable's optimizer slot, never a cell tensor. Shapes and types must
/// agree; a group that does not is reported as a `CellProblem`, never guessed at.
public struct CellInventory: Sendable {
    public var variables: [Variable]
    public var cells: [GRUCell]
    public var problems: [CellProblem]
    /// Stored names of the variables that are in no cell and no problem, in file order.
    public var otherVariables: [String]

    public init(variables: [Variable]) {
        self.variables = variables
        let names = variables.map { VariableName($0.name) }
        let byStored = Dictionary(variables.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })

        // 1. Every variable whose name ends in a cell tensor's name, grouped by the scope before it.
        var members: [String: [Member]] = [:]
        for name in names {
            for layout in CellLayout.allCases {
                guard let (tensor, relative) = layout.names.first(where: { name.scope(before: $0.value) != nil }),
                      let scope = name.scope(before: relative) else { continue }
                members[scope, default: []].append(Member(layout: layout, tensor: tensor, relative: relative,
                                                          name: name, variable: byStored[name.stored]!))
                break
            }
        }
        // 2. A name under another member's path is that member's slot, not a member itself.
        let memberBases = Set(members.values.joined().map(\.name.base))
        var slotsOf: [String: [VariableName]] = [:]
        for name in names {
            if let owner = name.ancestors.first(where: memberBases.contains) {
                slotsOf[owner, default: []].append(name)
            }
        }
        let slotNames = Set(slotsOf.values.joined().map(\.stored))
        for scope in members.keys {
            members[scope]!.removeAll { slotNames.contains($0.name.stored) }
            if members[scope]!.isEmpty { members[scope] = nil }
        }

        // 3. Each group is a cell or a problem.
        var cells: [GRUCell] = [], problems: [CellProblem] = []
        for scope in members.keys.sorted() {
            let group = members[scope]!
            let slots = group.flatMap { slotsOf[$0.name.base] ?? [] }
            switch Self.cell(scope: scope, members: group, slots: slots, byStored: byStored) {
            case .success(let cell): cells.append(cell)
            case .failure(let problem):
                let involved = (group.map(\.name.stored) + slots.map(\.stored)).sorted()
                problems.append(CellProblem(scope: scope, reason: problem.reason, variables: involved))
            }
        }
        self.cells = cells
        self.problems = problems
        let claimed = Set(cells.flatMap { $0.storedNames.values + $0.slots } + problems.flatMap(\.variables))
        otherVariables = variables.map(\.name).filter { !claimed.contains($0) }
    }

    /// A variable matched to one tensor of one layout.
    private struct Member {
        var layout: CellLayout
        var tensor: CellTensor
        var relative: String
        var name: VariableName
        var variable: Variable
    }

    private struct Reason: Error { var reason: String }

    /// Checks one group: one layout, every tensor once, float tensors of one type, shapes that agree,
    /// slots shaped like their variables.
    private static func cell(scope: String, members: [Member], slots: [VariableName],
                             byStored: [String: Variable]) -> Result<GRUCell, Reason> {
        let layouts = Set(members.map(\.layout))
        guard layouts.count == 1, let layout = layouts.first else {
            let parts = CellLayout.allCases.filter(layouts.contains).map { layout in
                "\(layout.rawValue) (\(members.filter { $0.layout == layout }.map(\.relative).joined(separator: ", ")))"
            }
            return .failure(Reason(reason: "mixes the layouts " + parts.joined(separator: " and ")))
        }
        var byTensor: [CellTensor: Member] = [:]
        for member in members {
            if let earlier = byTensor[member.tensor] {
                return .failure(Reason(reason: "has two variables for \(member.relative): "
                                       + "\(earlier.name.stored) and \(member.name.stored)"))
            }
            byTensor[member.tensor] = member
        }
        let missing = layout.names.filter { byTensor[$0.key] == nil }.map(\.value)
        guard missing.isEmpty else {
            return .failure(Reason(reason: "incomplete \(layout.rawValue) cell: missing \(missing.joined(separator: ", "))"))
        }
        let ordered = layout.names.map { byTensor[$0.key]! }
        if let bad = ordered.first(where: { !$0.variable.elementType.isFloat }) {
            return .failure(Reason(reason: "\(bad.relative) holds \(bad.variable.elementType) values, not float16, float32 or float64"))
        }
        let types = Set(ordered.map(\.variable.elementType))
        guard types.count == 1, let elementType = types.first else {
            let list = ordered.map { "\($0.relative) \($0.variable.elementType)" }.joined(separator: ", ")
            return .failure(Reason(reason: "mixes element types: \(list)"))
        }

        let shapes = Dictionary(uniqueKeysWithValues: ordered.map { ($0.tensor, $0.variable.shape) })
        guard let (dimensions, basis) = layout.dimensions(from: shapes) else {
            let basis = layout.isFused ? CellTensor.fused(.candidateKernel) : .explicit(.Wh)
            let member = byTensor[basis]!
            return .failure(Reason(reason: "\(member.relative) has shape \(format(member.variable.shape)), expected a matrix"))
        }
        let basisMember = byTensor[basis]!
        guard dimensions.units <= Int.max / 4, dimensions.inputSize <= Int.max / 4 else {
            return .failure(Reason(reason: "\(basisMember.relative) has shape \(format(basisMember.variable.shape)), too large to be a cell"))
        }
        guard dimensions.inputSize >= 1, dimensions.units >= 1 else {
            return .failure(Reason(reason: "\(basisMember.relative) has shape \(format(basisMember.variable.shape)), "
                                   + (layout.isFused ? "which leaves no rows for the input (a kernel is [I+H, H])"
                                                     : "which has no rows or no columns")))
        }
        let mismatches = ordered.filter { $0.variable.shape != $0.tensor.shape(dimensions) }.map {
            "\($0.relative) is \(format($0.variable.shape)), expected \(format($0.tensor.shape(dimensions)))"
        }
        guard mismatches.isEmpty else {
            return .failure(Reason(reason: mismatches.joined(separator: "; ")
                + " (input size \(dimensions.inputSize), \(dimensions.units) units, from "
                + "\(basisMember.relative) \(format(basisMember.variable.shape)))"))
        }
        for member in ordered {
            for slot in slots where slot.base.hasPrefix(member.name.base + "/") {
                let shape = byStored[slot.stored]!.shape
                if shape != member.variable.shape {
                    return .failure(Reason(reason: "slot \(slot.stored) is \(format(shape)), "
                                           + "but its variable \(member.relative) is \(format(member.variable.shape))"))
                }
            }
        }
        return .success(GRUCell(
            scope: scope, layout: layout, dimensions: dimensions, elementType: elementType,
            slots: slots.map(\.stored).sorted(),
            storedNames: Dictionary(uniqueKeysWithValues: ordered.map { ($0.tensor, $0.name.stored) })))
    }
}


