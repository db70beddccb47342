import Foundation
import Testing
import TensorStore

/// Every kind of HDF5 object (fixtures/structure, made with h5py and with libhdf5's C API by
/// `fixtures/structure/generate.sh`) survives a split followed by a fuse: `h5diff` finds no difference,
/// `h5ls -r` lists the same names and links, and `h5dump -p` shows the same objects, attributes, committed
/// datatypes, references (by the paths they point to), fill values, chunking and filters.
@Suite struct StructureRoundTripTests {
    /// Runs a tool from Debian's hdf5-tools and returns its status and stdout, the input's path replaced
    /// by `FILE` (each tool prints the path it was given).
    static func tool(_ name: String, _ arguments: [String], file: String? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/\(name)")
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        var text = String(decoding: data, as: UTF8.self)
        if let file { text = text.replacingOccurrences(of: file, with: "FILE") }
        return (process.terminationStatus, text)
    }

    /// `h5dump -p` without what differs between two faithful copies: object addresses (`DATASET 4538
    /// "/x"` names the target of a reference by address and path) and where contiguous data sits (`OFFSET`).
    static func dump(_ path: String, _ options: [String] = ["-p"]) throws -> [String] {
        let dumped = try tool("h5dump", options + [path], file: path)
        #expect(dumped.status == 0, "h5dump \(path)")
        return dumped.output.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line in
            if line.contains("OFFSET ") { return nil }
            return String(line).replacingOccurrences(of: #"(DATASET|GROUP|DATATYPE) \d+ ""#, with: "$1 \"", options: .regularExpression)
        }
    }

    /// Lines of `a` and `b` that differ, as `- line` / `+ line`, in order (a small multiset difference).
    static func difference(_ a: [String], _ b: [String]) -> [String] {
        let (a, b) = (a.map(squeezed), b.map(squeezed))
        var counts: [String: Int] = [:]
        for line in a { counts[line, default: 0] += 1 }
        for line in b { counts[line, default: 0] -= 1 }
        return counts.filter { $0.value != 0 }.sorted { ($0.key, $0.value) < ($1.key, $1.value) }
            .map { ($0.value > 0 ? "- " : "+ ") + $0.key }
    }

    /// Each file, the flags it needs, and the scope its cell is listed under (the first name of its group).
    /// `line` with each run of spaces made one (indentation follows depth; what differs is the text).
    static func squeezed(_ line: String) -> String {
        line.replacingOccurrences(of: " +", with: " ", options: .regularExpression)
    }

    static let corpus: [(file: String, flags: [String], scope: String)] = [
        ("h5py_objects.h5", [], "rnn/gru_cell"), ("libhdf5_objects.h5", [], "rnn/gru_cell"),
        ("h5py_external.h5", ["--allow-external"], "rnn/gru_cell"), ("libhdf5_external.h5", ["--allow-external"], "rnn/gru_cell"),
        ("aliased_cell.h5", [], "alias_cell"), ("attributed_groups.h5", [], "rnn/gru_cell"),
        ("reference_order.h5", [], "rnn/gru_cell"),
    ]

    @Test(arguments: corpus.map(\.file))
    func splitThenFuseKeepsEveryObject(_ name: String) throws {
        let input = Fixtures.path("structure/\(name)")
        let (_, flags, scope) = Self.corpus.first { $0.file == name }!
        let before = try Data(contentsOf: URL(fileURLWithPath: input))
        try withScratchDirectory("structure") { directory in
            let split = directory + "/split.h5", back = directory + "/back.h5"
            let splitting = try GRUConvertBinary.run(["convert", input, split] + flags)
            #expect(splitting.status == 0, "\(splitting.stderr)")
            // The soft link to the fused kernel is carried as it is: it dangles in the split file, which says so.
            #expect(splitting.stderr == (["aliased_cell.h5", "attributed_groups.h5", "reference_order.h5"].contains(name) ? "" : "note: soft link links/to_kernel names "
                    + "/rnn/gru_cell/gates/kernel, which this conversion replaces; it is carried as it is, naming nothing in the "
                    + "output until the cell is fused back\n"))
            let fusing = try GRUConvertBinary.run(["convert", split, back, "--to", "fused"] + flags)
            #expect(fusing.status == 0 && fusing.stderr.isEmpty, "\(fusing.stderr)")

