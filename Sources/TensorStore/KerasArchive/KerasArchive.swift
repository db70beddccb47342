import Foundation
import GRUCore
import ZIPFoundation

/// A Keras 3 model archive (`model.save("x.keras")`) opened read-only: a zip of `config.json` (the model's
/// config), `metadata.json` and `model.weights.h5` (the weights, a Keras 3 weights file). Read in memory,
/// never extracted to disk: the weights member is read whole (within the memory budget, its CRC-32 checked)
/// and opened by libhdf5 in place (`HDF5File(image:path:member:)`).
///
/// Variables, containers and values are the weights file's. The GRU layers of `config.json`
/// (`KerasModelConfig`) add string attributes to their cell's scope (`layers/gru/cell`): see
/// `attributeNames(of:)`. A config that is not JSON, or whose GRUs do not match the weights, is refused:
/// facts that are silently missing would change how the weights are read.
///
/// Errors name the archive for the archive as a whole (not a zip, a member missing) and `ARCHIVE: MEMBER`
/// for anything about one member, its bytes or its contents (`model.keras: model.weights.h5: ...`,
/// `model.keras: config.json: ...`), so a message says which member is wrong.
public final class KerasArchive: TensorSource {
    /// `Keras archive`.
    public var formatName: String { "Keras archive" }
    /// The archive's path as the caller gave it.
    public let path: String
    /// The archive alone.
    public var storedFiles: [String] { [path] }
    /// No read allocates more than this; the weights member is held in memory and counts against it when
    /// the archive is opened.
    public var memoryBudget: MemoryBudget {
        didSet { weights.memoryBudget = memoryBudget }
    }
    /// The weights member, `model.weights.h5`, opened in memory.
    public let weights: HDF5File
    /// The GRU layers of `config.json`.
    public let config: KerasModelConfig
    /// `keras_version` of `metadata.json` (`3.15.1`; tf-keras writes `2.21.0`), nil without one.
    public let kerasVersion: String?

    /// The member holding the weights.
    public static let weightsMember = "model.weights.h5"
    /// The member holding the model's config.
    public static let configMember = "config.json"
    /// The member holding the Keras version and the date saved.
    public static let metadataMember = "metadata.json"
    /// The most a `.json` member may hold (Keras's configs are kilobytes).
    public static let maximumJSONBytes = 64 << 20

    /// Opens the archive at `path`: checks its members (names, no encryption, sizes against the archive and
    /// `memoryBudget`), reads `model.weights.h5` into memory and opens it, and reads `config.json` and
    /// `metadata.json` (a tf-keras archive's config names a `Bidirectional`'s GRUs the Keras 2 way).
    public init(readingFrom path: String, memoryBudget: MemoryBudget = .machineDefault) throws {
        self.path = path
        self.memoryBudget = memoryBudget
        let file: ReadOnlyFile
        do { file = try ReadOnlyFile(path) } catch {
            throw TFCheckpointFile.openError(error, file: path, object: nil, what: "opening it")
        }
        let start = file.size >= 4 ? (try? file.read(at: 0, count: 4)) ?? [] : []
        guard start == [0x50, 0x4B, 0x03, 0x04] || start == [0x50, 0x4B, 0x05, 0x06] else {
            throw StoreError(.wrongFormat, file: path, reason: file.size == 0 ? "empty file, not a Keras archive (.keras)"
                             : "not a zip archive (no zip signature at its start), so not a Keras archive (.keras)")
        }
        let zip = try ZipMembers(path: path, file: file, budget: memoryBudget, format: "a Keras archive",
                                 encryptedAdvice: "Keras never encrypts; re-zip it without a password")
        let entries = zip.entries
        func member(_ name: String) throws -> Entry? { try zip.member(name, reader: "Keras") }
        let weightsEntry = try member(Self.weightsMember), configEntry = try member(Self.configMember)
        guard let weightsEntry, let configEntry else {
            let missing = [weightsEntry == nil ? Self.weightsMember : nil, configEntry == nil ? Self.configMember : nil].compactMap { $0 }
            let names = entries.prefix(6).map(\.path).joined(separator: ", ") + (entries.count > 6 ? ", ..." : "")
            let found = entries.isEmpty ? "it has no members" : "its members: \(names)"
            let keras = missing.count < 2
            throw StoreError(keras ? .damaged : .wrongFormat, file: path,
                             reason: "has no member \(missing.joined(separator: " or ")), so it is \(keras ? "not a complete" : "not a") "
                             + "Keras archive (\(found))")
        }
        let image = try Self.image(of: weightsEntry, in: zip, budget: memoryBudget)
        weights = try HDF5File(image: image, path: path, member: Self.weightsMember)
        weights.memoryBudget = memoryBudget
        if let entry = try member(Self.metadataMember) {
            let text = try zip.bytes(of: entry, budget: memoryBudget, limit: Self.jsonLimit)
            let value: JSONValue
            do { value = try JSONValue.parse(text, maximumDepth: KerasModelConfig.maximumDepth, pythonNumbers: true) } catch {
                throw StoreError(.damaged, file: "\(path): \(Self.metadataMember)",
                                 reason: "is not valid JSON at byte \(error.offset) of \(text.count): \(error.reason)")
            }
            if case .string(let version)? = value["keras_version"] { kerasVersion = version } else { kerasVersion = nil }
        } else {
            kerasVersion = nil
        }
        let text = try zip.bytes(of: configEntry, budget: memoryBudget, limit: Self.jsonLimit)
        config = try KerasModelConfig(parsing: text, flavor: kerasVersion?.hasPrefix("2.") == true ? .keras2 : .keras3,
                                      file: "\(path): \(Self.configMember)", object: nil)
        try checkConfigAgainstWeights()
    }

