import Foundation
import Testing

/// A real full file system: a 1 MiB tmpfs mounted for the test (root only; otherwise a visible notice).
/// The conversion says so in plain words, naming OUTPUT, with status 3, and leaves nothing there.
@Suite(.serialized) struct FullDiskTests {
    /// Mounts a 1 MiB tmpfs, runs `body` in it, unmounts; nil (with a printed notice) when it cannot.
    func withTinyFileSystem(_ body: (String) throws -> Void) throws -> Bool {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tiny-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let mount = try GRUConvertBinary.runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", directory])
        guard getuid() == 0, mount == 0 else {
            print("note: FullDiskTests skipped: cannot mount a tmpfs here (needs root and mount rights)")
            return false
        }
        defer { _ = try? GRUConvertBinary.runTool("/bin/umount", [directory]) }
        try body(directory)
        return true
    }

    @Test(arguments: ["out.h5", "out.ckpt", "out.safetensors", "out.pt", "out.onnx"])
    func aFullDiskIsTheOutputsProblemInPlainWords(_ name: String) throws {
        _ = try withTinyFileSystem { directory in
            let output = directory + "/" + name
            // Split into every flat format; the ONNX model holds the fused cell (linear_before_reset=0).
            let target = name.hasSuffix(".onnx") ? "onnx" : "explicit"
            let result = try GRUConvertBinary.run(["convert", Fixtures.path("bad/large_sparse.h5"), output, "--to", target])
            #expect(result.status == 3)
            let expected = name.hasSuffix(".h5")
                ? "error: \(output): rnn/gru_cell/Wz: cannot transfer rows (No space left on device)\n"
                : name.hasSuffix(".ckpt") ? "error: \(output): rnn/gru_cell/Wr: cannot write the data file: No space left on device\n"
                : name.hasSuffix(".onnx") ? "error: \(output): gru_0/W: cannot write the output: No space left on device\n"
                : "error: \(output): rnn/gru_cell/Wr: cannot write the output: No space left on device\n"
            #expect(result.stderr == expected, "\(result.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
            // Negative control: a small conversion fits and is published.
            let small = try GRUConvertBinary.run(["convert", Fixtures.path("checkpoints/tf1_single/model.ckpt"), output, "--to", target])
            #expect(small.status == 0)
        }
    }
}
