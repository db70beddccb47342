import Foundation
import TensorStore
import Testing

/// Files compressed with h5py's default compressor, LZF, which Debian's libhdf5 cannot decode alone
/// (fixtures/generate_compressed.py): read through the tool's own decoder, bit for bit; damage and
/// filters nobody has are one plain line.
@Suite struct CompressedFileTests {
    static func path(_ name: String) -> String { Fixtures.path("compressed/\(name).h5") }

    @Test func lzfReadsBitForBitAsTheUncompressedCopy() throws {
        let verify = try GRUConvertBinary.run("verify", Self.path("lzf"), Self.path("plain"))
        #expect(verify.status == 0)
        #expect(verify.stdout.contains("  weights   identical, every element bit for bit\n"))
        // Every tensor, element for element, through the library as well.
        let lzf = try HDF5File(readingFrom: Self.path("lzf")), plain = try HDF5File(readingFrom: Self.path("plain"))
        for variable in try plain.variables() {
            #expect(try lzf.read(variable.name, as: Float.self).scalars.map(\.bitPattern)
                    == plain.read(variable.name, as: Float.self).scalars.map(\.bitPattern))
        }
        // And a conversion of it verifies against the plain file.
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("lzf-\(UUID()).h5").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        #expect(try GRUConvertBinary.run("convert", Self.path("lzf"), output).status == 0)
        #expect(try GRUConvertBinary.run("verify", Self.path("plain"), output).status == 0)
    }

    @Test func damageAndMissingFiltersAreOnePlainLine() throws {
        let damaged = try GRUConvertBinary.run("verify", Self.path("lzf_damaged"))
        #expect(damaged.status == 2)
        #expect(damaged.stderr == "error: \(Self.path("lzf_damaged")): rnn/gru_cell/gates/kernel: cannot read the values "
                + "(a compressed chunk cannot be decoded: the data is damaged)\n")
        let unknown = try GRUConvertBinary.run("verify", Self.path("unknown_filter"))
        #expect(unknown.status == 2)
        #expect(unknown.stderr == "error: \(Self.path("unknown_filter")): rnn/gru_cell/gates/kernel: cannot read the values "
                + "(the data is compressed with a filter this libhdf5 does not have (a plugin is missing); "
                + "re-save the file with gzip or without compression)\n")
    }

    /// A file from a newer HDF5 (a message version 1.10.8 does not know) says so, and what to do.
    @Test func aNewerFormatSaysSo() throws {
        let newer = try GRUConvertBinary.run("verify", Fixtures.path("bad/newer_layout.h5"))
        #expect(newer.status == 2)
        #expect(newer.stderr == "error: \(Fixtures.path("bad/newer_layout.h5")): rnn/gru_cell/gates/kernel: cannot open the dataset "
                + "(its layout message has a version this libhdf5 (1.10.8) does not read: written by a newer HDF5 "
                + "(re-save it with an older format, h5py: libver='earliest' or 'v110'), or damaged)\n")
        // Negative control: the file it was made from reads.
        #expect(try GRUConvertBinary.run("verify", Fixtures.path("gru_single.h5")).status == 0)
    }
}
