import GRUTools
import TensorStore
import GRUCore
import Testing

/// `Verifier` on the TensorFlow fixtures: every correct form passes, every classic mistake fails with
/// its own diagnosis.
@Suite struct VerifyTests {
    static let cellFixtures = ["gru_single.h5", "gru_legacy.h5", "gru_tf10.h5", "gru_block.h5", "gru_explicit.h5",
                               "gru_stacked.h5", "gru_stacked_legacy.h5", "gru_bidirectional.h5",
                               "gru_bidirectional_legacy.h5", "gru_adam.h5", "gru_float64.h5", "gru_large.h5"]

    func open(_ name: String) throws -> HDF5File { try HDF5File(readingFrom: Fixtures.path(name)) }

    func verify(_ name: String, mode: VerifyMode = .strict, reference: String? = nil) throws -> [CellVerdict] {
        try Verifier(options: VerifyOptions(mode: mode, batch: 4, steps: 12, seed: 7))
            .verify(open(name), reference: reference.map(open))
    }

    func verify(_ name: String, against other: String, mode: VerifyMode = .strict,
                pairs: [(String, String)] = []) throws -> [CellVerdict] {
        try Verifier(options: VerifyOptions(mode: mode, batch: 4, steps: 12, seed: 7))
            .verify(open(name), against: open(other), pairs: pairs)
    }

    // MARK: - Every fixture cell passes

    @Test(arguments: cellFixtures)
    func strictModeIsBitwiseEqualForEveryFixtureCell(_ fixture: String) throws {
        let verdicts = try verify(fixture)
        #expect(!verdicts.isEmpty)
        for v in verdicts {
            #expect(v.equivalent, "\(fixture) \(v.scope): \(v.diagnosis)")
            #expect(v.weightsIdentical)
            #expect(v.maxAbsDiff == 0 && v.maxULPDiff == 0)
            #expect(v.diagnosis.isEmpty)
        }
    }

