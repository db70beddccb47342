import Foundation
import Testing

/// OUTPUT is a regular file or nothing: FIFOs, devices, symbolic links and directories are refused even
/// with --force (publishing renames over the entry: /dev/null would become a regular file); an empty
/// OUTPUT is refused; of two conversions racing to one OUTPUT without --force, one publishes and the
/// other keeps it; a report that cannot be written to stdout is an error.
@Suite(.serialized) struct OutputSafetyTests {
    func withDirectory(_ body: (String) throws -> Void) throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("output-safety-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: url) }
        try body(url.path)
    }

    static let input = Fixtures.path("gru_single.h5")

    func type(of path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : 0
    }

    @Test func specialFilesAreNeverReplaced() throws {
        try withDirectory { directory in
            let fifo = directory + "/fifo", link = directory + "/link", device = directory + "/null"
            #expect(mkfifo(fifo, 0o644) == 0)
            #expect(symlink(directory + "/target.h5", link) == 0)
            let madeDevice = mknod(device, S_IFCHR | 0o666, (1 << 8) | 3) == 0   // /dev/null's numbers; needs root
            var cases = [(fifo, "is a FIFO; the output must be a regular file (it is written beside, then renamed into place), even with --force\n"),
                         (link, "is a symbolic link; name the file itself, or remove the link (the link would be replaced, not its target), even with --force\n"),
                         (directory, "is a directory; name the output file\n")]
            if madeDevice { cases.append((device, "is a device; the output must be a regular file (it is written beside, then renamed into place), even with --force\n")) }
            else { print("note: not root, so no device node was made; the device case is not tested here") }
            for (output, reason) in cases {
                let before = type(of: output)
                let result = try GRUConvertBinary.run(["convert", Self.input, output, "--force"])
                #expect(result.status == 2)
                #expect(result.stderr == "error: \(output): \(reason)", "\(result.stderr)")
                #expect(type(of: output) == before)
            }
            // Negative control: a regular file is replaced with --force.
            let regular = directory + "/regular.h5"
            #expect(FileManager.default.createFile(atPath: regular, contents: Data("old".utf8)))
            #expect(try GRUConvertBinary.run(["convert", Self.input, regular, "--force"]).status == 0)
            #expect((try Data(contentsOf: URL(fileURLWithPath: regular))).count > 1000)
        }
    }

    @Test func anEmptyOutputIsRefused() throws {
        let result = try GRUConvertBinary.run(["convert", Self.input, ""])
        #expect(result.status == 2 && result.stderr == "error: '': OUTPUT is empty; name the file to write\n")
    }

    /// Two conversions of a 100 MB file to one OUTPUT at once, without --force: exactly one publishes; the
    /// other finds OUTPUT there (before starting, or when publishing) and leaves it as it is.
    @Test func twoWritersToOneOutputDoNotOverwriteEachOther() throws {
        try withDirectory { directory in
            let output = directory + "/out.h5"
            let input = Fixtures.path("bad/large_sparse.h5")
            let processes = (0..<2).map { _ in
                let process = Process()
                process.executableURL = GRUConvertBinary.url
                process.arguments = ["convert", input, output]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = Pipe()
                return process
            }
            for process in processes { try process.run() }
            for process in processes { process.waitUntilExit() }
            let statuses = processes.map(\.terminationStatus).sorted()
            #expect(statuses == [0, 2])
            let loser = try #require(processes.first { $0.terminationStatus == 2 })
            let line = String(decoding: (loser.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(line == "error: \(output): appeared while the conversion ran (use --force to replace it)\n"
                    || line == "error: \(output): already exists (use --force to replace it)\n", "\(line)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["out.h5"])
            // Negative control: with --force both may replace, and both succeed.
            try FileManager.default.removeItem(atPath: output)
            let forced = (0..<2).map { _ in
                let process = Process()
                process.executableURL = GRUConvertBinary.url
                process.arguments = ["convert", input, output, "--force"]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                return process
            }
            for process in forced { try process.run() }
            for process in forced { process.waitUntilExit() }
            #expect(forced.map(\.terminationStatus) == [0, 0])
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["out.h5"])
        }
    }

    @Test func aReportThatCannotBeWrittenIsAnError() throws {
        let process = Process()
        process.executableURL = GRUConvertBinary.url
        process.arguments = ["inspect", Self.input]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 3)
        #expect(String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                == "error: standard output: cannot write the report: No space left on device\n")
        // Negative control: the same report to a pipe is written, status 0, nothing on stderr.
        let fine = try GRUConvertBinary.run("inspect", Self.input)
        #expect(fine.status == 0 && fine.stderr.isEmpty && fine.stdout.hasSuffix("0 problems, 0 other variables\n"))
    }
}
