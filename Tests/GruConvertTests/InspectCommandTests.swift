import Foundation
import TensorStore
import Testing

/// End-to-end: the built binary, its stdout, stderr and exit status.
@Suite struct InspectCommandTests {
    @Test func textListsVariablesCellsAndTotals() throws {
        let result = try GRUConvertBinary.run("inspect", Fixtures.path("gru_adam.h5"))
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("rnn/gru_cell/gates/kernel:0") && $0.contains("float32")
                                 && $0.contains("[9, 8]") && $0.contains("72") && $0.hasSuffix("rnn/gru_cell") })
        #expect(lines.contains { $0.hasPrefix("global_step:0") && $0.contains("int64") && $0.hasSuffix("-") })
        #expect(lines.contains { $0.hasPrefix("rnn/gru_cell ") && $0.contains("tf-gru-cell")
                                 && $0.hasSuffix("Adam, Adam_1  TensorFlow 1  0      forward") })
        #expect(lines.last == "21 variables (393 elements), 1 GRU cell, 0 problems, 9 other variables")
    }

    @Test func textListsProblemsWithReasons() throws {
        let result = try GRUConvertBinary.run("inspect", Fixtures.path("gru_problems.h5"))
        #expect(result.status == 0)
        #expect(result.stdout.contains(
            "  short_bias/rnn/gru_cell: gates/bias is [7], expected [8] (input size 5, 4 units, from candidate/kernel [9, 4])"))
        #expect(result.stdout.contains("  missing/rnn/gru_cell: incomplete tf-gru-cell cell: missing candidate/bias"))
    }

    /// Every object that is not a dataset or group, with what it points to: second names, soft links
    /// (dangling or not), references (null ones as null) in datasets and attributes, committed datatypes.
    @Test func jsonListsTheFilesOtherObjects() throws {
        let result = try GRUConvertBinary.run("inspect", Fixtures.path("structure/libhdf5_objects.h5"), "--format", "json")
        #expect(result.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let structure = try #require(json["structure"] as? [[String: Any]])
        let rows = structure.map { entry in
            "\(entry["name"]!) \(entry["kind"]!) \(entry["attribute"] as? String ?? "-") "
                + (entry["points_to"] as! [Any]).map { $0 as? String ?? "null" }.joined(separator: ",")
        }
        #expect(rows == ["aliases/shared_again reference_attribute points_to aliases/weights_again,types/pair",
                         "data/weights second_name - aliases/weights_again", "groups/shared second_name - aliases/shared_again",
                         "links/dangling soft_link - /nowhere/at/all", "links/relative soft_link - to_weights",
                         "links/to_group soft_link - /groups/shared", "links/to_kernel soft_link - /rnn/gru_cell/gates/kernel",
                         "links/to_weights soft_link - /data/weights",
                         "refs/objects references - aliases/weights_again,aliases/shared_again,types/pair,null",
                         "refs/regions references - aliases/weights_again,aliases/weights_again",
                         "types/float_type named_type - ", "types/pair named_type - "])
        // Negative control: a file of datasets and groups alone has none.
        let plain = try GRUConvertBinary.run("inspect", Fixtures.path("gru_stacked.h5"), "--format", "json")
        #expect(plain.stdout.contains("\"structure\" : [\n\n  ]"), "\(plain.stdout)")
    }

    /// A cell whose scope group has a second name (and a file whose root is linked inside itself) is
    /// found once, under the name the walk enters, with the other paths it is reachable by.
    @Test func aCellReachableUnderSeveralNamesListsThem() throws {
        let path = Fixtures.path("structure/aliased_cell.h5")
        let text = try GRUConvertBinary.run("inspect", path)
        #expect(text.status == 0)
        #expect(text.stdout.contains("""
            CELL        LAYOUT       FAMILY        INPUT  UNITS  DTYPE    SLOTS  FRAMEWORK     LAYER  DIRECTION
            alias_cell  tf-gru-cell  reset-before      3      4  float32  -      TensorFlow 1  0      forward
              alias_cell is also reachable as a/up/alias_cell, rnn/gru_cell

            OTHER OBJECT  KIND         POINTS TO
            a/up          second name  /
            rnn/gru_cell  second name  alias_cell

            """), "\(text.stdout)")
        let json = try GRUConvertBinary.run("inspect", path, "--format", "json")
        let cells = try #require((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["cells"] as? [[String: Any]])
        #expect(cells.map { $0["other_scopes"] as? [String] } == [["a/up/alias_cell", "rnn/gru_cell"]])
        // Negative control: a cell under one name only has none, and no such line.
        let single = try GRUConvertBinary.run("inspect", Fixtures.path("gru_single.h5"), "--format", "json")
        let singleCells = try #require((try JSONSerialization.jsonObject(with: Data(single.stdout.utf8)) as? [String: Any])?["cells"] as? [[String: Any]])
        #expect(singleCells.map { $0["other_scopes"] as? [String] } == [[]])
        #expect(!(try GRUConvertBinary.run("inspect", Fixtures.path("gru_single.h5")).stdout.contains("also reachable")))
    }

    @Test func jsonHasTheDocumentedKeys() throws {
        let result = try GRUConvertBinary.run("inspect", Fixtures.path("gru_stacked.h5"), "--format", "json")
        #expect(result.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(Set(json.keys) == ["file", "variables", "cells", "problems", "other_variables", "structure"])
        #expect(json["file"] as? String == Fixtures.path("gru_stacked.h5"))
        let variables = try #require(json["variables"] as? [[String: Any]])
        #expect(variables.count == 8)
        #expect(Set(variables[0].keys) == ["name", "dtype", "shape"])
        let cells = try #require(json["cells"] as? [[String: Any]])
        #expect(cells.count == 2)
        let second = cells[1]
        #expect(Set(second.keys) == ["scope", "layout", "family", "input_size", "units", "dtype", "variables", "slots", "other_scopes", "framework",
                                   "layer", "layer_name", "direction"])
        #expect(second["scope"] as? String == "rnn/multi_rnn_cell/cell_1/gru_cell")
        #expect(second["layout"] as? String == "tf-gru-cell")
        #expect(second["framework"] as? String == "TensorFlow 1" && second["layer"] as? Int == 1 && second["direction"] as? String == "forward")
        #expect(second["layer_name"] is NSNull)
        #expect(second["family"] as? String == "reset-before")
        #expect(second["input_size"] as? Int == 4)
        #expect(second["units"] as? Int == 3)
        #expect(second["dtype"] as? String == "float32")
        #expect((second["variables"] as? [String])?.first == "rnn/multi_rnn_cell/cell_1/gru_cell/gates/kernel")
        #expect((json["problems"] as? [Any])?.isEmpty == true)
    }

    @Test func jsonReportsProblems() throws {
        let result = try GRUConvertBinary.run("inspect", "--format", "json", Fixtures.path("gru_problems.h5"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let problems = try #require(json["problems"] as? [[String: String]])
        #expect(problems.count == 6)
        #expect(problems.first { $0["scope"] == "int_kernel/rnn/gru_cell" }?["reason"]
                == "gates/kernel holds int32 values, not float16, float32 or float64")
        #expect(json["other_variables"] as? [String] == ["embedding"])
    }

    // MARK: - Bad input: one line on stderr, nothing on stdout, status 2

    @Test func missingFile() throws {
        try expectBadInput(["inspect", "/nonexistent/model.h5"], line: "error: /nonexistent/model.h5: no such file")
    }

    @Test func directory() throws {
        try expectBadInput(["inspect", Fixtures.directory.path],
                           line: "error: \(Fixtures.directory.path): is a directory that holds no TensorFlow checkpoint "
                               + "(no *.index file and no checkpoint file naming one)")
    }

    @Test func notHDF5() throws {
        let script = Fixtures.path("generate.py")
        try expectBadInput(["inspect", script], line: "error: \(script): not an HDF5 file (no HDF5 signature found)"
                           + BadCorpusTests.notACheckpoint)
    }

    @Test(arguments: [0, 100, 5000])
    func emptyOrTruncated(length: Int) throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("gru_adam.h5")))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cut-\(UUID().uuidString).h5").path
        _ = FileManager.default.createFile(atPath: path, contents: whole.prefix(length))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try GRUConvertBinary.run("inspect", path)
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("error: \(path): "))
        #expect(result.stderr.filter { $0 == "\n" }.count == 1)
        #expect(!result.stderr.contains("HDF5-DIAG"), "HDF5's own error stack leaked")
    }

    @Test func usageErrorsExitTwo() throws {
        let missing = try GRUConvertBinary.run("inspect")
        #expect(missing.status == 2)
        #expect(missing.stdout.isEmpty)
        #expect(missing.stderr.hasPrefix("error: Missing expected argument '<file>'"))
        let badFormat = try GRUConvertBinary.run("inspect", Fixtures.path("gru_single.h5"), "--format", "xml")
        #expect(badFormat.status == 2)
        #expect(badFormat.stdout.isEmpty)
        let unknown = try GRUConvertBinary.run("frobnicate")
        #expect(unknown.status == 2)
    }

    @Test func helpShowsExamplesAndExitsZero() throws {
        let root = try GRUConvertBinary.run("--help")
        #expect(root.status == 0)
        #expect(root.stdout.contains("Exit status"))
        let inspect = try GRUConvertBinary.run("inspect", "--help")
        #expect(inspect.status == 0)
        #expect(inspect.stdout.contains("gru-convert inspect fixtures/gru_adam.h5"))
    }

    private func expectBadInput(_ arguments: [String], line: String) throws {
        let result = try GRUConvertBinary.run(arguments)
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == line + "\n")
    }
}

/// A reader that goes away (`gru-convert inspect FILE | head -1`).
@Suite struct ClosedPipeTests {
    /// The tool ends as `ls` does, with 128 + SIGPIPE and nothing on stderr, instead of blaming the input.
    /// The file lists 2000 variables, so its report is far larger than a pipe holds and the reader is
    /// gone before the tool has written it all.
    @Test func aClosedStdoutEndsTheToolQuietly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pipe-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("many.h5").path
        let writer = try HDF5Writer(creating: input, temporaryPath: input + ".tmp")
        for n in 0..<2000 {
            let name = "a/rather/long/scope/name/to/make/the/report/large/variable_\(n)"
            try writer.create(name, elementType: .float(bits: 32), shape: [1])
            try [Float(n)].withUnsafeBytes { try writer.writeRawRows(name, rows: 0..<1, from: $0) }
        }
        try writer.finish()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        // bash runs the pipeline with SIGPIPE at its default; the status of the tool is the first of PIPESTATUS.
        process.arguments = ["-c", "trap - PIPE; \"$0\" inspect \"$1\" --format json | head -c 1 >/dev/null; echo ${PIPESTATUS[0]}",
                             GRUConvertBinary.url.path, input]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        process.waitUntilExit()
        let status = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(status == "141\n", "\(status)")
        #expect(stderr.isEmpty, "\(stderr)")
    }
}

/// Names read from a file are data: a newline or an escape sequence in one cannot split a line, forge
/// an `error:` line or reach the terminal raw. JSON carries the names exactly.
@Suite struct UntrustedNameTests {
    static let evilScope = "evil\nerror: forged line\u{1b}[31m"

    /// A file whose only cell is under `evilScope`, missing its candidate bias (so it is a problem).
    func withEvilFile(_ body: (String) throws -> Void) throws { try withScratchDirectory("evil") { directory in
        let input = directory + "/evil.h5"
        let writer = try HDF5Writer(creating: input, temporaryPath: input + ".tmp")
        for (tensor, shape) in [("gates/kernel", [3, 4]), ("gates/bias", [4]), ("candidate/kernel", [3, 2])] {
            let name = Self.evilScope + "/gru_cell/" + tensor
            try writer.create(name, elementType: .float(bits: 32), shape: shape)
            let values = [Float](repeating: 0.5, count: shape.reduce(1, *))
            try values.withUnsafeBytes { try writer.writeRawRows(name, rows: 0..<(shape.count == 2 ? shape[0] : 1), from: $0) }
        }
        try writer.finish()
        try body(input)
    } }

    @Test func controlCharactersInNamesAreEscapedInText() throws {
        try withEvilFile { input in
            let shownScope = "evil\\nerror: forged line\\x1b[31m/gru_cell"
            let inspect = try GRUConvertBinary.run("inspect", input)
            #expect(inspect.status == 0)
            #expect(!inspect.stdout.contains("\u{1b}") && !inspect.stdout.contains("\nerror: forged"))
            #expect(inspect.stdout.contains("  \(shownScope): incomplete tf-gru-cell cell: missing candidate/bias\n"))
            let convert = try GRUConvertBinary.run("convert", input, input + ".out.h5")
            #expect(convert.status == 2)
            #expect(convert.stderr == "error: \(input): \(shownScope): not a consistent GRU cell, so it cannot be converted: "
                    + "incomplete tf-gru-cell cell: missing candidate/bias (name the cells to convert with --cell)\n")
            #expect(convert.stderr.split(separator: "\n").count == 1)
            // JSON keeps the real name, escaped as JSON escapes it.
            let json = try GRUConvertBinary.run("inspect", input, "--format", "json")
            #expect(json.stdout.contains("evil\\nerror: forged line\\u001b[31m/gru_cell"))
        }
    }
}

/// Usage errors are one line, like every other error, pointing at the usage.
@Suite struct UsageErrorTests {
    @Test func aUsageErrorIsOneLine() throws {
        let missing = try GRUConvertBinary.run("inspect")
        #expect(missing.status == 2 && missing.stdout.isEmpty)
        #expect(missing.stderr == "error: Missing expected argument '<file>' (see 'gru-convert inspect --help')\n")
        let bad = try GRUConvertBinary.run("verify", Fixtures.path("gru_single.h5"), "--max-memory", "lots")
        #expect(bad.stderr == "error: --max-memory takes a size such as 512M or 4G, not 'lots' (see 'gru-convert verify --help')\n")
        // Negative control: --help is not an error, and prints the usage.
        let help = try GRUConvertBinary.run("inspect", "--help")
        #expect(help.status == 0 && help.stdout.contains("USAGE: gru-convert inspect"))
    }
}

/// With --format json, errors are a JSON document on stdout (the stderr line stays): stable codes.
@Suite struct JSONErrorTests {
    struct Document: Decodable {
        struct Body: Decodable { var code: String; var file: String?; var object: String?; var message: String }
        var error: Body
    }

    func document(_ result: CommandResult) throws -> Document.Body {
        try JSONDecoder().decode(Document.self, from: Data(result.stdout.utf8)).error
    }

    @Test func storeAndUsageErrorsAreDocuments() throws {
        let missing = try GRUConvertBinary.run("inspect", "missing.h5", "--format", "json")
        #expect(missing.status == 2 && missing.stderr == "error: missing.h5: no such file\n")
        let body = try document(missing)
        #expect(body.code == "notFound" && body.file == "missing.h5" && body.object == nil && body.message == "missing.h5: no such file")
        let damaged = try GRUConvertBinary.run("verify", Fixtures.path("checkpoints/bad/data_byte_flipped/model.ckpt"), "--format=json")
        let damage = try document(damaged)
        #expect(damaged.status == 2 && damage.code == "damaged" && damage.object == "rnn/gru_cell/gates/kernel")
        let usage = try GRUConvertBinary.run("inspect", "--format", "json")
        #expect(try document(usage).code == "usage" && usage.status == 2)
        // Negative control: without --format json, stdout stays empty on errors.
        #expect(try GRUConvertBinary.run("inspect", "missing.h5").stdout.isEmpty)
    }
}

/// Columns line up on a terminal whatever the names: a wide character takes two columns.
@Suite struct WideNameTests {
    @Test func wideCharactersKeepTheColumnsAligned() throws { try withScratchDirectory("wide") { directory in
        let input = directory + "/wide.h5"
        let writer = try HDF5Writer(creating: input, temporaryPath: input + ".tmp")
        for name in ["模型", "abcd", "e\u{301}"] {     // 4 columns, 4 columns, 1 column (e + combining acute)
            try writer.create(name, elementType: .float(bits: 32), shape: [1])
            try [Float(1)].withUnsafeBytes { try writer.writeRawRows(name, rows: 0..<1, from: $0) }
        }
        try writer.finish()
        let result = try GRUConvertBinary.run("inspect", input)
        #expect(result.status == 0)
        // VARIABLE is the widest (8 columns); each name is padded to 8 columns, then two spaces.
        #expect(result.stdout.contains("\nabcd      float32"), "\(result.stdout)")
        #expect(result.stdout.contains("\n模型      float32"), "\(result.stdout)")
        #expect(result.stdout.contains("\ne\u{301}         float32"), "\(result.stdout)")
    } }
}
