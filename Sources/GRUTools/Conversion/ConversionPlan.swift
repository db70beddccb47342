import GRUCore
import TensorStore

/// Which form `convert` writes GRU cells in.
public enum ConversionTarget: String, CaseIterable, Sendable {
    /// One tensor per gate and role under the cell's scope: `Wr Wz Wh Ur Uz Uh br bz bh`, plus
    /// `bUr bUz bUh` for a reset-after cell.
    case explicit
    /// A fused layout of the cell's family: the one it was split from, else TensorFlow's `GRUCell`
    /// (reset-before) or Keras's `reset_after=True` GRU (reset-after).
    case fused
    /// Keras 2 weights `.h5` (`Framework.keras`).
    case keras
    /// Keras 3 `.weights.h5` (`Framework.keras3`).
    case keras3
    /// A PyTorch `nn.GRU` state dict (`Framework.torch`).
    case torch
    /// An ONNX model (`Framework.onnx`).
    case onnx

    /// The framework whose file this target is, if it is one.
    public var framework: Framework? { Framework(rawValue: rawValue) }
}

/// How `convert` names what it writes.
public enum NameStyle: String, CaseIterable, Sendable {
    /// The cell's own scope; fusing returns a cell to the layout it was split from.
    case keep
    /// TF >= 1.2: `rnn/multi_rnn_cell/cell_0/gru_cell/gates/kernel`.
    case tf
    /// TF <= 0.12: `RNN/MultiRNNCell/Cell0/GRUCell/Gates/Linear/Matrix`.
    case legacy
}

/// What `convert` is asked to do.
public struct ConversionOptions: Sendable {
    /// The form written.
    public var target: ConversionTarget
    /// How names are written.
    public var names: NameStyle
    /// Scopes of the cells to convert; empty means every cell.
    public var cells: [String]
    /// The output has flat names (a TensorFlow checkpoint), so `x` and `x/Adam` can both be written;
    /// an HDF5 output cannot hold a dataset that is also a group.
    public var flatOutput: Bool
    /// The family of cells whose tensors do not record it (a Keras GRU without a bias), as `--reset-after` says.
    public var declaredFamily: CellFamily? = nil
    /// Convert even when the input holds what a conversion cannot carry (`TensorSource.structure()` items
    /// the output cannot hold or whose objects it replaces), listing it in the plan's notes; by default
    /// that is refused, naming the first.
    public var dropUncarried = false

    /// The output can hold what `TensorSource.structure()` lists: an HDF5 output, not a flat one.
    public var carriesStructure: Bool { !flatOutput }
    /// What a flat output is, for messages about what it cannot hold.
    public var flatOutputName = "a TensorFlow checkpoint"

    /// Options; by default every cell, split, under its own names, into a hierarchical output.
    public init(target: ConversionTarget = .explicit, names: NameStyle = .keep, cells: [String] = [], flatOutput: Bool = false) {
        // `/rnn/gru_cell` (h5ls's spelling) names the scope `rnn/gru_cell`; `/` alone is the root scope.
        let scopes = cells.map { String($0.drop { $0 == "/" }) }
        (self.target, self.names, self.cells, self.flatOutput) = (target, names, scopes, flatOutput)
    }
}

/// One dataset `convert` writes for a cell, and the stored datasets its elements come from.
public struct PlannedDataset: Hashable, Sendable {
    /// The name written.
    public var name: String
    /// The names read, in the order of the tensors they hold.
    public var sources: [String]

    /// A dataset `name` made of `sources`.
    public init(name: String, sources: [String]) {
        (self.name, self.sources) = (name, sources)
    }
}

/// What `convert` does to one cell.
public struct PlannedCell: Sendable {
    /// The cell's scope in the input.
    public var scope: String
    /// Its scope in the output.
    public var targetScope: String
    /// The layout read.
    public var from: LayoutTable
    /// The layout written.
    public var to: LayoutTable
    /// `I` and `H`.
    public var dimensions: CellDimensions
    /// Every dataset written for the cell: its tensors, then its optimizer slots.
    public var datasets: [PlannedDataset]

    /// The tensors' datasets, each with the target layout's tensor it holds (slots are not in this list).
    var tensors: [(tensor: String, dataset: PlannedDataset)]
    /// Slot datasets, with the target layout's tensor they belong to.
    var slots: [(tensor: String, dataset: PlannedDataset)]
    /// The stored names of the source cell's tensors, by the source layout's relative names.
    public var sourceNames: [String: String] = [:]
    /// The family the cell is converted as: its own, or `--reset-after`'s for one that does not record it.
    public var family: CellFamily? = nil
    /// For a split: the fused layout recorded on the output scope (`gru_convert_layout`), which fusing with
    /// `--names keep` restores. The layout read, unless the names were changed: then the TF1 GRUCell
    /// layout of the new names, so that fusing back does not mix two generations' spellings.
    public var recordedLayout: LayoutTable
}

