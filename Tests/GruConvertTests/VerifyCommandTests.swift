import Foundation
import TensorStore
import Testing

/// End-to-end `verify`: verdicts, exit statuses 0/1/2, and the documented JSON.
@Suite struct VerifyCommandTests {
    func json(_ result: CommandResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    @Test func oneFileEquivalentExitsZero() throws {
        let result = try GRUConvertBinary.run("verify", Fixtures.path("gru_stacked.h5"))
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty)
        #expect(result.stdout.contains("rnn/multi_rnn_cell/cell_1/gru_cell: EQUIVALENT"))
        #expect(result.stdout.contains("bitwise identical"))
        #expect(result.stdout.hasSuffix("equivalent: 2 of 2 cells\n"))
    }

    @Test func aMistakeExitsOneWithItsDiagnosis() throws {
        let result = try GRUConvertBinary.run("verify", Fixtures.path("gru_single.h5"), Fixtures.path("mistakes/rz_swapped.h5"))
        #expect(result.status == 1)
        #expect(result.stdout.contains("rnn/gru_cell: NOT EQUIVALENT"))
        #expect(result.stdout.contains("! r and z swapped (Wr/Wz, Ur/Uz and br/bz exchanged)"))
    }

    @Test func jsonHasTheDocumentedKeys() throws {
        let result = try GRUConvertBinary.run("verify", Fixtures.path("gru_legacy.h5"), Fixtures.path("gru_explicit.h5"),
                                              "--reference", Fixtures.path("gru_legacy.reference.h5"),
                                              "--batch", "3", "--steps", "5", "--seed", "42", "--format", "json")
        #expect(result.status == 0)
        let root = try json(result)
        #expect(Set(root.keys) == ["equivalent", "mode", "batch", "steps", "seed", "cells", "file", "other", "reference_file"])
        #expect(root["equivalent"] as? Bool == true)
        #expect(root["file"] as? String == Fixtures.path("gru_legacy.h5") && root["other"] as? String == Fixtures.path("gru_explicit.h5"))
        #expect(root["reference_file"] as? String == Fixtures.path("gru_legacy.reference.h5"))
        #expect(root["mode"] as? String == "strict")
        #expect(root["batch"] as? Int == 3 && root["steps"] as? Int == 5 && root["seed"] as? Int == 42)
        let cell = try #require((root["cells"] as? [[String: Any]])?.first)
        #expect(Set(cell.keys) == ["scope", "layout", "family", "other_scope", "equivalent", "weights_identical", "max_abs_diff",
                                   "max_ulp_diff", "tolerance", "fused_vs_float64", "explicit_vs_float64", "diagnosis",
                                   "reference", "timing_ms", "stored_types", "unpaired"])
        #expect(cell["scope"] as? String == "RNN/GRUCell")
        #expect(cell["layout"] as? String == "tf-legacy-gru-cell" && cell["family"] as? String == "reset-before")
        #expect(cell["other_scope"] as? String == "rnn/gru_cell")
        #expect(cell["weights_identical"] as? Bool == true)
        #expect(cell["stored_types"] is NSNull)
        #expect(cell["max_abs_diff"] as? Double == 0)
        #expect(cell["max_ulp_diff"] as? Int == 0)
        #expect(cell["tolerance"] is NSNull)
        #expect((cell["diagnosis"] as? [String])?.isEmpty == true)
        let reference = try #require(cell["reference"] as? [String: Any])
        #expect(Set(reference.keys) == ["step_max_abs_diff", "trajectory_max_abs_diff", "within_tolerance"])
        let timing = try #require(cell["timing_ms"] as? [String: Any])
        #expect(Set(timing.keys) == ["fused", "explicit"])
    }

    @Test func fastModeReportsItsTolerance() throws {
        let result = try GRUConvertBinary.run("verify", Fixtures.path("gru_adam.h5"), "--mode", "fast", "--format", "json")
        #expect(result.status == 0)
        let cell = try #require((try json(result)["cells"] as? [[String: Any]])?.first)
        let (difference, tolerance) = (try #require(cell["max_abs_diff"] as? Double), try #require(cell["tolerance"] as? Double))
        #expect(difference <= tolerance)
        #expect(cell["reference"] is NSNull)
    }

    @Test func aWrongReferenceExitsOneAndNamesTheCell() throws {
        let result = try GRUConvertBinary.run("verify", Fixtures.path("gru_single.h5"),
                                              "--reference", Fixtures.path("mistakes/reset_after.reference.h5"))
        #expect(result.status == 1)
        #expect(result.stdout.contains("the reference outputs match a cell with the reset applied after the product"))
    }

    @Test func problemCellsExitOne() throws {
        let result = try GRUConvertBinary.run("verify", Fixtures.path("gru_problems.h5"))
        #expect(result.status == 1)
        #expect(result.stdout.contains("ok/rnn/gru_cell: EQUIVALENT"))
        #expect(result.stdout.contains("missing/rnn/gru_cell: NOT EQUIVALENT"))
    }

    @Test func badInputAndUsageExitTwo() throws {
        for arguments in [["verify", "/nonexistent.h5"], ["verify", Fixtures.path("gru_single.h5"), "--batch", "0"],
                          ["verify", Fixtures.path("gru_single.h5"), "--pair", "a=b"],
                          ["verify", Fixtures.path("gru_single.h5"), Fixtures.path("gru_explicit.h5"), "--pair", "nope"],
                          ["verify", Fixtures.path("gru_single.h5"), Fixtures.path("gru_explicit.h5"), "--pair", "x=rnn/gru_cell"],
                          ["verify", Fixtures.path("gru_single.h5"), "--reference", Fixtures.path("gru_stacked.reference.h5")],
                          ["verify", Fixtures.path("mistakes/dropped.reference.h5")],
                          ["verify", Fixtures.path("gru_single.h5"), "--mode", "sloppy"]] {
            let result = try GRUConvertBinary.run(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stdout.isEmpty, "\(arguments)")
            #expect(result.stderr.hasPrefix("error: "), "\(arguments): \(result.stderr)")
        }
    }
}

