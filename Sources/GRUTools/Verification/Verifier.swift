import GRUCore
import TensorStore
import Glibc

/// Verifies cells: derives or pairs the two forms, compares tensors, runs both side by side, and
/// explains what differs. Knows files only through `any TensorSource`.
public struct Verifier {
    /// How the runs are made.
    public var options: VerifyOptions
    /// Called before each cell with its index and the number of cells, for a progress line.
    public var progress: (Int, Int, String) -> Void = { _, _, _ in }
    /// Called at each stage of one cell's check (`running the fused form`, ...): a large cell takes seconds.
    public var stage: (String) -> Void = { _ in }

    /// A verifier with these options.
    public init(options: VerifyOptions) { self.options = options }

    /// Refuses a cell whose run would need more memory than `budget`, before reading or allocating:
    /// about 48 bytes for each weight (stored, float32, packed and float64 copies) and 64 bytes for each
    /// element of a step's input and state, over the batch and the steps.
    func checkMemory(for cell: GRUCell, in file: any TensorSource) throws {
        let d = cell.dimensions
        let weights = (d.inputSize + d.units).multipliedReportingOverflow(by: 3 * d.units)
        let sequence = options.batch.multipliedReportingOverflow(by: options.steps)
        let perStep = sequence.partialValue.multipliedReportingOverflow(by: d.inputSize + d.units)
        let total = weights.partialValue.multipliedReportingOverflow(by: 48).partialValue
            .addingReportingOverflow(perStep.partialValue.multipliedReportingOverflow(by: 64).partialValue)
        let overflow = weights.overflow || sequence.overflow || perStep.overflow || total.overflow
        try file.memoryBudget.check(elements: overflow ? Int.max : total.partialValue, of: 1, file: file.path,
                                    object: cell.scope.isEmpty ? "/" : cell.scope,
                                    what: "verifying this cell (input size \(d.inputSize), \(d.units) units, "
                                        + "batch \(options.batch), \(options.steps) steps)")
    }

    // MARK: - One file

    /// For every cell of `file`: derive the other form, check that the round trip reproduces every stored
    /// element bit for bit, and run both forms on seeded inputs (and on `reference`, when given).
    public func verify(_ file: any TensorSource, reference: (any TensorSource)? = nil) throws -> [CellVerdict] {
        let inventory = try CellInventory(file)
        guard !inventory.cells.isEmpty || !inventory.problems.isEmpty else {
            throw StoreError(.notACell, file: file.path, reason: "no GRU cells found (run `gru-convert inspect` to see what it holds)")
        }
        let runs = try reference?.referenceRuns()
        var verdicts = inventory.problems.map {
            CellVerdict.failed(scope: $0.scope, otherScope: nil, diagnosis: ["not a consistent GRU cell: \($0.reason)"])
        }
        for cell in inventory.cells { try checkMemory(for: cell, in: file) }
        for (n, cell) in inventory.cells.enumerated() {
            progress(n, inventory.cells.count, cell.scope)
            if let activations = CellActivations.unsupported(of: cell, in: file) {
                verdicts.append(.failed(scope: cell.scope, otherScope: nil, diagnosis: ["\(activations): not verified"]))
                continue
            }
            // Read once, exactly (float64 holds every stored float type); float32 for running, rounded to nearest.
            let stored = try file.weights(of: cell, as: Double.self, family: options.declaredFamily)
            let weights = stored.map { Float($0) }
            let mismatches = WeightsDiagnosis.explain(reference: stored, candidate: try roundTrip(stored, file: file, cell: cell),
                                                      ulps: ulps(for: cell.elementType))
            var verdict = compare(scope: cell.scope, otherScope: nil, fused: weights,
                                  explicit: weights.explicitForm, truth: weights.explicitForm,
                                  weightsIdentical: mismatches.isEmpty,
                                  nonFinite: nonFiniteFindings(stored) { cell.relativeName(of: $0) })
            verdict.layout = cell.layout.name
            verdict.family = stored.family
            verdict.diagnosis.insert(contentsOf: mismatches.map { "split then fuse: \($0)" }, at: 0)
            if let runs {
                try check(&verdict, against: try run(for: cell, of: file, in: runs, cellCount: inventory.cells.count, reference: reference!),
                          fused: weights, explicit: weights.explicitForm)
            }
            verdicts.append(verdict)
        }
        return verdicts.sorted { $0.scope < $1.scope }
    }

