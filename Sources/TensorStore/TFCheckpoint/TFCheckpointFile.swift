import GRUCore
import Glibc
import Synchronization

/// A TensorFlow V2 checkpoint (`PREFIX.index` + `PREFIX.data-NNNNN-of-MMMMM`, written by
/// `tf.compat.v1.train.Saver` since TF 0.12 and by every `tf.train.Checkpoint`) opened read-only, in
/// pure Swift: its tensors, their values, and for TF2 checkpoints the names the object graph gives them.
///
/// Opening reads and checks the whole index (every block checksum, Snappy blocks, the header's version)
/// but no tensor data, except the object graph of a TF2 checkpoint. Every tensor read checks the entry
/// against its data file's real size and the memory budget before allocating, and verifies the tensor's
/// crc32c before any value is handed out. Partitioned tensors (TF1 partitioners, sharded saves, TF2
/// `MaxShardSizePolicy`) are assembled from their pieces, whose coverage is checked.
///
/// Names: TF1 checkpoints list their keys as stored (`rnn/gru_cell/gates/kernel`). TF2 object-based keys
/// (`model/layer_with_weights-0/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE`) are listed by the `full_name`
/// the object graph records for them (`encoder_gru/gru_cell/kernel`); `checkpointKey(for:)` and
/// `name(forCheckpointKey:)` map between the two. When two keys would get the same name (two keys with
/// one `full_name`, or a `full_name` equal to another key), none of them is renamed: each is listed by its
/// raw key, and the clash is recorded in `warnings`, so two tensors never merge into one name.
/// Hidden: the header (key `""`), the binary keys of partition pieces, and `_CHECKPOINTABLE_OBJECT_GRAPH`.
///
/// Every failure is a `StoreError` naming the file (the index, or the data shard involved), the tensor
/// and the reason, on one line.
public final class TFCheckpointFile: TensorSource {
    /// `TensorFlow checkpoint`.
    public var formatName: String { "TensorFlow checkpoint" }
    /// The path as the caller gave it.
    public let path: String
    /// The checkpoint's prefix, found from `path` (`dir/model.ckpt`, without `.index`).
    public var prefix: String { location.prefix }
    /// The index file that was read (`PREFIX.index`).
    public var indexPath: String { location.indexPath }
    /// How many data files the header declares.
    public let shardCount: Int

    /// The index and every data file.
    public var storedFiles: [String] { [indexPath] + (0..<shardCount).map { location.dataPath(shard: $0, of: shardCount) } }
    /// True when the header says the data files hold big-endian values (values are swapped on reading).
    public let isBigEndian: Bool
    /// True for a TF2 object-based checkpoint (it has an object graph).
    public var hasObjectGraph: Bool { objectGraph != nil }
    /// No read allocates more than this; a tensor declaring more is refused before allocation.
    public var memoryBudget: MemoryBudget
    /// Things that are odd but do not stop reading, one sentence each: names that clash and were left as
    /// raw keys, pieces of partitioned tensors that no entry lists.
    public let warnings: [String]

    let location: CheckpointLocation
    let header: TFBundleHeader
    /// Every entry of the index but the header, by key.
    let entries: [[UInt8]: TFBundleEntry]
    /// The listed tensors in name order.
    let listed: [Listed]
    /// Listed name → position in `listed`.
    let positions: [String: Int]
    /// Raw key (as text) → listed name.
    let namesByKey: [String: String]
    /// The parsed object graph of a TF2 checkpoint.
    let objectGraph: TFObjectGraph?
    /// Verdicts and open data files, shared by concurrent reads.
    let state = Mutex(ReadState())

    /// One tensor as `variables()` lists it.
    struct Listed {
        /// The name shown.
        var name: String
        /// The index key (bytes).
        var key: [UInt8]
        /// The key as text (UTF-8; bytes that are not UTF-8 as `\xNN`).
        var keyText: String
        /// Its entry.
        var entry: TFBundleEntry
        /// Its validated shape.
        var shape: [Int]
    }

