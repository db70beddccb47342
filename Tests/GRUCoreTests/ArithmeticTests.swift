import CGRUKernels
import GRUCore
import Testing
import Glibc

/// The activations, the error measures and the strict kernel, against float64 and against themselves.
@Suite struct ArithmeticTests {
    /// Every float in [lo, hi) on a fine grid plus the edges.
    func sweep(_ lo: Float, _ hi: Float, count: Int = 200_000) -> [Float] {
        (0..<count).map { lo + (hi - lo) * Float($0) / Float(count) } + [lo, hi, 0, -0.0, .leastNormalMagnitude]
    }

    func maxULP(_ values: [Float], _ f: (UnsafeMutablePointer<Float>?, Int) -> Void, _ exact: (Double) -> Double) -> UInt64 {
        var out = values
        f(&out, out.count)
        return zip(values, out).map { x, y in ulpDistance(y, Float(exact(Double(x)))) ?? .max }.max()!
    }

    @Test func expIsWithinTwoULP() {
        #expect(maxULP(sweep(-87, 88), gk_exp, Glibc.exp) <= 2)
    }

    @Test func sigmoidIsWithinThreeULP() {
        #expect(maxULP(sweep(-80, 80), gk_sigmoid) { 1 / (1 + Glibc.exp(-$0)) } <= 3)
    }

    @Test func tanhIsWithinThreeULP() {
        #expect(maxULP(sweep(-20, 20), gk_tanh, Glibc.tanh) <= 3)
        #expect(maxULP(sweep(-1e-3, 1e-3), gk_tanh, Glibc.tanh) <= 3)   // near zero, where 1 - 2/(e+1) would cancel
    }

    /// Negative control for the three checks above: a measure that can see a one-ULP error.
    @Test func theULPMeasureSeesOneULP() {
        let x: [Float] = [0.5]
        #expect(maxULP(x, { p, n in gk_tanh(p, n); p![0] = p![0].nextUp }, Glibc.tanh) >= 1)
    }

    @Test func activationsSaturateAndKeepNaN() {
        var values: [Float] = [-1000, 1000, .nan, .infinity, -.infinity]
        var sig = values
        gk_sigmoid(&sig, sig.count)
        #expect(sig[0] >= 0 && sig[0] < 1e-37)
        #expect(sig[1] == 1)
        #expect(sig[2].isNaN)
        #expect(sig[3] == 1 && sig[4] >= 0 && sig[4] < 1e-37)
        gk_tanh(&values, values.count)
        #expect(values[0] == -1 && values[1] == 1 && values[2].isNaN && values[3] == 1 && values[4] == -1)
    }

    /// The portable variants (separate multiplies and adds, used where the CPU has no FMA) meet the same
    /// bounds; their bits may differ from the FMA variants', which is why the strict path promises bitwise
    /// equality between the two forms on one machine, not across machines.
    @Test func portableActivationsMeetTheSameBounds() {
        #expect(maxULP(sweep(-80, 80), gk_sigmoid_baseline) { 1 / (1 + Glibc.exp(-$0)) } <= 3)
        #expect(maxULP(sweep(-20, 20), gk_tanh_baseline, Glibc.tanh) <= 3)
    }

    // MARK: - ULPs and error measures

    @Test func ulpDistanceHandlesZeroSignsAndNaN() {
        #expect(ulpDistance(Float(0), -Float(0)) == 0)
        #expect(ulpDistance(Float(1), Float(1).nextUp) == 1)
        #expect(ulpDistance(Float.leastNonzeroMagnitude, -Float.leastNonzeroMagnitude) == 2)
        #expect(ulpDistance(Float.greatestFiniteMagnitude, .infinity) == 1)
        #expect(ulpDistance(Float.nan, 1) == nil)
        #expect(ulpDistance(Double(1), Double(1).nextDown) == 1)
    }

    @Test func errorMeasuresCountNonFiniteSeparately() {
        let m = ErrorMeasures.between([1, .nan, 3, .infinity, -0.0], [1, .nan, 3.5, .infinity, 0])
        #expect(m.nonFinite == 2)
        #expect(m.maxAbsolute == 0.5)
        #expect(m.maxULP == ulpDistance(Float(3), Float(3.5)))
        #expect(m.bitwiseDifferent == 2)   // 3 against 3.5, and -0 against +0
        #expect(!m.isBitwiseIdentical)
        #expect(ErrorMeasures.between([1, 2], [1, 2]).isBitwiseIdentical)
    }

    @Test func errorAgainstFloat64() {
        let next = Double(Float(2).nextUp)
        let m = ErrorMeasures.between([1, 2], reference: [1, next])
        #expect(m.maxAbsolute == next - 2)
        #expect(m.maxULP == 1)
        #expect(m.maxRelative == (next - 2) / next)
        // Within half an ULP of float32, the reference rounds to the same float: 0 ULP, but not 0 error.
        let close = ErrorMeasures.between([2], reference: [2 + 1e-8])
        #expect(close.maxULP == 0 && close.maxAbsolute > 0)
    }

