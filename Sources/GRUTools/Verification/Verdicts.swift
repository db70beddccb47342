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
    /// Sequences per run.
    public var batch: Int
    /// Steps per sequence.
    public var steps: Int
    /// The seed of the random inputs and initial states.
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
    /// The largest difference of any step started from the reference's own previous state.
    public var stepMaxAbsDiff: Double
    /// The largest difference of the free-running outputs.
    public var trajectoryMaxAbsDiff: Double
    /// Every step within its bound (`FastModeTolerance`) and every value finite.
    public var withinTolerance: Bool

    /// A comparison with these measures.
    public init(stepMaxAbsDiff: Double, trajectoryMaxAbsDiff: Double, withinTolerance: Bool) {
        (self.stepMaxAbsDiff, self.trajectoryMaxAbsDiff, self.withinTolerance) = (stepMaxAbsDiff, trajectoryMaxAbsDiff, withinTolerance)
    }
}

/// The verdict on one cell (or pair of cells).
public struct CellVerdict: Sendable {
    /// The cell's scope (in the first file, for two).
    public var scope: String
    /// The layout of the cell (of the first file, for two).
    public var layout: String?
    /// The family the cell was run as.
    public var family: CellFamily?
    /// The paired cell's scope in the second file.
    public var otherScope: String?
    /// The verdict: the two forms (or files) compute the same cell.
    public var equivalent: Bool
    /// Every stored element of the two sides holds the same value (bit for bit when both are stored in
    /// one type; see `storedTypes`).
    public var weightsIdentical: Bool
    /// When two files store the cell in different types: `float32 vs float64` (equal values are then not
    /// the same bytes); nil when the types agree.
    public var storedTypes: String? = nil
    /// Between the two forms compared: free-running in strict mode, per step in fast mode.
    public var maxAbsDiff: Double?
    /// The largest difference in units in the last place.
    public var maxULPDiff: UInt64?
    /// The largest per-step bound allowed in fast mode; nil in strict mode.
    public var tolerance: Double?
    /// The fused form's largest per-step error against the float64 computation of the same cell.
    public var fusedVsFloat64: Double?
    /// The explicit form's largest per-step error against the float64 computation.
    public var explicitVsFloat64: Double?
    /// One line per finding: the mistakes recognised, the differences measured.
    public var diagnosis: [String]
    /// How the cell fared against a reference run, when one was given.
    public var reference: ReferenceComparison?
    /// Milliseconds for one free-running pass of the fused form.
    public var fusedMilliseconds: Double?
    /// Milliseconds for one free-running pass of the explicit form.
    public var explicitMilliseconds: Double?
    /// A cell of one file that no cell of the other pairs with: nothing was compared (not equivalent,
    /// but not shown to differ either).
    public var unpaired = false

    /// A verdict for the cell at `scope` that is not equivalent, with why: how tools outside this package
    /// report a cell they could not check (and how tests build verdicts).
    public static func failed(scope: String, otherScope: String?, diagnosis: [String]) -> CellVerdict {
        CellVerdict(scope: scope, layout: nil, family: nil, otherScope: otherScope, equivalent: false, weightsIdentical: false,
                    diagnosis: diagnosis)
    }
}