    /// What reads remember: the crc verdict of each stored piece (nil = verified), the checked pieces of
    /// each tensor (or why they do not assemble), and the data files opened so far.
    struct ReadState {
        var verified: [[UInt8]: StoreError?] = [:]
        /// Pieces being verified as their rows are read in order: the bytes read so far and their crc.
        var streamed: [[UInt8]: (bytes: Int, crc: UInt32)] = [:]
        var pieces: [[UInt8]: Result<[Piece], StoreError>] = [:]
        var shards: [Int: ReadOnlyFile] = [:]
    }

    /// Opens the checkpoint `path` names (see `CheckpointLocation`: a prefix, its `.index`, a `.data-*`
    /// or `.meta` file, a `checkpoint` state file or a directory), reads its index whole and checks it, and
    /// for a TF2 checkpoint reads the object graph; `memoryBudget` bounds what this may allocate.
    public init(readingFrom path: String, memoryBudget: MemoryBudget = .machineDefault) throws {
        self.path = path
        self.memoryBudget = memoryBudget
        location = try CheckpointLocation.resolve(path)
        let indexPath = location.indexPath
        let table = try Self.readTable(indexPath, budget: memoryBudget)

        guard let first = table.entries.first, first.key.isEmpty else {
            throw StoreError(.damaged, file: indexPath, reason: "the first entry is not the bundle header (key \"\"): failed to seek to "
                             + "the header entry (the index is damaged, or not a TensorFlow V2 checkpoint index)")
        }
        do {
            header = try TFBundleHeader(first.value)
        } catch {
            throw StoreError(.damaged, file: indexPath, reason: "unable to parse the bundle header: \(error)")
        }
        try Self.checkHeader(header, file: indexPath)
        shardCount = Int(header.numShards)
        isBigEndian = header.endianness == 1

        var entries: [[UInt8]: TFBundleEntry] = [:]
        entries.reserveCapacity(table.entries.count)
        var plain: [(key: [UInt8], keyText: String, entry: TFBundleEntry, shape: [Int])] = []
        plain.reserveCapacity(table.entries.count)
        var sliceKeys: [(name: [UInt8], slice: TFTensorSlice)] = []
        for item in table.entries.dropFirst() {
            let keyText = Self.text(item.key)
            let entry: TFBundleEntry
            do {
                entry = try TFBundleEntry(item.value)
            } catch {
                throw StoreError(.damaged, file: indexPath, object: keyText, reason: "the index entry cannot be parsed: \(error)")
            }
            entries[item.key] = entry
            if item.key.first == 0, let parsed = OrderedCode.parseSliceKey(item.key) {
                sliceKeys.append(parsed)
                continue
            }
            if keyText == TFObjectGraph.key { continue }
            let shape: [Int]
            switch entry.shape.validated() {
            case .success(let valid): shape = valid
            case .failure(.invalid(let reason)):
                throw StoreError(.damaged, file: indexPath, object: keyText, reason: "invalid tensor shape: \(reason)")
            case .failure(.tooLarge(let reason)):
                throw StoreError(.tooLarge, file: indexPath, object: keyText, reason: reason)
            }
            plain.append((item.key, keyText, entry, shape))
        }
        self.entries = entries

        // Pieces no entry lists are hidden like the others but mentioned.
        var warnings: [String] = []
        var listedPieces = Set<[UInt8]>()
        for item in plain { for slice in item.entry.slices { listedPieces.insert(OrderedCode.sliceKey(name: item.key, slice: slice)) } }
        for piece in sliceKeys where !listedPieces.contains(OrderedCode.sliceKey(name: piece.name, slice: piece.slice)) {
            warnings.append("the index holds a piece \(piece.slice.description) of \(Self.text(piece.name)) that no entry lists")
        }

        // TF2: the object graph gives human names.
        let graphKey = Array(TFObjectGraph.key.utf8)
        var graph: TFObjectGraph? = nil
        var fullNames: [String: String] = [:]
        if let graphEntry = entries[graphKey] {
            graph = try Self.readObjectGraph(graphEntry, location: location, header: header, budget: memoryBudget)
            for (_, attribute) in graph?.attributes ?? [] where !attribute.fullName.isEmpty && !attribute.checkpointKey.isEmpty {
                if let other = fullNames[attribute.checkpointKey], other != attribute.fullName {
                    warnings.append("the object graph gives \(attribute.checkpointKey) two names, \(other) and \(attribute.fullName); "
                                    + "it is listed by its key")
                    fullNames[attribute.checkpointKey] = attribute.checkpointKey
                } else {
                    fullNames[attribute.checkpointKey] = attribute.fullName
                }
            }
        }
        objectGraph = graph

        // Names: the full name when there is one, unless that would merge two tensors.
        var names = plain.map { fullNames[$0.keyText] ?? $0.keyText }
        let keyTexts = plain.map(\.keyText)
        var changed = !fullNames.isEmpty        // keys are unique: only full names can collide
        while changed {
            changed = false
            var holders: [String: [Int]] = [:]
            for (index, name) in names.enumerated() { holders[name, default: []].append(index) }
            for (name, indices) in holders where indices.count > 1 {
                let renamed = indices.filter { names[$0] != keyTexts[$0] }
                guard !renamed.isEmpty else { continue }
                let keys = indices.map { keyTexts[$0] }.joined(separator: ", ")
                warnings.append("\(indices.count) tensors would be named \(name) (keys \(keys)); they are listed by their keys")
                for index in renamed { names[index] = keyTexts[index] }
                changed = true
            }
        }
        var listed: [Listed] = []
        listed.reserveCapacity(plain.count)
        for (index, item) in plain.enumerated() {
            listed.append(Listed(name: names[index], key: item.key, keyText: keyTexts[index], entry: item.entry, shape: item.shape))
        }
        let inOrder: (Listed, Listed) -> Bool = { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        if !zip(listed, listed.dropFirst()).allSatisfy({ inOrder($0, $1) }) { listed.sort(by: inOrder) }  // TF1 keys are in order
        var positions: [String: Int] = [:]
        var namesByKey: [String: String] = [:]
        positions.reserveCapacity(listed.count)
        namesByKey.reserveCapacity(listed.count)
        for (index, item) in listed.enumerated() {
            guard positions[item.name] == nil else {
                // Only keys that are not UTF-8 can get here (two byte strings printing alike).
                throw StoreError(.damaged, file: indexPath, object: item.name,
                                 reason: "two index keys print as this name; the index is damaged")
            }
            positions[item.name] = index
            namesByKey[item.keyText] = item.name
        }
        self.listed = listed
        self.positions = positions
        self.namesByKey = namesByKey
        self.warnings = warnings
    }

    // MARK: - Opening

    /// Reads the index file whole (after checking its size against the budget) and parses it as a table.
    private static func readTable(_ indexPath: String, budget: MemoryBudget) throws -> SSTable {
        let file: ReadOnlyFile
        do {
            file = try ReadOnlyFile(indexPath)
        } catch {
            throw Self.openError(error, file: indexPath, object: nil, what: "the checkpoint's index")
        }
        try budget.check(elements: file.size, of: 1, file: indexPath, object: nil, what: "reading the index")
        let bytes: [UInt8]
        do {
            bytes = try file.read(at: 0, count: file.size)
        } catch {
            throw Self.openError(error, file: indexPath, object: nil, what: "the checkpoint's index")
        }
        do {
            return try SSTable(bytes, limit: budget.bytes - bytes.count)
        } catch {
            if error.tooLarge { throw StoreError(.tooLarge, file: indexPath, reason: error.reason) }
            let hint = error.notATable ? " (the index file is truncated or damaged, or is not a checkpoint index)" : ""
            throw StoreError(.damaged, file: indexPath, reason: error.reason + hint)
        }
    }

    /// Refuses what TensorFlow's `CheckVersions(version, 1, 0, "Checkpoint", ...)` refuses, and headers no
    /// reader can use.
    private static func checkHeader(_ header: TFBundleHeader, file: String) throws {
        if header.looksLikeV1 {
            throw StoreError(.wrongFormat, file: file, reason: "is a TensorFlow V1 checkpoint table (SavedTensorSlices), not a V2 index; "
                             + "V1 checkpoints are not supported: restore it in TensorFlow and save it again")
        }
        if header.producer < 0 {
            throw StoreError(.wrongFormat, file: file, reason: "Checkpoint producer version \(header.producer) below min producer 0 "
                             + "supported by this reader; please regenerate the checkpoint")
        }
        if header.minConsumer > 1 {
            throw StoreError(.wrongFormat, file: file, reason: "Checkpoint min consumer version \(header.minConsumer) above current "
                             + "version 1 of this reader (as of TensorFlow 2.21): it was written by a newer TensorFlow with format changes")
        }
        if header.badConsumers.contains(1) {
            throw StoreError(.wrongFormat, file: file, reason: "Checkpoint disallows consumer version 1, this reader's version "
                             + "(the writer marked version-1 readers as buggy for this checkpoint)")
        }
        guard header.numShards >= 1 else {
            throw StoreError(.damaged, file: file, reason: "the bundle header declares \(header.numShards) data shards (at least 1 exists)")
        }
        guard header.endianness == 0 || header.endianness == 1 else {
            throw StoreError(.damaged, file: file,
                             reason: "the bundle header declares endianness \(header.endianness) (0 = little, 1 = big)")
        }
    }

    /// Reads and parses the scalar string tensor `_CHECKPOINTABLE_OBJECT_GRAPH`.
    private static func readObjectGraph(_ entry: TFBundleEntry, location: CheckpointLocation, header: TFBundleHeader,
                                        budget: MemoryBudget) throws -> TFObjectGraph {
        let key = Array(TFObjectGraph.key.utf8)
        let open = { (shard: Int32) in try Self.openShard(shard, location: location, header: header, name: TFObjectGraph.key) }
        let strings = try readStringPiece(key: key, name: TFObjectGraph.key, entry: entry, location: location, header: header,
                                          budget: budget, file: open)
        guard strings.count == 1, let bytes = strings.first else {
            throw StoreError(.damaged, file: location.indexPath, object: TFObjectGraph.key,
                             reason: "holds \(strings.count) strings, not one serialized object graph")
        }
        do {
            return try TFObjectGraph(bytes)
        } catch {
            throw StoreError(.damaged, file: location.indexPath, object: TFObjectGraph.key,
                             reason: "the object graph cannot be parsed: \(error)")
        }
    }

    // MARK: - Listing

    /// Every tensor but the hidden ones (header, partition pieces, object graph), in increasing name
    /// order (bytewise), with its element type and shape; reads no values. Partitioned tensors are listed
    /// once, with their full shape. bfloat16 is `.other("bfloat16")`; bool and complex are `.other`.
    public func variables() throws -> [Variable] {
        listed.map { Variable(name: $0.name, elementType: $0.entry.dtype.elementType, shape: $0.shape) }
    }

    /// `[]`: a checkpoint is a flat map of names.
    public func containers() throws -> [String] { [] }

    /// `[]`: checkpoints have no attributes.
    public func attributeNames(of object: String) throws -> [String] { [] }

    /// nil: checkpoints have no attributes.
    public func stringAttribute(_ attribute: String, of object: String) throws -> String? { nil }

    /// The index key a listed name stands for (`model/.../kernel/.ATTRIBUTES/VARIABLE_VALUE` for the TF2
    /// name `encoder_gru/gru_cell/kernel`; the name itself in a TF1 checkpoint); nil for an unknown name.
    public func checkpointKey(for name: String) -> String? {
        positions[name].map { listed[$0].keyText }
    }

    /// The listed name of an index key (the inverse of `checkpointKey(for:)`); nil for a key that is
    /// hidden or absent.
    public func name(forCheckpointKey key: String) -> String? {
        namesByKey[key]
    }

    /// What the index says about one tensor, for reports: its key, TensorFlow type, shape, and where its
    /// bytes are (or its pieces, for a partitioned tensor). Reads no values.
    public struct TensorInfo: Hashable, Sendable {
        /// One stored piece of a partitioned tensor.
        public struct Piece: Hashable, Sendable {
            /// The rectangle, one range per dimension (`0..<3, 0..<10`).
            public var extents: [Range<Int>]
            /// The data file holding it, by number; nil when its entry is missing.
            public var shard: Int?
        }

        /// The listed name.
        public var name: String
        /// The index key.
        public var key: String
        /// TensorFlow's type (`float32`, `bfloat16`, `string`, `unknown dtype 99`).
        public var dtype: String
        /// `[]` for a scalar.
        public var shape: [Int]
        /// The data file holding an unpartitioned tensor; nil for a partitioned one.
        public var shard: Int?
        /// Bytes in the data file; nil for a partitioned tensor.
        public var size: Int?
        /// The stored pieces of a partitioned tensor; empty otherwise.
        public var pieces: [Piece]
    }

    /// The index's description of `name`.
    public func info(_ name: String) throws -> TensorInfo {
        let item = try lookup(name)
        let pieces = item.entry.slices.map { slice -> TensorInfo.Piece in
            let extents = zip(slice.extents, item.shape).map { extent, size -> Range<Int> in
                let start = Int(clamping: extent.start)
                // Damaged slices may hold any start: the description clamps instead of trapping (reads refuse them).
                let rest = size.subtractingReportingOverflow(start)
                let length = extent.length.map { $0 == -1 ? (rest.overflow ? Int.max : rest.partialValue) : Int(clamping: $0) } ?? size
                return start..<max(start, start &+ length)
            }
            let shard = entries[OrderedCode.sliceKey(name: item.key, slice: slice)].map { Int($0.shardID) }
            return TensorInfo.Piece(extents: extents, shard: shard)
        }
        let partitioned = !item.entry.slices.isEmpty
        return TensorInfo(name: item.name, key: item.keyText, dtype: item.entry.dtype.name, shape: item.shape,
                          shard: partitioned ? nil : Int(item.entry.shardID), size: partitioned ? nil : Int(clamping: item.entry.size),
                          pieces: pieces)
    }

    /// The listed tensor `name`, or `.notFound`.
    func lookup(_ name: String) throws -> Listed {
        guard let position = positions[name] else {
            let hint = namesByKey[name].map { " (it is the key of \($0))" } ?? ""
            throw StoreError(.notFound, file: indexPath, object: name, reason: "no such tensor in the checkpoint\(hint)")
        }
        return listed[position]
    }

    /// Key bytes as text: UTF-8 as is, anything else with each byte that is not printable ASCII as `\xNN`.
    static func text(_ key: [UInt8]) -> String {
        String(validating: key, as: UTF8.self) ?? printable(key)
    }

    /// A `StoreError` for a file that could not be opened or read.
    static func openError(_ failure: ReadOnlyFile.Failure, file: String, object: String?, what: String) -> StoreError {
        switch failure {
        case .system(let code) where code == ENOENT:
            return StoreError(.notFound, file: file, object: object, reason: "no such file (\(what))")
        case .system(let code):
            return StoreError(.notReadable, file: file, object: object, reason: "\(systemErrorDescription(code)) (\(what))")
        case .notRegular(let isDirectory):
            let kind = isDirectory ? "is a directory" : "is not a regular file"
            return StoreError(.notReadable, file: file, object: object, reason: "\(kind) (\(what))")
        case .short(let offset, let wanted, let got):
            return StoreError(.damaged, file: file, object: object,
                              reason: "the file ended after \(got) of \(wanted) bytes read at offset \(offset) "
                                + "(it shrank while being read)")
        }
    }
}
