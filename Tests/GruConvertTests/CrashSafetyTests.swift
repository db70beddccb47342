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
}
