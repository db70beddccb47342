import GRUCore
import TensorStore

extension ConversionPlan {
    /// Attributes that a framework's file records about its cells and that the output records again in
    /// its own way (or that only name the input's producer): not listed as left out.
    static let translatedAttributes: Set<String> = [
        CellInventory.linearBeforeReset, "direction", "hidden_size", "layer_names", "weight_names", "backend",
        "keras_version", "name", layoutAttribute, "keras_layer", "reset_after", "use_bias", "go_backwards", "ir_version", "opset",
        "producer_name", "producer_version",
    ]

    /// Attributes at their default (what every target computes: sigmoid/tanh, ONNX's time-major layout): not
    /// listed as left out either.
    static let defaultValues: [String: Set<String>] = [
        "layout": ["0"],
        "activation": ["tanh"], "recurrent_activation": ["sigmoid"], "activations": ["Sigmoid,Tanh", "Sigmoid,Tanh,Sigmoid,Tanh"],
    ]

    /// Plans `--to keras|keras3|torch|onnx`: the cells arranged as the model's layers (`ModelLayers`), each
    /// written in the framework's layout of its family under the framework's names, plus what its loader
    /// needs (`Framework.Frame`). A cell of a family the framework cannot hold is refused with the measured
    /// difference; what the framework's file cannot hold (other variables, optimizer slots, links) is refused,
    /// or with `dropUncarried` left out and named.
    static func planFramework(_ framework: Framework, cells chosen: [GRUCell], inventory: CellInventory,
                              file: any TensorSource, options: ConversionOptions) throws -> ConversionPlan {
        var targets: [String: (layout: LayoutTable, family: CellFamily)] = [:]
        for cell in chosen { targets[cell.scope] = try target(of: cell, in: framework, file: file, options: options) }
        let layers: ModelLayers
        do { layers = try ModelLayers.arrange(chosen, in: file) } catch {
            throw StoreError(.invalidRequest, file: file.path, reason: "the GRU cells are not one model's layers: \(error.reason)")
        }
        // PyTorch into PyTorch keeps every key as it is (with --cell, the other layers' keys are copied beside).
        let sameFramework = chosen.allSatisfy { $0.layout.naming == framework.naming } && framework == .torch
        if !sameFramework, let reason = framework.unfit(layers) { throw StoreError(.invalidRequest, file: file.path, reason: reason) }
        var (scopes, frame) = framework.place(layers, layerNames: layers.layers.map { layer in
            ["keras", "keras3"].contains(layer.cells[0].layout.naming) ? ModelLayers.layerName(of: layer.cells[0], in: file) : nil },
                                              prefix: torchPrefix(of: chosen), tensorNames: { targets[$0.scope]!.layout.tensorNames })
        if sameFramework { scopes = Dictionary(uniqueKeysWithValues: chosen.map { ($0.scope, $0.scope) }) }

        var plan = ConversionPlan(cells: [], copied: [], containers: frame.containers, carried: [])
        (plan.framework, plan.frame) = (framework, frame)
        // Keras keeps a lone backward layer's direction (go_backwards) in the model's config, not its weights.
        if [.keras, .keras3].contains(framework), let lone = layers.layers.first(where: { $0.forward == nil }) {
            plan.notes.append("\(lone.backward!.scope) reads its sequence backward, which a Keras weights file does not record: "
                              + "load it into a GRU with go_backwards=True")
        }
        var uncarried: [(place: String, reason: String)] = []
        for cell in layers.layers.flatMap(\.cells) {
            let (to, family) = targets[cell.scope]!
            plan.cells.append(plannedCell(cell, to: to, family: family, scope: scopes[cell.scope]!, framework: framework))
            uncarried += cell.slots.map { ($0, "is an optimizer slot, which \(framework.displayName) written by gru-convert does not hold") }
        }
        // What is not a chosen cell stays only where the output is the input's own framework (a PyTorch
        // state dict's other keys); anything else the framework's file cannot hold.
        let chosenScopes = Set(chosen.map(\.scope))
        let rest = inventory.otherVariables
            + inventory.problems.flatMap(\.variables)
            + inventory.cells.filter { !chosenScopes.contains($0.scope) }.flatMap { Array($0.storedNames.values) + $0.slots }
        for name in rest.sorted() {
            if sameFramework { plan.copied.append(name) } else {
                uncarried.append((name, "is not part of the GRU cells converted; \(framework.displayName) written by gru-convert holds them alone"))
            }
        }
        uncarried += try file.structure().map { ($0.place, "is \($0.description), which \(framework.displayName) cannot hold") }
        plan.keptObjects = Set(plan.copied)
        // A PyTorch file into PyTorch keeps the file's own strings (`__metadata__`); anything else is named.
        plan.keepsFileAttributes = sameFramework
        if !sameFramework { try plan.noteAttributesLeftOut(of: file, framework: framework) }
        try plan.leaveOut(uncarried, file: file, options: options)
        try plan.checkNamesAreFree(file: file, flatOutput: true)
        return plan
    }

