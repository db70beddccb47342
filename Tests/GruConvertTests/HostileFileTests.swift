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

    @Test(arguments: regressions)
    func everyFoundInputGetsAnAnswer(_ path: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out.h5").path
        for arguments in [["inspect", path], ["verify", path, "--batch", "2", "--steps", "2", "--max-memory", "512M"],
                          ["convert", path, output, "--max-memory", "512M"]] {
            let result = try GRUConvertBinary.run(arguments, environment: ["GRU_CONVERT_STALL_SECONDS": "3"])
            #expect([0, 1, 2].contains(result.status), "\(arguments): status \(result.status)")
            if result.status == 2 {
                #expect(result.stdout.isEmpty)
                #expect(result.stderr.hasPrefix("error: ") && result.stderr.filter { $0 == "\n" }.count == 1, "\(result.stderr)")
            }
            #expect(!result.stderr.contains("Backtrac"), "a crash leaked through")
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
