import Foundation
import Testing

/// The README and docs/ show real sessions; docs/check-sessions.sh re-runs each command with the built
/// binary and compares what it prints with what the page shows, so the pages cannot drift from the tool.
@Suite struct DocumentationTests {
    @Test func everyDocumentedSessionGivesTheDocumentedOutput() throws {
        let root = Fixtures.directory.deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [root.appendingPathComponent("docs/check-sessions.sh").path]
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["GRU_CONVERT_BIN": GRUConvertBinary.url.deletingLastPathComponent().path]) { $1 }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.hasSuffix("commands give the documented output\n") && text.contains("\nall "), "\(text)")
    }
}
