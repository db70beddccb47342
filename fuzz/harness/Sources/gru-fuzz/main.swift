// gru-fuzz: a libFuzzer harness for everything that reads a file: open, walk, discover cells of every
// layout and both families, read tensors, attributes and reference runs, verify (strict and fast, with and
// without a declared family for cells that cannot tell theirs, against the file's own reference runs) and
// convert what was found (split, then fuse the split back and verify the pair). Every input must end in a
// value or a thrown error (StoreError, WeightsError), never a trap or a sanitizer report. fuzz/run.sh
// builds it with AddressSanitizer and coverage and links libFuzzer's driver; a plain `swift build` links
// none, and the binary then says how to build it.
import FuzzDriver
import GRUCore
import GRUTools
import TensorStore
#if canImport(Glibc)
import Glibc
#endif

/// A scratch directory for the input file and converted outputs.
let scratch: String = {
    var template = Array("/tmp/gru-fuzz-XXXXXX".utf8CString)
    return String(cString: mkdtemp(&template)!)
}()

/// The files the harness writes in `scratch`, removed with it when the process exits normally (libFuzzer's
/// fork mode starts a process per job, each with its own directory).
let scratchFiles = ["input.h5", "split.h5", "fused.h5", "renamed.h5"].flatMap { [$0, $0 + ".tmp"] }
atexit {
    for name in scratchFiles { unlink(scratch + "/" + name) }
    rmdir(scratch)
}

/// The budget every read and run is held to: small, so that a file declaring huge tensors is refused
/// before anything is allocated (libFuzzer's -rss_limit_mb is far above it).
let budget = MemoryBudget(bytes: 64 << 20)

/// With GRU_FUZZ_TRACE=1, one line per input on stderr saying what it went through (to check the
/// harness's reach on the seeds: `GRU_FUZZ_TRACE=1 .build-fuzz/debug/gru-fuzz fixtures/keras/*.h5`).
let tracing = getenv("GRU_FUZZ_TRACE") != nil
nonisolated(unsafe) var trace: [String] = []

/// Opens `path` for reading under the budget.
func openForReading(_ path: String) throws -> HDF5File {
    let file = try HDF5File(readingFrom: path)
    file.memoryBudget = budget
    return file
}

/// Converts `file` with `options` into `output` (removed first, with its temporary file).
@discardableResult
func convert(_ file: any TensorSource, options: ConversionOptions, to output: String) -> Bool {
    let temporary = output + ".tmp"
    unlink(output)
    unlink(temporary)
    guard let plan = try? ConversionPlan.make(for: file, options: options),
          let sink = try? HDF5Writer(creating: output, temporaryPath: temporary) else { return false }
    do {
        try Converter().write(plan, from: file, to: sink)
        if tracing { trace.append("converted(\(options.target.rawValue),\(options.names.rawValue))") }
        return true
    } catch {
        return false
    }
}

