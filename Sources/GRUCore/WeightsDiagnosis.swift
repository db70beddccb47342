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
        if case .fused(let fused) = candidate, let swapped = rowSwapFindings(reference.fusedForm, fused) {
            return swapped
        }
        return explicitFindings(reference.explicitForm, candidate.explicitForm, ulps: ulps)
    }

    /// Kernels whose state rows come first (`[h, x]` instead of `[x, h]`), if that explains them.
    private static func rowSwapFindings(_ reference: FusedWeights<Double>, _ candidate: FusedWeights<Double>) -> [String]? {
        let i = reference.dimensions.inputSize
        var swapped: [String] = []
        for (tensor, name) in [(FusedTensor.gateKernel, "gates/kernel"), (.candidateKernel, "candidate/kernel")] {
            let ref = reference[tensor], cand = candidate[tensor]
            let width = ref.shape[1]
            if identical(ref.scalars, cand.scalars) { continue }
            // Rows [h; x]: the candidate's first H rows are the reference's state rows.
            let stateFirst = Array(ref.scalars[(i * width)...]) + Array(ref.scalars[..<(i * width)])
            guard identical(stateFirst, cand.scalars) else { return nil }
            swapped.append(name)
        }
        guard !swapped.isEmpty else { return nil }
        let biasesAgree = identical(reference[.gateBias].scalars, candidate[.gateBias].scalars)
            && identical(reference[.candidateBias].scalars, candidate[.candidateBias].scalars)
        var findings = ["input/state rows swapped in \(swapped.joined(separator: " and ")) (state rows first: [h, x] instead of [x, h])"]
        if !biasesAgree { findings.append("the biases differ as well") }
        return findings
    }

    private static func explicitFindings(_ ref: ExplicitWeights<Double>, _ cand: ExplicitWeights<Double>,
                                         ulps: (Double, Double) -> UInt64?) -> [String] {
        var holds: [ExplicitTensor: ExplicitTensor] = [:]
        var transposed: [ExplicitTensor] = [], zeroed: [ExplicitTensor] = [], differs: [String] = []
        for t in ExplicitTensor.allCases {
            let c = cand[t]
            if identical(c.scalars, ref[t].scalars) { continue }
            if let other = ExplicitTensor.allCases.first(where: { $0 != t && ref[$0].shape == c.shape
                                                                 && identical(c.scalars, ref[$0].scalars) }) {
                holds[t] = other
            } else if c.shape.count == 2, c.shape[0] == c.shape[1], identical(c.scalars, transpose(ref[t])) {
                transposed.append(t)
            } else if c.scalars.allSatisfy({ $0 == 0 }) {
                zeroed.append(t)
            } else {
                differs.append(difference(t, ref[t].scalars, c.scalars, ulps: ulps))
            }
        }
        var findings: [String] = []
        var pairs = Set<[ExplicitTensor]>()
        for (t, o) in holds where holds[o] == t {
            pairs.insert([t, o].sorted { $0.order < $1.order })
        }
        let gateSwap: Set<[ExplicitTensor]> = [[.Wr, .Wz], [.Ur, .Uz], [.br, .bz]]
        let inputStateSwap: Set<[ExplicitTensor]> = [[.Wr, .Ur], [.Wz, .Uz], [.Wh, .Uh]]
        if gateSwap.isSubset(of: pairs) {
            findings.append("r and z swapped (Wr/Wz, Ur/Uz and br/bz exchanged)")
            pairs.subtract(gateSwap)
        }
        if inputStateSwap.isSubset(of: pairs) {
            findings.append("input/state rows swapped (W and U exchanged for every gate)")
            pairs.subtract(inputStateSwap)
        }
        for pair in pairs.sorted(by: { $0[0].order < $1[0].order }) {
            findings.append("\(pair[0])/\(pair[1]) swapped")
        }
        for (t, o) in holds.sorted(by: { $0.key.order < $1.key.order }) where holds[o] != t {
            findings.append("\(t) holds \(o)'s values")
        }
        findings += transposed.map { "\($0) transposed" }
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

/// Non-finite values in a cell's weights, one line per tensor that has any (`gates/kernel holds 2 NaN`).
public func nonFiniteFindings(_ weights: CellWeights<Double>, name: (CellTensor) -> String) -> [String] {
    func describe(_ tensor: CellTensor, _ values: [Double]) -> String? {
        let nan = values.filter(\.isNaN).count, infinite = values.filter(\.isInfinite).count
        guard nan + infinite > 0 else { return nil }
        let parts = [nan > 0 ? "\(nan) NaN" : nil, infinite > 0 ? "\(infinite) infinite" : nil].compactMap { $0 }
        return "\(name(tensor)) holds \(parts.joined(separator: " and ")) value\(nan + infinite == 1 ? "" : "s")"
    }
    switch weights {
    case .fused(let w): return FusedTensor.allCases.compactMap { describe(.fused($0), w[$0].scalars) }
    case .explicit(let w): return ExplicitTensor.allCases.compactMap { describe(.explicit($0), w[$0].scalars) }
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
    let rounded = (mantissa * 10).rounded() / 10
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

extension ExplicitTensor {
    /// Position in `allCases`, for stable ordering of findings.
    var order: Int { ExplicitTensor.allCases.firstIndex(of: self)! }
}
