import Foundation
import GRUCore
import Testing
import ZIPFoundation
@testable import TensorStore

/// The Keras 3 archive reader: the weights exactly as the matching `.weights.h5` holds them, the config's
/// facts on each cell's scope, and every way an archive can be wrong refused with its own line.
@Suite struct KerasArchiveTests {
    static let frameworks = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/frameworks")

    static func fixture(_ name: String) -> String { frameworks.appendingPathComponent(name).path }

    /// The bytes of member `name` of fixture archive `archive` (read with ZIPFoundation, as an oracle).
    static func member(_ name: String, of archive: String) throws -> Data {
        let zip = try Archive(url: URL(fileURLWithPath: fixture(archive)), accessMode: .read)
        var data = Data()
        _ = try zip.extract(zip[name]!) { data.append($0) }
        return data
    }

    /// Runs `body` with a temporary directory, removed afterwards.
    static func withDirectory<T>(_ body: (URL) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keras-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(directory)
    }

    /// Writes a zip of `members` (name, bytes, deflated or stored) at `url` with ZIPFoundation.
    static func writeZip(_ members: [(String, Data, Bool)], to url: URL) throws {
        let zip = try Archive(url: url, accessMode: .create)
        for (name, data, deflate) in members {
            try zip.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count),
                             compressionMethod: deflate ? .deflate : .none) { position, size in
                data.subdata(in: Int(position)..<(Int(position) + size))
            }
        }
    }

    /// Opens `bytes` as `x.keras` in a temporary directory: the archive, or the error's line with the
    /// directory's path replaced by `FILE` (and its code).
    static func open(_ bytes: Data, budget: MemoryBudget = .machineDefault) throws -> Result<KerasArchive, StoreError> {
        try withDirectory { directory in
            let path = directory.appendingPathComponent("x.keras").path
            try bytes.write(to: URL(fileURLWithPath: path))
            do { return .success(try KerasArchive(readingFrom: path, memoryBudget: budget)) } catch let error as StoreError {
                var error = error
                error.file = error.file.replacingOccurrences(of: path, with: "FILE")
                return .failure(error)
            }
        }
    }

    /// The line and code an archive of `bytes` is refused with, or `accepted`.
    static func refusal(_ bytes: Data, budget: MemoryBudget = .machineDefault) throws -> String {
        switch try open(bytes, budget: budget) {
        case .success: return "accepted"
        case .failure(let error): return "\(error.code): \(error.description)"
        }
    }

    /// A zip of the members of fixture `archive`, `replace` giving new bytes for some (stored, as Keras does).
    static func rezipped(_ archive: String = "k3_gru.keras", replace: [String: Data] = [:], drop: Set<String> = [],
                         add: [(String, Data)] = []) throws -> Data {
        try withDirectory { directory in
            let url = directory.appendingPathComponent("y.keras")
            let members = try ["metadata.json", "config.json", "model.weights.h5"].filter { !drop.contains($0) }
                .map { name in (name, try replace[name] ?? member(name, of: archive), false) }
            try writeZip(members + add.map { ($0.0, $0.1, false) }, to: url)
            return try Data(contentsOf: url)
        }
    }

    // MARK: - The weights

    @Test(arguments: ["k3_gru", "k3_gru_rb"])
    func weightsAreThoseOfTheWeightsFile(kind: String) throws {
        let archive = try KerasArchive(readingFrom: Self.fixture(kind + ".keras"))
        let file = try HDF5File(readingFrom: Self.fixture(kind + ".weights.h5"))
        #expect(archive.formatName == "Keras archive" && archive.storedFiles == [Self.fixture(kind + ".keras")])
        #expect(archive.kerasVersion == "3.15.1")
        let variables = try archive.variables()
        #expect(variables == (try file.variables()))
        #expect(variables.map(\.name) == ["layers/gru/cell/vars/0", "layers/gru/cell/vars/1", "layers/gru/cell/vars/2"])
        #expect(try archive.containers() == (try file.containers()))
        for variable in variables {
            #expect(try archive.readAll(variable.name) == (try file.readAll(variable.name)))
            let values: Tensor<Float> = try archive.read(variable.name)
            let expected: Tensor<Float> = try file.read(variable.name)
            #expect(values.shape == expected.shape && values.scalars.map(\.bitPattern) == expected.scalars.map(\.bitPattern))
        }
        // Negative control: the other kind's weights differ (the bias's shape, and values).
        let other = try HDF5File(readingFrom: Self.fixture((kind == "k3_gru" ? "k3_gru_rb" : "k3_gru") + ".weights.h5"))
        #expect(try other.variables() != variables)
        #expect(try other.readAll("layers/gru/cell/vars/0") != (try archive.readAll("layers/gru/cell/vars/0")))
    }

    @Test func theImageIsReadInPlaceAndErrorsNameTheMember() throws {
        let archive = try KerasArchive(readingFrom: Self.fixture("k3_gru.keras"))
        #expect(archive.weights.path == Self.fixture("k3_gru.keras") && archive.weights.member == "model.weights.h5")
        let error = #expect(throws: StoreError.self) { try archive.readAll("layers/nope") }
        #expect(error?.file == Self.fixture("k3_gru.keras") + ": model.weights.h5" && error?.object == "layers/nope")
        // A budget set later reaches the weights: reading a 5 x 18 kernel as Double needs 720 bytes.
        archive.memoryBudget = MemoryBudget(bytes: 700)
        let tooLarge = #expect(throws: StoreError.self) { try archive.read("layers/gru/cell/vars/0", as: Double.self) }
        #expect(tooLarge?.code == .tooLarge && tooLarge?.object == "layers/gru/cell/vars/0")
        archive.memoryBudget = MemoryBudget(bytes: 720)
        #expect(try archive.read("layers/gru/cell/vars/0", as: Double.self).shape == [5, 18])
    }

    @Test func manyArchivesOpenAtOnceStayApart() throws {
        // libhdf5 takes two core files of one name for one file: each image has a name of its own.
        let first = try KerasArchive(readingFrom: Self.fixture("k3_gru.keras"))
        let second = try KerasArchive(readingFrom: Self.fixture("k3_gru_rb.keras"))
        let again = try KerasArchive(readingFrom: Self.fixture("k3_gru.keras"))
        #expect(try first.variables().last?.shape == [2, 18] && (try second.variables().last?.shape) == [18])
        #expect(try first.readAll("layers/gru/cell/vars/1") == (try again.readAll("layers/gru/cell/vars/1")))
        #expect(try first.readAll("layers/gru/cell/vars/1") != (try second.readAll("layers/gru/cell/vars/1")))
    }

    // MARK: - The config's facts

    @Test func cellScopesCarryTheConfigsFacts() throws {
        let after = try KerasArchive(readingFrom: Self.fixture("k3_gru.keras"))
        let before = try KerasArchive(readingFrom: Self.fixture("k3_gru_rb.keras"))
        let names = ["activation", "go_backwards", "keras_layer", "recurrent_activation", "reset_after", "use_bias"]
        for archive in [after, before] {
            #expect(try archive.attributeNames(of: "layers/gru/cell") == names)
            #expect(try archive.stringAttribute("activation", of: "layers/gru/cell") == "tanh")
            #expect(try archive.stringAttribute("recurrent_activation", of: "layers/gru/cell") == "sigmoid")
            #expect(try archive.stringAttribute("keras_layer", of: "layers/gru/cell") == "gru")
            #expect(try archive.stringAttribute("use_bias", of: "layers/gru/cell") == "true")
            #expect(try archive.stringAttribute("go_backwards", of: "layers/gru/cell") == "false")
            #expect(try archive.stringAttribute("direction", of: "layers/gru/cell") == nil)
            // The weights file's own attributes are still there, and nothing is added elsewhere.
            #expect(try archive.attributeNames(of: "layers/gru/cell/vars") == ["name"])
            #expect(try archive.stringAttribute("name", of: "layers/gru/cell/vars") == "gru_cell")
            #expect(try archive.attributeNames(of: "layers/gru") == [])
            #expect(try archive.stringAttribute("reset_after", of: "layers/gru") == nil)
        }
        #expect(try after.stringAttribute("reset_after", of: "layers/gru/cell") == "true")
        #expect(try before.stringAttribute("reset_after", of: "layers/gru/cell") == "false")
        // Negative control: the two archives differ there and nowhere else.
        let differing = try names.filter {
            try after.stringAttribute($0, of: "layers/gru/cell") != before.stringAttribute($0, of: "layers/gru/cell")
        }
        #expect(differing == ["reset_after"])
        // And the weights file alone has no facts on the cell.
        #expect(try HDF5File(readingFrom: Self.fixture("k3_gru.weights.h5")).attributeNames(of: "layers/gru/cell") == [])
    }

    @Test func aConfigTheWeightsContradictIsRefused() throws {
        // k3_gru_rb's config (reset_after false) over k3_gru's weights (bias [2, 18]).
        let swapped = try Self.rezipped("k3_gru.keras", replace: ["config.json": try Self.member("config.json", of: "k3_gru_rb.keras")])
        #expect(try Self.refusal(swapped) == "damaged: FILE: config.json: GRU gru has reset_after false, but its bias "
                + "layers/gru/cell/vars/2 is [2, 18]: the config and the weights do not match")
        // Negative control: the same rezipping with the archive's own config is accepted.
        #expect(try Self.refusal(try Self.rezipped("k3_gru.keras")) == "accepted")
        #expect(try Self.refusal(try Self.rezipped("k3_gru_rb.keras")) == "accepted")
        let sixUnits = try Self.member("config.json", of: "k3_gru.keras")
        let sevenUnits = Data(String(decoding: sixUnits, as: UTF8.self).replacingOccurrences(of: "\"units\": 6", with: "\"units\": 7").utf8)
        #expect(sevenUnits != sixUnits)
        #expect(try Self.refusal(try Self.rezipped(replace: ["config.json": sevenUnits])) == "damaged: FILE: config.json: GRU gru has "
                + "7 units, but its recurrent kernel layers/gru/cell/vars/1 is [6, 18]: the config and the weights do not match")
    }

    // MARK: - Malformed archives

    @Test func missingMembersAreNamed() throws {
        #expect(try Self.refusal(try Self.rezipped(drop: ["model.weights.h5"])) == "damaged: FILE: has no member model.weights.h5, "
                + "so it is not a complete Keras archive (its members: metadata.json, config.json)")
        #expect(try Self.refusal(try Self.rezipped(drop: ["config.json"])) == "damaged: FILE: has no member config.json, "
                + "so it is not a complete Keras archive (its members: metadata.json, model.weights.h5)")
        #expect(try Self.refusal(try Self.rezipped(drop: ["config.json", "model.weights.h5", "metadata.json"], add: [("data.pkl", Data([0x80]))]))
                == "wrongFormat: FILE: has no member model.weights.h5 or config.json, so it is not a Keras archive (its members: data.pkl)")
        // Negative control: metadata.json is not needed (Keras loads an archive without it).
        let noMetadata = try Self.open(try Self.rezipped(drop: ["metadata.json"])).get()
        #expect(try noMetadata.kerasVersion == nil && noMetadata.variables().count == 3)
    }

    @Test func truncatedAndForeignFilesAreRefused() throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: Self.fixture("k3_gru.keras")))
        #expect(try Self.refusal(whole) == "accepted")
        #expect(try Self.refusal(whole.prefix(whole.count / 2)) == "damaged: FILE: a truncated or damaged zip archive "
                + "(no end of central directory record)")
        #expect(try Self.refusal(whole.prefix(whole.count - 10)) == "damaged: FILE: a truncated or damaged zip archive "
                + "(no end of central directory record)")
        #expect(try Self.refusal(Data()) == "wrongFormat: FILE: empty file, not a Keras archive (.keras)")
        #expect(try Self.refusal(try Self.member("model.weights.h5", of: "k3_gru.keras"))
                == "wrongFormat: FILE: not a zip archive (no zip signature at its start), so not a Keras archive (.keras)")
    }

    /// Where the weights member's data starts in the fixture: the HDF5 signature.
    static func weightsOffset(_ bytes: Data) -> Int {
        let signature = Data([0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A])
        return bytes.range(of: signature)!.lowerBound
    }

    @Test func aFlippedByteIsACRCMismatch() throws {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: Self.fixture("k3_gru.keras")))
        let offset = Self.weightsOffset(bytes) + 6000
        bytes[offset] ^= 0x01
        let line = try Self.refusal(bytes)
        #expect(line.hasPrefix("damaged: FILE: model.weights.h5: CRC-32 mismatch: recorded 0x79e4fe2a, read 0x"))
        #expect(line.hasSuffix(": the member is damaged"))
        // Negative control: flipped back, it opens.
        bytes[offset] ^= 0x01
        #expect(try Self.refusal(bytes) == "accepted")
    }

    @Test func aMemberThatIsNotHDF5IsRefused() throws {
        let text = Data("not HDF5 at all, just text".utf8)
        #expect(try Self.refusal(try Self.rezipped(replace: ["model.weights.h5": text])) == "wrongFormat: FILE: model.weights.h5: "
                + "not an HDF5 file (no HDF5 signature found)")
        #expect(try Self.refusal(try Self.rezipped(replace: ["model.weights.h5": Data()])) == "wrongFormat: FILE: model.weights.h5: "
                + "empty, not an HDF5 file")
        // Its first 4 KiB only: the signature is there, the rest is not.
        let weights = try Self.member("model.weights.h5", of: "k3_gru.keras")
        let line = try Self.refusal(try Self.rezipped(replace: ["model.weights.h5": weights.prefix(4096)]))
        #expect(line.hasPrefix("damaged: FILE: model.weights.h5: "))
    }

    @Test func aConfigThatIsNotJSONIsRefused() throws {
        let config = Data("not JSON".utf8)
        #expect(try Self.refusal(try Self.rezipped(replace: ["config.json": config])) == "damaged: FILE: config.json: "
                + "is not valid JSON at byte 1 of 8: expected null")
        #expect(try Self.refusal(try Self.rezipped(replace: ["config.json": Data("[1, 2]".utf8)])) == "damaged: FILE: config.json: "
                + "is not a Keras model config (no class_name and config)")
        #expect(try Self.refusal(try Self.rezipped(replace: ["metadata.json": Data("{".utf8)])) == "damaged: FILE: metadata.json: "
                + "is not valid JSON at byte 1 of 1: expected a member name")
    }

    @Test func theBudgetIsCheckedBeforeTheMemberIsRead() throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: Self.fixture("k3_gru.keras")))
        #expect(try Self.refusal(whole, budget: MemoryBudget(bytes: 12_799)) == "tooLarge: FILE: model.weights.h5: reading it into memory "
                + "would need 12.5 KiB, more than the memory budget of 12.5 KiB (--max-memory)")
        // Negative control: one byte more fits.
        #expect(try Self.refusal(whole, budget: MemoryBudget(bytes: 12_800)) == "accepted")
    }

    /// Byte offsets of the central directory record and local header of member `name` in a zip.
    static func records(of name: String, in bytes: Data) -> (central: Int, local: Int) {
        let nameBytes = Data(name.utf8)
        var central = 0, search = bytes.startIndex
        while let found = bytes.range(of: Data([0x50, 0x4B, 0x01, 0x02]), in: search..<bytes.endIndex) {
            if bytes[(found.lowerBound + 46)..<(found.lowerBound + 46 + nameBytes.count)] == nameBytes { central = found.lowerBound }
            search = found.upperBound
        }
        let local = Int(bytes[central + 42]) | Int(bytes[central + 43]) << 8 | Int(bytes[central + 44]) << 16 | Int(bytes[central + 45]) << 24
        return (central, local)
    }

    @Test func aZipBombIsRefusedAsItInflates() throws {
        // A deflated member of 64 KiB of zeros whose records declare 1000 bytes.
        let zeros = Data(count: 65_536)
        let declared = 1000
        let bomb = try Self.withDirectory { directory -> Data in
            let url = directory.appendingPathComponent("z.keras")
            try Self.writeZip([("config.json", try Self.member("config.json", of: "k3_gru.keras"), false), ("model.weights.h5", zeros, true)], to: url)
            var bytes = try Data(contentsOf: url)
            let (central, local) = Self.records(of: "model.weights.h5", in: bytes)
            for (at, value) in [(central + 24, declared), (local + 22, declared)] {
                for k in 0..<4 { bytes[at + k] = UInt8((value >> (8 * k)) & 0xFF) }
            }
            return bytes
        }
        #expect(try Self.refusal(bomb) == "damaged: FILE: model.weights.h5: holds more than its declared 1000 bytes (a zip bomb, or "
                + "damaged); refused")
    }

    @Test func anEncryptedMemberIsNamed() throws {
        var bytes = try Self.rezipped()
        let (central, local) = Self.records(of: "model.weights.h5", in: bytes)
        bytes[central + 8] |= 0x01
        bytes[local + 6] |= 0x01
        let line = try Self.refusal(bytes)
        #expect(line == "wrongFormat: FILE: model.weights.h5: is encrypted, which gru-convert does not read "
                + "(Keras never encrypts; re-zip it without a password)")
        // Negative control: the flag cleared, it opens.
        bytes[central + 8] &= 0xFE
        bytes[local + 6] &= 0xFE
        #expect(try Self.refusal(bytes) == "accepted")
    }

    @Test func aMemberWhoseLocalHeaderIsBrokenIsNotSkipped() throws {
        var bytes = try Self.rezipped()
        let (_, local) = Self.records(of: "config.json", in: bytes)
        bytes[local] = 0x00
        #expect(try Self.refusal(bytes) == "damaged: FILE: its zip directory lists 3 members, of which only 1 can be read: "
                + "the archive is damaged")
        bytes[local] = 0x50
        #expect(try Self.refusal(bytes) == "accepted")
    }

    @Test func aMemberNamedOutsideTheArchiveIsRefused() throws {
        #expect(try Self.refusal(try Self.rezipped(add: [("../evil.txt", Data("x".utf8))])) == "damaged: FILE: has a member named "
                + "../evil.txt, which points outside the archive (a Keras archive never has one; refused)")
        #expect(try Self.refusal(try Self.rezipped(add: [("assets/a..b.txt", Data("x".utf8))])) == "accepted")
    }

    @Test func aDuplicatedMemberIsRefused() throws {
        let weights = try Self.member("model.weights.h5", of: "k3_gru.keras")
        #expect(try Self.refusal(try Self.rezipped(add: [("model.weights.h5", weights)])) == "damaged: FILE: has 2 members named "
                + "model.weights.h5, so which one Keras reads is not defined")
    }

    @Test func aMissingPathSaysSo() throws {
        let error = #expect(throws: StoreError.self) { try KerasArchive(readingFrom: "/nonexistent/x.keras") }
        #expect(error?.code == .notFound && error?.description == "/nonexistent/x.keras: no such file (opening it)")
    }
}