/// `--max-memory` and files that declare more than they hold.
@Suite struct MemoryBudgetCommandTests {
    @Test func hugeDeclaredCellsAreRefusedWithOneLine() throws {
        for command in ["verify", "convert"] {
            var arguments = [command, Fixtures.path("bad/huge_declared.h5")]
            if command == "convert" { arguments.append(FileManager.default.temporaryDirectory.appendingPathComponent("never-\(UUID()).h5").path) }
            arguments += ["--max-memory", "8G"]   // the same outcome on any machine (the default is half of its memory)
            let result = try GRUConvertBinary.run(arguments)
            #expect(result.status == 2)
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.hasPrefix("error: \(Fixtures.path("bad/huge_declared.h5")): rnn/gru_cell"))
            #expect(result.stderr.contains("more than the memory budget"))
            #expect(result.stderr.filter { $0 == "\n" }.count == 1)
        }
    }

    @Test func maxMemoryIsHonouredAndValidated() throws {
        let small = try GRUConvertBinary.run("verify", Fixtures.path("gru_single.h5"), "--max-memory", "1K")
        #expect(small.status == 2 && small.stderr.contains("more than the memory budget of 1 KiB"))
        let enough = try GRUConvertBinary.run("verify", Fixtures.path("gru_single.h5"), "--max-memory", "64M")
        #expect(enough.status == 0)
        let bad = try GRUConvertBinary.run("verify", Fixtures.path("gru_single.h5"), "--max-memory", "lots")
        #expect(bad.status == 2 && bad.stderr.hasPrefix("error: --max-memory takes a size"))
    }
}

/// A crafted file pointing at another file on disk cannot make any subcommand print or copy its bytes.
@Suite struct ReachCommandTests {
    @Test(arguments: ["bad/external_storage.h5", "bad/virtual.h5", "bad/external_link.h5"])
    func nothingFromOtherFilesIsPrintedOrCopied(_ fixture: String) throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("reach-\(UUID()).h5").path
        for arguments in [["inspect", Fixtures.path(fixture)], ["inspect", Fixtures.path(fixture), "--format", "json"],
                          ["verify", Fixtures.path(fixture)], ["convert", Fixtures.path(fixture), output]] {
            let result = try GRUConvertBinary.run(arguments)
            #expect(result.status == 2, "\(arguments)")
            // Nothing on stdout but, with --format json, the error document (which holds no byte of the secret).
            #expect(arguments.contains("json") ? result.stdout.contains("\"code\" : \"external\"") : result.stdout.isEmpty)
            #expect(!result.stdout.contains("SECRET"))
            #expect(result.stderr.hasPrefix("error: \(Fixtures.path(fixture)): rnn/gru_cell/gates/kernel: "))
            #expect(result.stderr.filter { $0 == "\n" }.count == 1)
            #expect(!result.stderr.contains("SECRET"))
            #expect(!FileManager.default.fileExists(atPath: output))
        }
    }
}

