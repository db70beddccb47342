import GRUCore
import TensorStore

/// How `verify` decides that two forms compute the same cell.
public enum VerifyMode: String, CaseIterable, Sendable {
    /// Both forms on the strict path: outputs must be bitwise identical.
    case strict
    /// Both forms on the fast path: each step within the bound of `FastModeTolerance`.
    case fast
}

/// The run `verify` makes: random inputs of this size from this seed.
public struct VerifyOptions: Sendable {
    /// Strict or fast.
    public var mode: VerifyMode
    public var batch: Int
    public var steps: Int
    public var seed: UInt64
    /// The family of cells whose tensors cannot tell it (a Keras cell without a bias); such a cell is
    /// refused when this is nil. Cells whose tensors tell their family keep it.
    public var declaredFamily: CellFamily?

    /// Options; by default strict, a batch of 8 sequences of 32 steps from seed 0.
    public init(mode: VerifyMode = .strict, batch: Int = 8, steps: Int = 32, seed: UInt64 = 0, declaredFamily: CellFamily? = nil) {
        (self.mode, self.batch, self.steps, self.seed) = (mode, batch, steps, seed)
        self.declaredFamily = declaredFamily
    }
}

/// How one cell fared against a reference run (`--reference`): step by step from the reference's own
/// states (the verdict), and free-running (reported beside it).
public struct ReferenceComparison: Sendable {
    public var stepMaxAbsDiff: Double
    public var trajectoryMaxAbsDiff: Double
    /// Every step within its bound (`FastModeTolerance`) and every value finite.
    public var withinTolerance: Bool
}

/// The verdict on one cell (or pair of cells).
public struct CellVerdict: Sendable {
    public var scope: String
    /// The layout of the cell (of the first file, for two).
    public var layout: String?
    /// The family the cell was run as.
    public var family: CellFamily?
    public var otherScope: String?
    public var equivalent: Bool
    public var weightsIdentical: Bool
    /// Between the two forms compared: free-running in strict mode, per step in fast mode.
    public var maxAbsDiff: Double?
    public var maxULPDiff: UInt64?
    /// The largest per-step bound allowed in fast mode; nil in strict mode.
    public var tolerance: Double?
    /// Each form's largest per-step error against the float64 computation of the same cell.
    public var fusedVsFloat64: Double?
    public var explicitVsFloat64: Double?
    public var diagnosis: [String]
    public var reference: ReferenceComparison?
    /// Milliseconds for one free-running pass of each form.
    public var fusedMilliseconds: Double?
    public var explicitMilliseconds: Double?

    static func failed(scope: String, otherScope: String?, diagnosis: [String]) -> CellVerdict {
        CellVerdict(scope: scope, layout: nil, family: nil, otherScope: otherScope, equivalent: false, weightsIdentical: false,
                    diagnosis: diagnosis)
    }
}
