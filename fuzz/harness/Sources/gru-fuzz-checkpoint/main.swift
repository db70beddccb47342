// gru-fuzz-checkpoint: a libFuzzer harness for the TensorFlow V2 checkpoint reader. Each input is turned into
// a checkpoint on disk (an index, data shards and optionally a `checkpoint` state file) and taken through
// everything that reads one: `TensorFiles.open`, the listing, the index's description of every tensor,
// optimizer slots, every tensor's values (as Float and Double, as raw rows, as bytes, as strings), reference
// runs, cell discovery and cell weights in both families, verify (strict and fast, with and without a
// declared family, against the file's own reference runs) and a conversion to HDF5 verified against its
// source. Every input must end in a value or a thrown error, never a trap or a sanitizer report.
// fuzz/run.sh builds it with AddressSanitizer and coverage and links libFuzzer's driver:
//   fuzz/run.sh 3600 checkpoint
//
// Input layout (fuzz/checkpoint-seeds/make_seeds.py writes it; every length is clipped to what is left):
//   u32 LE  index length L, then L bytes: PREFIX.index
//   u8      flags: bit 0 = a `checkpoint` state file follows and the directory is opened instead of the
//           prefix; bit 1 = no index file at all (the L bytes are dropped)
//   [u32 LE length + bytes: the `checkpoint` state file, when bit 0 is set]
//   then data files until the input ends (at most 8), each: u8 shard, u8 shard count, u32 LE length, bytes,
//           written as PREFIX.data-<shard>-of-<count> (5 digits each, as TensorFlow names them)
// PREFIX is `model.ckpt` in a directory of its own, emptied before each input.
import FuzzDriver
import GRUCore
import GRUTools
import TensorStore
#if canImport(Glibc)
import Glibc
#endif

/// A scratch directory: `ckpt/` for the checkpoint, the converted outputs beside it.
let scratch: String = {
    var template = Array("/tmp/gru-fuzz-ckpt-XXXXXX".utf8CString)
    return String(cString: mkdtemp(&template)!)
}()
let directory = scratch + "/ckpt"
let prefix = directory + "/model.ckpt"
_ = mkdir(directory, 0o700)

/// Output files, removed with the rest when the process exits normally (libFuzzer's fork mode starts a
/// process per job, each with its own directory).
let outputs = ["explicit.h5", "fused.h5", "renamed.h5"]

/// Removes every file in `path` (not recursive: the harness writes no subdirectories).
func emptyDirectory(_ path: String) {
    guard let stream = opendir(path) else { return }
    var names: [String] = []
    while let entry = readdir(stream) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { names.append(name) }
    }
    closedir(stream)
    for name in names { unlink(path + "/" + name) }
}

atexit {
    emptyDirectory(directory)
    rmdir(directory)
    for name in outputs { unlink(scratch + "/" + name); unlink(scratch + "/" + name + ".tmp") }
    rmdir(scratch)
}

/// The budget every read and run is held to: small, so that a checkpoint declaring huge tensors is
/// refused before anything is allocated (libFuzzer's -rss_limit_mb is far above it).
let budget = MemoryBudget(bytes: 64 << 20)

/// With GRU_FUZZ_TRACE=1, one line per input on stderr saying what it went through.
let tracing = getenv("GRU_FUZZ_TRACE") != nil
nonisolated(unsafe) var trace: [String] = []

// MARK: - Input → files

/// Reads the input's parts in order; every length is clipped to what is left.
struct Parts {
    var bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    var remaining: Int { bytes.count - position }

    mutating func byte() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func length() -> Int {
        var value = 0
        for shift in stride(from: 0, to: 32, by: 8) {
            guard let byte = byte() else { break }
            value |= Int(byte) << shift
        }
        return min(value, remaining)
    }

    mutating func take(_ count: Int) -> UnsafeBufferPointer<UInt8> {
        let start = position
        position += count
        return UnsafeBufferPointer(rebasing: bytes[start..<position])
    }
}

