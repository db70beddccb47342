// gru-fuzz-onnx: a libFuzzer harness for the ONNX reader and writer. Each input is written as a model file
// (input.onnx) beside two fixed external data files (input.onnx.data and torch_gru.onnx.data, 4 KiB each, so that
// external data is reached) and taken through everything that reads one: `ONNXFile` (decoding, GRU nodes,
// initializers, external data), the listing, every tensor's values (as Float and Double, as raw rows, as
// bytes), the attributes, cell discovery and cell weights, verify (strict and fast), a conversion to HDF5
// verified against its source, and its GRU scopes written back through `ONNXWriter` and read again. Every
// input must end in a value or a thrown error, never a trap or a sanitizer report.
// fuzz/run.sh builds it with AddressSanitizer and coverage and links libFuzzer's driver:
//   fuzz/run.sh 1800 onnx
import FuzzDriver
import GRUCore
import GRUTools
import TensorStore
#if canImport(Glibc)
import Glibc
#endif

let scratch: String = {
    var template = Array("/tmp/gru-fuzz-onnx-XXXXXX".utf8CString)
    return String(cString: mkdtemp(&template)!)
}()
let input = scratch + "/input.onnx"
let output = scratch + "/converted.h5"
let written = scratch + "/written.onnx"
let tracing = getenv("GRU_FUZZ_TRACE") != nil
nonisolated(unsafe) var trace: [String] = []
/// Small enough that a declared giant is refused, not allocated.
let budget = MemoryBudget(bytes: 64 << 20)

/// Fixed external data files, the same for every input: 4 KiB of a pattern of small floats.
func writeExternalData() {
    let bytes = (0..<1024).flatMap { i in withUnsafeBytes(of: (Float(i % 37) / 16 - 1).bitPattern.littleEndian) { Array($0) } }
    for name in ["input.onnx.data", "torch_gru.onnx.data"] {
        let descriptor = open(scratch + "/" + name, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { continue }
        bytes.withUnsafeBytes { _ = write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }
}

func exercise() throws {
    let file = try ONNXFile(readingFrom: input, memoryBudget: budget)
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
    let containers = try file.containers()
    for object in [""] + containers {
        for attribute in try file.attributeNames(of: object) { _ = try? file.stringAttribute(attribute, of: object) }
    }
    let inventory = try CellInventory(file)
    if tracing { trace.append("\(variables.count) tensors, \(containers.count) containers, \(inventory.cells.count) cells") }
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
            let converted = try HDF5File(readingFrom: output)
            let verdicts = try Verifier(options: VerifyOptions(batch: 2, steps: 2)).verify(file, against: converted)
            if tracing { trace.append("converted: \(verdicts.filter(\.equivalent).count)/\(verdicts.count) equivalent") }
        } catch {
            if tracing { trace.append("conversion threw: \(error)") }
        }
    }
    // Every GRU scope written back, in name order, and read again.
    for path in [written, written + ".tmp", written + ".data"] { unlink(path) }
    let writer = try ONNXWriter(creating: written, temporaryPath: written + ".tmp", temporaryDataPath: written + ".data")
    do {
        for variable in variables where ["W", "R", "B"].contains(variable.name.split(separator: "/").last ?? "") {
            try writer.copy(variable.name, from: file, as: variable.name)
        }
        for object in containers { try writer.copyAttributes(of: object, from: file, to: object, skip: { _ in false }) }
        try writer.finish()
        let back = try ONNXFile(readingFrom: written, memoryBudget: budget)
        if tracing { trace.append("written back: \(try back.variables().count) tensors") }
    } catch {
        writer.discard()
        if tracing { trace.append("writing back threw: \(error)") }
    }
}

writeExternalData()

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
    if tracing { printTrace("gru-fuzz-onnx", &trace) }
    return 0
}

runLibFuzzer("gru-fuzz-onnx", hint: "run fuzz/run.sh SECONDS onnx", testOneInput)
