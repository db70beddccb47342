// gru-fuzz-keras: a libFuzzer harness for the Keras 3 archive reader (`.keras`). Each input is written as a
// file named `.keras` and taken through everything that reads one: the zip (ZIPFoundation and the
// directory's flags), the member checks (names, sizes, CRC-32, the memory budget), the weights member
// opened by libhdf5 in memory, the listing, every variable's values (as Float and Double, as raw rows, as
// bytes), every object's attributes with the config's facts merged, config.json's GRU layers, and cell
// discovery with cell weights. Every input must end in a value or a thrown error, never a trap or a
// sanitizer report. fuzz/run.sh builds it with AddressSanitizer and coverage and links libFuzzer's driver:
//   fuzz/run.sh 1800 keras
import FuzzDriver
import GRUCore
import GRUTools
import TensorStore
#if canImport(Glibc)
import Glibc
#endif

let scratch: String = {
    var template = Array("/tmp/gru-fuzz-keras-XXXXXX".utf8CString)
    return String(cString: mkdtemp(&template)!)
}()
let input = scratch + "/input.keras"
let tracing = getenv("GRU_FUZZ_TRACE") != nil
nonisolated(unsafe) var trace: [String] = []
/// Small enough that a declared giant is refused, not allocated.
let budget = MemoryBudget(bytes: 64 << 20)

func exercise() throws {
    let file = try KerasArchive(readingFrom: input, memoryBudget: budget)
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
    let objects = [""] + (try file.containers()) + variables.map(\.name) + file.config.layers.map(\.keras3Path)
    for object in objects {
        for attribute in (try? file.attributeNames(of: object)) ?? [] { _ = try? file.stringAttribute(attribute, of: object) }
    }
    _ = try? file.structure()
    for layer in file.config.layers {
        _ = file.config.layer(at: layer.keras2FullModelPath + "/kernel:0")
    }
    let inventory = try CellInventory(file)
    if tracing {
        trace.append("\(variables.count) variables, \(file.config.layers.count) GRU layers, \(inventory.cells.count) cells, "
                     + "\(inventory.problems.count) problems")
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
    if tracing { printTrace("gru-fuzz-keras", &trace) }
    return 0
}

runLibFuzzer("gru-fuzz-keras", hint: "run fuzz/run.sh SECONDS keras", testOneInput)
