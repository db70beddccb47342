import GRUTools
import TensorStore
import Foundation
import Testing

/// fixtures/bad/: each broken file and its exact outcome through the command line.
@Suite struct BadCorpusTests {
    static func bad(_ name: String) -> String { Fixtures.path("bad/\(name).h5") }

    /// What follows "not an HDF5 file" now that checkpoints are read too.
    static let notACheckpoint = ", nor a safetensors file or a TensorFlow checkpoint; pass an HDF5 or safetensors file, or a checkpoint's prefix (PREFIX for PREFIX.index + PREFIX.data-00000-of-00001), .index file or directory"

    static let unreadable: [(String, String)] = [
        ("not_hdf5", "not an HDF5 file (no HDF5 signature found)" + Self.notACheckpoint),
        ("empty", "empty file, not an HDF5 file" + Self.notACheckpoint),
        ("truncated_7", "not an HDF5 file (no HDF5 signature found)" + Self.notACheckpoint),
        ("truncated_600", "cannot open it as HDF5, it is truncated or damaged (truncated file: eof = 600, sblock->base_addr = 0, stored_eof = 12688)"),
        ("truncated_5000", "cannot open it as HDF5, it is truncated or damaged (truncated file: eof = 5000, sblock->base_addr = 0, stored_eof = 12688)"),
    ]

