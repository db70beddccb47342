/// Explains how a candidate cell's weights differ from a reference cell's, in terms of the classic
/// hand-conversion mistakes: gates swapped, input and state rows swapped, a matrix transposed, tensors
/// zeroed; otherwise which tensors differ and by how much.
///
/// Values are compared bit for bit, in float64 (which holds float16, float32 and float64 exactly).
public enum WeightsDiagnosis {
    /// One line per finding; empty when the weights are identical.
    ///
    /// - Parameter ulps: the distance in units in the last place of the stored precision.
    public static func explain(reference: CellWeights<Double>, candidate: CellWeights<Double>,
                               ulps: (Double, Double) -> UInt64? = { ulpDistance($0, $1) }) -> [String] {
        let (d, e) = (reference.dimensions, candidate.dimensions)
        guard d == e else {
            return ["sizes differ: input size \(d.inputSize) and \(d.units) units against input size "
                    + "\(e.inputSize) and \(e.units) units"]
        }
        if reference.family != candidate.family {
            return familyFindings(reference, candidate)
        }
        if candidate.isFused, candidate.layout == reference.fusedLayout,
           let swapped = rowSwapFindings(reference.fusedTensors, candidate.stored, layout: candidate.layout, d) {
            return swapped
        }
        return explicitFindings(reference.explicitForm, candidate.explicitForm, ulps: ulps)
    }

    /// The two cells are of different families: the reset acts on opposite sides of the recurrent
    /// product, which no rearrangement of weights reconciles. Says which side each is on, and whether the
    /// candidate's single bias is the reference's two summed (how a reset-after cell is wrongly saved as a
    /// reset-before one) or the reverse.
    private static func familyFindings(_ reference: CellWeights<Double>, _ candidate: CellWeights<Double>) -> [String] {
        func side(_ w: CellWeights<Double>) -> String {
            "\(w.family == .resetAfter ? "after" : "before") the recurrent product (\(w.layout.name))"
        }
        var findings = ["reset placement flipped: the reset acts \(side(candidate)) in the checked cell, but "
                        + "\(side(reference)) in the original; the two GRU families differ and no weight conversion "
                        + "between them is exact"]
        let (ra, rb) = reference.family == .resetAfter ? (reference.explicitForm, candidate.explicitForm)
                                                       : (candidate.explicitForm, reference.explicitForm)
        let biases = ExplicitTensor.allCases.filter { $0.role == .inputBias || $0.role == .recurrentBias }
        let anyBias = biases.contains { tensor in ra[tensor].scalars.contains { $0 != 0 } }
        let summed = Gate.allCases.allSatisfy { gate in
            let sum = zip(ra[ExplicitTensor(.inputBias, gate)].scalars, ra[ExplicitTensor(.recurrentBias, gate)].scalars).map { $0 + $1 }
            return close(sum, rb[ExplicitTensor(.inputBias, gate)].scalars)
        }
        if anyBias && summed { findings.append("the reset-before cell's biases are the reset-after cell's two biases summed (b + bU)") }
        let kernels = [ExplicitTensor.Wr, .Wz, .Wh, .Ur, .Uz, .Uh].filter { !identical(ra[$0].scalars, rb[$0].scalars) }
        if !kernels.isEmpty { findings.append("the kernels differ as well: " + list(kernels.map(\.rawValue))) }
        return findings
    }

    /// The reset-after family's bias mistakes, each explaining all six bias tensors at once: the two biases
    /// summed into one row (the other zeroed), or the rows exchanged.
    private static func biasFindings(_ ref: ExplicitWeights<Double>, _ cand: ExplicitWeights<Double>) -> String? {
        guard ref.family == .resetAfter, cand.family == .resetAfter else { return nil }
        func all(_ test: (ExplicitTensor, ExplicitTensor) -> Bool) -> Bool {
            Gate.allCases.allSatisfy { test(ExplicitTensor(.inputBias, $0), ExplicitTensor(.recurrentBias, $0)) }
        }
        func zero(_ t: ExplicitTensor) -> Bool { cand[t].scalars.allSatisfy { $0 == 0 } }
        func sum(_ b: ExplicitTensor, _ bU: ExplicitTensor) -> [Double] { zip(ref[b].scalars, ref[bU].scalars).map { $0 + $1 } }
        let nonzero = all { b, bU in !ref[bU].scalars.allSatisfy { $0 == 0 } && !ref[b].scalars.allSatisfy { $0 == 0 } }
        guard nonzero else { return nil }
        if all({ b, bU in zero(bU) && close(sum(b, bU), cand[b].scalars) }) {
            return "the two biases summed into the input bias (br, bz, bh hold b + bU; bUr, bUz, bUh are zero)"
        }
        if all({ b, bU in zero(b) && close(sum(b, bU), cand[bU].scalars) }) {
            return "the two biases summed into the recurrent bias (bUr, bUz, bUh hold b + bU; br, bz, bh are zero)"
        }
        if all({ b, bU in close(sum(b, bU).map { $0 / 2 }, cand[b].scalars) && close(sum(b, bU).map { $0 / 2 }, cand[bU].scalars) }) {
            return "the two biases summed and halved into both (br, bz, bh and bUr, bUz, bUh each hold (b + bU)/2: a reset-before "
                + "bias split evenly, which a reset-after cell does not compute alike)"
        }
        if all({ b, bU in identical(cand[b].scalars, ref[bU].scalars) && identical(cand[bU].scalars, ref[b].scalars) }) {
            return "the input and recurrent bias rows swapped (b and bU exchanged for every gate)"
        }
        return nil
    }

