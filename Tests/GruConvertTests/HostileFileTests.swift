import Foundation
import Testing

/// Inputs the fuzzer found (fuzz/regressions) and hostile files: whatever libhdf5 does with them, the
/// command line answers with a status and at most one line on stderr, never a signal, and leaves no file.
@Suite struct HostileFileTests {
    static let regressions: [String] = {
        let directory = Fixtures.directory.deletingLastPathComponent().appendingPathComponent("fuzz/regressions")
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
            .map { directory.appendingPathComponent($0).path }
    }()

    @Test func thereAreRegressionInputs() {
        #expect(Self.regressions.count >= 3)
    }

    /// What each regression input gives with inspect, verify and convert: the exit status and stderr
    /// exactly (`FILE` and `OUTPUT` stand for the paths). Recorded from the tool and checked stable over
    /// repeated runs; a new regression input must be added here.
    static let outcomes: [String: [(status: Int32, stderr: String)]] = [
        "crash-42b6a17b67858a8caf4274225c6aa03cc4c5683d": [(2, "error: FILE: the HDF5 library crashed while reading this file (SIGSEGV); it is malformed\n"), (2, "error: FILE: the HDF5 library crashed while reading this file (SIGSEGV); it is malformed\n"), (2, "error: FILE: the HDF5 library crashed while reading this file (SIGSEGV); it is malformed\n")],
        "crash-552b49dc131743ba6569c5b0851151494f6abf92": [(0, ""), (0, ""), (2, "error: FILE: the HDF5 library crashed while reading this file (SIGSEGV); it is malformed\n")],
        "crash-5b15bf987aa1b1c22fc68189e7d644a9d523963f": [(2, "error: FILE: the HDF5 library crashed while reading this file (SIGSEGV); it is malformed\n"), (2, "error: FILE: the HDF5 library crashed while reading this file (SIGSEGV); it is malformed\n"), (2, "error: FILE: the HDF5 library crashed while reading this file (SIGSEGV); it is malformed\n")],
        "crash-6d0780cb909dcd1f61e25dd7aafc7e51818124da": [(0, ""), (1, ""), (2, "error: FILE: rnn/gru_cell: not a consistent GRU cell, so it cannot be converted: incomplete explicit cell: missing Wh (name the cells to convert with --cell)\n")],
        "crash-45fa2c48b0ac151929acd1fdbc502cf25ac75680": [(0, ""), (0, ""), (2, "error: FILE: the HDF5 library crashed while reading this file (SIGSEGV); it is malformed\n")],
        "crash-70a950edea72b4ba5f20df543454e548a130ba76": [(2, "error: FILE: /: cannot list the attributes (attribute name has different length than stored length)\n"), (1, ""), (2, "error: FILE: rnn/gru_cell: not a consistent GRU cell, so it cannot be converted: incomplete explicit cell: missing Ur, Uz (name the cells to convert with --cell)\n")],
        "crash-b82054810f85c2624ea100e6f5eb4aa4b81f6437": [(0, ""), (0, ""), (2, "error: FILE: the HDF5 library crashed while reading this file (SIGSEGV); it is malformed\n")],
        "crash-d15c7967f60d9213ba7148e9acc6bc709ac6a776": [(0, ""), (2, "error: FILE: rnn/gru_cell/bz: cannot read the values (no appropriate function for conversion path)\n"), (2, "error: FILE: the HDF5 library crashed while reading this file (SIGABRT); it is malformed\n")],
        "crash-d32205c3534f5681a0e476530ed26680811fa655": [(2, "error: FILE: cannot list the links in the file (bad version number for message)\n"), (2, "error: FILE: cannot list the links in the file (bad version number for message)\n"), (2, "error: FILE: cannot list the links in the file (bad version number for message)\n")],
        "crash-e0523e375bd2709e3bec91628fba53ebcec179e7": [(0, ""), (2, "error: FILE: rnn/gru_cell/bz: cannot read the values (no appropriate function for conversion path)\n"), (2, "error: FILE: /@generator: cannot read the attribute (address of object past end of allocation)\n")],
        "crash-eceb3e359d4c5e8f127647d81318021b31fa0e38": [(0, ""), (1, ""), (2, "error: FILE: rnn/gru_cell: not a consistent GRU cell, so it cannot be converted: incomplete tf-gru-cell cell: missing candidate/kernel, candidate/bias (name the cells to convert with --cell)\n")],
        "oom-0bc5b2edbe5c7871f13631326b2b8e6537177446": [(2, "error: FILE: cannot list the links in the file (memory allocation failed for on disk image buffer)\n"), (2, "error: FILE: cannot list the links in the file (memory allocation failed for on disk image buffer)\n"), (2, "error: FILE: cannot list the links in the file (memory allocation failed for on disk image buffer)\n")],
        "oom-1777859b3b0559439c339766774c2ccce389d417": [(0, ""), (0, ""), (2, "error: FILE: /@generator: cannot read the attribute (memory allocation failed for chunk)\n")],
        "oom-439dda2375e9fcde3fe9cdd51076fac4f5f45b72": [(2, "error: FILE: the HDF5 library made no progress for 3 s while reading this file; it is malformed\n"), (2, "error: FILE: the HDF5 library made no progress for 3 s while reading this file; it is malformed\n"), (2, "error: FILE: the HDF5 library crashed while reading this file (SIGABRT); it is malformed\n")],
        "oom-4bca39e12cffc57e943aa3595e97970cdd0b4abe": [(2, "error: FILE: cannot open it as HDF5, it is truncated or damaged (memory allocation failed for on disk image buffer)\n"), (2, "error: FILE: cannot open it as HDF5, it is truncated or damaged (memory allocation failed for on disk image buffer)\n"), (2, "error: FILE: cannot open it as HDF5, it is truncated or damaged (memory allocation failed for on disk image buffer)\n")],
        "oom-8d1600430e639a3ac0b45fa17ebe5b02b79cbaef": [(0, ""), (0, ""), (2, "error: FILE: /@generator: cannot read the attribute (memory allocation failed for chunk)\n")],
        "timeout-00b22968226f7d7a680828c726981d9beb9f703e": [(0, ""), (0, ""), (2, "error: FILE: the HDF5 library made no progress for 3 s while reading this file; it is malformed\n")],
        "timeout-2f622ea5e411e4fcd53bce2c4830972dc7589976": [(0, ""), (0, ""), (2, "error: FILE: the HDF5 library made no progress for 3 s while reading this file; it is malformed\n")],
    ]

