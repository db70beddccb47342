import Foundation
import TensorStore
import Testing

/// The checks every output path passes before anything is written.
@Suite struct OutputTargetTests {
    @Test func refusalsNameTheOutputWithACode() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("target-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("in.h5").path, existing = directory.appendingPathComponent("out.h5").path
        #expect(FileManager.default.createFile(atPath: input, contents: Data("i".utf8)))
        #expect(FileManager.default.createFile(atPath: existing, contents: Data("o".utf8)))
        let cases: [(String, Bool, String)] = [
            ("/no/such/dir/out.h5", false, "the directory /no/such/dir does not exist"),
            (input, true, "is the input file; write the conversion somewhere else"),
            (directory.path, true, "is a directory; name the output file"),
            (existing, false, "already exists (use --force to replace it)"),
        ]
        for (output, force, reason) in cases {
            let error = #expect(throws: StoreError.self) { try OutputTarget.check(output, input: input, force: force) }
            #expect(error?.code == .outputRefused && error?.file == output && error?.reason == reason)
        }
        // Negative controls: a new name, and an existing file with force, pass.
        try OutputTarget.check(directory.appendingPathComponent("new.h5").path, input: input, force: false)
        try OutputTarget.check(existing, input: input, force: true)
    }
}