            // h5diff: no difference (it only notes, as for any pair of files, that empty datasets hold nothing to compare).
            let diff = try Self.tool("h5diff", [input, back])
            #expect(diff.status == 0)
            let listed = try Self.tool("h5ls", ["-r", input], file: input), listedBack = try Self.tool("h5ls", ["-r", back], file: back)
            #expect(listed.status == 0 && listedBack.status == 0)
            #expect(listed.output == listedBack.output)
            // h5dump: the same, but for the fill time of the four cell tensors, which are written anew
            // (every element, so never filled) rather than copied.
            let changed = Self.difference(try Self.dump(input), try Self.dump(back))
            #expect(changed == ["-  FILL_TIME H5D_FILL_TIME_IFSET", "+  FILL_TIME H5D_FILL_TIME_NEVER"],
                    "\(changed)")
            // Negative control: the split file itself differs from the input where the cell was split (and
            // only there), so the comparisons above would see a lost or changed object.
            let listedSplit = try Self.tool("h5ls", ["-r", split], file: split)
            let splitDifference = Self.difference(listed.output.split(separator: "\n").map(String.init),
                                                  listedSplit.output.split(separator: "\n").map(String.init))
            #expect(splitDifference.allSatisfy { $0.contains("/\(scope)/") }, "\(splitDifference)")
            // gates, candidate and their 4 tensors out, 9 explicit tensors in; groups with attributes stay.
            #expect(splitDifference.count == (name == "attributed_groups.h5" ? 4 : 6) + 9)
            #expect(try Self.tool("h5diff", [input, split]).status == 1)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == before)
    }

    /// References inside compound or variable-length values cannot be re-pointed: refused by name, or left
    /// out and named with --drop-unsupported; never copied as bytes (addresses in the input). Negative
    /// control: the same file's other dataset is copied.
    @Test func nestedReferencesAreRefusedNotCopied() throws {
        let input = Fixtures.path("structure/nested_references.h5")
        let before = try Data(contentsOf: URL(fileURLWithPath: input))
        try withScratchDirectory("nested") { directory in
            let output = directory + "/out.h5"
            let refused = try GRUConvertBinary.run("convert", input, output)
            #expect(refused.status == 2)
            let why = "with references inside compound, array or variable-length values, which convert cannot re-point"
            #expect(refused.stderr == "error: \(input): /@comp: is an attribute \(why) (and 2 more that cannot be carried); "
                    + "--drop-unsupported converts without them, listing what is left out\n")
            #expect(!FileManager.default.fileExists(atPath: output))
            let dropped = try GRUConvertBinary.run("convert", input, output, "--drop-unsupported")
            #expect(dropped.status == 0)
            #expect(dropped.stderr == "note: 3 objects left out (--drop-unsupported): /@comp (an attribute \(why)), comp (a dataset \(why)), "
                    + "vl (a dataset \(why))\n")
            let written = try HDF5File(readingFrom: output)
            #expect(try written.datasetNames().filter { !$0.hasPrefix("rnn/") } == ["d"])
            #expect(try written.attributeNames(of: "") == [])
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == before)
    }

    /// A soft link to a dataset that the conversion renames (`d` becomes `d:0`) follows it, and says so; a
    /// 5,000-byte soft link path is carried whole. Negative control: the input's link names `/d`.
    @Test func softLinksFollowRenamedDatasetsAndKeepLongPaths() throws {
        let input = Fixtures.path("structure/link_paths.h5")
        try withScratchDirectory("links") { directory in
            let output = directory + "/out.h5"
            let split = try GRUConvertBinary.run("convert", input, output)
            #expect(split.status == 0)
            #expect(split.stderr.hasSuffix("note: soft link to_d names /d, which is written as d:0: the link is written to name /d:0\n"),
                    "\(split.stderr)")
            let links = try HDF5File(readingFrom: output).structure()
            #expect(links == [StructureItem(name: "long", kind: .softLink(target: "/" + String(repeating: "x", count: 5000))),
                              StructureItem(name: "to_d", kind: .softLink(target: "/d:0"))])
            #expect(try HDF5File(readingFrom: input).structure().last == StructureItem(name: "to_d", kind: .softLink(target: "/d")))
        }
    }

    /// A dataset with h5py's LZF filter is copied with its filter pipeline (HDF5 copies its chunks as
    /// stored; Debian's h5diff cannot read LZF, so h5dump, which reads these uncompressed chunks, compares).
    @Test func anLZFDatasetKeepsItsFilter() throws {
        let input = Fixtures.path("structure/h5py_lzf.h5")
        try withScratchDirectory("lzf") { directory in
            let split = directory + "/split.h5", back = directory + "/back.h5"
            let splitting = try GRUConvertBinary.run("convert", input, split)
            let fusing = try GRUConvertBinary.run("convert", split, back, "--to", "fused")
            #expect(splitting.status == 0 && fusing.status == 0)
            let (listed, listedBack) = (try Self.tool("h5ls", ["-r", input], file: input), try Self.tool("h5ls", ["-r", back], file: back))
            #expect(listed.output == listedBack.output)
            let changed = Self.difference(try Self.dump(input), try Self.dump(back))
            #expect(changed == ["-  FILL_TIME H5D_FILL_TIME_IFSET", "+  FILL_TIME H5D_FILL_TIME_NEVER"])
            let filter = try Self.dump(split, ["-p", "-d", "/store/lzf"])
            #expect(filter.contains("         FILTER_ID 32000"), "\(filter)")
        }
    }

    /// References are re-pointed, not nulled: the output's references name the objects by path, and a
    /// copy made by libhdf5's own `H5Ocopy` (`h5copy`, which nulls references copied into another file)
    /// is told apart by the same dump comparison (the negative control).
    @Test func referencesPointToTheCopiedObjects() throws {
        let input = Fixtures.path("structure/libhdf5_objects.h5")
        try withScratchDirectory("references") { directory in
            let split = directory + "/split.h5"
            #expect(try GRUConvertBinary.run("convert", input, split).status == 0)
            let dumped = try Self.dump(split, ["-d", "/refs/objects"]).joined(separator: "\n")
            #expect(dumped.contains(#"DATASET "/aliases/weights_again""#) && dumped.contains(#"GROUP "/aliases/shared_again""#)
                    && dumped.contains(#"DATATYPE "/types/pair""#) && dumped.contains("NULL"), "\(dumped)")
            let regions = try Self.tool("h5dump", ["-d", "/refs/regions", split]).output
            #expect(regions.contains(#"REGION_TYPE BLOCK  (1,0)-(2,1)"#) && regions.contains(#"REGION_TYPE POINT  (0,0), (2,3), (3,5)"#), "\(regions)")
            let attribute = try Self.dump(split, ["-a", "/groups/shared/points_to"]).joined(separator: "\n")
            #expect(attribute.contains(#"DATASET "/aliases/weights_again""#), "\(attribute)")
            // Negative control: h5copy's copy of the same dataset holds null references.
            let copied = directory + "/h5copy.h5"
            #expect(try GRUConvertBinary.runTool("/usr/bin/h5copy", ["-i", input, "-o", copied, "-s", "/refs/objects", "-d", "/objects"]) == 0)
            let nulled = try Self.dump(copied, ["-d", "/objects"]).joined(separator: "\n")
            #expect(!nulled.contains(#"DATASET "/aliases/weights_again""#), "\(nulled)")
        }
    }

    /// What a TensorFlow checkpoint cannot hold is refused by name, or left out with --drop-unsupported and
    /// named; converted back to HDF5, the file then lacks exactly those objects (the round-trip comparison
    /// sees lost links).
    @Test func aCheckpointCannotHoldLinks() throws {
        let input = Fixtures.path("bad/structure.h5")
        try withScratchDirectory("checkpoint-links") { directory in
            let checkpoint = directory + "/model.ckpt", back = directory + "/back.h5"
            let refused = try GRUConvertBinary.run("convert", input, checkpoint, "--to", "fused")
            #expect(refused.status == 2)
            #expect(refused.stderr == "error: \(input): aliases/dangling: is a soft link to /nowhere, which a TensorFlow checkpoint "
                    + "cannot hold (and 4 more that cannot be carried); --drop-unsupported converts without them, listing what is left out\n")
            #expect(!FileManager.default.fileExists(atPath: checkpoint + ".index"))
            let dropped = try GRUConvertBinary.run("convert", input, checkpoint, "--to", "fused", "--drop-unsupported")
            #expect(dropped.status == 0)
            #expect(dropped.stderr == "note: 5 objects left out (--drop-unsupported): aliases/dangling (a soft link to /nowhere, which a "
                    + "TensorFlow checkpoint cannot hold), aliases/hard_kernel (another name of rnn/gru_cell/gates/kernel, which this "
                    + "conversion replaces), aliases/soft_kernel (a soft link to /rnn/gru_cell/gates/kernel, which a TensorFlow "
                    + "checkpoint cannot hold), ...\n")
            #expect(try GRUConvertBinary.run("convert", checkpoint, back, "--to", "fused").status == 0)
            let lost = Self.difference(try Self.tool("h5ls", ["-r", input], file: input).output.split(separator: "\n").map(String.init),
                                       try Self.tool("h5ls", ["-r", back], file: back).output.split(separator: "\n").map(String.init))
            #expect(lost == ["- /aliases Group", "- /aliases/dangling Soft Link {/nowhere}",
                             "- /aliases/hard_kernel Dataset {9, 8}", "- /aliases/soft_kernel Soft Link {/rnn/gru_cell/gates/kernel}",
                             "- /refs Dataset {1}", "+ /rnn/gru_cell/gates/kernel Dataset {9, 8}",
                             "- /rnn/gru_cell/gates/kernel Dataset, same as /aliases/hard_kernel",
                             "- /types Group", "- /types/float_type Type"], "\(lost)")
        }
    }
}
