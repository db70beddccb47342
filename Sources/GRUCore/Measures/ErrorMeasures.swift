/// How far one set of float32 values is from another (or from a float64 reference), in three measures,
/// with non-finite values counted rather than folded into the maxima.
///
/// Approximate equality is deliberately not `Equatable`: callers compare these numbers against a
/// tolerance they can name.
public struct ErrorMeasures: Sendable {
    /// The largest `|a − b|` over positions where both are finite.
    public var maxAbsolute: Double = 0
    /// The largest `|a − b| / max(|b|, smallest normal float)` over positions where both are finite.
    public var maxRelative: Double = 0
    /// The largest distance in float32 units in the last place (0 between +0 and −0), over finite positions.
    public var maxULP: UInt64 = 0
    /// Positions where either value is NaN or infinite. Such outputs are never "equivalent".
    public var nonFinite: Int = 0
    /// Positions whose bit patterns differ (a NaN against the same NaN counts as equal).
    public var bitwiseDifferent: Int = 0

    /// No differences yet.
    public init() {}

    /// True when every position has the same bits.
    public var isBitwiseIdentical: Bool { bitwiseDifferent == 0 }

    /// Compares two float32 arrays of the same length.
    public static func between(_ a: [Float], _ b: [Float]) -> ErrorMeasures {
        precondition(a.count == b.count, "compared arrays differ in length")
        var m = ErrorMeasures()
        for (x, y) in zip(a, b) {
            if x.bitPattern != y.bitPattern { m.bitwiseDifferent += 1 }
            m.add(x, Double(y), reference32: y)
        }
        return m
    }

    /// Compares float32 values with a float64 reference; ULPs are counted against the reference rounded to float32.
    public static func between(_ a: [Float], reference: [Double]) -> ErrorMeasures {
        precondition(a.count == reference.count, "compared arrays differ in length")
        var m = ErrorMeasures()
        for (x, y) in zip(a, reference) {
            if Double(x).bitPattern != y.bitPattern { m.bitwiseDifferent += 1 }
            m.add(x, y, reference32: Float(y))
        }
        return m
    }

    private mutating func add(_ x: Float, _ y: Double, reference32: Float) {
        guard x.isFinite, y.isFinite else {
            nonFinite += 1
            return
        }
        let difference = abs(Double(x) - y)
        maxAbsolute = max(maxAbsolute, difference)
        maxRelative = max(maxRelative, difference / max(abs(y), Double(Float.leastNormalMagnitude)))
        maxULP = max(maxULP, ulpDistance(x, reference32) ?? UInt64.max)
    }
}

/// The number of float32 values between `a` and `b` (0 for +0 and −0, 1 between neighbours, and across
/// zero the sum of both sides); nil when either is NaN.
public func ulpDistance(_ a: Float, _ b: Float) -> UInt64? {
    guard !a.isNaN, !b.isNaN else { return nil }
    func ordered(_ x: Float) -> Int64 {
        let magnitude = Int64(x.bitPattern & 0x7FFF_FFFF)
        return x.sign == .minus ? -magnitude : magnitude
    }
    return ordered(a) > ordered(b) ? UInt64(ordered(a) - ordered(b)) : UInt64(ordered(b) - ordered(a))
}

/// The same for float64 values.
public func ulpDistance(_ a: Double, _ b: Double) -> UInt64? {
    guard !a.isNaN, !b.isNaN else { return nil }
    func ordered(_ x: Double) -> Int64 {
        let magnitude = Int64(bitPattern: x.bitPattern & 0x7FFF_FFFF_FFFF_FFFF)
        return x.sign == .minus ? -magnitude : magnitude
    }
    let (p, q) = (ordered(a), ordered(b))
    return p > q ? UInt64(bitPattern: p &- q) : UInt64(bitPattern: q &- p)
}
