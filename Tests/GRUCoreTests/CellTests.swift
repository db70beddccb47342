import GRUCore
import Glibc
import Testing

/// The GRU forms of both families on random, asymmetric cells of awkward sizes (tails of every tile),
/// without files.
@Suite struct CellTests {
    /// Random weights stored in `layout` (the family given for a layout that cannot tell).
    static func randomCell(_ layout: LayoutTable, _ d: CellDimensions, seed: UInt64,
                           family: CellFamily? = nil) -> CellWeights<Float> {
        var random = SeededRandom(seed: seed)
        var tensors: [String: Tensor<Float>] = [:]
        for tensor in layout.tensors {
            let shape = tensor.shape(d)
            tensors[tensor.name] = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in random.normal() * 0.4 })
        }
        return try! CellWeights(layout: layout, tensors: tensors, family: family)
    }

    /// The fused layouts run as fused cells: TensorFlow's (reset-before), Keras's of both families and
    /// PyTorch's (reset-after, kernels transposed).
    static let fusedLayouts = ["tf-gru-cell", "keras-reset-before", "keras-reset-after", "torch-gru"]

    static let sizes: [(CellDimensions, Int)] = [
        (CellDimensions(inputSize: 5, units: 4), 3), (CellDimensions(inputSize: 7, units: 33), 9),
        (CellDimensions(inputSize: 1, units: 1), 1), (CellDimensions(inputSize: 130, units: 70), 17),
        (CellDimensions(inputSize: 128, units: 128), 16),   // large enough for whole sequences per thread
        (CellDimensions(inputSize: 256, units: 128), 8),    // each step's columns spread over the thread team
    ]

    static let cases = fusedLayouts.flatMap { layout in sizes.indices.map { (layout, $0) } }

    @Test(arguments: fusedLayouts)
    func splitThenFuseIsBitwiseIdentical(_ name: String) throws {
        let cell = Self.randomCell(LayoutTable.named(name)!, CellDimensions(inputSize: 7, units: 33), seed: 1)
        let back = try cell.layout.fuse(cell.explicitForm)
        for tensor in cell.layout.tensorNames {
            #expect(ErrorMeasures.between(back[tensor]!.scalars, cell.stored[tensor]!.scalars).isBitwiseIdentical)
        }
    }

    /// The blocks move elements, not values: bit patterns (float16 as UInt16) land where the table says.
    @Test func splitAndFuseMoveRawElements() throws {
        let d = CellDimensions(inputSize: 3, units: 2)
        func numbered(_ layout: LayoutTable) -> [String: Tensor<UInt16>] {
            var next: UInt16 = 0
            return Dictionary(uniqueKeysWithValues: layout.tensors.map { tensor in
                let shape = tensor.shape(d)
                return (tensor.name, Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in next += 1; return next }))
            })
        }
        let tf = numbered(.tfGRUCell)
        let explicit = try LayoutTable.tfGRUCell.split(tf, dimensions: d, family: .resetBefore)
        // Kg is [5, 4] holding 1...20 row by row: Wr is rows 0..<3, columns 0..<2.
        #expect(explicit[.Wr].scalars == [1, 2, 5, 6, 9, 10])
        #expect(explicit[.Uz].scalars == [15, 16, 19, 20])
        #expect(explicit[.bz].scalars == [23, 24])
        #expect(try LayoutTable.tfGRUCell.fuse(explicit)["gates/kernel"] == tf["gates/kernel"])
        // Keras: kernel [3, 6] holds 1...18, recurrent_kernel [2, 6] 19...30, bias [2, 6] 31...42; columns z, r, h.
        let keras = numbered(.kerasResetAfter)
        let split = try LayoutTable.kerasResetAfter.split(keras, dimensions: d, family: .resetAfter)
        #expect(split[.Wz].scalars == [1, 2, 7, 8, 13, 14])
        #expect(split[.Wr].scalars == [3, 4, 9, 10, 15, 16])
        #expect(split[.Uh].scalars == [23, 24, 29, 30])
        #expect(split[.br].scalars == [33, 34])
        #expect(split[.bUh].scalars == [41, 42])
        #expect(try LayoutTable.kerasResetAfter.fuse(split)["bias"] == keras["bias"])
    }

    @Test func wrongShapesAreRefused() {
        let d = CellDimensions(inputSize: 3, units: 2)
        var tensors: [String: Tensor<Float>] = [:]
        for tensor in LayoutTable.tfGRUCell.tensors {
            let shape = tensor.shape(d)
            tensors[tensor.name] = Tensor(shape: shape, scalars: Array(repeating: 0, count: shape.reduce(1, *)))
        }
        tensors["gates/bias"] = Tensor(shape: [3], scalars: [0, 0, 0])
        #expect(throws: WeightsError.self) { try CellWeights(layout: .tfGRUCell, tensors: tensors) }
    }

    /// A layout of one family cannot hold the other's weights, and a Keras cell without a bias needs its family.
    @Test func familiesAreNeverMixedOrGuessed() throws {
        let d = CellDimensions(inputSize: 3, units: 2)
        let after = Self.randomCell(.kerasResetAfter, d, seed: 3)
        #expect(throws: WeightsError.self) { try LayoutTable.tfGRUCell.fuse(after.explicitForm) }
        var tensors = after.stored
        tensors["bias"] = nil
        #expect(throws: WeightsError.self) { try CellWeights(layout: .kerasNoBias, tensors: tensors) }
        #expect(throws: WeightsError.self) { try CellWeights(layout: .kerasResetAfter, tensors: after.stored, family: .resetBefore) }
        let declared = try CellWeights(layout: .kerasNoBias, tensors: tensors, family: .resetAfter)
        #expect(declared.family == .resetAfter)
        #expect(declared.explicitForm[.bUh].scalars == [0, 0])
    }

    @Test(arguments: cases)
    func strictFormsAreBitwiseIdentical(_ layout: String, _ index: Int) {
        let (d, batch) = Self.sizes[index]
        let cell = Self.randomCell(LayoutTable.named(layout)!, d, seed: UInt64(index))
        var random = SeededRandom(seed: 99)
        let (x, h0) = random.sequence(batch: batch, steps: 6, dimensions: d)
        let a = StrictFusedCell(cell).run(inputs: x, initialState: h0)
        let b = StrictExplicitCell(cell.explicitForm).run(inputs: x, initialState: h0)
        #expect(ErrorMeasures.between(a.scalars, b.scalars).isBitwiseIdentical)
        #expect(a.scalars.allSatisfy { $0.isFinite })
    }

    /// Negative control: one weight one ULP away is no longer bitwise identical, in either family.
    @Test(arguments: fusedLayouts)
    func oneULPInOneWeightBreaksBitwiseIdentity(_ layout: String) throws {
        let d = CellDimensions(inputSize: 7, units: 33)
        let cell = Self.randomCell(LayoutTable.named(layout)!, d, seed: 5)
        var uh = cell.explicitForm[.Uh]
        // The largest weight: its product dominates its sums, so one ULP of it shows in the outputs.
        let largest = uh.scalars.indices.max { abs(uh.scalars[$0]) < abs(uh.scalars[$1]) }!
        uh.scalars[largest] = uh.scalars[largest].nextUp
        var random = SeededRandom(seed: 8)
        let (x, h0) = random.sequence(batch: 9, steps: 6, dimensions: d)
        let a = StrictFusedCell(cell).run(inputs: x, initialState: h0)
        let b = StrictExplicitCell(try cell.explicitForm.replacing([.Uh: uh])).run(inputs: x, initialState: h0)
        #expect(!ErrorMeasures.between(a.scalars, b.scalars).isBitwiseIdentical)
    }

    /// Negative control: the same weights run as the other family are caught (reset placement flipped).
    @Test(arguments: fusedLayouts)
    func theOtherFamilyIsNotIdentical(_ layout: String) throws {
        let d = CellDimensions(inputSize: 7, units: 33)
        let cell = Self.randomCell(LayoutTable.named(layout)!, d, seed: 6)
        let explicit = cell.explicitForm
        let zero = Tensor<Float>(shape: [d.units], scalars: Array(repeating: 0, count: d.units))
        let flipped = explicit.family == .resetBefore
            ? try explicit.replacing([.bUr: zero, .bUz: zero, .bUh: zero], family: .resetAfter)
            : try explicit.replacing([:], family: .resetBefore)
        var random = SeededRandom(seed: 8)
        let (x, h0) = random.sequence(batch: 9, steps: 6, dimensions: d)
        let a = StrictFusedCell(cell).run(inputs: x, initialState: h0)
        let b = StrictExplicitCell(flipped).run(inputs: x, initialState: h0)
        #expect(ErrorMeasures.between(a.scalars, b.scalars).maxAbsolute > 1e-3)
    }

    /// Fast forms agree with each other and with float64 within the derived bound, step by step.
    @Test(arguments: cases)
    func fastFormsAreWithinTheDerivedBound(_ layout: String, _ index: Int) {
        let (d, batch) = Self.sizes[index]
        let cell = Self.randomCell(LayoutTable.named(layout)!, d, seed: UInt64(index) + 10)
        var random = SeededRandom(seed: 98)
        let (x, h0) = random.sequence(batch: batch, steps: 6, dimensions: d)
        let wide = { (t: Tensor<Float>) in Tensor(shape: t.shape, scalars: t.scalars.map(Double.init)) }
        let truth = Float64Cell(cell.explicitForm).run(inputs: wide(x), initialState: wide(h0))
        let states = Tensor(shape: truth.shape, scalars: truth.scalars.map { Float($0) })
        let bounds = FastModeTolerance(cell).bounds(inputs: x, initialState: h0, states: states)
        let models: [any GRUSequenceModel] = [FastFusedCell(cell), FastExplicitCell(cell.explicitForm),
                                              StrictFusedCell(cell), StrictExplicitCell(cell.explicitForm)]
        for model in models {
            let out = model.run(inputs: x, initialState: h0, forcedStates: states)
            let worst = zip(out.scalars, truth.scalars).enumerated().map { n, p in abs(Double(p.0) - p.1) / bounds[n / d.units] }.max()!
            #expect(worst <= 1, "\(layout) \(type(of: model)): worst error is \(worst) of the bound")
        }
    }

    /// Negative control: the bound is tight enough that the classic wrong cells exceed it, in both families.
    @Test(arguments: fusedLayouts.flatMap { layout in Float64Cell.Variant.allCases.filter { $0 != .exact }.map { (layout, $0) } })
    func theBoundRejectsEveryWrongCell(_ layout: String, _ variant: Float64Cell.Variant) {
        let d = CellDimensions(inputSize: 7, units: 33)
        let cell = Self.randomCell(LayoutTable.named(layout)!, d, seed: 21)
        var random = SeededRandom(seed: 97)
        let (x, h0) = random.sequence(batch: 4, steps: 6, dimensions: d)
        let wide = { (t: Tensor<Float>) in Tensor(shape: t.shape, scalars: t.scalars.map(Double.init)) }
        let truth = Float64Cell(cell.explicitForm).run(inputs: wide(x), initialState: wide(h0))
        let wrong = Float64Cell(cell.explicitForm, variant: variant).run(inputs: wide(x), initialState: wide(h0), forcedStates: truth)
        let states = Tensor(shape: truth.shape, scalars: truth.scalars.map { Float($0) })
        let bounds = FastModeTolerance(cell).bounds(inputs: x, initialState: h0, states: states)
        let exceeds = zip(wrong.scalars, truth.scalars).enumerated().contains { n, p in abs(p.0 - p.1) > bounds[n / d.units] }
        #expect(exceeds)
        #expect(bounds.max()! < 1e-3)
    }

    /// The float64 reset-after cell is the formula of FRAMEWORK_LAYOUTS.md §2, computed here by hand for one step.
    @Test func float64ResetAfterIsTheDocumentedFormula() {
        let d = CellDimensions(inputSize: 2, units: 1)
        let cell = Self.randomCell(.kerasResetAfter, d, seed: 40).explicitForm.map { Double($0) }
        let x = [0.3, -0.7], h = 0.4
        func w(_ t: ExplicitTensor) -> [Double] { cell[t].scalars }
        let sigmoid = { (v: Double) in 1 / (1 + exp(-v)) }
        let r = sigmoid(x[0] * w(.Wr)[0] + x[1] * w(.Wr)[1] + w(.br)[0] + h * w(.Ur)[0] + w(.bUr)[0])
        let z = sigmoid(x[0] * w(.Wz)[0] + x[1] * w(.Wz)[1] + w(.bz)[0] + h * w(.Uz)[0] + w(.bUz)[0])
        let c = tanh(x[0] * w(.Wh)[0] + x[1] * w(.Wh)[1] + w(.bh)[0] + r * (h * w(.Uh)[0] + w(.bUh)[0]))
        let expected = z * h + (1 - z) * c
        let out = Float64Cell(cell).run(inputs: Tensor(shape: [1, 1, 2], scalars: x), initialState: Tensor(shape: [1, 1], scalars: [h]))
        #expect(abs(out.scalars[0] - expected) < 1e-15)
        // Negative control: the reset-before candidate gives another number.
        let before = tanh(x[0] * w(.Wh)[0] + x[1] * w(.Wh)[1] + w(.bh)[0] + r * h * w(.Uh)[0] + w(.bUh)[0])
        #expect(abs(out.scalars[0] - (z * h + (1 - z) * before)) > 1e-6)
    }

    @Test func teacherForcingStartsEachStepFromTheGivenState() {
        let d = CellDimensions(inputSize: 3, units: 2)
        for layout in Self.fusedLayouts {
            let cell = Self.randomCell(LayoutTable.named(layout)!, d, seed: 30)
            var random = SeededRandom(seed: 31)
            let (x, h0) = random.sequence(batch: 2, steps: 4, dimensions: d)
            let free = StrictFusedCell(cell).run(inputs: x, initialState: h0)
            // Forcing with the free run's own states reproduces it exactly...
            let same = StrictFusedCell(cell).run(inputs: x, initialState: h0, forcedStates: free)
            #expect(ErrorMeasures.between(free.scalars, same.scalars).isBitwiseIdentical)
            // ...and forcing with other states changes every step after the first.
            let zeros = Tensor(shape: free.shape, scalars: Array(repeating: Float(0), count: free.scalars.count))
            let forced = StrictFusedCell(cell).run(inputs: x, initialState: h0, forcedStates: zeros)
            #expect(forced.scalars[0..<2] == free.scalars[0..<2])
            #expect(forced.scalars[2..<4] != free.scalars[2..<4])
        }
    }
}