    // MARK: - Members

    /// The bytes of member `entry`, read whole into an HDF5 image after the checks every member gets
    /// (`ZipMembers`).
    private static func image(of entry: Entry, in zip: ZipMembers, budget: MemoryBudget) throws -> HDF5Image {
        let count = try zip.checkedSize(of: entry, budget: budget, limit: nil)
        return try HDF5Image(count: count) { buffer in try zip.extract(entry, count: count, into: buffer) }
    }

    /// The most a JSON member may hold, and what says so.
    private static let jsonLimit = (bytes: maximumJSONBytes, what: "a Keras config")

    /// Refuses a config whose GRUs the weights contradict, so no fact is attached to the wrong cell: each
    /// GRU's cell is in the weights, its recurrent kernel is `[units, 3 units]`, and a bias of rank 2 goes
    /// with `reset_after` true, of rank 1 with false.
    private func checkConfigAgainstWeights() throws {
        let variables = try weights.variables()
        let shapes = Dictionary(variables.map { ($0.name, $0.shape) }, uniquingKeysWith: { first, _ in first })
        let name = "\(path): \(Self.configMember)"
        for layer in config.layers {
            let what = "GRU \(layer.kerasLayer)"
            guard let recurrent = shapes[layer.keras3Path + "/vars/1"], shapes[layer.keras3Path + "/vars/0"] != nil else {
                throw StoreError(.damaged, file: name, reason: "\(what) has no weights in \(Self.weightsMember) "
                                 + "(no \(layer.keras3Path)/vars/0 and /1): the config and the weights do not match")
            }
            if let units = layer.units, recurrent != [units, 3 * units] {
                throw StoreError(.damaged, file: name, reason: "\(what) has \(units) units, but its recurrent kernel "
                                 + "\(layer.keras3Path)/vars/1 is \(format(recurrent)): the config and the weights do not match")
            }
            if layer.useBias != false, let resetAfter = layer.resetAfter, let bias = shapes[layer.keras3Path + "/vars/2"],
               (bias.count == 2) != resetAfter {
                throw StoreError(.damaged, file: name, reason: "\(what) has reset_after \(resetAfter), but its bias "
                                 + "\(layer.keras3Path)/vars/2 is \(format(bias)): the config and the weights do not match")
            }
        }
    }

    // MARK: - The weights

    /// The weights file's datasets, in name order.
    public func variables() throws -> [Variable] { try weights.variables() }

    /// The weights file's groups, in name order.
    public func containers() throws -> [String] { try weights.containers() }

    /// What the weights file holds besides variables (see `HDF5File.structure()`).
    public func structure() throws -> [StructureItem] { try weights.structure() }

    /// Reads a float variable of the weights into `Scalar`.
    public func read<Scalar: StoredFloat>(_ name: String, as: Scalar.Type = Scalar.self) throws -> Tensor<Scalar> {
        try weights.read(name, as: Scalar.self)
    }

    /// Copies rows of a rank-1 or rank-2 float variable of the weights, unchanged.
    public func readRawRows(_ name: String, rows: Range<Int>, into bytes: UnsafeMutableRawBufferPointer) throws {
        try weights.readRawRows(name, rows: rows, into: bytes)
    }

    /// Every value of a variable of the weights, whatever its type (the HDF5 reader's).
    public func readAll(_ name: String) throws -> StoredValues { try weights.readAll(name) }

    // MARK: - Attributes

    /// The GRU layer of `config.json` whose cell's scope is `object` (`layers/gru/cell`), if any.
    public func layer(at object: String) -> KerasGRULayer? {
        config.layers.first { $0.keras3Path == object }
    }

    /// The attributes of `object` in the weights file, and for a GRU cell's scope (`layers/gru/cell`) the
    /// config's facts about it (`KerasGRULayer.attributes`: `activation`, `direction`, `go_backwards`,
    /// `keras_layer`, `recurrent_activation`, `reset_after`, `use_bias`, those the config records), in name
    /// order; a name in both is listed once.
    public func attributeNames(of object: String) throws -> [String] {
        let stored = try weights.attributeNames(of: object)
        guard let layer = layer(at: object) else { return stored }
        return Set(stored + layer.attributes.map(\.name)).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// A string attribute of `object`: for a GRU cell's scope, the config's fact of that name when it records
    /// one (the config is what Keras builds the model from, so it wins over the weights file); else the
    /// weights file's attribute, nil when there is none.
    public func stringAttribute(_ attribute: String, of object: String) throws -> String? {
        if let fact = layer(at: object)?.attributes.first(where: { $0.name == attribute }) { return fact.value }
        return try weights.stringAttribute(attribute, of: object)
    }
}