    // MARK: - Two files

    /// Pairs the cells of `file` (the trusted original) with those of `other` (a conversion) and checks
    /// each pair: tensors first (with a diagnosis when they differ), then outputs. Pairs come from
    /// `pairs` (scope of `file` = scope of `other`), else equal scopes, else scopes equal once legacy
    /// names are made current, else the only cell of each file.
    public func verify(_ file: any TensorSource, against other: any TensorSource, pairs: [(String, String)] = [],
                       reference: (any TensorSource)? = nil) throws -> [CellVerdict] {
        let left = try CellInventory(file)
        let right = try CellInventory(other)
        guard !left.cells.isEmpty || !left.problems.isEmpty else {
            throw StoreError(.notACell, file: file.path, reason: "no GRU cells found (run `gru-convert inspect` to see what it holds)")
        }
        let runs = try reference?.referenceRuns()
        let matched = try pair(left, right, explicit: pairs, file: file, other: other)
        for (cell, match) in matched {
            try checkMemory(for: cell, in: file)
            if case .cell(let counterpart) = match { try checkMemory(for: counterpart, in: other) }
        }
        var verdicts: [CellVerdict] = left.problems.map {
            CellVerdict.failed(scope: $0.scope, otherScope: nil, diagnosis: ["\(file.path): not a consistent GRU cell: \($0.reason)"])
        }
        for (n, (cell, match)) in matched.enumerated() {
            progress(n, matched.count, cell.scope)
            switch match {
            case .none:
                var verdict = CellVerdict.failed(scope: cell.scope, otherScope: nil, diagnosis: [
                    "only in \(file.path): no cell of \(other.path) pairs with this scope (name one with --pair \(cell.scope)=OTHER_SCOPE)"])
                verdict.unpaired = true
                verdicts.append(verdict)
            case .problem(let problem):
                verdicts.append(.failed(scope: cell.scope, otherScope: problem.scope, diagnosis: [
                    "\(other.path): not a consistent GRU cell: \(problem.reason)"]))
            case .cell(let counterpart):
                if let activations = CellActivations.unsupported(of: cell, in: file) ?? CellActivations.unsupported(of: counterpart, in: other) {
                    verdicts.append(.failed(scope: cell.scope, otherScope: counterpart.scope, diagnosis: ["\(activations): not verified"]))
                    continue
                }
                let storedA = try file.weights(of: cell, as: Double.self, family: options.declaredFamily)
                let storedB = try other.weights(of: counterpart, as: Double.self, family: options.declaredFamily)
                var findings = WeightsDiagnosis.explain(reference: storedA, candidate: storedB,
                                                        ulps: ulps(for: cell.elementType))
                if !findings.isEmpty, !pairs.contains(where: { $0.0 == cell.scope }), let swapped = try directionSwap(of: cell, storedA, in: other, pairedWith: counterpart, right) {
                    findings = [swapped]
                }
                guard storedA.dimensions == storedB.dimensions else {
                    verdicts.append(.failed(scope: cell.scope, otherScope: counterpart.scope, diagnosis: findings))
                    continue
                }
                let a = storedA.map { Float($0) }, b = storedB.map { Float($0) }
                let nonFinite = nonFiniteFindings(storedA) { "\(file.path): " + cell.relativeName(of: $0) }
                    + nonFiniteFindings(storedB) { "\(other.path): " + counterpart.relativeName(of: $0) }
                var verdict = compare(scope: cell.scope, otherScope: counterpart.scope, fused: a,
                                      explicit: b.explicitForm, truth: a.explicitForm, weightsIdentical: findings.isEmpty,
                                      nonFinite: nonFinite)
                verdict.layout = cell.layout.name
                verdict.family = storedA.family
                if cell.elementType != counterpart.elementType {
                    verdict.storedTypes = "\(cell.elementType) vs \(counterpart.elementType)"
                }
                verdict.diagnosis.insert(contentsOf: findings, at: 0)
                if let runs {
                    try check(&verdict, against: try run(for: cell, of: file, in: runs, cellCount: matched.count, reference: reference!),
                              fused: a, explicit: b.explicitForm, sides: (file.path, other.path))
                }
                verdicts.append(verdict)
            }
        }
        let used = Set(matched.compactMap { if case .cell(let c) = $0.1 { c.scope } else if case .problem(let p) = $0.1 { p.scope } else { nil } })
        for extra in right.cells.map(\.scope) + right.problems.map(\.scope) where !used.contains(extra) {
            var verdict = CellVerdict.failed(scope: extra, otherScope: extra, diagnosis: [
                "only in \(other.path): no cell of \(file.path) pairs with it"])
            verdict.unpaired = true
            verdicts.append(verdict)
        }
        return verdicts
    }