    /// The one input whose end depends on the machine's speed: libhdf5 allocates without end while
    /// reading it, and either the address-space bound (SIGABRT) or the stall watcher stops it first.
    static let eitherOutcome: [String: [(status: Int32, stderr: String)]] = [
        "oom-439dda2375e9fcde3fe9cdd51076fac4f5f45b72": [
            (2, "error: FILE: the HDF5 library crashed while reading this file (SIGABRT); it is malformed\n"),
            (2, "error: FILE: the HDF5 library made no progress for 3 s while reading this file; it is malformed\n")],
    ]

    /// The one input whose conversion depends on the heap's layout (the environment, the order of HDF5
    /// calls): libhdf5 damages its heap while reading it, and the shutdown before publishing either
    /// crashes on that (status 2, nothing published) or does not (status 0, OUTPUT complete). Never both.
    static let convertEitherOutcome: [String: [(status: Int32, stderr: String)]] = [
        "crash-d15c7967f60d9213ba7148e9acc6bc709ac6a776": [
            (2, "error: FILE: the HDF5 library crashed while reading this file (SIGABRT); it is malformed\n"), (0, "")],
    ]

    @Test func everyRegressionInputHasAPinnedOutcome() {
        let names = Set(Self.regressions.map { URL(fileURLWithPath: $0).lastPathComponent })
        #expect(names == Set(Self.outcomes.keys))
    }

