import Foundation
import GRUCore
import GRUTools
import TensorStore
import Testing

/// A source that is not HDF5: tensors and string attributes held in memory. Discovery, verification and
/// conversion take it like any file, which is what the store's interface promises.
final class MemorySource: TensorSource {
    struct Entry { var type: ElementType; var shape: [Int]; var bytes: [UInt8] }
    let path: String
    var formatName: String { "memory" }
    var memoryBudget = MemoryBudget(bytes: 1 << 30)
    var entries: [String: Entry] = [:]
    /// Attributes by object; `nil` values are attributes that are not strings.
    var attributes: [String: [String: String?]] = [:]

    init(path: String) { self.path = path }

    /// Adds a float32 tensor.
    func add(_ name: String, _ tensor: Tensor<Float>) {
        entries[name] = Entry(type: .float(bits: 32), shape: tensor.shape,
                              bytes: tensor.scalars.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
    }

    func variables() throws -> [Variable] {
        entries.keys.sorted().map { Variable(name: $0, elementType: entries[$0]!.type, shape: entries[$0]!.shape) }
    }

    func containers() throws -> [String] { [] }

    func read<Scalar: StoredFloat>(_ name: String, as: Scalar.Type) throws -> Tensor<Scalar> {
        guard let entry = entries[name] else { throw StoreError(.notFound, file: path, object: name, reason: "no such tensor") }
        let floats = stride(from: 0, to: entry.bytes.count, by: 4).map { offset in
            Float(bitPattern: entry.bytes[offset..<(offset + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) })
        }
        return Tensor(shape: entry.shape, scalars: floats.map { Scalar($0) })
    }

    func readRawRows(_ name: String, rows: Range<Int>, into bytes: UnsafeMutableRawBufferPointer) throws {
        guard let entry = entries[name] else { throw StoreError(.notFound, file: path, object: name, reason: "no such tensor") }
        let rowBytes = entry.shape.count == 2 ? entry.shape[1] * 4 : entry.bytes.count
        let start = rows.lowerBound * rowBytes, count = rows.count * rowBytes
        bytes.copyMemory(from: UnsafeRawBufferPointer(rebasing: entry.bytes.withUnsafeBytes { $0 }[start..<(start + count)]))
    }

    func attributeNames(of object: String) throws -> [String] { (attributes[object] ?? [:]).keys.sorted() }

    func stringAttribute(_ attribute: String, of object: String) throws -> String? {
        guard let value = attributes[object]?[attribute] else { return nil }
        return value
    }
}

@Suite struct InMemoryStoreTests {
    /// The Keras reset-after fixture's cell, copied into memory tensor by tensor.
    func keras() throws -> MemorySource {
        let file = try HDF5File(readingFrom: Fixtures.path("keras/tfk_reset_after.h5"))
        let memory = MemorySource(path: "memory:keras")
        for variable in try file.variables() { memory.add(variable.name, try file.read(variable.name, as: Float.self)) }
        memory.attributes[""] = ["backend": "tensorflow"]
        return memory
    }

    @Test func discoveryAndVerificationTakeAnySource() throws {
        let memory = try keras()
        let cells = CellInventory(variables: try memory.variables()).cells
        #expect(cells.map(\.layout.name) == ["keras-reset-after"])
        let reference = try HDF5File(readingFrom: Fixtures.path("keras/tfk_reset_after.reference.h5"))
        let verdicts = try Verifier(options: VerifyOptions(batch: 3, steps: 5)).verify(memory, reference: reference)
        #expect(verdicts.count == 1 && verdicts[0].equivalent && verdicts[0].weightsIdentical)
        // Negative control: the same memory with one weight changed is caught against the reference.
        var kernel = try memory.read("gru/gru/gru_cell/kernel:0", as: Float.self)
        kernel.scalars[0] += 0.5
        memory.add("gru/gru/gru_cell/kernel:0", kernel)
        #expect(try Verifier(options: VerifyOptions(batch: 3, steps: 5)).verify(memory, reference: reference)[0].equivalent == false)
    }

