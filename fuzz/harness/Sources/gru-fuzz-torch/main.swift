// gru-fuzz-torch: a libFuzzer harness for the torch.save reader (`TorchSaveFile`). Each input is written as a
// file named `.pt` and taken through everything that reads one: the zip (ZIPFoundation, the directory's flags,
// the member checks) or the legacy stream, the pickle machine (opcodes, memo, allow-list, limits), the walk into
// variables and attributes, every tensor's view checked against its storage, every variable's values (as bytes,
// as Float and Double, as raw rows), every attribute, and cell discovery with cell weights. Every input must end
// in a value or a thrown error, never a trap, a sanitizer report or a hang. fuzz/run.sh builds it with
// AddressSanitizer and coverage and links libFuzzer's driver:
//   fuzz/run.sh 1800 torch
import FuzzDriver
import GRUCore
import GRUTools
import TensorStore
#if canImport(Glibc)
import Glibc
#endif

let scratch: String = {
    var template = Array("/tmp/gru-fuzz-torch-XXXXXX".utf8CString)
    return String(cString: mkdtemp(&template)!)
}()
let input = scratch + "/input.pt"
let tracing = getenv("GRU_FUZZ_TRACE") != nil
nonisolated(unsafe) var trace: [String] = []
/// Small enough that a declared giant is refused, not allocated.
let budget = MemoryBudget(bytes: 64 << 20)

func exercise() throws {
    let file = try TorchSaveFile(readingFrom: input, memoryBudget: budget)
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
    for attribute in try file.attributeNames(of: "") { _ = try file.stringAttribute(attribute, of: "") }
    let inventory = try CellInventory(file)
    if tracing {
        trace.append("\(file.layout) \(variables.count) variables, \(try file.attributeNames(of: "").count) attributes, "
                     + "\(inventory.cells.count) cells, \(inventory.problems.count) problems")
    }
    for cell in inventory.cells {
        _ = try? file.weights(of: cell, as: Float.self, family: cell.family ?? .resetAfter)
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
    if tracing { printTrace("gru-fuzz-torch", &trace) }
    return 0
}

runLibFuzzer("gru-fuzz-torch", hint: "run fuzz/run.sh SECONDS torch", testOneInput)