    enum Match { case none, cell(GRUCell), problem(CellProblem) }

    private func pair(_ left: CellInventory, _ right: CellInventory, explicit: [(String, String)],
                      file: any TensorSource, other: any TensorSource) throws -> [(GRUCell, Match)] {
        func lookup(_ scope: String) -> Match {
            if let cell = right.cells.first(where: { $0.scope == scope }) { return .cell(cell) }
            if let problem = right.problems.first(where: { $0.scope == scope }) { return .problem(problem) }
            return .none
        }
        for (a, b) in explicit {
            guard left.cells.contains(where: { $0.scope == a }) else {
                throw StoreError(.invalidRequest, file: file.path, object: a, reason: "--pair names no GRU cell of this file")
            }
            if lookup(b).isNone {
                throw StoreError(.invalidRequest, file: other.path, object: b, reason: "--pair names no GRU cell of this file")
            }
        }
        let byPlace = placePairs(left, right, file: file, other: other)
        return left.cells.map { cell in
            if let named = explicit.first(where: { $0.0 == cell.scope }) { return (cell, lookup(named.1)) }
            let sameScope = lookup(cell.scope)
            if !sameScope.isNone { return (cell, sameScope) }
            let current = ScopeNames.current(cell.scope)
            if let cell2 = right.cells.first(where: { ScopeNames.current($0.scope) == current }) { return (cell, .cell(cell2)) }
            if left.cells.count == 1, right.cells.count == 1, right.problems.isEmpty { return (cell, .cell(right.cells[0])) }
            if let counterpart = byPlace[cell.scope] { return (cell, .cell(counterpart)) }
            return (cell, .none)
        }
    }

    /// The classic bidirectional mistake: the cell's weights are, bit for bit, those of the other direction
    /// of its counterpart's layer in `other` (forward and backward exchanged). One line saying so, or nil.
    private func directionSwap(of cell: GRUCell, _ weights: CellWeights<Double>, in other: any TensorSource,
                               pairedWith counterpart: GRUCell, _ right: CellInventory) throws -> String? {
        guard let layers = try? ModelLayers.arrange(right.cells, in: other),
              let layer = layers.layers.first(where: { $0.cells.contains { $0.scope == counterpart.scope } }), layer.isBidirectional
        else { return nil }
        let opposite = layer.forward!.scope == counterpart.scope ? layer.backward! : layer.forward!
        guard opposite.dimensions == cell.dimensions,
              let oppositeWeights = try? other.weights(of: opposite, as: Double.self, family: options.declaredFamily),
              WeightsDiagnosis.explain(reference: weights, candidate: oppositeWeights, ulps: ulps(for: cell.elementType)).isEmpty
        else { return nil }
        let direction = ModelLayers.direction(of: counterpart, in: other)
        return "directions swapped: the \(direction.rawValue) cell \(counterpart.scope) holds the weights of the other direction "
            + "(\(opposite.scope) is bit for bit this cell): forward and backward exchanged in a bidirectional layer"
    }

    /// Cells paired by their place in the model (`ModelLayers`: layer order, direction) when the two files
    /// name them differently (a PyTorch file's `l1_reverse` and a Keras file's
    /// `layers/bidirectional_1/backward_layer/cell`): only when both files hold no problem cells and the same
    /// layers, each with the same directions; otherwise none.
    private func placePairs(_ left: CellInventory, _ right: CellInventory, file: any TensorSource,
                            other: any TensorSource) -> [String: GRUCell] {
        guard left.problems.isEmpty, right.problems.isEmpty,
              let a = try? ModelLayers.arrange(left.cells, in: file), let b = try? ModelLayers.arrange(right.cells, in: other),
              a.layers.count == b.layers.count,
              zip(a.layers, b.layers).allSatisfy({ ($0.forward == nil) == ($1.forward == nil) && ($0.backward == nil) == ($1.backward == nil) })
        else { return [:] }
        var pairs: [String: GRUCell] = [:]
        for (x, y) in zip(a.layers, b.layers) {
            for (p, q) in zip(x.cells, y.cells) { pairs[p.scope] = q }
        }
        return pairs
    }