    /// The framework's layout for `cell` and the family it is converted as, or why there is none: a family
    /// the tensors do not record and `--reset-after` does not say, an activation gru-convert does not
    /// compute, or a reset-before cell into PyTorch (with the measured difference).
    private static func target(of cell: GRUCell, in framework: Framework, file: any TensorSource,
                               options: ConversionOptions) throws -> (layout: LayoutTable, family: CellFamily) {
        let object = cell.scope.isEmpty ? "/" : cell.scope
        guard let family = cell.family ?? options.declaredFamily else {
            throw StoreError(.invalidRequest, file: file.path, object: object, reason: "a \(cell.layout.name) cell has no biases, so "
                             + "its tensors do not record whether it resets before or after the recurrent product, and the "
                             + "outputs differ; say which with --reset-after true|false")
        }
        if let activations = CellActivations.unsupported(of: cell, in: file) {
            throw StoreError(.invalidRequest, file: file.path, object: object, reason: "\(activations), so it does not claim "
                             + "the cell is the same in \(framework.displayName) (whose loader would not carry the activation either); "
                             + "convert it with --to explicit or --to fused, which keep the file's configuration")
        }
        let bias = cell.layout.blocks.keys.contains { $0.role == .inputBias }
        guard let layout = framework.layout(for: family, bias: bias) else {
            let weights = try file.weights(of: cell, as: Double.self, family: family).explicitForm
            throw StoreError(.invalidRequest, file: file.path, object: object, reason: "a reset-before cell (\(cell.layout.name)) "
                             + "cannot be written as \(framework.displayName): nn.GRU applies the reset after the recurrent product, and "
                             + "run that way this cell's outputs \(FamilyDifference(weights).text); write it with --to keras "
                             + "(reset_after=False), --to keras3, --to onnx (linear_before_reset=0) or --to explicit instead")
        }
        return (layout, family)
    }

    /// One cell written in layout `to` under `scope`: each target tensor with the source tensors whose
    /// blocks (and added blocks) make it.
    private static func plannedCell(_ cell: GRUCell, to: LayoutTable, family: CellFamily, scope: String,
                                    framework: Framework) -> PlannedCell {
        let (from, d) = (cell.layout, cell.dimensions)
        let tensors = to.tensorNames.map { target -> (String, PlannedDataset) in
            let pieces = to.pieces(of: target)
            let sources = Set(pieces.flatMap { [from.range(of: $0, d)?.tensor, from.addedRange(of: $0, d)?.tensor].compactMap { $0 } })
            let stored = from.tensorNames.filter(sources.contains).compactMap(cell.storedName(of:))
            return (target, PlannedDataset(name: framework.storedName(of: target, scope: scope), sources: stored))
        }
        var planned = PlannedCell(scope: cell.scope, targetScope: scope, from: from, to: to, dimensions: d,
                                  datasets: tensors.map(\.1), tensors: tensors, slots: [], recordedLayout: from)
        (planned.family, planned.sourceNames) = (family, cell.storedNames)
        return planned
    }

    /// Refuses `uncarried` (naming the first), or with `dropUncarried` notes it.
    mutating func leaveOut(_ uncarried: [(place: String, reason: String)], file: any TensorSource, options: ConversionOptions) throws {
        guard let first = uncarried.first else { return }
        guard options.dropUncarried else {
            throw StoreError(.unsupportedType, file: file.path, object: first.place,
                             reason: "\(first.reason)" + (uncarried.count > 1 ? " (and \(uncarried.count - 1) more that cannot be carried)" : "")
                                 + "; --drop-unsupported converts without \(uncarried.count > 1 ? "them" : "it"), listing what is left out")
        }
        let shown = uncarried.prefix(3).map(\.place).joined(separator: ", ")
        notes.append("\(uncarried.count) object\(uncarried.count == 1 ? "" : "s") left out (--drop-unsupported): \(shown)"
                     + (uncarried.count > 3 ? ", ..." : ""))
    }

    /// Names, in a note, the input's attributes that the framework's file does not record.
    private mutating func noteAttributesLeftOut(of file: any TensorSource, framework: Framework) throws {
        var left: [String] = []
        for object in [""] + (try file.containers()) {
            for name in try file.attributeNames(of: object) where !Self.translatedAttributes.contains(name) {
                if let defaults = Self.defaultValues[name], let value = try file.stringAttribute(name, of: object),
                   defaults.contains(value) { continue }
                left.append("\(object.isEmpty ? "/" : object)@\(name)")
            }
        }
        guard !left.isEmpty else { return }
        notes.append("\(left.count) attribute\(left.count == 1 ? "" : "s") of the input not written into \(framework.displayName): "
                     + left.prefix(3).joined(separator: ", ") + (left.count > 3 ? ", ..." : ""))
    }

    /// The module prefix shared by PyTorch cells (`rnn.` of `rnn.l0`), kept when writing PyTorch again.
    private static func torchPrefix(of cells: [GRUCell]) -> String {
        let prefixes = Set(cells.map { cell -> String in
            guard cell.layout.naming == "torch", let dot = cell.scope.lastIndex(of: ".") else { return "" }
            return String(cell.scope[...dot])
        })
        return prefixes.count == 1 ? prefixes.first! : ""
    }
}
