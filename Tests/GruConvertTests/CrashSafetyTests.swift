import GRUTools
import TensorStore
import Foundation
import Testing

/// `convert` killed with SIGKILL at several points of a 96 MB write: OUTPUT is absent or complete, and
/// INPUT is unchanged.
@Suite(.serialized) struct CrashSafetyTests {
    @Test func sigkillNeverLeavesAPartialOutput() throws {
        let input = Fixtures.path("bad/large_sparse.h5")
        let before = try Data(contentsOf: URL(fileURLWithPath: input))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kill-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var outcomes: [String] = []
        for (n, delay) in [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 2.0].enumerated() {
            let output = directory.appendingPathComponent("out\(n).h5").path
            let process = Process()
            process.executableURL = GRUConvertBinary.url
            process.arguments = ["convert", input, output]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            Thread.sleep(forTimeInterval: 0.05)   // the child dies with its parent
            if FileManager.default.fileExists(atPath: output) {
                // Complete: it opens, and its cell is whole.
                let cells = CellInventory(variables: try HDF5File(readingFrom: output).variables()).cells
                #expect(cells.count == 1 && cells[0].layout == .explicitResetBefore && cells[0].dimensions.units == 2048)
                outcomes.append("complete")
            } else {
                outcomes.append("absent")
            }
        }
        #expect(outcomes.contains("absent"), "no kill landed during the write: \(outcomes)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == before)
    }

