import GRUTools
import TensorStore
import Foundation
import Testing

/// Declared sizes are checked before anything is allocated: a 6 KB file declaring 60 GB is refused.
@Suite struct MemoryBudgetTests {
    @Test func sizesParseAndPrint() {
        #expect(MemoryBudget(parsing: "512M")?.bytes == 512 << 20)
        #expect(MemoryBudget(parsing: "4g")?.bytes == 4 << 30)
        #expect(MemoryBudget(parsing: "1.5GB")?.bytes == 3 << 29)
        #expect(MemoryBudget(parsing: "1000")?.bytes == 1000)
        #expect(MemoryBudget(parsing: "lots") == nil)
        #expect(MemoryBudget(parsing: "-1G") == nil)
        #expect(MemoryBudget(parsing: "99999999T") == nil)
        #expect(MemoryBudget(bytes: 3 << 29).description == "1.5 GiB")
        #expect(MemoryBudget.machineDefault.bytes >= 1 << 30)
    }

    @Test func overflowingCountsNeverFit() {
        #expect(throws: StoreError.self) {
            try MemoryBudget(bytes: .max).check(elements: .max, of: 4, file: "f", object: nil, what: "it")
        }
    }

    /// A budget of 8 GiB, so that the outcome is the same on any machine (the default is half of its memory).
    static let budget = MemoryBudget(bytes: 8 << 30)

    @Test func aHugeDeclaredDatasetIsRefusedBeforeReading() throws {
        let file = try HDF5File(readingFrom: Fixtures.path("bad/huge_declared.h5"))
        file.memoryBudget = Self.budget
        #expect(try file.describe("rnn/gru_cell/gates/kernel").shape == [100_000, 100_000])   // metadata is fine
        let error = #expect(throws: StoreError.self) { _ = try file.read("rnn/gru_cell/gates/kernel", as: Float.self) }
        let expected = "reading its [100000, 100000] float32 values would need 37.3 GiB, more than the memory budget of 8 GiB (--max-memory)"
        #expect(error?.reason == expected)
    }

    @Test func verifyAndConvertRefuseItToo() throws {
        let file = try HDF5File(readingFrom: Fixtures.path("bad/huge_declared.h5"))
        file.memoryBudget = Self.budget
        let verify = #expect(throws: StoreError.self) { _ = try Verifier(options: VerifyOptions()).verify(file) }
        #expect(verify?.reason.hasPrefix("verifying this cell (input size 50000, 50000 units, batch 8, 32 steps) would need") == true)
        let convert = #expect(throws: StoreError.self) { _ = try ConversionPlan.make(for: file, options: ConversionOptions()) }
        #expect(convert?.object == "rnn/gru_cell/gates/kernel")
    }

    /// Negative control: the same checks pass a fixture that fits, and fail it once the budget is tiny.
    @Test func theBudgetIsWhatDecides() throws {
        let file = try HDF5File(readingFrom: Fixtures.path("gru_single.h5"))
        #expect(try Verifier(options: VerifyOptions(batch: 2, steps: 3)).verify(file).allSatisfy(\.equivalent))
        file.memoryBudget = MemoryBudget(bytes: 100)
        #expect(throws: StoreError.self) { _ = try file.read("rnn/gru_cell/gates/kernel", as: Float.self) }
        #expect(throws: StoreError.self) { _ = try ConversionPlan.make(for: file, options: ConversionOptions()) }
    }
}
