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

/// The shapes of one run, checked once: `B`, `T`, and where step `t`'s input and starting state are.
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

    /// Offset and row stride of step `t`'s input rows in `[B, T, I]`.
    func input(_ t: Int) -> (offset: Int, stride: Int) { (t * inputSize, steps * inputSize) }
    /// Offset and row stride of step `t`'s output rows in `[B, T, H]`.
    func output(_ t: Int) -> (offset: Int, stride: Int) { (t * units, steps * units) }
}

/// Runs `step` for each time step with the right starting state: the initial state, the previous output,
/// or (teacher forcing) the forced state. `step(t, x, ldx, h, ldh, out, ldo)` writes the new state.
func runSteps(
    inputs: Tensor<Float>, initialState: Tensor<Float>, forcedStates: Tensor<Float>?, layout: SequenceLayout,
    step: (Int, UnsafePointer<Float>, Int, UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>, Int) -> Void
) -> Tensor<Float> {
    var outputs = [Float](repeating: 0, count: layout.batch * layout.steps * layout.units)
    guard layout.batch > 0, layout.steps > 0 else {
        return Tensor(shape: [layout.batch, layout.steps, layout.units], scalars: outputs)
    }
    inputs.scalars.withUnsafeBufferPointer { x in
        initialState.scalars.withUnsafeBufferPointer { h0 in
            (forcedStates?.scalars ?? []).withUnsafeBufferPointer { forced in
                outputs.withUnsafeMutableBufferPointer { out in
                    for t in 0..<layout.steps {
                        let (xOffset, ldx) = layout.input(t)
                        let (outOffset, ldo) = layout.output(t)
                        let (h, ldh): (UnsafePointer<Float>, Int)
                        if t == 0 {
                            (h, ldh) = (h0.baseAddress!, layout.units)
                        } else if forcedStates != nil {
                            (h, ldh) = (forced.baseAddress! + layout.output(t - 1).offset, ldo)
                        } else {
                            (h, ldh) = (UnsafePointer(out.baseAddress!) + layout.output(t - 1).offset, ldo)
                        }
                        step(t, x.baseAddress! + xOffset, ldx, h, ldh, out.baseAddress! + outOffset, ldo)
                    }
                }
            }
        }
    }
    return Tensor(shape: [layout.batch, layout.steps, layout.units], scalars: outputs)
}
