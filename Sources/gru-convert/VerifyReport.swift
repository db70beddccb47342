import GRUTools
import TensorStore
import GRUCore

/// What `verify` prints: the JSON document of docs/JSON.md (every key always present, `null`
/// where a number does not apply), and its text rendering.
struct VerifyReport: Encodable {
    var equivalent: Bool
    var options: VerifyOptions
    var verdicts: [CellVerdict]
    /// The files as given: FILE, OTHER (or nil), REF (or nil).
    var file: String, other: String?, reference: String?

    init(options: VerifyOptions, verdicts: [CellVerdict], file: String, other: String?, reference: String?) {
        self.options = options
        self.verdicts = verdicts
        (self.file, self.other, self.reference) = (file, other, reference)
        equivalent = !verdicts.isEmpty && verdicts.allSatisfy(\.equivalent)
    }

    enum Key: String, CodingKey {
        case equivalent, mode, batch, steps, seed, cells, file, other, referenceFile = "reference_file", unpaired
        case scope, layout, family, otherScope = "other_scope", weightsIdentical = "weights_identical", storedTypes = "stored_types"
        case maxAbsDiff = "max_abs_diff", maxULPDiff = "max_ulp_diff", tolerance
        case fusedVsFloat64 = "fused_vs_float64", explicitVsFloat64 = "explicit_vs_float64"
        case diagnosis, reference, timing = "timing_ms", fused, explicit
        case stepMaxAbsDiff = "step_max_abs_diff", trajectoryMaxAbsDiff = "trajectory_max_abs_diff"
        case withinTolerance = "within_tolerance"
    }

    func encode(to encoder: Encoder) throws {
        var root = encoder.container(keyedBy: Key.self)
        try root.encode(equivalent, forKey: .equivalent)
        try root.encode(file, forKey: .file)
        try root.encode(Nullable(value: other), forKey: .other)
        try root.encode(Nullable(value: reference), forKey: .referenceFile)
        try root.encode(options.mode.rawValue, forKey: .mode)
        try root.encode(options.batch, forKey: .batch)
        try root.encode(options.steps, forKey: .steps)
        try root.encode(options.seed, forKey: .seed)
        var cells = root.nestedUnkeyedContainer(forKey: .cells)
        for v in verdicts {
            var cell = cells.nestedContainer(keyedBy: Key.self)
            try cell.encode(v.scope, forKey: .scope)
            try cell.encode(v.layout, forKey: .layout)
            try cell.encode(v.family?.rawValue, forKey: .family)
            try cell.encode(v.otherScope, forKey: .otherScope)
            try cell.encode(v.equivalent, forKey: .equivalent)
            try cell.encode(v.unpaired, forKey: .unpaired)
            try cell.encode(v.weightsIdentical, forKey: .weightsIdentical)
            try cell.encode(Nullable(value: v.storedTypes), forKey: .storedTypes)
            try cell.encode(finite(v.maxAbsDiff), forKey: .maxAbsDiff)
            try cell.encode(v.maxULPDiff, forKey: .maxULPDiff)
            try cell.encode(finite(v.tolerance), forKey: .tolerance)
            try cell.encode(finite(v.fusedVsFloat64), forKey: .fusedVsFloat64)
            try cell.encode(finite(v.explicitVsFloat64), forKey: .explicitVsFloat64)
            try cell.encode(v.diagnosis, forKey: .diagnosis)
            if let r = v.reference {
                var reference = cell.nestedContainer(keyedBy: Key.self, forKey: .reference)
                try reference.encode(finite(r.stepMaxAbsDiff), forKey: .stepMaxAbsDiff)
                try reference.encode(finite(r.trajectoryMaxAbsDiff), forKey: .trajectoryMaxAbsDiff)
                try reference.encode(r.withinTolerance, forKey: .withinTolerance)
            } else {
                try cell.encodeNil(forKey: .reference)
            }
            if v.fusedMilliseconds != nil || v.explicitMilliseconds != nil {
                var timing = cell.nestedContainer(keyedBy: Key.self, forKey: .timing)
                try timing.encode(v.fusedMilliseconds, forKey: .fused)
                try timing.encode(v.explicitMilliseconds, forKey: .explicit)
            } else {
                try cell.encodeNil(forKey: .timing)
            }
        }
    }

    /// JSON has no NaN or infinity: those become null (the diagnosis says why).
    private func finite(_ value: Double?) -> Double? {
        value.flatMap { $0.isFinite ? $0 : nil }
    }

    /// One block per cell, then the verdict.
    var text: String {
        var out = ""
        for v in verdicts {
            let pair = v.otherScope.map { $0 == v.scope ? "" : " vs \(shown($0))" } ?? ""
            out += "\(v.scope.isEmpty ? "/" : shown(v.scope))\(pair): \(v.equivalent ? "EQUIVALENT" : v.unpaired ? "UNPAIRED" : "NOT EQUIVALENT")\n"
            if v.fusedMilliseconds != nil {
                let weights = !v.weightsIdentical ? "not identical"
                    : v.storedTypes.map { "equal values, every element (stored as \($0): not the same bytes)" } ?? "identical, every element bit for bit"
                out += "  weights   \(weights)\n"
                switch options.mode {
                case .strict:
                    let same = v.maxULPDiff == 0 && v.maxAbsDiff == 0
                    out += "  outputs   " + (same ? "bitwise identical" : "max |Δ| \(number(v.maxAbsDiff)), \(v.maxULPDiff.map(String.init) ?? "-") ULP")
                        + " (strict, B=\(options.batch), T=\(options.steps), seed \(options.seed))\n"
                case .fast:
                    out += "  outputs   max |Δ| per step \(number(v.maxAbsDiff)), bound \(number(v.tolerance))"
                        + " (fast, B=\(options.batch), T=\(options.steps), seed \(options.seed))\n"
                }
                out += "  float64   fused \(number(v.fusedVsFloat64)), explicit \(number(v.explicitVsFloat64)) (max |error| per step)\n"
                if let r = v.reference {
                    out += "  reference step max |Δ| \(number(r.stepMaxAbsDiff)) (\(r.withinTolerance ? "within" : "BEYOND") the bound), "
                        + "free-running max |Δ| \(number(r.trajectoryMaxAbsDiff))\n"
                }
                out += "  time      fused \(number(v.fusedMilliseconds)) ms, explicit \(number(v.explicitMilliseconds)) ms\n"
            }
            for line in v.diagnosis { out += "  ! \(shown(line))\n" }
        }
        let bad = verdicts.filter { !$0.equivalent && !$0.unpaired }.count, unpaired = verdicts.filter(\.unpaired).count
        let parts = [bad > 0 || unpaired == 0 ? "\(bad) of \(verdicts.count) cells differ" : nil,
                     unpaired > 0 ? "\(unpaired) of \(verdicts.count) unpaired" : nil].compactMap { $0 }
        out += equivalent ? "\nequivalent: \(verdicts.count) of \(verdicts.count) cells\n"
                          : "\nNOT equivalent: \(parts.joined(separator: ", "))\n"
        return out
    }

    private func number(_ value: Double?) -> String { value.map(short) ?? "-" }
}