    /// Equal within float32 rounding of a sum: how a file's summed bias compares with the sum in float64.
    private static func close(_ a: [Double], _ b: [Double]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 2e-7 * max(abs($0), abs($1), 1e-30) }
    }

    /// Kernels whose state rows come first (`[h, x]` instead of `[x, h]`), if that explains them: for
    /// layouts whose kernels stack input and state rows (TensorFlow's `GRUCell`).
    private static func rowSwapFindings(_ reference: [String: Tensor<Double>], _ candidate: [String: Tensor<Double>],
                                        layout: LayoutTable, _ d: CellDimensions) -> [String]? {
        let stacked = layout.tensors.filter { tensor in
            layout.blocks.values.contains { $0.tensor == tensor.name && $0.rows == .input }
                && layout.blocks.values.contains { $0.tensor == tensor.name && $0.rows == .state }
        }.map(\.name)
        guard !stacked.isEmpty else { return nil }
        var swapped: [String] = []
        for name in stacked {
            let ref = reference[name]!, cand = candidate[name]!
            if identical(ref.scalars, cand.scalars) { continue }
            // Rows [h; x]: the candidate's first H rows are the reference's state rows.
            let split = d.inputSize * ref.shape[1]
            let stateFirst = Array(ref.scalars[split...]) + Array(ref.scalars[..<split])
            guard identical(stateFirst, cand.scalars) else { return nil }
            swapped.append(name)
        }
        guard !swapped.isEmpty else { return nil }
        let biasesAgree = layout.tensorNames.filter { !stacked.contains($0) }.allSatisfy {
            identical(reference[$0]!.scalars, candidate[$0]!.scalars)
        }
        var findings = ["input/state rows swapped in \(swapped.joined(separator: " and ")) (state rows first: [h, x] instead of [x, h])"]
        if !biasesAgree { findings.append("the biases differ as well") }
        return findings
    }

    private static func explicitFindings(_ ref: ExplicitWeights<Double>, _ cand: ExplicitWeights<Double>,
                                         ulps: (Double, Double) -> UInt64?) -> [String] {
        let members = ref.members
        var holds: [ExplicitTensor: ExplicitTensor] = [:]
        var transposed: [ExplicitTensor] = [], zeroed: [ExplicitTensor] = [], differs: [String] = []
        var findings: [String] = []
        // The reset-after family's bias mistakes explain every bias tensor at once.
        if let bias = biasFindings(ref, cand) {
            findings.append(bias)
            for tensor in members where tensor.role == .inputBias || tensor.role == .recurrentBias {
                holds[tensor] = tensor  // explained
            }
        }
        for t in members where holds[t] == nil {
            let c = cand[t]
            if identical(c.scalars, ref[t].scalars) { continue }
            if let other = members.first(where: { $0 != t && ref[$0].shape == c.shape && identical(c.scalars, ref[$0].scalars) }) {
                holds[t] = other
            } else if c.shape.count == 2, c.shape[0] == c.shape[1], identical(c.scalars, transpose(ref[t])) {
                transposed.append(t)
            } else if c.scalars.allSatisfy({ $0 == 0 }) {
                zeroed.append(t)
            } else {
                differs.append(difference(t, ref[t].scalars, c.scalars, ulps: ulps))
            }
        }
        var pairs = Set<[ExplicitTensor]>()
        for (t, o) in holds where o != t && holds[o] == t {
            pairs.insert([t, o].sorted { $0.order < $1.order })
        }
        var gateSwap: Set<[ExplicitTensor]> = [[.Wr, .Wz], [.Ur, .Uz], [.br, .bz]]
        if ref.family == .resetAfter { gateSwap.insert([.bUr, .bUz]) }
        let inputStateSwap: Set<[ExplicitTensor]> = [[.Wr, .Ur], [.Wz, .Uz], [.Wh, .Uh]]
        if gateSwap.isSubset(of: pairs) {
            findings.append(ref.family == .resetAfter
                ? "r and z swapped (Wr/Wz, Ur/Uz, br/bz and bUr/bUz exchanged: PyTorch's r,z,n gate order read as Keras's z,r,h, or the reverse)"
                : "r and z swapped (Wr/Wz, Ur/Uz and br/bz exchanged)")
            pairs.subtract(gateSwap)
        }
        if inputStateSwap.isSubset(of: pairs) {
            findings.append("input/state rows swapped (W and U exchanged for every gate)")
            pairs.subtract(inputStateSwap)
        }
        for pair in pairs.sorted(by: { $0[0].order < $1[0].order }) {
            findings.append("\(pair[0])/\(pair[1]) swapped")
        }
        for (t, o) in holds.sorted(by: { $0.key.order < $1.key.order }) where o != t && holds[o] != t {
            findings.append("\(t) holds \(o)'s values")
        }
        findings += transposed.map { "\($0) transposed" }
        let recurrentBiases: [ExplicitTensor] = [.bUr, .bUz, .bUh], inputBiases: [ExplicitTensor] = [.br, .bz, .bh]
        if ref.family == .resetAfter, recurrentBiases.allSatisfy(zeroed.contains) {
            findings.append("the recurrent biases dropped (bUr, bUz and bUh zeroed)")
            zeroed.removeAll { recurrentBiases.contains($0) }
        }
        if ref.family == .resetAfter, inputBiases.allSatisfy(zeroed.contains) {
            findings.append("the input biases dropped (br, bz and bh zeroed)")
            zeroed.removeAll { inputBiases.contains($0) }
        }
        if !zeroed.isEmpty {
            findings.append(list(zeroed.map(\.rawValue)) + " zeroed")
        }
        return findings + differs
    }

    private static func difference(_ t: ExplicitTensor, _ ref: [Double], _ cand: [Double],
                                   ulps: (Double, Double) -> UInt64?) -> String {
        var count = 0, maxAbs = 0.0, maxULP: UInt64 = 0, nonFinite = 0
        for (a, b) in zip(ref, cand) where a.bitPattern != b.bitPattern {
            count += 1
            if !a.isFinite || !b.isFinite { nonFinite += 1; continue }
            maxAbs = max(maxAbs, abs(a - b))
            maxULP = max(maxULP, ulps(a, b) ?? UInt64.max)
        }
        var text = "\(t) differs in \(count) of \(ref.count) elements"
        if count > nonFinite { text += " (max |Δ| \(short(maxAbs)), \(maxULP) ULP)" }
        if nonFinite > 0 { text += ", \(nonFinite) of them not finite" }
        return text
    }

    private static func identical(_ a: [Double], _ b: [Double]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
    }

    private static func transpose(_ t: Tensor<Double>) -> [Double] {
        let (rows, columns) = (t.shape[0], t.shape[1])
        return (0..<(rows * columns)).map { n in t.scalars[(n % rows) * columns + n / rows] }
    }

    private static func list(_ names: [String]) -> String {
        names.count <= 1 ? names.joined() : names.dropLast().joined(separator: ", ") + " and " + names.last!
    }
}