/// Everything `convert` will write, decided before anything is written.
public struct ConversionPlan: Sendable {
    /// The cells converted, in scope order.
    public var cells: [PlannedCell]
    /// Datasets copied unchanged, under their own names (or as `copiedAs` says).
    public var copied: [String]
    /// Groups written, in name order: every group of the input but those that held only converted
    /// datasets (`gates/`, `Gates/Linear/` ...) and second names of groups (carried as names).
    public var containers: [String]
    /// What the input holds besides variables and containers that is written too (`StructureItem`):
    /// second names, links, committed datatypes, references re-pointed to the objects as written.
    public var carried: [StructureItem]
    /// The framework written, for `--to keras|keras3|torch|onnx`.
    public var framework: Framework? = nil
    /// What that framework's loader needs besides the tensors (groups, attributes).
    public var frame = Framework.Frame()
    /// The input's file attributes are written too (a framework's file into the same framework).
    public var keepsFileAttributes = false
    /// Output names of copied datasets that are not their own (a tensor suffix added or removed).
    public var copiedAs: [String: String] = [:]
    /// What the plan changed that the user should know, one sentence each.
    public var notes: [String] = []
    /// Input names (first names) of the objects the output has: copied datasets, groups, committed
    /// datatypes, carried datasets of references (`outputObject`).
    var keptObjects: Set<String> = []
    /// Names of carried items that are datasets in the output (second names of datasets, datasets of
    /// references): named like copied datasets (`copiedAs`).
    var carriedDatasets: [String] = []

    /// The name a copied dataset is written under.
    public func outputName(ofCopied name: String) -> String { copiedAs[name] ?? name }

    /// The attribute on a split cell's scope group that records the fused layout it came from, so that
    /// fusing it again with `--names keep` gives back the original names.
    public static let layoutAttribute = "gru_convert_layout"