    @Test(arguments: regressions)
    func everyFoundInputGetsItsExactAnswer(_ path: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out.h5").path
        let name = URL(fileURLWithPath: path).lastPathComponent
        let expected = try #require(Self.outcomes[name], "no pinned outcome for \(name)")
        let commands = [["inspect", path], ["verify", path, "--batch", "2", "--steps", "2", "--max-memory", "512M"],
                        ["convert", path, output, "--max-memory", "512M"]]
        // A short stall limit only where a hang is the expected outcome: on a loaded machine a child can
        // wait seconds for a core, and a short limit would then end healthy work.
        let hangs = (Self.eitherOutcome[name] ?? expected).contains { $0.stderr.contains("made no progress") }
        for (n, arguments) in commands.enumerated() {
            let result = try GRUConvertBinary.run(arguments, environment: ["GRU_CONVERT_STALL_SECONDS": hangs ? "3" : "60"])
            let stderr = result.stderr.replacingOccurrences(of: path, with: "FILE").replacingOccurrences(of: output, with: "OUTPUT")
            let allowed = Self.eitherOutcome[name] ?? (arguments[0] == "convert" ? Self.convertEitherOutcome[name] : nil) ?? [expected[n]]
            #expect(allowed.contains { $0.status == result.status && $0.stderr == stderr },
                    "\(arguments[0]) \(name): status \(result.status), stderr \(stderr)")
            // A failed command leaves no OUTPUT, even when libhdf5 crashes after the work (it is shut down
            // before publishing, so such a crash comes first).
            if result.status != 0 { #expect(!FileManager.default.fileExists(atPath: output), "\(arguments[0]) \(name) left OUTPUT") }
        }
        // Nothing but a complete output is ever left: no temporary file.
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(left.allSatisfy { $0 == "out.h5" }, "\(left)")
    }

    /// An input on which libhdf5 loops forever in H5HG_read (reading a variable-length attribute while
    /// converting): the watcher ends it and says so.
    @Test func aLibraryHangBecomesOneLine() throws {
        let hang = try #require(Self.regressions.first { $0.hasSuffix("timeout-2f622ea5e411e4fcd53bce2c4830972dc7589976") })
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("hang-\(UUID()).h5").path
        let result = try GRUConvertBinary.run(["convert", hang, output], environment: ["GRU_CONVERT_STALL_SECONDS": "2"])
        #expect(result.status == 2)
        #expect(result.stderr == "error: \(hang): the HDF5 library made no progress for 2 s while reading this file; it is malformed\n")
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(!FileManager.default.fileExists(atPath: SafeOutputPath.temporary(for: output)))
    }

    /// An input on which libhdf5 allocates without end while walking the file: the child's address space
    /// is bounded (3 GiB for inspect, which reads names and shapes only), so it fails fast, and only the
    /// parent's line is shown.
    @Test func aRunawayAllocationBecomesOneLine() throws {
        let runaway = try #require(Self.regressions.first { $0.hasSuffix("oom-439dda2375e9fcde3fe9cdd51076fac4f5f45b72") })
        let result = try GRUConvertBinary.run("inspect", runaway)
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("error: \(runaway): the HDF5 library crashed while reading this file ("))
        #expect(result.stderr.filter { $0 == "\n" }.count == 1)
        #expect(!result.stderr.contains("Fatal error"))
    }

    /// The first input the fuzzer found crashes libhdf5 inside H5Ocopy; isolation turns that into one line.
    @Test func aLibraryCrashBecomesOneLine() throws {
        let crash = try #require(Self.regressions.first { $0.hasSuffix("crash-552b49dc131743ba6569c5b0851151494f6abf92") })
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("crash-\(UUID()).h5").path
        let result = try GRUConvertBinary.run("convert", crash, output)
        #expect(result.status == 2)
        #expect(result.stderr == "error: \(crash): the HDF5 library crashed while reading this file (SIGSEGV); it is malformed\n")
        #expect(!FileManager.default.fileExists(atPath: output))
        // Negative control: without the child process, the same file kills the tool.
        let unprotected = try GRUConvertBinary.run(["convert", crash, output], environment: ["GRU_CONVERT_IN_PROCESS": "1",
                                                                                              "SWIFT_BACKTRACE": "enable=no"])
        #expect(unprotected.signalled)
        try? FileManager.default.removeItem(atPath: SafeOutputPath.temporary(for: output))
    }
}

/// Where a killed convert leaves its temporary file (the process id is unknown here, so any match).
enum SafeOutputPath {
    static func temporary(for output: String) -> String {
        let url = URL(fileURLWithPath: output)
        let prefix = "." + url.lastPathComponent + ".gru-convert-"
        let directory = url.deletingLastPathComponent().path
        let match = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.first { $0.hasPrefix(prefix) }
        return directory + "/" + (match ?? prefix)
    }
}