func writeFile(_ path: String, _ bytes: UnsafeBufferPointer<UInt8>) {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard descriptor >= 0 else { return }
    if let base = bytes.baseAddress, !bytes.isEmpty { _ = write(descriptor, base, bytes.count) }
    close(descriptor)
}

func padded(_ number: UInt8) -> String {
    let text = String(number)
    return String(repeating: "0", count: 5 - text.count) + text
}

/// Writes the checkpoint an input describes; returns the path to open.
func materialize(_ input: UnsafeBufferPointer<UInt8>) -> String {
    emptyDirectory(directory)
    var parts = Parts(bytes: input)
    let index = parts.take(parts.length())
    let flags = parts.byte() ?? 0
    if flags & 2 == 0 { writeFile(prefix + ".index", index) }
    if flags & 1 != 0 { writeFile(directory + "/checkpoint", parts.take(parts.length())) }
    var files: [String] = []
    while files.count < 8, parts.remaining > 0 {
        let shard = parts.byte() ?? 0, count = parts.byte() ?? 0
        let name = prefix + ".data-\(padded(shard))-of-\(padded(count))"
        writeFile(name, parts.take(parts.length()))
        files.append("\(shard)/\(count)")
    }
    if tracing {
        trace.append("index \(flags & 2 == 0 ? "\(index.count) bytes" : "absent")\(flags & 1 != 0 ? ", state file" : ""), "
                     + "data \(files.isEmpty ? "none" : files.joined(separator: " "))")
    }
    return flags & 1 != 0 ? directory : prefix
}

// MARK: - Exercise

/// Converts `file` with `options` into `scratch/name`; the output opened as HDF5 if it was written.
func convert(_ file: any TensorSource, options: ConversionOptions, to name: String) -> HDF5File? {
    let output = scratch + "/" + name, temporary = output + ".tmp"
    unlink(output)
    unlink(temporary)
    let plan: ConversionPlan
    do {
        plan = try ConversionPlan.make(for: file, options: options)
    } catch {
        if tracing { trace.append("plan(\(options.target.rawValue),\(options.names.rawValue),\(options.cells.count) cells) threw: \(error)") }
        return nil
    }
    guard let sink = try? HDF5Writer(creating: output, temporaryPath: temporary) else { return nil }
    do {
        try Converter().write(plan, from: file, to: sink)
    } catch {
        if tracing { trace.append("convert(\(options.target.rawValue),\(options.names.rawValue)) threw: \(error)") }
        return nil
    }
    if tracing { trace.append("converted(\(options.target.rawValue),\(options.names.rawValue))") }
    guard let written = try? HDF5File(readingFrom: output) else { return nil }
    written.memoryBudget = budget
    return written
}

/// Reads `variable` every way the source offers.
func readEveryWay(_ file: any TensorSource, _ variable: Variable) {
    let name = variable.name
    if variable.elementType.isFloat {
        _ = try? file.read(name, as: Float.self)
        _ = try? file.read(name, as: Double.self)
    }
    if let width = variable.elementType.byteWidth, (1...2).contains(variable.shape.count) {
        let rows = variable.shape.count == 2 ? variable.shape[0] : 1
        let columns = variable.shape.last!
        let (rowBytes, overflow) = columns.multipliedReportingOverflow(by: width)
        if !overflow, rowBytes <= 1 << 20 {
            // The first row, the last row, and all of them when they are few.
            var ranges: [Range<Int>] = [0..<min(1, rows), max(0, rows - 1)..<rows]
            if rows <= 256, rows * rowBytes <= 1 << 20 { ranges.append(0..<rows) }
            for range in ranges {
                var bytes = [UInt8](repeating: 0, count: max(1, range.count * rowBytes))
                bytes.withUnsafeMutableBytes { _ = try? file.readRawRows(name, rows: range, into: $0) }
            }
        }
    }
    // Refusals too: a short buffer, rows out of range.
    var small = [UInt8](repeating: 0, count: 1)
    small.withUnsafeMutableBytes { _ = try? file.readRawRows(name, rows: 0..<1, into: $0) }
    if let checkpoint = file as? TFCheckpointFile {
        _ = try? checkpoint.info(name)
        if let key = checkpoint.checkpointKey(for: name) { _ = checkpoint.name(forCheckpointKey: key) }
        _ = try? checkpoint.readBytes(name)
        _ = try? checkpoint.readStrings(name)
    }
}