/// Bias mistakes of the reset-after family named from the weights alone.
@Suite struct BiasMistakeTests {
    static func weights(_ bias: (ExplicitTensor, Int) -> Double) throws -> ExplicitWeights<Double> {
        let d = CellDimensions(inputSize: 2, units: 3)
        var tensors: [ExplicitTensor: Tensor<Double>] = [:]
        for (n, tensor) in ExplicitTensor.tensors(of: .resetAfter).enumerated() {
            let shape = tensor.shape(d)
            let isBias = tensor.role == .inputBias || tensor.role == .recurrentBias
            var scalars: [Double] = []
            for i in 0..<shape.reduce(1, *) {
                let kernel = Double((n * 7 + i * 3) % 11) / 11 - 0.5
                scalars.append(isBias ? bias(tensor, i) : kernel)
            }
            tensors[tensor] = Tensor(shape: shape, scalars: scalars)
        }
        return try ExplicitWeights(tensors, family: .resetAfter)
    }

    static func original(_ tensor: ExplicitTensor, _ i: Int) -> Double {
        let step = Double(i)
        return tensor.role == .inputBias ? 0.25 + step / 8 : -0.5 + step / 16
    }

    /// The two biases summed and halved into both rows (how a reset-before bias is often spread over a
    /// reset-after cell's two) is named; exchanging them is named otherwise (the negative control).
    @Test func halvedBiasesAreNamed() throws {
        let reference = CellWeights(try Self.weights(Self.original))
        let halved = CellWeights(try Self.weights { tensor, i in
            let input: Double = Self.original(ExplicitTensor(.inputBias, tensor.gate), i)
            let recurrent: Double = Self.original(ExplicitTensor(.recurrentBias, tensor.gate), i)
            return (input + recurrent) / 2
        })
        #expect(WeightsDiagnosis.explain(reference: reference, candidate: halved) == [
            "the two biases summed and halved into both (br, bz, bh and bUr, bUz, bUh each hold (b + bU)/2: a reset-before "
            + "bias split evenly, which a reset-after cell does not compute alike)"])
        let exchanged = CellWeights(try Self.weights { tensor, i in
            Self.original(ExplicitTensor(tensor.role == .inputBias ? .recurrentBias : .inputBias, tensor.gate), i)
        })
        #expect(WeightsDiagnosis.explain(reference: reference, candidate: exchanged)
                == ["the input and recurrent bias rows swapped (b and bU exchanged for every gate)"])
        #expect(WeightsDiagnosis.explain(reference: reference, candidate: reference).isEmpty)
    }
}
