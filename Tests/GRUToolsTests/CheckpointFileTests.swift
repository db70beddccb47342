import GRUTools
import TensorStore
import Foundation
import GRUCore
import Testing

@Suite struct HDF5FileTests {
    @Test func listsEveryDatasetInNameOrderWithTypeAndShape() throws {
        let variables = try HDF5File(readingFrom: Fixtures.path("gru_adam.h5")).variables()
        #expect(variables.count == 21)
        #expect(variables.map(\.name) == variables.map(\.name).sorted())
        let byName = Dictionary(uniqueKeysWithValues: variables.map { ($0.name, $0) })
        #expect(byName["rnn/gru_cell/gates/kernel:0"]?.shape == [9, 8])
        #expect(byName["rnn/gru_cell/gates/kernel:0"]?.elementType == .float(bits: 32))
        #expect(byName["global_step:0"]?.shape == [])
        #expect(byName["global_step:0"]?.elementType == .integer(bits: 64, signed: true))
        #expect(byName["global_step:0"]?.elementCount == 1)
        #expect(byName["beta1_power:0"]?.elementType.description == "float32")
    }

    @Test func namesHaveNoLeadingSlashAndGroupsAreNotVariables() throws {
        let names = try HDF5File(readingFrom: Fixtures.path("gru_single.h5")).datasetNames()
        #expect(names == ["rnn/gru_cell/candidate/bias", "rnn/gru_cell/candidate/kernel",
                          "rnn/gru_cell/gates/bias", "rnn/gru_cell/gates/kernel"])
    }

    @Test func readsFloat64AndReportsItsType() throws {
        let file = try HDF5File(readingFrom: Fixtures.path("gru_float64.h5"))
        #expect(try file.describe("rnn/gru_cell/gates/kernel").elementType == .float(bits: 64))
        let wide = try file.read("rnn/gru_cell/gates/kernel", as: Double.self)
        let narrow = try file.read("rnn/gru_cell/gates/kernel", as: Float.self)
        #expect(wide.shape == [9, 8])
        #expect(narrow.scalars == wide.scalars.map { Float($0) })
        // The float64 fixture really carries more than float32 precision.
        #expect(wide.scalars.contains { Double(Float($0)) != $0 })
    }

    /// The fused kernel read by this library, sliced by hand, equals the explicit tensors that NumPy
    /// sliced from TensorFlow's values when the fixtures were made.
    @Test func readValuesMatchAnIndependentSlice() throws {
        let fused = try HDF5File(readingFrom: Fixtures.path("gru_single.h5"))
        let explicit = try HDF5File(readingFrom: Fixtures.path("gru_explicit.h5"))
        let kg = try fused.read("rnn/gru_cell/gates/kernel", as: Float.self)
        let uz = try explicit.read("rnn/gru_cell/Uz", as: Float.self)
        let slice = (5..<9).flatMap { row in (4..<8).map { kg.scalars[row * 8 + $0] } }
        #expect(uz.shape == [4, 4])
        #expect(uz.scalars == slice)
        // Negative control: the r block of the same rows is a different matrix.
        let resetSlice = (5..<9).flatMap { row in (0..<4).map { kg.scalars[row * 8 + $0] } }
        #expect(uz.scalars != resetSlice)
    }

    @Test func refusesToReadIntegersAsFloats() throws {
        let file = try HDF5File(readingFrom: Fixtures.path("gru_adam.h5"))
        let error = #expect(throws: StoreError.self) { try file.read("global_step:0", as: Float.self) }
        #expect(error?.object == "global_step:0")
        #expect(error?.reason == "holds int64 values, not float16, float32 or float64")
    }

    @Test func missingDatasetIsAnErrorNamingIt() throws {
        let file = try HDF5File(readingFrom: Fixtures.path("gru_single.h5"))
        let error = #expect(throws: StoreError.self) { try file.read("rnn/nope", as: Float.self) }
        #expect(error?.object == "rnn/nope")
        #expect(error?.reason.hasPrefix("cannot open the dataset") == true)
    }

    @Test func readsVariableAndFixedLengthStringAttributes() throws {
        let file = try HDF5File(readingFrom: Fixtures.path("gru_single.h5"))
        #expect(try file.stringAttribute("generator") == "fixtures/generate.py")   // variable-length
        #expect(try file.stringAttribute("tensorflow_version") == "2.21.0")        // fixed-length
        #expect(try file.stringAttribute("no_such_attribute") == nil)
    }

    /// tf-keras writes an empty float64 array as the `weight_names` of a layer without weights, and a
    /// string array as `layer_names`: reading either as one string is an error that names it.
    @Test func aNonStringAttributeIsAnError() throws {
        let file = try HDF5File(readingFrom: Fixtures.path("keras/tfk_stacked.h5"))
        let numbers = #expect(throws: StoreError.self) { try file.stringAttribute("weight_names", of: "model_weights/top_level_model_weights") }
        #expect(numbers?.object == "model_weights/top_level_model_weights@weight_names")
        #expect(numbers?.reason == "is not a string attribute")
        #expect(numbers?.code == .unsupportedType)
        let array = #expect(throws: StoreError.self) { try file.stringAttribute("layer_names", of: "model_weights") }
        #expect(array?.reason == "holds 2 strings, expected one")
        // Negative controls: a string attribute of the same file reads, a missing one is nil, a missing object is an error.
        #expect(try file.stringAttribute("backend") == "tensorflow")
        #expect(try file.stringAttribute("generator", of: "model_weights") == nil)
        #expect(throws: StoreError.self) { try file.stringAttribute("generator", of: "no/such/group") }
    }

    // MARK: - Bad input

    @Test func missingFile() {
        expectOpenFails("/nonexistent/model.h5", reason: "no such file")
    }

    @Test func directory() throws {
        try withTemporaryDirectory { dir in expectOpenFails(dir.path, reason: "is a directory, not an HDF5 file") }
    }

    @Test func emptyFile() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("empty.h5").path
            _ = FileManager.default.createFile(atPath: path, contents: Data())
            expectOpenFails(path, reason: "empty file, not an HDF5 file")
        }
    }

    @Test func notHDF5() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("weights.h5").path
            _ = FileManager.default.createFile(atPath: path, contents: Data("{\"weights\": [1, 2]}".utf8))
            expectOpenFails(path, reason: "not an HDF5 file (no HDF5 signature found)")
        }
    }

    /// A real fixture cut short at several points: inside the signature, inside the superblock, and in
    /// the middle and near the end of the data.
    @Test(arguments: [4, 8, 40, 1000, 6000, 12000])
    func truncatedFile(length: Int) throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("gru_single.h5")))
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("cut.h5").path
            _ = FileManager.default.createFile(atPath: path, contents: whole.prefix(length))
            let error = #expect(throws: StoreError.self) { _ = try HDF5File(readingFrom: path).variables() }
            #expect(error?.file == path)
            let reason = error?.reason ?? ""
            #expect(reason.hasPrefix("not an HDF5 file") || reason.hasPrefix("cannot open it as HDF5, it is truncated"),
                    "\(reason)")
        }
    }

    /// Negative control for the truncation test: the whole file opens.
    @Test func untruncatedCopyOpens() throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("gru_single.h5")))
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("whole.h5").path
            _ = FileManager.default.createFile(atPath: path, contents: whole)
            let count = try HDF5File(readingFrom: path).variables().count
            #expect(count == 4)
        }
    }

    @Test func errorsPrintAsOneLine() {
        let error = StoreError(.unsupportedType, file: "a.h5", object: "rnn/x", reason: "holds int64 values, not float16, float32 or float64")
        #expect(error.description == "a.h5: rnn/x: holds int64 values, not float16, float32 or float64")
        #expect(StoreError(.notFound, file: "a.h5", reason: "no such file").description == "a.h5: no such file")
    }

    private func expectOpenFails(_ path: String, reason: String) {
        let error = #expect(throws: StoreError.self) { _ = try HDF5File(readingFrom: path) }
        #expect(error?.file == path)
        #expect(error?.object == nil)
        #expect(error?.reason == reason)
    }
}