/// A float32 file against a float64 copy of it: the values are equal, but the report must not call them
/// the same bytes.
@Suite struct StoredTypeTests {
    @Test func equalValuesInAnotherTypeAreNotCalledBitForBit() throws { try withScratchDirectory("types") { directory in
        let wide = directory + "/f64.h5"
        let source = try HDF5File(readingFrom: Fixtures.path("gru_single.h5"))
        let writer = try HDF5Writer(creating: wide, temporaryPath: wide + ".tmp")
        for variable in try source.variables() {
            let values = try source.read(variable.name, as: Double.self)
            try writer.create(variable.name, elementType: .float(bits: 64), shape: variable.shape)
            try values.scalars.withUnsafeBytes {
                try writer.writeRawRows(variable.name, rows: 0..<(variable.shape.count == 2 ? variable.shape[0] : 1), from: $0)
            }
        }
        try writer.finish()
        let result = try GRUConvertBinary.run("verify", Fixtures.path("gru_single.h5"), wide)
        #expect(result.status == 0)
        #expect(result.stdout.contains("  weights   equal values, every element (stored as float32 vs float64: not the same bytes)\n"))
        // Negative control: the same file against itself is bit for bit.
        let same = try GRUConvertBinary.run("verify", Fixtures.path("gru_single.h5"), Fixtures.path("gru_single.h5"))
        #expect(same.stdout.contains("  weights   identical, every element bit for bit\n"))
    } }
}

/// A reference run of the wrong sizes is an input error (status 2), as a missing one is.
@Suite struct ReferenceSizeTests {
    @Test func aReferenceOfOtherSizesIsAnInputError() throws {
        let wrong = try GRUConvertBinary.run("verify", Fixtures.path("gru_single.h5"), "--reference", Fixtures.path("gru_large.reference.h5"))
        #expect(wrong.status == 2 && wrong.stdout.isEmpty)
        #expect(wrong.stderr == "error: \(Fixtures.path("gru_large.reference.h5")): rnn/gru_cell: this reference run is for input size 128 "
                + "and 112 units, not the cell's 5 and 4\n")
        let missing = try GRUConvertBinary.run("verify", Fixtures.path("gru_single.h5"), "--reference", Fixtures.path("gru_stacked.reference.h5"))
        #expect(missing.status == 2)
        // Negative control: the cell's own reference passes.
        let right = try GRUConvertBinary.run("verify", Fixtures.path("gru_single.h5"), "--reference", Fixtures.path("gru_single.reference.h5"))
        #expect(right.status == 0)
    }
}

/// On a terminal, verify shows where it is within one cell (a large cell takes seconds); elsewhere nothing.
@Suite struct VerifyProgressTests {
    @Test func eachStageOfACellIsShownOnATerminal() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            print("note: VerifyProgressTests skipped: no /usr/bin/script to give the tool a terminal")
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qc", "\"$GRU\" verify \"$FILE\" --batch 2 --steps 2 > /dev/null", "/dev/null"]
        process.environment = ["GRU": GRUConvertBinary.url.path, "FILE": Fixtures.path("gru_single.h5"),
                               "GRU_CONVERT_PROGRESS_DELAY": "0", "PATH": "/usr/bin:/bin"]
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        for stage in ["running the fused form", "running the explicit form", "running the float64 reference",
                      "measuring both forms against it"] {
            #expect(text.contains("verifying cell 1 of 1: rnn/gru_cell: \(stage)"), "\(text)")
        }
        // Negative control: without a terminal, no progress at all.
        let plain = try GRUConvertBinary.run(["verify", Fixtures.path("gru_single.h5"), "--batch", "2", "--steps", "2"],
                                             environment: ["GRU_CONVERT_PROGRESS_DELAY": "0"])
        #expect(!plain.stderr.contains("verifying") && !plain.stdout.contains("verifying"))
    }
}

/// Two files and a reference: a mismatch is the file's whose cell does not match, in either order.
@Suite struct ReferenceBlameTests {
    @Test(arguments: [true, false])
    func theMismatchIsAttributedToTheFileWhoseCellDiffers(_ swappedSecond: Bool) throws {
        let good = Fixtures.path("gru_single.h5"), swapped = Fixtures.path("mistakes/rz_swapped.h5")
        let (file, other) = swappedSecond ? (good, swapped) : (swapped, good)
        let result = try GRUConvertBinary.run("verify", file, other, "--reference", Fixtures.path("gru_single.reference.h5"))
        #expect(result.status == 1)
        #expect(result.stdout.contains("  ! \(swapped): its cell differs from the reference outputs step by step (max |Δ| 0.854, "
                                       + "bound 2.1e-05); \(good)'s matches them\n"), "\(result.stdout)")
        #expect(result.stdout.contains("  ! \(swapped): its weights give the reference outputs only when computed with r and z "
                                       + "swapped in the computation\n"))
        // Negative control: the good file is never the one blamed.
        #expect(!result.stdout.contains("  ! \(good): its"))
    }
}