    @Test(arguments: cellFixtures)
    func fastModeIsWithinItsToleranceForEveryFixtureCell(_ fixture: String) throws {
        for v in try verify(fixture, mode: .fast) {
            #expect(v.equivalent, "\(fixture) \(v.scope): \(v.diagnosis)")
            let (difference, tolerance) = (try #require(v.maxAbsDiff), try #require(v.tolerance))
            #expect(difference <= tolerance)
        }
    }

    @Test(arguments: cellFixtures, [VerifyMode.strict, .fast])
    func referencePassesOnEveryFixture(_ fixture: String, mode: VerifyMode) throws {
        let verdicts = try verify(fixture, mode: mode, reference: fixture.replacingOccurrences(of: ".h5", with: ".reference.h5"))
        for v in verdicts {
            let reference = try #require(v.reference)
            #expect(v.equivalent && reference.withinTolerance, "\(fixture) \(v.scope): \(v.diagnosis)")
            #expect(reference.stepMaxAbsDiff < 1e-5)
        }
    }

    @Test func eachFormIsCloseToFloat64() throws {
        for v in try verify("gru_stacked.h5") {
            #expect(try #require(v.fusedVsFloat64) < 1e-5)
            #expect(try #require(v.explicitVsFloat64) < 1e-5)
        }
    }

    // MARK: - Two files: correct conversions pass

    @Test(arguments: [("gru_single.h5", "gru_explicit.h5"), ("gru_legacy.h5", "gru_explicit.h5"),
                      ("gru_single.h5", "gru_legacy.h5"), ("gru_tf10.h5", "gru_block.h5"),
                      ("gru_stacked_legacy.h5", "gru_stacked.h5"), ("gru_bidirectional.h5", "gru_bidirectional_legacy.h5")])
    func correctConversionsPass(_ original: String, _ converted: String) throws {
        let verdicts = try verify(original, against: converted)
        #expect(!verdicts.isEmpty)
        for v in verdicts {
            #expect(v.equivalent, "\(v.scope) vs \(v.otherScope ?? "-"): \(v.diagnosis)")
            #expect(v.weightsIdentical)
            #expect(v.otherScope != nil)
        }
    }

    @Test func legacyScopesPairWithCurrentOnes() throws {
        let verdicts = try verify("gru_stacked_legacy.h5", against: "gru_stacked.h5")
        #expect(verdicts.map(\.scope) == ["RNN/MultiRNNCell/Cell0/GRUCell", "RNN/MultiRNNCell/Cell1/GRUCell"])
        #expect(verdicts.map(\.otherScope) == ["rnn/multi_rnn_cell/cell_0/gru_cell", "rnn/multi_rnn_cell/cell_1/gru_cell"])
    }

    @Test func explicitPairsOverrideScopes() throws {
        // fw against bw is a real difference: --pair makes that comparison, and it fails.
        let verdicts = try verify("gru_bidirectional.h5", against: "gru_bidirectional.h5",
                                  pairs: [("bidirectional_rnn/fw/gru_cell", "bidirectional_rnn/bw/gru_cell")])
        let fw = try #require(verdicts.first { $0.scope == "bidirectional_rnn/fw/gru_cell" })
        #expect(fw.otherScope == "bidirectional_rnn/bw/gru_cell")
        #expect(!fw.equivalent)
        #expect(fw.diagnosis.contains { $0.hasPrefix("Wr differs in 20 of 20 elements") })
    }

    // MARK: - Negative controls: each classic mistake fails, with the right diagnosis

    @Test(arguments: [
        ("mistakes/rz_swapped.h5", "r and z swapped (Wr/Wz, Ur/Uz and br/bz exchanged)"),
        ("mistakes/rows_swapped.h5", "input/state rows swapped in gates/kernel and candidate/kernel (state rows first: [h, x] instead of [x, h])"),
        ("mistakes/uh_transposed.h5", "Uh transposed"),
        ("mistakes/ur_uz_zeroed.h5", "Ur and Uz zeroed"),
        ("mistakes/one_ulp.h5", "Uh differs in 1 of 16 elements (max |Δ| 1.5e-08, 1 ULP)"),
    ])
    func eachClassicMistakeFailsWithItsDiagnosis(_ mistake: String, _ diagnosis: String) throws {
        let verdict = try #require(try verify("gru_single.h5", against: mistake).first)
        #expect(!verdict.equivalent)
        #expect(!verdict.weightsIdentical)
        #expect(verdict.diagnosis.first == diagnosis)
    }

    /// Strict mode catches one ULP in one weight; fast mode, by design, accepts it but still reports it.
    @Test func oneULPFailsStrictButNotFast() throws {
        let fast = try #require(try verify("gru_single.h5", against: "mistakes/one_ulp.h5", mode: .fast).first)
        #expect(fast.equivalent)
        #expect(!fast.weightsIdentical)
        #expect(fast.diagnosis.first?.hasPrefix("Uh differs in 1 of 16") == true)
    }

    @Test(arguments: [("mistakes/reset_after.reference.h5", "the reset applied after the product"),
                      ("mistakes/dropped.reference.h5", "h·Ur and h·Uz dropped")])
    func referenceFromAWrongCellFailsAndIsNamed(_ reference: String, _ mistake: String) throws {
        let verdict = try #require(try verify("gru_single.h5", reference: reference).first)
        #expect(!verdict.equivalent)
        #expect(verdict.reference?.withinTolerance == false)
        #expect(verdict.diagnosis.contains("the reference outputs match a cell with " + (Float64Cell.Variant.allCases.first {
            $0.mistake(for: .resetBefore).hasPrefix(mistake)
        }?.mistake(for: .resetBefore) ?? "?")))
        // Only that mistake is named.
        #expect(verdict.diagnosis.filter { $0.hasPrefix("the reference outputs match") }.count == 1)
    }

    @Test func problemCellsAreNeverEquivalent() throws {
        let verdicts = try verify("gru_problems.h5")
        #expect(verdicts.filter(\.equivalent).map(\.scope) == ["ok/rnn/gru_cell"])
        let short = try #require(verdicts.first { $0.scope == "short_bias/rnn/gru_cell" })
        #expect(short.diagnosis == ["not a consistent GRU cell: gates/bias is [7], expected [8] "
                                    + "(input size 5, 4 units, from candidate/kernel [9, 4])"])
    }

    @Test func unpairedCellsAreReported() throws {
        let verdicts = try verify("gru_single.h5", against: "gru_stacked.h5")
        #expect(verdicts.allSatisfy { !$0.equivalent && $0.unpaired })
        #expect(verdicts.first?.diagnosis.first?.hasPrefix("only in \(Fixtures.path("gru_single.h5")): no cell of") == true)
        #expect(verdicts.filter { $0.diagnosis.first?.hasPrefix("only in \(Fixtures.path("gru_stacked.h5"))") == true }.count == 2)
        // Negative control: paired cells are not unpaired, whatever their verdict.
        #expect(try verify("gru_single.h5", against: "mistakes/rz_swapped.h5").allSatisfy { !$0.unpaired && !$0.equivalent })
    }

    @Test func aFileWithoutCellsIsAnError() throws {
        let error = #expect(throws: StoreError.self) { try verify("mistakes/reset_after.reference.h5") }
        #expect(error?.reason.hasPrefix("no GRU cells found") == true)
    }
}
