// gru-fuzz-safetensors: a libFuzzer harness for the safetensors reader. Each input is written as a file and
// taken through everything that reads one: `TensorFiles.open` (content detection), the header's checks,
// the listing, every tensor's values (as Float and Double, as raw rows, as bytes), the metadata, cell
// discovery and cell weights, verify (strict and fast), and a conversion to HDF5 verified against its
// source. Every input must end in a value or a thrown error, never a trap or a sanitizer report.
// fuzz/run.sh builds it with AddressSanitizer and coverage and links libFuzzer's driver:
//   fuzz/run.sh 1800 safetensors
import FuzzDriver
import GRUCore
import GRUTools
import TensorStore
#if canImport(Glibc)
import Glibc
#endif

let scratch: String = {
    var template = Array("/tmp/gru-fuzz-st-XXXXXX".utf8CString)
    return String(cString: mkdtemp(&template)!)
}()
let input = scratch + "/input.safetensors"
let output = scratch + "/converted.h5"
let tracing = getenv("GRU_FUZZ_TRACE") != nil
nonisolated(unsafe) var trace: [String] = []
/// Small enough that a declared giant is refused, not allocated.
let budget = MemoryBudget(bytes: 64 << 20)

func exercise() throws {
    let file = try TensorFiles.open(input, memoryBudget: budget)
    let variables = try file.variables()
    for variable in variables {
        _ = try? file.readAll(variable.name)
        if variable.elementType.isFloat {
            _ = try? file.read(variable.name, as: Float.self)
            _ = try? file.read(variable.name, as: Double.self)
        }
        if variable.elementType.byteWidth != nil, (1...2).contains(variable.shape.count), let width = variable.shape.last,
           width <= 1 << 16 {
            var bytes = [UInt8](repeating: 0, count: max(1, width * variable.elementType.byteWidth!))
            bytes.withUnsafeMutableBytes { _ = try? file.readRawRows(variable.name, rows: 0..<1, into: $0) }
        }
    }
    for attribute in try file.attributeNames(of: "") { _ = try? file.stringAttribute(attribute, of: "") }
    let inventory = try CellInventory(file)
    if tracing { trace.append("\(variables.count) tensors, \(inventory.cells.count) cells, \(inventory.problems.count) problems") }
    for cell in inventory.cells {
        _ = try? file.weights(of: cell, as: Float.self, family: cell.family ?? .resetAfter)
    }
    for mode in VerifyMode.allCases {
        _ = try? Verifier(options: VerifyOptions(mode: mode, batch: 2, steps: 2, declaredFamily: .resetAfter)).verify(file)
    }
    unlink(output)
    unlink(output + ".tmp")
    if let plan = try? ConversionPlan.make(for: file, options: ConversionOptions()),
       let sink = try? HDF5Writer(creating: output, temporaryPath: output + ".tmp") {
        do {
            try Converter().write(plan, from: file, to: sink)
            let written = try HDF5File(readingFrom: output)
            let verdicts = try Verifier(options: VerifyOptions(batch: 2, steps: 2)).verify(file, against: written)
            if tracing { trace.append("converted: \(verdicts.filter(\.equivalent).count)/\(verdicts.count) equivalent") }
        } catch {
            if tracing { trace.append("conversion threw: \(error)") }
        }
    }
}

let testOneInput: FuzzTarget = { data, size in
    let descriptor = open(input, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    if descriptor >= 0 {
        if let data, size > 0 { _ = write(descriptor, data, size) }
        close(descriptor)
    }
    do {
        try exercise()
    } catch {
        if tracing { trace.append("threw: \(error)") }
    }
    if tracing { printTrace("gru-fuzz-safetensors", &trace) }
    return 0
}

runLibFuzzer("gru-fuzz-safetensors", hint: "run fuzz/run.sh SECONDS safetensors", testOneInput)