    /// A conversion from memory into HDF5 splits the cell and copies the rest (rows, not `H5Ocopy`) with
    /// the string attributes; the result is the split of the HDF5 fixture, bit for bit.
    @Test func conversionFromAnySourceIntoHDF5() throws {
        let memory = try keras()
        memory.add("dense/kernel:0", Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]))
        memory.attributes["dense/kernel:0"] = ["note": "kept"]
        try withTemporaryDirectory { dir in
            let out = dir.appendingPathComponent("split.h5").path
            let plan = try ConversionPlan.make(for: memory, options: ConversionOptions())
            try Converter().write(plan, from: memory, to: try HDF5Writer(creating: out, temporaryPath: out + ".tmp"))
            let written = try HDF5File(readingFrom: out)
            #expect(try written.read("dense/kernel:0", as: Float.self).scalars == [1, 2, 3, 4, 5, 6])
            #expect(try written.stringAttribute("note", of: "dense/kernel:0") == "kept")
            #expect(try written.stringAttribute("backend") == "tensorflow")
            let verdicts = try Verifier(options: VerifyOptions(batch: 3, steps: 5))
                .verify(try HDF5File(readingFrom: Fixtures.path("keras/tfk_reset_after.h5")), against: written)
            #expect(verdicts.count == 1 && verdicts[0].equivalent && verdicts[0].weightsIdentical)
        }
    }

    /// A TF1 checkpoint's `x` and `x/Adam` cannot both be HDF5 datasets: every name takes `:0` (with a
    /// note), as TF1's HDF5 dumps name them; written back to a checkpoint the suffix goes again.
    @Test func slotsUnderTheirVariableTakeTheTensorSuffixInHDF5() throws {
        let memory = MemorySource(path: "memory:tf1")
        let file = try HDF5File(readingFrom: Fixtures.path("gru_adam.h5"))
        // Float tensors of rank 1 or 2 (the in-memory source copies no scalars).
        for variable in try file.variables() where variable.elementType.isFloat && !variable.shape.isEmpty {
            memory.add(VariableNameForTests.base(variable.name), try file.read(variable.name, as: Float.self))
        }
        #expect(try memory.variables().contains { $0.name == "rnn/gru_cell/gates/kernel/Adam" })
        let plan = try ConversionPlan.make(for: memory, options: ConversionOptions())
        let written = plan.copied.map(plan.outputName(ofCopied:)) + plan.cells.flatMap { $0.datasets.map(\.name) }
        #expect(written.allSatisfy { $0.hasSuffix(":0") })
        #expect(written.contains("rnn/gru_cell/Wr:0") && written.contains("rnn/gru_cell/Wr/Adam:0") && written.contains("dense/bias/Adam_1:0"))
        #expect(plan.notes.count == 1 && plan.notes[0].contains("every tensor is written as NAME:0"))
        try withTemporaryDirectory { dir in
            let out = dir.appendingPathComponent("split.h5").path
            try Converter().write(plan, from: memory, to: try HDF5Writer(creating: out, temporaryPath: out + ".tmp"))
            let split = try HDF5File(readingFrom: out)
            #expect(try split.read("rnn/gru_cell/Wr/Adam:0", as: Float.self).shape == [5, 4])
            // Back to flat names: the suffix goes.
            let flat = try ConversionPlan.make(for: split, options: ConversionOptions(target: .fused, flatOutput: true))
            let names = flat.copied.map(flat.outputName(ofCopied:)) + flat.cells.flatMap { $0.datasets.map(\.name) }
            #expect(names.contains("rnn/gru_cell/gates/kernel/Adam") && names.allSatisfy { !$0.contains(":") })
        }
        // Negative control: without a variable above another, names are kept as they are.
        let single = MemorySource(path: "memory:single")
        for variable in try file.variables() where variable.elementType.isFloat && !variable.name.contains("Adam") && !variable.name.contains("power") {
            single.add(VariableNameForTests.base(variable.name), try file.read(variable.name, as: Float.self))
        }
        let kept = try ConversionPlan.make(for: single, options: ConversionOptions())
        #expect(kept.notes.isEmpty && kept.cells[0].datasets.map(\.name).contains("rnn/gru_cell/Wr"))
    }

    /// What HDF5 cannot take from another format is refused, naming it: never dropped.
    @Test func whatCannotBeCopiedIsRefusedNotDropped() throws {
        let memory = try keras()
        memory.attributes[""] = ["backend": "tensorflow", "layer_count": nil]
        try withTemporaryDirectory { dir in
            let out = dir.appendingPathComponent("split.h5").path
            let plan = try ConversionPlan.make(for: memory, options: ConversionOptions())
            let error = #expect(throws: StoreError.self) {
                try Converter().write(plan, from: memory, to: try HDF5Writer(creating: out, temporaryPath: out + ".tmp"))
            }
            #expect(error?.code == .unsupportedType)
            #expect(error?.file == "memory:keras" && error?.object == "/@layer_count")
            #expect(!FileManager.default.fileExists(atPath: out) && !FileManager.default.fileExists(atPath: out + ".tmp"))
        }
        memory.attributes[""] = [:]
        memory.entries["step"] = MemorySource.Entry(type: .integer(bits: 64, signed: true), shape: [], bytes: Array(repeating: 0, count: 8))
        try withTemporaryDirectory { dir in
            let out = dir.appendingPathComponent("split.h5").path
            let plan = try ConversionPlan.make(for: memory, options: ConversionOptions())
            let error = #expect(throws: StoreError.self) {
                try Converter().write(plan, from: memory, to: try HDF5Writer(creating: out, temporaryPath: out + ".tmp"))
            }
            #expect(error?.object == "step")
            #expect(error?.reason == "only float tensors of rank 1 or 2 can be copied from memory into HDF5")
        }
    }

    /// Weights so large that rounding alone could move outputs by more than a wrong cell: fast mode
    /// says it cannot decide instead of passing (a z/r swap would pass otherwise); strict mode still decides.
    @Test func fastModeRefusesABoundTooLooseToTell() throws {
        let memory = try keras()
        for name in ["gru/gru/gru_cell/kernel:0", "gru/gru/gru_cell/recurrent_kernel:0"] {
            var tensor = try memory.read(name, as: Float.self)
            tensor.scalars = tensor.scalars.map { $0 * 1000 }
            memory.add(name, tensor)
        }
        let fast = try #require(try Verifier(options: VerifyOptions(mode: .fast, batch: 3, steps: 5)).verify(memory).first)
        #expect(!fast.equivalent)
        #expect((fast.tolerance ?? 0) > FastModeTolerance.largestUsefulBound)
        #expect(fast.diagnosis.last?.hasPrefix("the float32 bound reaches ") == true)
        #expect(fast.diagnosis.last?.hasSuffix("too large for a tolerance to tell a wrong cell from a right one; use --mode strict") == true)
        let strict = try #require(try Verifier(options: VerifyOptions(mode: .strict, batch: 3, steps: 5)).verify(memory).first)
        #expect(strict.equivalent)
        // Negative control: the unscaled weights pass fast mode within a small bound.
        let plain = try #require(try Verifier(options: VerifyOptions(mode: .fast, batch: 3, steps: 5)).verify(try keras()).first)
        #expect(plain.equivalent && (plain.tolerance ?? 1) < 1e-3)
    }

    /// The bias mistakes that only rows of a `[2, 3H]` bias make, each named as one finding (the rows as
    /// written by hand: swapped, or both summed into the recurrent row).
    @Test(arguments: [("swapped", "the input and recurrent bias rows swapped (b and bU exchanged for every gate)"),
                      ("summed into row 1", "the two biases summed into the recurrent bias (bUr, bUz, bUh hold b + bU; br, bz, bh are zero)")])
    func biasRowMistakesAreNamed(_ mistake: String, _ finding: String) throws {
        let memory = try keras()
        let name = "gru/gru/gru_cell/bias:0"
        let bias = try memory.read(name, as: Float.self)
        let (input, recurrent) = (Array(bias.scalars[0..<18]), Array(bias.scalars[18..<36]))
        let rows = mistake == "swapped" ? recurrent + input
                                        : Array(repeating: 0, count: 18) + zip(input, recurrent).map { $0 + $1 }
        memory.add(name, Tensor(shape: [2, 18], scalars: rows))
        let original = try HDF5File(readingFrom: Fixtures.path("keras/tfk_reset_after.h5"))
        let verdict = try #require(try Verifier(options: VerifyOptions(batch: 3, steps: 5)).verify(original, against: memory).first)
        #expect(!verdict.equivalent)
        #expect(verdict.diagnosis.first == finding)
        #expect(verdict.diagnosis.count == 2 && verdict.diagnosis[1].hasPrefix("outputs differ in "))
    }
}

/// A stored name without TensorFlow's `:0` suffix.
enum VariableNameForTests {
    static func base(_ name: String) -> String { name.hasSuffix(":0") ? String(name.dropLast(2)) : name }
}
