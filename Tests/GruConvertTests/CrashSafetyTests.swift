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
