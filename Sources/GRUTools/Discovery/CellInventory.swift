import GRUCore
import TensorStore

/// A GRU cell found in a file, with everything checked to agree.
public struct GRUCell: Hashable, Sendable {
    /// The scope in front of the cell's variable names (`rnn/multi_rnn_cell/cell_0/gru_cell`); `""` at the root.
    public var scope: String
    /// The layout its tensors are stored in.
    public var layout: LayoutTable
    /// The family, when the tensors tell it (every layout but a Keras cell without a bias).
    public var family: CellFamily? { layout.family }
    /// `I` and `H`.
    public var dimensions: CellDimensions
    /// The element type shared by all of the cell's tensors.
    public var elementType: ElementType
    /// Each stored tensor's relative name and stored name, in the layout's order.
    public var tensors: [(tensor: String, stored: String)] {
        layout.tensorNames.compactMap { name in storedNames[name].map { (name, $0) } }
    }
    /// Optimizer slots of the cell's variables (`.../gates/kernel/Adam:0`), by stored name, sorted.
    public var slots: [String]
    /// Stored names by the layout's relative names.
    public var storedNames: [String: String]

    /// A cell; `storedNames` maps each of `layout`'s tensors to the name it is stored under.
    public init(scope: String, layout: LayoutTable, dimensions: CellDimensions, elementType: ElementType,
                slots: [String], storedNames: [String: String]) {
        (self.scope, self.layout, self.dimensions) = (scope, layout, dimensions)
        (self.elementType, self.slots, self.storedNames) = (elementType, slots, storedNames)
    }

    /// The stored name of one of the layout's tensors.
    public func storedName(of tensor: String) -> String? { storedNames[tensor] }

    /// The cell's name for its tensor, relative to the scope with the file's suffix (`gates/kernel:0`).
    public func relativeName(of tensor: String) -> String {
        guard let stored = storedNames[tensor] else { return tensor }
        // A PyTorch key (`rnn.weight_ih_l0`) is not its scope and a path: it is named whole.
        return scope.isEmpty || !stored.hasPrefix(scope + "/") ? stored : String(stored.dropFirst(scope.count + 1))
    }

}

/// A group of variables that looks like a GRU cell but is not a consistent one, and why.
public struct CellProblem: Hashable, Sendable {
    /// The scope of the would-be cell.
    public var scope: String
    /// Why it is not a cell, in one line.
    public var reason: String
    /// The stored names of the variables involved, slots included.
    public var variables: [String]

    /// A problem at `scope`.
    public init(scope: String, reason: String, variables: [String]) {
        (self.scope, self.reason, self.variables) = (scope, reason, variables)
    }
}

/// What a file holds: every variable, the GRU cells they form, the would-be cells that do not add up,
/// and the variables that belong to no cell.
///
/// Cells are recognised by the names of their tensors under any scope, in every layout of
/// `LayoutTable.all`, with or without the `:0` suffix; of two names a variable ends with, the longer
/// counts (`gates/kernel`, not Keras's `kernel`). A group must contain an identifying name of its layout
/// (Keras's `recurrent_kernel`: a dense layer's `kernel` and `bias` are not a cell). A variable stored
/// under another variable's path (`gates/kernel/Adam`) is that variable's optimizer slot; Keras's
/// optimizer state (`optimizer_weights/...`, `optimizer/...` at the top) is never taken for cells. Shapes
/// and types must agree; a group that does not is reported as a `CellProblem`, never guessed at.
public struct CellInventory: Sendable {
    /// Every variable of the file.
    public var variables: [Variable]
    /// The consistent cells, by scope.
    public var cells: [GRUCell]
    /// The would-be cells that are not consistent, by scope.
    public var problems: [CellProblem]
    /// Stored names of the variables that are in no cell and no problem, in file order.
    public var otherVariables: [String]

    /// Top-level groups where Keras keeps optimizer state whose names copy the model's.
    static let optimizerGroups = ["optimizer_weights", "optimizer"]

    /// Groups the variables of `source` into cells, problems and other variables, with the optimizer
    /// slots the source records attached to their variables' cells.
    public init(_ source: any TensorSource) throws {
        self.init(variables: try source.variables(), slotOwners: try source.slotOwners())
        try readFamiliesFromAttributes(of: source)
    }

    /// The attribute of an ONNX `GRU` node's scope that records its family (`0`: reset-before, `1`: after).
    public static let linearBeforeReset = "linear_before_reset"