    // MARK: - Running both forms

    /// The stored tensors rebuilt from the explicit form split out of the fused form: split then fuse for a
    /// fused layout, fuse then split for the explicit one. Identical to `stored` unless the split is wrong.
    private func roundTrip(_ stored: CellWeights<Double>, file: any TensorSource, cell: GRUCell) throws -> CellWeights<Double> {
        do {
            let explicit = try stored.fusedLayout.split(stored.fusedTensors, dimensions: stored.dimensions, family: stored.family)
            return try CellWeights(layout: stored.layout, tensors: try stored.layout.fuse(explicit),
                                   family: stored.layout.family == nil ? stored.family : nil)
        } catch {
            throw StoreError(.damaged, file: file.path, object: cell.scope.isEmpty ? "/" : cell.scope, reason: "\(error)")
        }
    }

    private func compare(scope: String, otherScope: String?, fused: CellWeights<Float>, explicit: ExplicitWeights<Float>,
                         truth: ExplicitWeights<Float>, weightsIdentical: Bool, nonFinite: [String]) -> CellVerdict {
        var random = SeededRandom(seed: options.seed)
        let (inputs, initialState) = random.sequence(batch: options.batch, steps: options.steps, dimensions: fused.dimensions)
        let (fusedModel, explicitModel): (any GRUSequenceModel, any GRUSequenceModel) = options.mode == .strict
            ? (StrictFusedCell(fused), StrictExplicitCell(explicit)) : (FastFusedCell(fused), FastExplicitCell(explicit))
        stage("running the fused form")
        let (fusedOut, fusedMs) = timed { fusedModel.run(inputs: inputs, initialState: initialState) }
        stage("running the explicit form")
        let (explicitOut, explicitMs) = timed { explicitModel.run(inputs: inputs, initialState: initialState) }
        stage("running the float64 reference")

        // The float64 trajectory of the trusted weights; each form is measured step by step from its states.
        let wide = { (t: Tensor<Float>) in Tensor(shape: t.shape, scalars: t.scalars.map(Double.init)) }
        let truthOut = Float64Cell(truth).run(inputs: wide(inputs), initialState: wide(initialState))
        let forced = Tensor(shape: truthOut.shape, scalars: truthOut.scalars.map { Float($0) })
        stage("measuring both forms against it")
        let fusedForced = fusedModel.run(inputs: inputs, initialState: initialState, forcedStates: forced)
        let explicitForced = explicitModel.run(inputs: inputs, initialState: initialState, forcedStates: forced)
        let fusedError = ErrorMeasures.between(fusedForced.scalars, reference: truthOut.scalars)
        let explicitError = ErrorMeasures.between(explicitForced.scalars, reference: truthOut.scalars)

        var verdict = CellVerdict(scope: scope, otherScope: otherScope, equivalent: false, weightsIdentical: weightsIdentical,
                                  fusedVsFloat64: fusedError.nonFinite == 0 ? fusedError.maxAbsolute : nil,
                                  explicitVsFloat64: explicitError.nonFinite == 0 ? explicitError.maxAbsolute : nil,
                                  diagnosis: nonFinite, fusedMilliseconds: fusedMs, explicitMilliseconds: explicitMs)
        let outputsAgree: Bool
        // Strict mode, non-finite weights: both forms computing the very same NaNs and infinities from
        // bit-identical weights is an exact conversion of a cell that is itself broken.
        var exactDespiteNonFinite = false
        switch options.mode {
        case .strict:
            let between = ErrorMeasures.between(fusedOut.scalars, explicitOut.scalars)
            verdict.maxAbsDiff = between.isBitwiseIdentical ? 0 : between.nonFinite == 0 ? between.maxAbsolute : nil
            verdict.maxULPDiff = between.isBitwiseIdentical ? 0 : between.nonFinite == 0 ? between.maxULP : nil
            exactDespiteNonFinite = between.nonFinite > 0 && between.isBitwiseIdentical && weightsIdentical
            outputsAgree = between.isBitwiseIdentical && (between.nonFinite == 0 || exactDespiteNonFinite)
            if exactDespiteNonFinite {
                verdict.diagnosis.append("the conversion is exact, but the cell itself computes NaN or infinity (\(between.nonFinite) "
                                         + "of \(fusedOut.scalars.count) output values, the same bits in both forms): its weights are not usable")
            } else if between.nonFinite > 0 {
                verdict.diagnosis.append("outputs hold NaN or infinity (\(between.nonFinite) values)"
                                         + (between.isBitwiseIdentical ? "" : " and differ in \(between.bitwiseDifferent) values"))
            } else if !between.isBitwiseIdentical {
                verdict.diagnosis.append("outputs differ in \(between.bitwiseDifferent) of \(fusedOut.scalars.count) values "
                                         + "(max |Δ| \(short(between.maxAbsolute)), \(between.maxULP) ULP)")
            }
        case .fast:
            let bounds = FastModeTolerance(truth).bounds(inputs: inputs, initialState: initialState, states: forced)
            let between = ErrorMeasures.between(fusedForced.scalars, explicitForced.scalars)
            let violation = firstViolation(fusedForced.scalars, explicitForced.scalars, bounds, units: fused.dimensions.units)
            verdict.maxAbsDiff = between.nonFinite == 0 ? between.maxAbsolute : nil
            verdict.maxULPDiff = between.nonFinite == 0 ? between.maxULP : nil
            verdict.tolerance = bounds.max()
            let decisive = (bounds.max() ?? 0) <= FastModeTolerance.largestUsefulBound
            outputsAgree = violation == nil && between.nonFinite == 0 && decisive
            if !decisive {
                verdict.diagnosis.append(Self.indecisive(bounds.max() ?? 0))
            }
            if between.nonFinite > 0 {
                verdict.diagnosis.append("outputs hold NaN or infinity (\(between.nonFinite) values)")
            } else if let (batch, step, difference, bound) = violation {
                verdict.diagnosis.append("outputs differ beyond the float32 bound at sequence \(batch), step \(step): "
                                         + "|Δ| \(short(difference)) > \(short(bound))")
            }
        }
        verdict.equivalent = outputsAgree && (nonFinite.isEmpty || exactDespiteNonFinite) && (weightsIdentical || options.mode == .fast)
        return verdict
    }