    /// Plans the conversion of `file`'s cells (all, or those named in `options.cells`).
    public static func make(for file: any TensorSource, options: ConversionOptions) throws -> ConversionPlan {
        let inventory = try CellInventory(file)
        // A conversion converts cells: with none, writing a copy and calling it done would hide that.
        guard !inventory.cells.isEmpty || !inventory.problems.isEmpty else {
            throw StoreError(.notACell, file: file.path, reason: "no GRU cells found, so there is nothing to convert "
                             + "(run `gru-convert inspect` to see what it holds)")
        }
        for scope in options.cells where !inventory.cells.contains(where: { $0.scope == scope }) {
            throw StoreError(.invalidRequest, file: file.path, object: scope, reason: "--cell names no GRU cell of this file "
                                  + "(cells: \(inventory.cells.map(\.scope).joined(separator: ", ")))")
        }
        let chosen = inventory.cells.filter { options.cells.isEmpty || options.cells.contains($0.scope) }
        // Moves are in small blocks, but a file that declares more than the budget is not believed.
        let sizes = Dictionary(inventory.variables.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for cell in chosen {
            for (_, stored) in cell.tensors {
                let variable = sizes[stored]!
                let bits: Int = if case .float(let bits) = variable.elementType { bits } else { 32 }
                try file.memoryBudget.check(elements: variable.elementCount, of: bits / 8, file: file.path, object: stored,
                                            what: "converting its \(format(variable.shape)) \(variable.elementType) values")
            }
        }
        if options.cells.isEmpty, let problem = inventory.problems.first {
            throw StoreError(.notACell, file: file.path, object: problem.scope.isEmpty ? "/" : problem.scope,
                                  reason: "not a consistent GRU cell, so it cannot be converted: \(problem.reason) "
                                      + "(name the cells to convert with --cell)")
        }
        if let framework = options.target.framework {
            return try planFramework(framework, cells: chosen, inventory: inventory, file: file, options: options)
        }
        var cells: [PlannedCell] = []
        for cell in chosen {
            let recorded = try file.stringAttribute(layoutAttribute, of: cell.scope).flatMap(LayoutTable.named)
            cells.append(try plan(cell, options: options, recorded: recorded, file: file))
        }
        var plan = ConversionPlan(cells: cells, copied: [], containers: [], carried: [])
        try plan.planTheRest(of: file, variables: inventory.variables.map(\.name), options: options)
        plan.adaptTensorSuffixes(flatOutput: options.flatOutput)
        try plan.checkNamesAreFree(file: file, flatOutput: options.flatOutput)
        return plan
    }

    /// TensorFlow's tensor suffix (`:0`) where the output needs it or must not have it. A checkpoint's keys
    /// never carry it: written to a checkpoint, `x:0` becomes `x` (TensorFlow 1's HDF5 dumps carry it).
    /// An HDF5 file cannot hold `x` and `x/Adam` (a dataset that is also a group), as a TensorFlow 1
    /// checkpoint with optimizer slots does: then every name takes `:0`, as those dumps do.
    mutating func adaptTensorSuffixes(flatOutput: Bool) {
        let renamed = copied + carriedDatasets
        let written = renamed.map(outputName(ofCopied:)) + cells.flatMap { $0.datasets.map(\.name) }
        let rename: (String) -> String
        if flatOutput {
            guard written.contains(where: { !VariableName($0).suffix.isEmpty }) else { return }
            rename = { VariableName($0).base }
        } else {
            let names = Set(written)
            guard let clash = written.first(where: { VariableName.ancestors(of: $0).contains(where: names.contains) }),
                  written.allSatisfy({ VariableName($0).suffix.isEmpty }) else { return }
            rename = { $0 + ":0" }
            notes.append("names such as \(clash) "
                         + "and the variable above them cannot both be HDF5 datasets, so every tensor is written as NAME:0, "
                         + "as TensorFlow 1's HDF5 dumps name them (converting back to a checkpoint removes the suffix)")
        }
        for name in renamed where rename(outputName(ofCopied: name)) != name { copiedAs[name] = rename(outputName(ofCopied: name)) }
        // A soft link to a renamed dataset follows it (its path made absolute), and says so.
        for index in carried.indices {
            guard case .softLink(let target) = carried[index].kind,
                  let resolved = Self.resolve(target, from: carried[index].name), let renamed = copiedAs[resolved] else { continue }
            carried[index].kind = .softLink(target: "/" + renamed)
            notes.append("soft link \(carried[index].name) names \(target), which is written as \(renamed): the link is written to name /\(renamed)")
        }
        for index in cells.indices {
            for dataset in cells[index].datasets.indices { cells[index].datasets[dataset].name = rename(cells[index].datasets[dataset].name) }
            for tensor in cells[index].tensors.indices { cells[index].tensors[tensor].dataset.name = rename(cells[index].tensors[tensor].dataset.name) }
            for slot in cells[index].slots.indices { cells[index].slots[slot].dataset.name = rename(cells[index].slots[slot].dataset.name) }
        }
    }

    /// The layout a cell is written in, or why it cannot be.
    private static func target(of cell: GRUCell, options: ConversionOptions, recorded: LayoutTable?,
                               file: any TensorSource) throws -> LayoutTable {
        let object = cell.scope.isEmpty ? "/" : cell.scope
        guard let family = cell.family else {
            throw StoreError(.invalidRequest, file: file.path, object: object, reason: "a \(cell.layout.name) cell has no "
                             + "biases, so neither its family nor its explicit biases are recorded; it cannot be converted yet "
                             + "(leave it out with --cell)")
        }
        switch (options.target, options.names) {
        case (.keras, _), (.keras3, _), (.torch, _), (.onnx, _):
            preconditionFailure("framework targets are planned by planFramework")
        case (.explicit, _):
            return .explicit(family)
        case (.fused, .keep):
            if !cell.layout.isExplicit { return cell.layout }
            if let recorded, !recorded.isExplicit, recorded.family == family { return recorded }
            return .defaultFused(family)
        case (.fused, .tf), (.fused, .legacy):
            guard family == .resetBefore else {
                throw StoreError(.invalidRequest, file: file.path, object: object, reason: "a reset-after cell has no "
                                 + "TensorFlow 1 GRUCell form (its reset acts after the recurrent product); use --names keep")
            }
            return options.names == .tf ? .tfGRUCell : .tfLegacyGRUCell
        }
    }

    private static func plan(_ cell: GRUCell, options: ConversionOptions, recorded: LayoutTable?,
                             file: any TensorSource) throws -> PlannedCell {
        let targetScope: String = switch options.names {
        case .keep: cell.scope
        case .tf: ScopeNames.current(cell.scope)
        case .legacy: ScopeNames.legacy(cell.scope)
        }
        // TensorFlow's scope renaming is for TF1 scopes: a Keras cell's scope (`gru/gru/gru_cell`) is its
        // layers' names, and renaming it (`gru/gru/GRUCell`) would leave a file no framework loads.
        if targetScope != cell.scope, ["keras", "torch"].contains(cell.layout.naming) || ["keras", "torch"].contains(recorded?.naming) {
            throw StoreError(.invalidRequest, file: file.path, object: cell.scope.isEmpty ? "/" : cell.scope,
                             reason: "--names \(options.names.rawValue) would rename this Keras cell's scope to \(targetScope); "
                             + "a Keras scope is its layers' names and is kept (use --names keep)")
        }
        let from = cell.layout, d = cell.dimensions
        let to = try target(of: cell, options: options, recorded: recorded, file: file)
        // A layout without biases (PyTorch's bias=False) has nothing to split them from.
        if to.isExplicit, let missing = ExplicitTensor.tensors(of: to.family ?? .resetAfter).first(where: { from.range(of: $0, d) == nil }) {
            throw StoreError(.invalidRequest, file: file.path, object: cell.scope.isEmpty ? "/" : cell.scope,
                             reason: "a \(from.name) cell stores no \(missing.rawValue) (its biases are zero); writing its explicit form "
                                 + "is not supported yet (leave it out with --cell)")
        }
        guard from.isExplicit != to.isExplicit || from.isRenaming(of: to) else {
            throw StoreError(.invalidRequest, file: file.path, object: cell.scope.isEmpty ? "/" : cell.scope,
                             reason: "converting \(from.name) to \(to.name) directly is not supported; split it with --to explicit")
        }
        let suffix = VariableName(cell.tensors[0].stored).suffix
        let prefix = targetScope.isEmpty ? "" : targetScope + "/"
        let slotNames = cell.slots.map(VariableName.init)

        // Which source tensors each target tensor is made of: the block it lies in (split), its pieces
        // (fuse), or the tensor in the same place (a renaming).
        func sources(of target: String) -> [String] {
            if from.isExplicit == to.isExplicit {
                return [from.tensorNames[to.tensorNames.firstIndex(of: target)!]]
            }
            if to.isExplicit { return [from.range(of: ExplicitTensor(rawValue: target)!, d)!.tensor] }
            return to.pieces(of: target).map(\.rawValue)
        }
        var tensors: [(String, PlannedDataset)] = []
        var slots: [(String, PlannedDataset)] = []
        for target in to.tensorNames {
            let sourceNames = sources(of: target).map { cell.storedName(of: $0)! }
            // PyTorch's keys carry the cell's layer and direction after the tensor's name (`weight_ih_l0`).
            let base = to.naming == "torch" ? CellInventory.torchKey(target, scope: targetScope) : prefix + target
            tensors.append((target, PlannedDataset(name: base + suffix, sources: sourceNames)))
            // Slots: one target slot for each slot name that every source tensor has (`Adam:0`, `Adam_1:0`).
            let relatives = sourceNames.map { source -> [String: String] in
                let sourceBase = VariableName(source).base + "/"
                return Dictionary(uniqueKeysWithValues: slotNames.filter { $0.stored.hasPrefix(sourceBase) }
                    .map { (String($0.stored.dropFirst(sourceBase.count)), $0.stored) })
            }
            let allRelatives = Set(relatives.flatMap(\.keys)).sorted()
            for relative in allRelatives {
                guard relatives.allSatisfy({ $0[relative] != nil }) else {
                    let present = relatives.compactMap { $0[relative] }
                    throw StoreError(.notACell, file: file.path, object: present[0], reason: "the slot \(relative) exists for "
                                     + "\(present.count) of the \(sourceNames.count) tensors that make \(target), so it cannot be converted")
                }
                slots.append((target, PlannedDataset(name: base + "/" + relative, sources: relatives.map { $0[relative]! })))
            }
        }
        let tfGRUCells = [LayoutTable.tfGRUCell, .tfGRUCell10, .tfLegacyGRUCell].map(\.name)
        let recorded: LayoutTable = switch options.names {
        case .tf where tfGRUCells.contains(from.name): .tfGRUCell
        case .legacy where tfGRUCells.contains(from.name): .tfLegacyGRUCell
        default: from
        }
        var planned = PlannedCell(scope: cell.scope, targetScope: targetScope, from: from, to: to, dimensions: d,
                                  datasets: tensors.map(\.1) + slots.map(\.1), tensors: tensors, slots: slots, recordedLayout: recorded)
        (planned.family, planned.sourceNames) = (cell.family, cell.storedNames)
        return planned
    }

    /// Refuses a plan whose output names collide: two datasets with one name, a dataset where another
    /// needs a group, or a slot left behind because its siblings are missing.
    func checkNamesAreFree(file: any TensorSource, flatOutput: Bool) throws {
        let written = copied.map(outputName(ofCopied:)) + cells.flatMap { $0.datasets.map(\.name) }
            + carried.filter { if case .referenceAttribute = $0.kind { false } else { true } }.map { outputName(ofCopied: $0.name) }
        var seen = Set<String>()
        for name in written {
            guard seen.insert(name).inserted else {
                throw StoreError(.invalidRequest, file: file.path, object: name, reason: "would be written twice by this conversion")
            }
        }
        for name in written where !flatOutput {
            for ancestor in VariableName.ancestors(of: name) where seen.contains(ancestor) {
                throw StoreError(.invalidRequest, file: file.path, object: name,
                                      reason: "cannot be written: \(ancestor) would be both a dataset and a group")
            }
        }
    }
}