    /// The working child killed (SIGKILL, which it cannot handle) while it writes: its parent removes every
    /// temporary file of the output, whatever the format (HDF5 one; a checkpoint's index and data file; a
    /// safetensors file and its staged bytes), and says the work was killed. Negative control: the same
    /// conversion left alone leaves only OUTPUT.
    @Test(arguments: ["out.h5", "out.ckpt", "out.safetensors"])
    func aKilledChildLeavesNoTemporaryFile(_ name: String) throws {
        let input = Fixtures.path("bad/large_sparse.h5")
        try withScratchDirectory("killed-child") { directory in
            let output = directory + "/" + name
            let process = Process()
            process.executableURL = GRUConvertBinary.url
            process.arguments = ["convert", input, output]
            let errors = Pipe()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            try process.run()
            let parent = process.processIdentifier
            // Once the child has created its temporary files, it is writing: kill it then.
            var child: Int32? = nil
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let text = (try? String(contentsOfFile: "/proc/\(parent)/task/\(parent)/children", encoding: .utf8)) ?? ""
                child = text.split(separator: " ").first.flatMap { Int32($0) }
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
                if child != nil, entries.contains(where: { $0.hasSuffix(".tmp") || $0.hasSuffix(".tmp.data") }) { break }
                Thread.sleep(forTimeInterval: 0.01)
            }
            kill(try #require(child), SIGKILL)
            process.waitUntilExit()
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == 3, "\(stderr)")
            #expect(stderr.contains("the work was killed (SIGKILL)"), "\(stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == [], "\(name)")
            let whole = try GRUConvertBinary.run("convert", input, output)
            #expect(whole.status == 0)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
                    == publishedFiles(name).sorted(), "\(name)")
        }
    }

    /// The files a conversion to `name` publishes.
    private func publishedFiles(_ name: String) -> [String] {
        name.hasSuffix(".ckpt") ? [name + ".data-00000-of-00001", name + ".index"] : [name]
    }

    /// SIGTERM, SIGINT and SIGHUP to the process that writes (here the tool itself, run in one process)
    /// remove its temporary file and end it with 128 + the signal; no OUTPUT appears.
    @Test(arguments: [SIGTERM, SIGINT, SIGHUP])
    func signalsRemoveTheTemporaryFile(_ signal: Int32) throws {
        let input = Fixtures.path("bad/large_sparse.h5")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("signal-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out.h5").path
        let process = Process()
        process.executableURL = GRUConvertBinary.url
        process.arguments = ["convert", input, output]
        process.environment = ["GRU_CONVERT_IN_PROCESS": "1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until the temporary file exists, so the signal lands during the write.
        let deadline = Date().addingTimeInterval(20)
        while (try FileManager.default.contentsOfDirectory(atPath: directory.path)).isEmpty && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.005)
        }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        if process.terminationStatus == 0 {
            // The write won the race: then OUTPUT is whole and nothing else is there.
            #expect(left == ["out.h5"])
        } else {
            #expect(process.terminationReason == .exit && process.terminationStatus == 128 + signal)
            #expect(left.isEmpty, "\(left)")
        }
    }

    /// The same signals sent to the tool's own PID only (not its process group), at several moments from
    /// its start to the middle of a 100 MB write: the parent passes them on to its working child, which
    /// removes its temporary file. Whatever the moment, no temporary file is left, and the tool ends with
    /// 128 + the signal, or 0 when the work won the race (then OUTPUT is whole).
    @Test(arguments: [SIGTERM, SIGINT, SIGHUP])
    func signalsToTheParentAloneRemoveTheTemporaryFile(_ signal: Int32) throws {
        let input = Fixtures.path("bad/large_sparse.h5")
        var outcomes: [Int32] = []
        for delay in [0.005, 0.01, 0.02, 0.03, 0.05, -1] {   // -1: the moment the temporary file appears
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("signal-pid-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let process = Process()
            process.executableURL = GRUConvertBinary.url
            process.arguments = ["convert", input, directory.appendingPathComponent("out.h5").path]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            if delay < 0 {
                let deadline = Date().addingTimeInterval(20)
                while (try FileManager.default.contentsOfDirectory(atPath: directory.path)).isEmpty && Date() < deadline {}
            } else {
                Thread.sleep(forTimeInterval: delay)
            }
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            Thread.sleep(forTimeInterval: 0.05)
            let left = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            if process.terminationReason == .exit && process.terminationStatus == 0 {
                #expect(left == ["out.h5"])
            } else {
                // Before the parent set up its child, the signal ends it directly (nothing started yet).
                #expect(process.terminationStatus == 128 + signal || process.terminationReason == .uncaughtSignal)
                #expect(left.isEmpty, "\(left)")
            }
            outcomes.append(process.terminationReason == .exit ? process.terminationStatus : -process.terminationStatus)
        }
        #expect(outcomes.contains(128 + signal), "no signal reached the child: \(outcomes)")
    }

    /// Negative control: SIGKILL cannot be handled, so in one process the temporary file stays behind
    /// (which is why the tool works in a child process that its parent cleans up after).
    @Test func sigkillInOneProcessLeavesTheTemporaryFile() throws {
        let input = Fixtures.path("bad/large_sparse.h5")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("signal-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let process = Process()
        process.executableURL = GRUConvertBinary.url
        process.arguments = ["convert", input, directory.appendingPathComponent("out.h5").path]
        process.environment = ["GRU_CONVERT_IN_PROCESS": "1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while (try FileManager.default.contentsOfDirectory(atPath: directory.path)).isEmpty && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.005)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(left.count == 1 && left[0].hasPrefix(".out.h5.gru-convert-") && left[0].hasSuffix(".tmp"), "\(left)")
    }
}

/// A crash is blamed where it happened: in libhdf5 it is the file's fault (status 2, pinned for the fuzz
/// finds in HostileFileTests); anywhere else it is gru-convert's or the machine's (status 3), never the
/// input's. A checkpoint is read without a single HDF5 call, so a signal that ends the work on one lands
/// outside libhdf5.
@Suite(.serialized) struct CrashBlameTests {
    static let checkpoint: String = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("blame-\(UUID())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let prefix = directory.appendingPathComponent("large.ckpt").path
        _ = try? GRUConvertBinary.run(["convert", Fixtures.path("bad/large_sparse.h5"), prefix])
        return prefix
    }()

    /// Starts a long verify of the 2,048-unit checkpoint, sends `signal` to its working child once the
    /// work is under way, and returns the status and stderr.
    func verify(endedBy signal: Int32, json: Bool = false) throws -> (status: Int32, stderr: String, stdout: String) {
        #expect(FileManager.default.fileExists(atPath: Self.checkpoint + ".index"))
        let process = Process()
        process.executableURL = GRUConvertBinary.url
        process.arguments = ["verify", Self.checkpoint] + (json ? ["--format", "json"] : [])
        let errors = Pipe(), output = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let parent = process.processIdentifier
        var child: Int32? = nil
        let deadline = Date().addingTimeInterval(20)
        while child == nil && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            let text = (try? String(contentsOfFile: "/proc/\(parent)/task/\(parent)/children", encoding: .utf8)) ?? ""
            child = text.split(separator: " ").first.flatMap { Int32($0) }
        }
        Thread.sleep(forTimeInterval: 0.5)         // reading or running the cell: no HDF5 call either way
        kill(try #require(child), signal)
        process.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, stderr.replacingOccurrences(of: Self.checkpoint, with: "FILE"), stdout)
    }

    @Test func aCrashOutsideLibhdf5IsGruConvertsNotTheFiles() throws {
        let result = try verify(endedBy: SIGSEGV)
        #expect(result.status == 3)
        #expect(result.stderr == "error: FILE: gru-convert crashed (SIGSEGV) while working on this file: a bug in gru-convert, "
                + "not in the file; please report it with the file\n")
    }

    @Test func aCrashIsAJSONDocumentWithJSON() throws {
        let result = try verify(endedBy: SIGSEGV, json: true)
        #expect(result.status == 3)
        #expect(result.stdout.contains("\"code\" : \"internalError\""), "\(result.stdout)")
    }

    @Test func aKilledChildIsNotBlamedOnTheFile() throws {
        let result = try verify(endedBy: SIGKILL)
        #expect(result.status == 3)
        #expect(result.stderr == "error: FILE: the work was killed (SIGKILL) while reading this file, perhaps for want of memory\n")
    }
}