    /// An ONNX cell's family is its node's `linear_before_reset` attribute, not its shapes: each such cell
    /// takes the table of its attribute; one without the attribute is named like an ONNX GRU but records
    /// no family, and is a problem rather than a guess.
    private mutating func readFamiliesFromAttributes(of source: any TensorSource) throws {
        var kept: [GRUCell] = []
        for var cell in cells {
            guard cell.layout.naming == "onnx" else { kept.append(cell); continue }
            let hasBias = cell.storedNames["B"] != nil
            switch try source.stringAttribute(Self.linearBeforeReset, of: cell.scope) {
            case "0": cell.layout = .onnx(.resetBefore, bias: hasBias)
            case "1": cell.layout = .onnx(.resetAfter, bias: hasBias)
            case let value:
                let reason = value.map { "its \(Self.linearBeforeReset) attribute is \($0), not 0 or 1" }
                    ?? "its tensors are named like an ONNX GRU's (W, R\(hasBias ? ", B" : "")) but no \(Self.linearBeforeReset) "
                        + "attribute records its family"
                problems.append(CellProblem(scope: cell.scope, reason: reason, variables: (Array(cell.storedNames.values) + cell.slots).sorted()))
                continue
            }
            kept.append(cell)
        }
        cells = kept
        problems.sort { $0.scope < $1.scope }
    }

    /// Groups `variables` into cells, problems and other variables. `slotOwners` maps optimizer slots
    /// that a format records (not under their variable's path) to their variables: they are never cell
    /// members, and belong to their variable's cell.
    public init(variables: [Variable], slotOwners: [String: String] = [:]) {
        self.variables = variables
        let names = variables.map { VariableName($0.name) }
        let byStored = Dictionary(variables.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })

        // 1. Every variable whose name ends in a layout tensor's name (the longest such name), grouped by the scope before it.
        var members: [String: [Member]] = [:]
        for name in names where slotOwners[name.stored] == nil
            && !Self.optimizerGroups.contains(where: { name.base.hasPrefix($0 + "/") }) {
            var best: (naming: String, relative: String, scope: String)?
            for (naming, relative) in Self.relativesByLastComponent[name.lastComponent] ?? [] {
                guard let scope = name.scope(before: relative) else { continue }
                if best == nil || relative.utf8.count > best!.relative.utf8.count { best = (naming, relative, scope) }
            }
            if best == nil, let torch = Self.torchKey(name.stored) {
                best = ("torch", torch.relative, torch.scope)
            }
            if let best {
                members[best.scope, default: []].append(Member(naming: best.naming, relative: best.relative, name: name,
                                                               variable: byStored[name.stored]!))
            }
        }
        // A group is a would-be cell only with an identifying name of its naming (shaped like one, where
        // the layout says so: an LSTM's `recurrent_kernel` is no GRU's).
        for (scope, group) in members where !group.contains(where: Self.identifies) {
            members[scope] = nil
        }
        // 2. A name under another member's path is that member's slot, not a member itself.
        let memberBases = Set(members.values.joined().map(\.name.base))
        var slotsOf: [String: [VariableName]] = [:]
        for name in names {
            if let recorded = slotOwners[name.stored] {
                if memberBases.contains(VariableName(recorded).base) { slotsOf[VariableName(recorded).base, default: []].append(name) }
            } else if let owner = name.ancestors.first(where: memberBases.contains) {
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
        let claimed = Set(cells.flatMap { Array($0.storedNames.values) + $0.slots } + problems.flatMap(\.variables))
        otherVariables = variables.map(\.name).filter { !claimed.contains($0) }
    }

    /// Each naming's tensor names (the union over its tables), in the order of `LayoutTable.all`.
    static let namings: [(naming: String, relatives: [String])] = {
        var result: [(String, [String])] = []
        for table in LayoutTable.all {
            if let index = result.firstIndex(where: { $0.0 == table.naming }) {
                result[index].1 += table.tensorNames.filter { !result[index].1.contains($0) }
            } else {
                result.append((table.naming, table.tensorNames))
            }
        }
        return result
    }()

    /// `namings`' tensor names by their last path component (`kernel` for `gates/kernel`), in the same
    /// order: a variable is compared only with the names it can end with.
    static let relativesByLastComponent: [Substring: [(naming: String, relative: String)]] = {
        var result: [Substring: [(naming: String, relative: String)]] = [:]
        for (naming, relatives) in namings {
            for relative in relatives { result[VariableName.lastComponent(of: relative), default: []].append((naming, relative)) }
        }
        return result
    }()

    /// A PyTorch state dict key of a GRU's tensor, as a cell's scope and the tensor's relative name:
    /// `PREFIX.weight_ih_l1_reverse` (`nn.GRU`: layer 1, reverse direction) is `weight_ih` of the cell
    /// `PREFIX.l1_reverse`; `PREFIX.weight_ih` (`nn.GRUCell`) is `weight_ih` of the cell `PREFIX`. The
    /// tensor's name starts the key or follows a `.`; nil for any other key.
    static func torchKey(_ key: String) -> (scope: String, relative: String)? {
        // The tensor's name is the key's last `.`-separated part.
        let dot = key.lastIndex(of: ".")
        let prefix = dot.map { key[...$0] } ?? ""
        let last = dot.map { key[key.index(after: $0)...] } ?? key[...]
        for relative in LayoutTable.torchGRU.tensorNames where last.hasPrefix(relative) {
            let suffix = last.dropFirst(relative.count)
            if suffix.isEmpty { return (String(prefix.dropLast(prefix.isEmpty ? 0 : 1)), relative) }
            guard suffix.hasPrefix("_l") else { continue }
            let rest = suffix.dropFirst(2)
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 6, [nil, "_reverse"].contains(rest.dropFirst(digits.count).nilIfEmpty) else { continue }
            return (String(prefix) + "l" + digits + rest.dropFirst(digits.count), relative)
        }
        return nil
    }

    /// The cell's name in its user's model, where the file records it: a Keras 3 weights file keeps each
    /// layer's name in its `vars` group's `name` attribute (`layers/bidirectional/forward_layer/cell` of the
    /// layers named `bidirectional` and `forward_gru` is `bidirectional/forward_gru`); nil otherwise.
    public static func userName(of cell: GRUCell, in file: any TensorSource) -> String? {
        guard cell.layout.naming == "keras3", cell.scope.hasPrefix("layers/"), cell.scope.hasSuffix("/cell") else { return nil }
        let layerPath = cell.scope.dropLast("/cell".count).split(separator: "/").dropFirst()   // after `layers`
        var names: [String] = []
        var path = "layers"
        for part in layerPath {
            path += "/" + part
            guard let name = try? file.stringAttribute("name", of: path + "/vars") else { return nil }
            names.append(name)
        }
        return names.isEmpty ? nil : names.joined(separator: "/")
    }

    /// The PyTorch key of tensor `relative` of the cell `scope`, as `torchKey` reads it back:
    /// `PREFIX.l1_reverse` gives `PREFIX.weight_ih_l1_reverse`, `PREFIX` (an `nn.GRUCell`) `PREFIX.weight_ih`.
    static func torchKey(_ relative: String, scope: String) -> String {
        let dot = scope.lastIndex(of: ".")
        let prefix = dot.map { scope[...$0] } ?? ""
        let last = dot.map { scope[scope.index(after: $0)...] } ?? scope[...]
        if last.hasPrefix("l"), let parsed = torchKey(String(prefix) + relative + "_" + last), parsed.scope == scope {
            return String(prefix) + relative + "_" + last
        }
        return scope.isEmpty ? relative : scope + "." + relative
    }

    /// Whether `member` marks its group as a would-be cell of its naming: an identifying name of one of
    /// the naming's tables, with a shape that fits that table where the table asks for it.
    private static func identifies(_ member: Member) -> Bool {
        LayoutTable.all.contains { table in
            table.naming == member.naming && table.identifying.contains(member.relative)
                && (!table.identifyingByShape || table.fits(member.relative, shape: member.variable.shape))
        }
    }

    /// A variable matched to one tensor name of one naming.
    private struct Member {
        var naming: String
        var relative: String
        var name: VariableName
        var variable: Variable
    }

    private struct Reason: Error { var reason: String }

    /// Checks one group: one naming, every tensor once, a table whose names are exactly the group's,
    /// float tensors of one type, shapes that agree with one table, slots shaped like their variables.
    private static func cell(scope: String, members: [Member], slots: [VariableName],
                             byStored: [String: Variable]) -> Result<GRUCell, Reason> {
        let kinds = Set(members.map(\.naming))
        guard kinds.count == 1, let naming = kinds.first else {
            let parts = namings.map(\.naming).filter(kinds.contains).map { naming in
                "\(naming) (\(members.filter { $0.naming == naming }.map(\.relative).joined(separator: ", ")))"
            }
            return .failure(Reason(reason: "mixes the layouts " + parts.joined(separator: " and ")))
        }
        var byName: [String: Member] = [:]
        for member in members {
            if let earlier = byName[member.relative] {
                return .failure(Reason(reason: "has two variables for \(member.relative): "
                                       + "\(earlier.name.stored) and \(member.name.stored)"))
            }
            byName[member.relative] = member
        }
        let present = Set(byName.keys)
        let candidates = LayoutTable.all.filter { $0.naming == naming && Set($0.tensorNames) == present }
        guard let first = candidates.first else {
            // The smallest table that has every name present says what is missing.
            let complete = LayoutTable.all.filter { $0.naming == naming && present.isSubset(of: $0.tensorNames) }
                .min { $0.tensors.count < $1.tensors.count }
            let missing = complete.map { $0.tensorNames.filter { !present.contains($0) } } ?? []
            let label = complete.map { $0.naming == "explicit" && $0.family == .resetAfter ? $0.name : $0.naming } ?? naming
            return .failure(Reason(reason: "incomplete \(label) cell: missing \(missing.joined(separator: ", "))"))
        }
        let ordered = first.tensorNames.map { byName[$0]! }
        if let bad = ordered.first(where: { !$0.variable.elementType.isFloat }) {
            return .failure(Reason(reason: "\(bad.relative) holds \(bad.variable.elementType) values, not float16, float32 or float64"))
        }
        let types = Set(ordered.map(\.variable.elementType))
        guard types.count == 1, let elementType = types.first else {
            let list = ordered.map { "\($0.relative) \($0.variable.elementType)" }.joined(separator: ", ")
            return .failure(Reason(reason: "mixes element types: \(list)"))
        }

        // The basis fixes I and H; then one table's shapes must all agree.
        let basisMember = byName[first.basis]!
        let basisShape = basisMember.variable.shape
        guard basisShape.count == 2 else {
            return .failure(Reason(reason: "\(basisMember.relative) has shape \(format(basisShape)), expected a matrix"))
        }
        guard basisShape.allSatisfy({ $0 <= Int.max / 8 }) else {
            return .failure(Reason(reason: "\(basisMember.relative) has shape \(format(basisShape)), too large to be a cell"))
        }
        guard let dimensions = first.dimensions(fromBasis: basisShape) else {
            return .failure(Reason(reason: "\(basisMember.relative) has shape \(format(basisShape)), \(first.basisExpectation)"))
        }
        let evaluated = candidates.map { table in
            (table, table.tensors.filter { byName[$0.name]!.variable.shape != $0.shape(dimensions) })
        }
        if let (table, _) = evaluated.first(where: { $0.1.isEmpty }) {
            if let slotProblem = checkSlots(ordered, slots: slots, byStored: byStored) { return .failure(slotProblem) }
            return .success(GRUCell(
                scope: scope, layout: table, dimensions: dimensions, elementType: elementType,
                slots: slots.map(\.stored).sorted(),
                storedNames: Dictionary(uniqueKeysWithValues: ordered.map { ($0.relative, $0.name.stored) })))
        }
        // The table that fits best says what is wrong; where the tables sharing these names expect other
        // shapes (a Keras bias), each is named with its family.
        let (_, wrong) = evaluated.min { $0.1.count < $1.1.count }!
        let mismatches = wrong.map { tensor in
            let actual = byName[tensor.name]!.variable.shape
            var expectations: [(shape: [Int], family: String)] = []
            for table in candidates {
                guard let shape = table.tensor(named: tensor.name)?.shape(dimensions),
                      !expectations.contains(where: { $0.shape == shape }) else { continue }
                expectations.append((shape, table.family?.rawValue ?? "?"))
            }
            var text = "\(byName[tensor.name]!.relative) is \(format(actual)), expected "
                + expectations.map { format($0.shape) + (expectations.count > 1 ? " (\($0.family))" : "") }.joined(separator: " or ")
            if naming == "keras", tensor.name == "bias", actual == [6 * dimensions.units] {
                text += "; a [6H] bias is CuDNNGRU's layout, not a GRU's [2, 3H]"
            }
            return text
        }
        return .failure(Reason(reason: mismatches.joined(separator: "; ")
            + " (input size \(dimensions.inputSize), \(dimensions.units) unit\(dimensions.units == 1 ? "" : "s"), from "
            + "\(basisMember.relative) \(format(basisShape)))"))
    }

    /// A slot whose shape differs from its variable's, if any.
    private static func checkSlots(_ ordered: [Member], slots: [VariableName], byStored: [String: Variable]) -> Reason? {
        for member in ordered {
            for slot in slots where slot.base.hasPrefix(member.name.base + "/") {
                let shape = byStored[slot.stored]!.shape
                if shape != member.variable.shape {
                    return Reason(reason: "slot \(slot.stored) is \(format(shape)), "
                                  + "but its variable \(member.relative) is \(format(member.variable.shape))")
                }
            }
        }
        return nil
    }
}

extension Substring {
    /// Nil for the empty substring.
    fileprivate var nilIfEmpty: Substring? { isEmpty ? nil : self }
}