/// Non-finite values in a cell's stored tensors, one line per tensor that has any (`gates/kernel holds 2 NaN`).
public func nonFiniteFindings(_ weights: CellWeights<Double>, name: (String) -> String) -> [String] {
    weights.layout.tensorNames.compactMap { tensor in
        let values = weights.stored[tensor]!.scalars
        let nan = values.filter(\.isNaN).count, infinite = values.filter(\.isInfinite).count
        guard nan + infinite > 0 else { return nil }
        let parts = [nan > 0 ? "\(nan) NaN" : nil, infinite > 0 ? "\(infinite) infinite" : nil].compactMap { $0 }
        return "\(name(tensor)) holds \(parts.joined(separator: " and ")) value\(nan + infinite == 1 ? "" : "s")"
    }
}

/// Short number formatting for messages: `1.2e-07`, `0.031`.
public func short(_ value: Double) -> String {
    if value == 0 { return "0" }
    if !value.isFinite { return "\(value)" }
    let magnitude = abs(value)
    if magnitude >= 1e-3 && magnitude < 1e4 {
        var text = String(format3: value)
        while text.contains(".") && (text.hasSuffix("0") || text.hasSuffix(".")) { text.removeLast() }
        return text
    }
    var exponent = 0
    var mantissa = magnitude
    while mantissa >= 10 { mantissa /= 10; exponent += 1 }
    while mantissa < 1 { mantissa *= 10; exponent -= 1 }
    var rounded = (mantissa * 10).rounded() / 10
    // 9.96 rounds to 10.0: one more digit of exponent instead (9.96e-5 is 1.0e-04, not 10.0e-05).
    if rounded >= 10 { rounded /= 10; exponent += 1 }
    let sign = value < 0 ? "-" : ""
    return "\(sign)\(rounded)e\(exponent < 0 ? "-" : "+")\(abs(exponent) < 10 ? "0" : "")\(abs(exponent))"
}

extension String {
    /// Three decimals, without Foundation.
    fileprivate init(format3 value: Double) {
        let scaled = (abs(value) * 1000).rounded()
        let whole = Int(scaled / 1000), fraction = Int(scaled.truncatingRemainder(dividingBy: 1000))
        let digits = String(fraction)
        self = (value < 0 ? "-" : "") + "\(whole)." + String(repeating: "0", count: 3 - digits.count) + digits
    }
}

