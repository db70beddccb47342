/// A GRU cell that runs a batch of sequences in float32.
public protocol GRUSequenceModel: Sendable {
    var dimensions: CellDimensions { get }

    /// The state after every step, `[B, T, H]`, for `inputs [B, T, I]` from `initialState [B, H]`.
    ///
    /// With `forcedStates [B, T, H]` (teacher forcing), step `t > 0` starts from `forcedStates[:, t-1]`
    /// instead of the state it computed itself, so each step is checked on its own.
    func run(inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?) -> Tensor<Float>
}

extension GRUSequenceModel {
    /// Free-running: every step starts from the previous step's own output.
    public func run(inputs: Tensor<Float>, initialState: Tensor<Float>) -> Tensor<Float> {
        run(inputs: inputs, initialState: initialState, forcedStates: nil)
    }
}

/// The shapes of one run, checked once: `B`, `T`, `I` and `H`.
struct SequenceLayout {
    let batch: Int, steps: Int, inputSize: Int, units: Int

    init(inputs: Tensor<some Any>, initialState: Tensor<some Any>, forcedStates: Tensor<some Any>?,
         dimensions: CellDimensions) {
        precondition(inputs.shape.count == 3 && inputs.shape[2] == dimensions.inputSize,
                     "inputs must be [B, T, \(dimensions.inputSize)], not \(inputs.shape)")
        batch = inputs.shape[0]
        steps = inputs.shape[1]
        inputSize = dimensions.inputSize
        units = dimensions.units
        precondition(initialState.shape == [batch, units], "initial state must be [\(batch), \(units)]")
        if let forcedStates {
            precondition(forcedStates.shape == [batch, steps, units], "forced states must be [\(batch), \(steps), \(units)]")
        }
    }
}

/// How one run is spread over the cores. When the batch gives every thread at least a full tile of rows,
/// each thread runs whole sequences on its own rows (no synchronisation at all: rows never interact);
/// otherwise every step's columns are spread across the threads, with two short barriers a step.
/// Neither choice changes a single bit of the result.
struct RunPlan {
    let rowChunks: [Range<Int>]
    /// Threads for each step's products, inside one chunk.
    let stageWorkers: Int

    init(batch: Int, dimensions: CellDimensions) {
        let workers = workerCount(rows: batch, dimensions: dimensions)
        let tile = 8
        if workers > 1, batch >= tile * workers {
            let per = (batch + workers - 1) / workers
            rowChunks = stride(from: 0, to: batch, by: per).map { $0..<min($0 + per, batch) }
            stageWorkers = 1
        } else {
            rowChunks = [0..<batch]
            stageWorkers = workers
        }
    }
}

/// Per-chunk buffers for one step: the gates `[rows, 2H]` (r then z), the candidate `[rows, H]`,
/// `r∘h` `[rows, H]`, and for the reset-after family the input and recurrent projections `[rows, 3H]`.
/// Owned by the one thread that runs the chunk.
final class StepScratch {
    let gates: UnsafeMutablePointer<Float>, candidate: UnsafeMutablePointer<Float>, reset: UnsafeMutablePointer<Float>
    let projection: UnsafeMutablePointer<Float>, recurrent: UnsafeMutablePointer<Float>

    init(rows: Int, units: Int) {
        gates = .allocate(capacity: max(1, rows * 2 * units))
        candidate = .allocate(capacity: max(1, rows * units))
        reset = .allocate(capacity: max(1, rows * units))
        projection = .allocate(capacity: max(1, rows * 3 * units))
        recurrent = .allocate(capacity: max(1, rows * 3 * units))
    }

    deinit {
        gates.deallocate()
        candidate.deallocate()
        reset.deallocate()
        projection.deallocate()
        recurrent.deallocate()
    }
}

/// Everything one step of one chunk of rows needs: where its input and starting state are, where the
/// new state goes (row strides in elements), its buffers, and how many threads its products may use.
struct Step {
    let t: Int
    let firstRow: Int, rows: Int
    let x: UnsafePointer<Float>, ldx: Int
    let h: UnsafePointer<Float>, ldh: Int
    let out: UnsafeMutablePointer<Float>, ldo: Int
    let scratch: StepScratch
    let workers: Int
}

/// Runs `step` for each time step with the right starting state (the initial state, the previous output,
/// or with teacher forcing the forced state), over the chunks of `plan`, and returns `[B, T, H]`.
func runSteps(inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?,
              layout: SequenceLayout, plan: RunPlan, step: (Step) -> Void) -> Tensor<Float> {
    let (steps, units, inputSize) = (layout.steps, layout.units, layout.inputSize)
    var outputs = [Float](repeating: 0, count: layout.batch * steps * units)
    guard layout.batch > 0, steps > 0 else {
        return Tensor(shape: [layout.batch, steps, units], scalars: outputs)
    }
    inputs.scalars.withUnsafeBufferPointer { x in
        initialState.scalars.withUnsafeBufferPointer { h0 in
            (forcedStates?.scalars ?? []).withUnsafeBufferPointer { forced in
                outputs.withUnsafeMutableBufferPointer { out in
                    let (x, h0, out) = (x.baseAddress!, h0.baseAddress!, out.baseAddress!)
                    let forced = forcedStates == nil ? nil : forced.baseAddress  // an empty array may still have an address
                    func chunk(_ index: Int) {
                        let rows = plan.rowChunks[index]
                        let scratch = StepScratch(rows: rows.count, units: units)
                        let first = rows.lowerBound
                        for t in 0..<steps {
                            let (h, ldh): (UnsafePointer<Float>, Int)
                            if t == 0 {
                                (h, ldh) = (h0 + first * units, units)
                            } else if let forced {
                                (h, ldh) = (forced + (first * steps + t - 1) * units, steps * units)
                            } else {
                                (h, ldh) = (UnsafePointer(out) + (first * steps + t - 1) * units, steps * units)
                            }
                            step(Step(t: t, firstRow: first, rows: rows.count,
                                      x: x + (first * steps + t) * inputSize, ldx: steps * inputSize, h: h, ldh: ldh,
                                      out: out + (first * steps + t) * units, ldo: steps * units,
                                      scratch: scratch, workers: plan.stageWorkers))
                        }
                    }
                    if plan.rowChunks.count == 1 {
                        chunk(0)
                    } else {
                        runInParallel(workers: plan.rowChunks.count, chunk)
                    }
                }
            }
        }
    }
    return Tensor(shape: [layout.batch, steps, units], scalars: outputs)
}