    /// Contiguous storage declared past the end of the file is refused before any read.
    @Test func storageBeyondTheEndOfTheFile() throws {
        let output = outputPath()
        for arguments in [["inspect", Self.bad("beyond_end")], ["verify", Self.bad("beyond_end")],
                          ["convert", Self.bad("beyond_end"), output]] {
            let result = try GRUConvertBinary.run(arguments)
            #expect(result.status == 2)
            #expect(result.stderr == "error: \(Self.bad("beyond_end")): big: declares values stored up to byte 264208, "
                    + "past the end of the file (133136 bytes); the file is truncated or damaged\n")
        }
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    /// An input attribute that cannot be read while copying it is the input's fault, never the output's
    /// (the output is not left behind either); inspect and verify do not read attributes and succeed.
    @Test func anUnreadableAttributeIsBlamedOnTheInput() throws {
        let output = outputPath()
        let result = try GRUConvertBinary.run("convert", Self.bad("attribute_heap"), output)
        #expect(result.status == 2)
        #expect(result.stderr == "error: \(Self.bad("attribute_heap")): /@generator: cannot read the attribute "
                + "(bad global heap collection signature)\n")
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(try GRUConvertBinary.run("verify", Self.bad("attribute_heap")).status == 0)
    }

    static let inconsistent: [(String, String)] = [
        ("missing_variable", "incomplete tf-gru-cell cell: missing candidate/bias"),
        ("shapes_disagree", "gates/bias is [7], expected [8] (input size 5, 4 units, from candidate/kernel [9, 4])"),
        ("int_matrix", "gates/kernel holds int32 values, not float16, float32 or float64"),
        ("string_matrix", "candidate/kernel holds string values, not float16, float32 or float64"),
        ("slot_shape", "slot rnn/gru_cell/gates/kernel/Adam:0 is [8, 9], but its variable gates/kernel is [9, 8]"),
        ("group_not_dataset", "incomplete tf-gru-cell cell: missing gates/kernel"),
    ]

    func outputPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID()).h5").path
    }

    @Test(arguments: unreadable)
    func unreadableFilesAreOneLineEverywhere(_ name: String, _ reason: String) throws {
        let output = outputPath()
        for arguments in [["inspect", Self.bad(name)], ["verify", Self.bad(name)], ["convert", Self.bad(name), output]] {
            let result = try GRUConvertBinary.run(arguments)
            #expect(result.status == 2)
            #expect(result.stdout.isEmpty)
            #expect(result.stderr == "error: \(Self.bad(name)): \(reason)\n")
        }
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test(arguments: inconsistent)
    func inconsistentCellsAreNamedAndNeverConverted(_ name: String, _ reason: String) throws {
        let output = outputPath()
        let convert = try GRUConvertBinary.run("convert", Self.bad(name), output)
        #expect(convert.status == 2)
        #expect(convert.stderr == "error: \(Self.bad(name)): rnn/gru_cell: not a consistent GRU cell, so it cannot be converted: "
                + "\(reason) (name the cells to convert with --cell)\n")
        #expect(!FileManager.default.fileExists(atPath: output))
        let verify = try GRUConvertBinary.run("verify", Self.bad(name))
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("  ! not a consistent GRU cell: \(reason)\n"))
        let inspect = try GRUConvertBinary.run("inspect", Self.bad(name))
        #expect(inspect.status == 0 && inspect.stdout.contains("  rnn/gru_cell: \(reason)\n"))
    }

    /// NaN and infinity are carried faithfully by convert; verify calls an exact split of them exact (the
    /// same bits in, the same NaNs out) and says the cell itself is broken; any other difference is not.
    @Test func nanAndInfinityAreCarriedAndTheirExactSplitIsSaidToBeExact() throws {
        let verify = try GRUConvertBinary.run("verify", Self.bad("nan_weights"))
        #expect(verify.status == 0)
        #expect(verify.stdout.contains("  ! gates/kernel holds 1 NaN and 1 infinite values\n"))
        #expect(verify.stdout.contains("  ! the conversion is exact, but the cell itself computes NaN or infinity (1024 of 1024 output "
                                       + "values, the same bits in both forms): its weights are not usable\n"))
        let output = outputPath()
        defer { try? FileManager.default.removeItem(atPath: output) }
        #expect(try GRUConvertBinary.run("convert", Self.bad("nan_weights"), output).status == 0)
        let source = try HDF5File(readingFrom: Self.bad("nan_weights")).read("rnn/gru_cell/gates/kernel", as: Float.self)
        let split = try HDF5File(readingFrom: output)
        let wz = try split.read("rnn/gru_cell/Wz", as: Float.self), ur = try split.read("rnn/gru_cell/Ur", as: Float.self)
        // Kg[2, 3] (NaN) is in Wr; Kg[4, 1] (inf) is in Wr too: row 4 < I = 5, column 1 < H = 4.
        let wr = try split.read("rnn/gru_cell/Wr", as: Float.self)
        #expect(wr.scalars[2 * 4 + 3].bitPattern == source.scalars[2 * 8 + 3].bitPattern && wr.scalars[2 * 4 + 3].isNaN)
        #expect(wr.scalars[4 * 4 + 1] == .infinity)
        #expect(!ur.scalars.contains { !$0.isFinite } && !wz.scalars.contains { !$0.isFinite })
        let pair = try GRUConvertBinary.run("verify", Self.bad("nan_weights"), output)
        #expect(pair.status == 0)
        // Negative controls: against other weights, or in fast mode (no bound holds NaN), never equivalent.
        let other = try GRUConvertBinary.run("verify", Self.bad("nan_weights"), Fixtures.path("gru_single.h5"))
        #expect(other.status == 1)
        let fast = try GRUConvertBinary.run("verify", Self.bad("nan_weights"), "--mode", "fast")
        #expect(fast.status == 1 && fast.stdout.contains("  ! outputs hold NaN or infinity (1024 values)\n"))
    }

    /// A null dataspace is no value at all: shown as `null` with 0 elements (not `[]` with 1, a scalar),
    /// and carried as one by convert.
    @Test func aNullDataspaceIsNotAScalar() throws {
        let inspect = try GRUConvertBinary.run("inspect", Self.bad("null_dataspace"))
        #expect(inspect.status == 0)
        #expect(inspect.stdout.contains("\nnothing                        float32  null           0  -\n"), "\(inspect.stdout)")
        let json = try GRUConvertBinary.run("inspect", Self.bad("null_dataspace"), "--format", "json")
        #expect(json.stdout.contains("\"name\" : \"nothing\",\n      \"shape\" : null"))
        let output = outputPath()
        defer { try? FileManager.default.removeItem(atPath: output) }
        #expect(try GRUConvertBinary.run("convert", Self.bad("null_dataspace"), output).status == 0)
        #expect(try HDF5File(readingFrom: output).describe("nothing").isNull)
        // Negative control: a scalar is [] with 1 element.
        let scalar = try GRUConvertBinary.run("inspect", Fixtures.path("gru_adam.h5"))
        #expect(scalar.stdout.contains("\nbeta1_power:0                           float32  []             1  -\n"), "\(scalar.stdout)")
    }

    /// Links, second names, committed datatypes and references: inspect lists every name of a dataset (a
    /// second name no longer hides the cell's) and every other object with what it points to; convert
    /// carries what it can and refuses, naming it, what points into a tensor it replaces (a second name of
    /// the fused kernel, references to the fused bias), or leaves it out with --drop-unsupported and says what.
    @Test func whatConvertDoesNotCarryIsRefusedOrListed() throws {
        let inspect = try GRUConvertBinary.run("inspect", Self.bad("structure"))
        #expect(inspect.status == 0)
        #expect(inspect.stdout.contains("\naliases/hard_kernel            float32    [9, 8]        72  rnn/gru_cell (same tensor as rnn/gru_cell/gates/kernel)\n"))
        #expect(inspect.stdout.contains("\nrnn/gru_cell/gates/kernel      float32    [9, 8]        72  rnn/gru_cell\n"))
        #expect(inspect.stdout.hasSuffix("""
            OTHER OBJECT               KIND                POINTS TO
            aliases/dangling           soft link           /nowhere
            aliases/soft_kernel        soft link           /rnn/gru_cell/gates/kernel
            refs                       references          rnn/gru_cell/gates/bias
            rnn/gru_cell/gates/kernel  second name         aliases/hard_kernel
            types/float_type           committed datatype  -

            6 variables (193 elements), 1 GRU cell, 0 problems, 2 other variables, 5 other objects

            """), "\(inspect.stdout)")
        let output = outputPath()
        defer { try? FileManager.default.removeItem(atPath: output) }
        let refused = try GRUConvertBinary.run("convert", Self.bad("structure"), output)
        #expect(refused.status == 2)
        #expect(refused.stderr == "error: \(Self.bad("structure")): aliases/hard_kernel: is another name of rnn/gru_cell/gates/kernel, "
                + "which this conversion replaces (and 1 more that cannot be carried); --drop-unsupported converts without them, "
                + "listing what is left out\n")
        #expect(!FileManager.default.fileExists(atPath: output))
        let dropped = try GRUConvertBinary.run("convert", Self.bad("structure"), output, "--drop-unsupported")
        #expect(dropped.status == 0)
        #expect(dropped.stderr == "note: soft link aliases/soft_kernel names /rnn/gru_cell/gates/kernel, which this conversion replaces; "
                + "it is carried as it is, naming nothing in the output until the cell is fused back\n"
                + "note: 2 objects left out (--drop-unsupported): aliases/hard_kernel (another name of rnn/gru_cell/gates/kernel, "
                + "which this conversion replaces), refs (a dataset of references to other objects, one to rnn/gru_cell/gates/bias, "
                + "which this conversion replaces)\n")
        let written = try HDF5File(readingFrom: output)
        #expect(try written.datasetNames().sorted() == ["rnn/gru_cell/Uh", "rnn/gru_cell/Ur", "rnn/gru_cell/Uz", "rnn/gru_cell/Wh",
                                                        "rnn/gru_cell/Wr", "rnn/gru_cell/Wz", "rnn/gru_cell/bh", "rnn/gru_cell/br",
                                                        "rnn/gru_cell/bz"])
        // The links and the committed datatype are carried.
        #expect(try written.structure() == [StructureItem(name: "aliases/dangling", kind: .softLink(target: "/nowhere")),
                                            StructureItem(name: "aliases/soft_kernel", kind: .softLink(target: "/rnn/gru_cell/gates/kernel")),
                                            StructureItem(name: "types/float_type", kind: .namedType)])
        // Negative control: a file with none of these converts with nothing to say.
        let plain = outputPath()
        defer { try? FileManager.default.removeItem(atPath: plain) }
        let single = try GRUConvertBinary.run("convert", Fixtures.path("gru_single.h5"), plain)
        #expect(single.status == 0 && single.stderr.isEmpty)
    }

    /// An attribute too large for an object header (160 KB, dense storage) is carried: the output is
    /// written in the 1.8 format, whose object headers can point to dense storage.
    @Test func aLargeAttributeIsCarried() throws {
        let output = outputPath()
        defer { try? FileManager.default.removeItem(atPath: output) }
        let result = try GRUConvertBinary.run("convert", Self.bad("dense_attribute"), output)
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stderr)")
        // The attribute's bytes are the source's (h5dump of both, attribute only).
        let dump = { (path: String) throws -> String in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/h5dump")
            process.arguments = ["-a", "/rnn/gru_cell/big", path]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return text.replacingOccurrences(of: path, with: "FILE")
        }
        let source = try dump(Self.bad("dense_attribute")), copied = try dump(output)
        #expect(source.contains("(39996): 39996, 39997, 39998, 39999") && source == copied)
        #expect(try GRUConvertBinary.run("verify", Self.bad("dense_attribute"), output).status == 0)
    }

    @Test func oddNamesRoundTrip() throws {
        let output = outputPath(), back = outputPath()
        defer { for path in [output, back] { try? FileManager.default.removeItem(atPath: path) } }
        #expect(try GRUConvertBinary.run("convert", Self.bad("odd_names"), output).status == 0)
        #expect(try GRUConvertBinary.run("verify", Self.bad("odd_names"), output).status == 0)
        #expect(try GRUConvertBinary.run("convert", output, back, "--to", "fused").status == 0)
        let names = try HDF5File(readingFrom: back).datasetNames()
        #expect(names == (try HDF5File(readingFrom: Self.bad("odd_names")).datasetNames()))
        #expect(names.contains("encoder layer 1/rnn (v2)/gru_cell.ünï/gates/kernel"))
        #expect(names.contains("weird name: =;,|*?\"'"))
    }
}