    // MARK: - The strict kernel

    /// A product computed in one call, panel by panel in any order, or in row blocks gives the same bits:
    /// each element is a fixed chain whatever the tiling (the property the strict path rests on).
    @Test(arguments: [(1, 5, 7), (9, 33, 65), (17, 64, 31), (3, 1, 1)])
    func strictProductIsIndependentOfTiling(rows: Int, depth: Int, columns: Int) {
        var random = SeededRandom(seed: 3)
        let a = (0..<(rows * depth)).map { _ in random.normal() }
        let w = (0..<(depth * columns)).map { _ in random.normal() }
        var packed = [Float](repeating: 0, count: gk_packed_size(depth, columns))
        gk_pack(depth, columns, w, columns, &packed)
        let panels = (columns + 31) / 32
        var whole = [Float](repeating: 0, count: rows * columns)
        gk_strict_accumulate(rows, depth, columns, a, depth, packed, 0, panels, &whole, columns)
        var pieces = [Float](repeating: 0, count: rows * columns)
        for p in (0..<panels).reversed() {
            for r in 0..<rows {
                a.withUnsafeBufferPointer { a in
                    pieces.withUnsafeMutableBufferPointer { out in
                        gk_strict_accumulate(1, depth, columns, a.baseAddress! + r * depth, depth, packed, p, p + 1,
                                             out.baseAddress! + r * columns, columns)
                    }
                }
            }
        }
        #expect(ErrorMeasures.between(whole, pieces).isBitwiseIdentical)
        // And it is the product: compare with float64.
        let exact = (0..<(rows * columns)).map { n in
            (0..<depth).reduce(0.0) { $0 + Double(a[(n / columns) * depth + $1]) * Double(w[$1 * columns + n % columns]) }
        }
        #expect(ErrorMeasures.between(whole, reference: exact).maxAbsolute < 1e-4)
    }

    /// The portable kernel (the one machines without FMA run) is a multiply then an add per k, in order:
    /// exactly the plain loop below, whatever the tiling; and it differs from the FMA kernel's bits.
    @Test(arguments: [(9, 33, 65), (3, 1, 1)])
    func portableKernelIsThePlainLoop(rows: Int, depth: Int, columns: Int) {
        var random = SeededRandom(seed: 5)
        let a = (0..<(rows * depth)).map { _ in random.normal() }
        let w = (0..<(depth * columns)).map { _ in random.normal() }
        var packed = [Float](repeating: 0, count: gk_packed_size(depth, columns))
        gk_pack(depth, columns, w, columns, &packed)
        let panels = (columns + 31) / 32
        var portable = [Float](repeating: 0, count: rows * columns)
        gk_strict_accumulate_baseline(rows, depth, columns, a, depth, packed, 0, panels, &portable, columns)
        let plain = (0..<(rows * columns)).map { n in
            (0..<depth).reduce(Float(0)) { sum, k in
                let product = a[(n / columns) * depth + k] * w[k * columns + n % columns]
                return sum + product
            }
        }
        #expect(ErrorMeasures.between(portable, plain).isBitwiseIdentical)
        if depth > 8 {
            var dispatched = [Float](repeating: 0, count: rows * columns)
            gk_strict_accumulate(rows, depth, columns, a, depth, packed, 0, panels, &dispatched, columns)
            if String(cString: gk_instruction_set()) != "baseline" {
                #expect(!ErrorMeasures.between(portable, dispatched).isBitwiseIdentical)   // FMA rounds once, not twice
            }
        }
    }

    /// Negative control: summing in another order (descending k) does change bits somewhere.
    @Test func anotherSummationOrderChangesBits() {
        var random = SeededRandom(seed: 4)
        let (rows, depth, columns) = (8, 256, 32)
        let a = (0..<(rows * depth)).map { _ in random.normal() }
        let w = (0..<(depth * columns)).map { _ in random.normal() }
        var packed = [Float](repeating: 0, count: gk_packed_size(depth, columns))
        gk_pack(depth, columns, w, columns, &packed)
        var strict = [Float](repeating: 0, count: rows * columns)
        gk_strict_accumulate(rows, depth, columns, a, depth, packed, 0, 1, &strict, columns)
        let reversed = (0..<(rows * columns)).map { n in
            (0..<depth).reversed().reduce(Float(0)) { $0 + a[(n / columns) * depth + $1] * w[$1 * columns + n % columns] }
        }
        #expect(!ErrorMeasures.between(strict, reversed).isBitwiseIdentical)
    }
}

/// Numbers in messages.
@Suite struct ShortNumberTests {
    @Test(arguments: [(9.96e-5, "1.0e-04"), (9.94e-5, "9.9e-05"), (1.2e-7, "1.2e-07"), (0.031, "0.031"), (0, "0"),
                      (-2.5e-6, "-2.5e-06"), (12345.0, "1.2e+04"), (99999.0, "1.0e+05"), (0.5, "0.5")])
    func shortPrintsOneDecimalOfMantissa(_ value: Double, _ text: String) {
        #expect(short(value) == text)
    }
}