/// Every reading path over one checkpoint.
func exercise(_ path: String) throws {
    let file = try TensorFiles.open(path, memoryBudget: budget)
    let variables = try file.variables()
    let optimizer = (try? file.slotOwners()) ?? [:]
    _ = try? file.containers()
    for object in [""] + variables.map(\.name) {
        for attribute in (try? file.attributeNames(of: object)) ?? [] { _ = try? file.stringAttribute(attribute, of: object) }
    }
    if let checkpoint = file as? TFCheckpointFile {
        _ = (checkpoint.prefix, checkpoint.indexPath, checkpoint.shardCount, checkpoint.isBigEndian, checkpoint.hasObjectGraph)
        _ = checkpoint.warnings
        _ = checkpoint.optimizerSlots()
        _ = checkpoint.name(forCheckpointKey: "")
        _ = try? checkpoint.info("")
    }
    for variable in variables { readEveryWay(file, variable) }
    // A second pass reads through what the first remembered (crc verdicts, assembled pieces, open shards).
    for variable in variables where variable.elementType.isFloat { _ = try? file.read(variable.name, as: Float.self) }

    let runs = (try? file.referenceRuns()) ?? []
    let plain = CellInventory(variables: variables)
    let inventory = (try? CellInventory(file)) ?? CellInventory(variables: variables, slotOwners: optimizer)
    if tracing {
        trace.append("\(variables.count) variables (\(optimizer.count) optimizer state), \(runs.count) reference runs, cells: "
                     + inventory.cells.map { "\($0.layout.name)[\($0.family?.rawValue ?? "?")]" }.joined(separator: " ")
                     + (inventory.problems.isEmpty ? "" : ", \(inventory.problems.count) problems")
                     + (plain.cells.count == inventory.cells.count ? "" : ", \(plain.cells.count) without optimizer state"))
    }

    // Every cell's weights, in both element types; a cell whose tensors do not tell its family, as each.
    for cell in inventory.cells {
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

    // Convert to HDF5: explicit (split) and fused with TF names, of every cell and of the cells alone; verify
    // each written file against the checkpoint.
    let verifier = Verifier(options: VerifyOptions(batch: 2, steps: 2))
    let scopes = inventory.cells.map(\.scope)
    for (options, name) in [(ConversionOptions(), "explicit.h5"), (ConversionOptions(target: .fused, names: .tf), "renamed.h5"),
                            (ConversionOptions(target: .fused, cells: scopes), "fused.h5")] {
        if let written = convert(file, options: options, to: name) {
            let verdicts = try? verifier.verify(file, against: written)
            if tracing { trace.append("\(name): \(verdicts.map { "\($0.filter(\.equivalent).count)/\($0.count)" } ?? "threw") equivalent") }
        }
    }
}

/// One input: written as a checkpoint, then taken through every reading path.
let testOneInput: FuzzTarget = { data, size in
    let path = materialize(UnsafeBufferPointer(start: data, count: data == nil ? 0 : size))
    do {
        try exercise(path)
    } catch {
        // A StoreError is the expected answer to a broken checkpoint.
        if tracing { trace.append("threw: \(error)") }
    }
    if tracing { printTrace("gru-fuzz-checkpoint", &trace) }
    return 0
}

runLibFuzzer("gru-fuzz-checkpoint", hint: "run fuzz/run.sh SECONDS checkpoint", testOneInput)
