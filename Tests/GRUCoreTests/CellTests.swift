import GRUCore
import Testing

/// The GRU forms on random, asymmetric cells of awkward sizes (tails of every tile), without files.
@Suite struct CellTests {
    static func randomFused(_ d: CellDimensions, seed: UInt64) -> FusedWeights<Float> {
        var random = SeededRandom(seed: seed)
        var tensors: [FusedTensor: Tensor<Float>] = [:]
        for tensor in FusedTensor.allCases {
            let shape = tensor.shape(d)
            tensors[tensor] = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in random.normal() * 0.4 })
        }
        return try! FusedWeights(tensors)
    }

    static let sizes: [(CellDimensions, Int)] = [
        (CellDimensions(inputSize: 5, units: 4), 3), (CellDimensions(inputSize: 7, units: 33), 9),
        (CellDimensions(inputSize: 1, units: 1), 1), (CellDimensions(inputSize: 130, units: 70), 17),
        (CellDimensions(inputSize: 128, units: 128), 16),   // large enough to run on the thread team
    ]

    @Test func splitThenFuseIsBitwiseIdentical() {
        let fused = Self.randomFused(CellDimensions(inputSize: 7, units: 33), seed: 1)
        let back = fused.split().fused()
        for tensor in FusedTensor.allCases {
            #expect(ErrorMeasures.between(back[tensor].scalars, fused[tensor].scalars).isBitwiseIdentical)
        }
    }

    /// Conversion moves raw elements: the same blocks work on bit patterns (float16 as UInt16).
    @Test func splitAndFuseMoveRawElements() throws {
        let d = CellDimensions(inputSize: 3, units: 2)
        var tensors: [FusedTensor: Tensor<UInt16>] = [:]
        var next: UInt16 = 0
        for tensor in FusedTensor.allCases {
            let shape = tensor.shape(d)
            tensors[tensor] = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in next += 1; return next })
        }
        let fused = try FusedWeights(tensors)
        let explicit = fused.split()
        // Kg is [5, 4] holding 1...20 row by row: Wr is rows 0..<3, columns 0..<2.
        #expect(explicit[.Wr].scalars == [1, 2, 5, 6, 9, 10])
        #expect(explicit[.Uz].scalars == [15, 16, 19, 20])
        #expect(explicit[.bz].scalars == [23, 24])
        #expect(explicit.fused()[.gateKernel] == fused[.gateKernel])
    }

    @Test func wrongShapesAreRefused() {
        let d = CellDimensions(inputSize: 3, units: 2)
        var tensors: [FusedTensor: Tensor<Float>] = [:]
        for tensor in FusedTensor.allCases {
            let shape = tensor.shape(d)
            tensors[tensor] = Tensor(shape: shape, scalars: Array(repeating: 0, count: shape.reduce(1, *)))
        }
        tensors[.gateBias] = Tensor(shape: [3], scalars: [0, 0, 0])
        #expect(throws: WeightsError.self) { try FusedWeights(tensors) }
    }

    @Test(arguments: sizes.indices)
    func strictFormsAreBitwiseIdentical(_ index: Int) {
        let (d, batch) = Self.sizes[index]
        let fused = Self.randomFused(d, seed: UInt64(index))
        var random = SeededRandom(seed: 99)
        let (x, h0) = random.sequence(batch: batch, steps: 6, dimensions: d)
        let a = StrictFusedCell(fused).run(inputs: x, initialState: h0)
        let b = StrictExplicitCell(fused.split()).run(inputs: x, initialState: h0)
        #expect(ErrorMeasures.between(a.scalars, b.scalars).isBitwiseIdentical)
        #expect(a.scalars.allSatisfy { $0.isFinite })
    }

    /// Negative control: one weight one ULP away is no longer bitwise identical.
    @Test func oneULPInOneWeightBreaksBitwiseIdentity() throws {
        let d = CellDimensions(inputSize: 7, units: 33)
        let fused = Self.randomFused(d, seed: 5)
        var tensors: [ExplicitTensor: Tensor<Float>] = [:]
        let explicit = fused.split()
        for t in ExplicitTensor.allCases { tensors[t] = explicit[t] }
        tensors[.Uh]!.scalars[40] = tensors[.Uh]!.scalars[40].nextUp
        var random = SeededRandom(seed: 8)
        let (x, h0) = random.sequence(batch: 9, steps: 6, dimensions: d)
        let a = StrictFusedCell(fused).run(inputs: x, initialState: h0)
        let b = StrictExplicitCell(try ExplicitWeights(tensors)).run(inputs: x, initialState: h0)
        #expect(!ErrorMeasures.between(a.scalars, b.scalars).isBitwiseIdentical)
    }

    /// Fast forms agree with each other and with float64 within the derived bound, step by step.
    @Test(arguments: sizes.indices)
    func fastFormsAreWithinTheDerivedBound(_ index: Int) {
        let (d, batch) = Self.sizes[index]
        let fused = Self.randomFused(d, seed: UInt64(index) + 10)
        var random = SeededRandom(seed: 98)
        let (x, h0) = random.sequence(batch: batch, steps: 6, dimensions: d)
        let wide = { (t: Tensor<Float>) in Tensor(shape: t.shape, scalars: t.scalars.map(Double.init)) }
        let truth = Float64Cell(fused.split()).run(inputs: wide(x), initialState: wide(h0))
        let states = Tensor(shape: truth.shape, scalars: truth.scalars.map { Float($0) })
        let bounds = FastModeTolerance(fused).bounds(inputs: x, initialState: h0, states: states)
        let models: [any GRUSequenceModel] = [FastFusedCell(fused), FastExplicitCell(fused.split()),
                                              StrictFusedCell(fused)]
        for model in models {
            let out = model.run(inputs: x, initialState: h0, forcedStates: states)
            let worst = zip(out.scalars, truth.scalars).enumerated().map { n, p in abs(Double(p.0) - p.1) / bounds[n / d.units] }.max()!
            #expect(worst <= 1, "\(type(of: model)): worst error is \(worst) of the bound")
        }
    }

    /// Negative control: the bound is tight enough that the classic wrong cells exceed it.
    @Test(arguments: Float64Cell.Variant.allCases.filter { $0 != .tensorflow })
    func theBoundRejectsEveryWrongCell(_ variant: Float64Cell.Variant) {
        let d = CellDimensions(inputSize: 7, units: 33)
        let fused = Self.randomFused(d, seed: 21)
        var random = SeededRandom(seed: 97)
        let (x, h0) = random.sequence(batch: 4, steps: 6, dimensions: d)
        let wide = { (t: Tensor<Float>) in Tensor(shape: t.shape, scalars: t.scalars.map(Double.init)) }
        let truth = Float64Cell(fused.split()).run(inputs: wide(x), initialState: wide(h0))
        let wrong = Float64Cell(fused.split(), variant: variant).run(inputs: wide(x), initialState: wide(h0), forcedStates: truth)
        let states = Tensor(shape: truth.shape, scalars: truth.scalars.map { Float($0) })
        let bounds = FastModeTolerance(fused).bounds(inputs: x, initialState: h0, states: states)
        let exceeds = zip(wrong.scalars, truth.scalars).enumerated().contains { n, p in abs(p.0 - p.1) > bounds[n / d.units] }
        #expect(exceeds)
        #expect(bounds.max()! < 1e-3)
    }

    @Test func teacherForcingStartsEachStepFromTheGivenState() {
        let d = CellDimensions(inputSize: 3, units: 2)
        let fused = Self.randomFused(d, seed: 30)
        var random = SeededRandom(seed: 31)
        let (x, h0) = random.sequence(batch: 2, steps: 4, dimensions: d)
        let free = StrictFusedCell(fused).run(inputs: x, initialState: h0)
        // Forcing with the free run's own states reproduces it exactly...
        let same = StrictFusedCell(fused).run(inputs: x, initialState: h0, forcedStates: free)
        #expect(ErrorMeasures.between(free.scalars, same.scalars).isBitwiseIdentical)
        // ...and forcing with other states changes every step after the first.
        let zeros = Tensor(shape: free.shape, scalars: Array(repeating: Float(0), count: free.scalars.count))
        let forced = StrictFusedCell(fused).run(inputs: x, initialState: h0, forcedStates: zeros)
        #expect(forced.scalars[0..<2] == free.scalars[0..<2])
        #expect(forced.scalars[2..<4] != free.scalars[2..<4])
    }
}