    /// Why a comparison within a loose bound cannot pass.
    static func indecisive(_ bound: Double, advice: String = "use --mode strict") -> String {
        "the float32 bound reaches \(short(bound)) (more than \(short(FastModeTolerance.largestUsefulBound))): the weights are "
            + "too large for a tolerance to tell a wrong cell from a right one; \(advice)"
    }

    /// The first (sequence, step, |Δ|, bound) where two teacher-forced runs differ beyond the bound.
    private func firstViolation(_ a: [Float], _ b: [Float], _ bounds: [Double], units: Int) -> (Int, Int, Double, Double)? {
        for (n, (x, y)) in zip(a, b).enumerated() {
            let difference = abs(Double(x) - Double(y)), bound = bounds[n / units]
            if !(difference <= bound) {
                return (n / units / options.steps, (n / units) % options.steps, difference, bound)
            }
        }
        return nil
    }

    // MARK: - Helpers

    func ulps(for type: ElementType) -> (Double, Double) -> UInt64? {
        switch type {
        case .float(bits: 64): return { ulpDistance($0, $1) }
        default: return { ulpDistance(Float($0), Float($1)) }
        }
    }

    private func timed<T>(_ body: () -> T) -> (T, Double) {
        var start = timespec(), end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        let result = body()
        clock_gettime(CLOCK_MONOTONIC, &end)
        return (result, Double(end.tv_sec - start.tv_sec) * 1e3 + Double(end.tv_nsec - start.tv_nsec) / 1e6)
    }
}

extension Verifier.Match {
    var isNone: Bool { if case .none = self { true } else { false } }
}