/// Every reading path over one file.
func exercise(_ path: String) throws {
    let file = try openForReading(path)
    let variables = try file.variables()
    let inventory = CellInventory(variables: variables)

    // Walk: containers, every float variable's values, attributes of the file, the groups and the variables.
    let containers = (try? file.containers()) ?? []
    for variable in variables where variable.elementType.isFloat {
        _ = try? file.read(variable.name, as: Float.self)
    }
    for object in [""] + containers + variables.map(\.name) {
        for attribute in (try? file.attributeNames(of: object)) ?? [] {
            _ = try? file.stringAttribute(attribute, of: object)
        }
    }
    for variable in variables where variable.elementType.byteWidth != nil && (1...2).contains(variable.shape.count) {
        let rows = variable.shape.count == 2 ? variable.shape[0] : 1
        let width = variable.shape.last!
        guard rows >= 1, width >= 0, width <= 1 << 16 else { continue }
        let count = width * variable.elementType.byteWidth!
        var bytes = [UInt8](repeating: 0, count: max(count, 1))
        bytes.withUnsafeMutableBytes { _ = try? file.readRawRows(variable.name, rows: 0..<1, into: $0) }
    }
    let runs = (try? file.referenceRuns()) ?? []
    // Links, second names, committed datatypes and references, each reference followed.
    let structure = try? file.structure()
    if tracing {
        trace.append("\(structure.map { "\($0.count) other objects" } ?? "structure threw"), ")
        trace.append("\(variables.count) variables, \(runs.count) reference runs, cells: "
                     + inventory.cells.map { "\($0.layout.name)[\($0.family?.rawValue ?? "?")]" }.joined(separator: " ")
                     + (inventory.problems.isEmpty ? "" : ", \(inventory.problems.count) problems"))
    }

    // Every cell's weights, in both element types; a cell whose tensors do not tell its family, as each.
    for cell in inventory.cells {
        _ = try? file.stringAttribute(ConversionPlan.layoutAttribute, of: cell.scope)
        for family in cell.family == nil ? [CellFamily.resetBefore, .resetAfter] : [nil] {
            _ = try? file.weights(of: cell, as: Float.self, family: family)
            if let stored = try? file.weights(of: cell, as: Double.self, family: family) {
                _ = nonFiniteFindings(stored) { $0 }
                _ = FastModeTolerance(stored.map { Float($0) })
            }
        }
    }

    // Verify in both modes; with a declared family of each kind when some cell cannot tell its own.
    let families: [CellFamily?] = inventory.cells.contains { $0.family == nil } ? [nil, .resetBefore, .resetAfter] : [nil]
    for mode in VerifyMode.allCases {
        for family in families {
            let verifier = Verifier(options: VerifyOptions(mode: mode, batch: 2, steps: 2, declaredFamily: family))
            let verdicts = try? verifier.verify(file)
            let checked = runs.isEmpty ? nil : try? verifier.verify(file, reference: file)
            if tracing {
                let families = Set((verdicts ?? []).compactMap { $0.family?.rawValue }).sorted().joined(separator: "+")
                trace.append("verify(\(mode.rawValue),\(family?.rawValue ?? "-")): "
                             + (verdicts.map { "\($0.filter(\.equivalent).count)/\($0.count) equivalent \(families)" } ?? "threw")
                             + (checked.map { ", vs reference \($0.filter { $0.reference?.withinTolerance == true }.count)/\($0.count)" } ?? ""))
            }
        }
    }

    // Convert: split; fuse the split back and verify each against the original; and the refusals of
    // TensorFlow 1 names for reset-after cells.
    let split = scratch + "/split.h5", fused = scratch + "/fused.h5", renamed = scratch + "/renamed.h5"
    // What can be carried is, and the rest is left out (--drop-unsupported), so that carrying is reached.
    var splitting = ConversionOptions()
    splitting.dropUncarried = true
    if convert(file, options: splitting, to: split), let splitFile = try? openForReading(split) {
        let verifier = Verifier(options: VerifyOptions(batch: 2, steps: 2))
        let againstSplit = try? verifier.verify(file, against: splitFile)
        if convert(splitFile, options: ConversionOptions(target: .fused), to: fused), let fusedFile = try? openForReading(fused) {
            let againstFused = try? verifier.verify(file, against: fusedFile)
            if tracing { trace.append("fused back: \(againstFused.map { "\($0.filter(\.equivalent).count)/\($0.count)" } ?? "threw") equivalent") }
        }
        if tracing { trace.append("split: \(againstSplit.map { "\($0.filter(\.equivalent).count)/\($0.count)" } ?? "threw") equivalent") }
    }
    convert(file, options: ConversionOptions(target: .fused, names: .tf), to: renamed)
}

/// One input: written to a file (HDF5 reads files), then taken through every reading path.
let testOneInput: FuzzTarget = { data, size in
    let input = scratch + "/input.h5"
    let descriptor = open(input, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard descriptor >= 0, let data else { return 0 }
    _ = write(descriptor, data, size)
    close(descriptor)
    do {
        try exercise(input)
    } catch {
        // A StoreError is the expected answer to a broken file.
        if tracing { trace.append("threw: \(error)") }
    }
    if tracing { printTrace("gru-fuzz", &trace) }
    return 0
}

runLibFuzzer("gru-fuzz", hint: "run fuzz/run.sh", testOneInput)
