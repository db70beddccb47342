/// Where a V2 checkpoint's files are, worked out from whatever the user passed (§1 of the format notes):
/// the prefix (`model.ckpt`, `ckpt-3`), the `.index`, any `.data-NNNNN-of-MMMMM`, the `.meta`, the
/// `checkpoint` state file, or a directory holding one of these.
struct CheckpointLocation: Hashable, Sendable {
    /// The prefix every file name starts with (`dir/model.ckpt`).
    var prefix: String

    /// `PREFIX.index`.
    var indexPath: String { prefix + ".index" }

    /// `PREFIX.data-%05d-of-%05d` (TensorFlow's `DataFilename`).
    func dataPath(shard: Int, of count: Int) -> String {
        "\(prefix).data-\(padded(shard))-of-\(padded(count))"
    }

    private func padded(_ number: Int) -> String {
        let text = String(number)
        return String(repeating: "0", count: max(0, 5 - text.count)) + text
    }

    /// What users pass, and the usual mistakes, each with the words to fix it.
    static let whatToPass = "pass the checkpoint's prefix (PREFIX for PREFIX.index + PREFIX.data-00000-of-00001), "
        + "its .index file, or the directory holding it"

    /// Finds the checkpoint `path` points at; throws a `StoreError` saying what `path` is otherwise.
    static func resolve(_ given: String) throws -> CheckpointLocation {
        var path = given
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        let kind = PathKind(path)
        switch kind {
        case .directory:
            return try inDirectory(path, given: given)
        case .other(let code) where code != 0:
            throw StoreError(.notReadable, file: given, reason: systemErrorDescription(code))
        case .other:
            throw StoreError(.notReadable, file: given, reason: "is not a regular file or a directory; \(whatToPass)")
        case .regular, .missing:
            break
        }
        let name = baseName(path)
        if kind.isFile, name == "checkpoint" {
            return try inDirectory(directoryName(path), given: given, stateFile: path)
        }
        if name.hasSuffix(".index"), name.count > 6 {
            let prefix = String(path.dropLast(6))
            guard kind.isFile else { throw StoreError(.notFound, file: given, reason: "no such file") }
            return CheckpointLocation(prefix: prefix)
        }
        if let prefix = dataFilePrefix(path) {
            let location = CheckpointLocation(prefix: prefix)
            guard kind.isFile else { throw StoreError(.notFound, file: given, reason: "no such file") }
            guard PathKind(location.indexPath).isFile else {
                throw StoreError(.notFound, file: location.indexPath,
                                 reason: "no such file: \(baseName(given)) is a data file of the checkpoint "
                                 + "\(prefix), whose index is missing (the data files alone cannot be read: the index holds the names, "
                                 + "shapes and offsets)")
            }
            return location
        }
        if name.hasSuffix(".meta"), name.count > 5 {
            let location = CheckpointLocation(prefix: String(path.dropLast(5)))
            if kind.isFile, PathKind(location.indexPath).isFile { return location }
            guard kind.isFile else { throw StoreError(.notFound, file: given, reason: "no such file") }
            throw StoreError(.wrongFormat, file: given, reason: "is a TensorFlow MetaGraph (the graph's structure, no weights), and "
                             + "\(location.indexPath) is missing beside it; \(whatToPass)")
        }
        if PathKind(path + ".index").isFile { return CheckpointLocation(prefix: path) }
        if kind.isFile { throw try notACheckpoint(path, given: given) }
        if let orphans = missingIndex(path) { throw orphans }
        throw StoreError(.notFound, file: given, reason: "no such file, and no \(baseName(path)).index beside it; \(whatToPass)")
    }

    /// A checkpoint inside a directory: the one its `checkpoint` state file names (the path as written, or,
    /// when that is stale or from another machine, its base name in this directory), else the only
    /// `*.index` there, else a SavedModel's `variables/variables`.
    private static func inDirectory(_ directory: String, given: String, stateFile: String? = nil) throws -> CheckpointLocation {
        let statePath = stateFile ?? joinPath(directory, "checkpoint")
        var named: String? = nil
        if PathKind(statePath).isFile, let text = try? ReadOnlyFile(statePath), text.size <= 1 << 20,
           let bytes = try? text.read(at: 0, count: text.size) {
            named = modelCheckpointPath(String(decoding: bytes, as: UTF8.self))
            if named?.isEmpty == true { named = nil }
        }
        if let named {
            let written = named.hasPrefix("/") ? named : joinPath(directory, named)
            if PathKind(written + ".index").isFile { return CheckpointLocation(prefix: written) }
            let local = joinPath(directory, baseName(named))
            if PathKind(local + ".index").isFile { return CheckpointLocation(prefix: local) }
        }
        let indexes = (directoryEntries(directory) ?? []).filter { $0.hasSuffix(".index") && $0.count > 6 }
            .filter { PathKind(joinPath(directory, $0)).isFile }
        if indexes.count == 1 { return CheckpointLocation(prefix: joinPath(directory, String(indexes[0].dropLast(6)))) }
        let stale = named.map {
            "its checkpoint file names \($0), which exists neither there nor as \(baseName($0)) in this directory, and the directory "
        }
        if indexes.count > 1 {
            let choices = indexes.map { String($0.dropLast(6)) }
            throw StoreError(.invalidRequest, file: given, reason: "\(stale ?? "")holds \(indexes.count) checkpoints "
                             + "(\(choices.joined(separator: ", "))); pass one prefix, such as \(joinPath(directory, choices.last ?? ""))")
        }
        // Data files without their index: say so rather than "no checkpoint".
        if let named, let orphans = missingIndex(joinPath(directory, baseName(named))) { throw orphans }
        let dataFiles = (directoryEntries(directory) ?? []).compactMap { dataFilePrefix($0) }
        if let first = dataFiles.first, let orphans = missingIndex(joinPath(directory, first)) { throw orphans }
        let savedModel = joinPath(directory, "variables/variables")
        if PathKind(savedModel + ".index").isFile { return CheckpointLocation(prefix: savedModel) }
        if let stale {
            throw StoreError(.notFound, file: given, reason: stale + "holds no *.index file")
        }
        if stateFile != nil {
            throw StoreError(.notFound, file: given, reason: "is a checkpoint state file naming no checkpoint (no model_checkpoint_path), "
                             + "and its directory holds no *.index file")
        }
        throw StoreError(.notFound, file: given, reason: "is a directory that holds no TensorFlow checkpoint (no *.index file and no "
                         + "checkpoint file naming one)")
    }

    /// The error for a prefix whose `.index` is missing while data files of it exist, else nil.
    private static func missingIndex(_ prefix: String) -> StoreError? {
        let name = baseName(prefix)
        let orphans = (directoryEntries(directoryName(prefix)) ?? []).filter { $0.hasPrefix(name + ".data-") }
        guard !orphans.isEmpty else { return nil }
        return StoreError(.notFound, file: prefix + ".index", reason: "no such file: the checkpoint \(prefix) has data files "
                          + "(\(orphans.joined(separator: ", "))) but no index, and they cannot be read without it "
                          + "(the index holds the names, shapes and offsets)")
    }

    /// The value of `model_checkpoint_path: "..."` in a text-format `CheckpointState`, unescaped.
    static func modelCheckpointPath(_ text: String) -> String? {
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            guard trimmed.hasPrefix("model_checkpoint_path") else { continue }
            var rest = trimmed.dropFirst("model_checkpoint_path".count).drop { $0 == " " || $0 == "\t" }
            guard rest.first == ":" else { continue }
            rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" }
            guard let quote = rest.first, quote == "\"" || quote == "'" else { continue }
            return unescape(Array(rest.dropFirst().utf8), quote: UInt8(ascii: quote == "\"" ? "\"" : "'"))
        }
        return nil
    }

    /// A C-escaped text-format string up to its closing quote (`\\`, `\"`, `\n`, octal and hex escapes).
    private static func unescape(_ bytes: [UInt8], quote: UInt8) -> String? {
        var result: [UInt8] = []
        var index = 0
        func isOctal(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "7") }
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == quote { return String(decoding: result, as: UTF8.self) }
            guard byte == UInt8(ascii: "\\"), index < bytes.count else {
                result.append(byte)
                continue
            }
            let escaped = bytes[index]
            index += 1
            switch escaped {
            case UInt8(ascii: "n"): result.append(0x0a)
            case UInt8(ascii: "t"): result.append(0x09)
            case UInt8(ascii: "r"): result.append(0x0d)
            case UInt8(ascii: "x"):
                var value = 0, digits = 0
                while digits < 2, index < bytes.count, let digit = Int(String(UnicodeScalar(bytes[index])), radix: 16) {
                    value = value * 16 + digit
                    index += 1
                    digits += 1
                }
                result.append(UInt8(value & 0xff))
            case _ where isOctal(escaped):
                var value = Int(escaped - UInt8(ascii: "0")), digits = 1
                while digits < 3, index < bytes.count, isOctal(bytes[index]) {
                    value = value * 8 + Int(bytes[index] - UInt8(ascii: "0"))
                    index += 1
                    digits += 1
                }
                result.append(UInt8(value & 0xff))
            default: result.append(escaped)
            }
        }
        return nil
    }

    /// The prefix of `PREFIX.data-NNNNN-of-MMMMM`, or nil for any other name.
    static func dataFilePrefix(_ path: String) -> String? {
        let bytes = Array(path.utf8)
        // ".data-" 5 digits "-of-" 5 digits = 20 bytes.
        guard bytes.count > 20 else { return nil }
        let tail = Array(bytes.suffix(20))
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        guard tail[0..<6].elementsEqual(".data-".utf8), tail[6..<11].allSatisfy(isDigit),
              tail[11..<15].elementsEqual("-of-".utf8), tail[15..<20].allSatisfy(isDigit) else { return nil }
        return String(decoding: bytes.dropLast(20), as: UTF8.self)
    }

    /// A file that exists, is not named like a checkpoint file, and has no `.index` beside it: says what it is.
    private static func notACheckpoint(_ path: String, given: String) throws -> StoreError {
        guard let file = try? ReadOnlyFile(path) else {
            return StoreError(.notReadable, file: given, reason: "cannot be opened; \(whatToPass)")
        }
        if file.size == 0 {
            return StoreError(.wrongFormat, file: given, reason: emptyFile)
        }
        if isHDF5(file) {
            return StoreError(.wrongFormat, file: given, reason: "is an HDF5 file, not a TensorFlow checkpoint (open it as HDF5)")
        }
        if file.size >= SSTable.footerSize, let tail = try? file.read(at: file.size - 8, count: 8) {
            var cursor = ByteCursor(tail)
            if (try? cursor.readFixed64()) == SSTable.magic {
                return StoreError(.wrongFormat, file: given, reason: "is a TensorFlow table file but not named PREFIX.index: a V1 "
                                  + "checkpoint (one file, TensorFlow 0.11 and earlier; not supported: restore it in TensorFlow and "
                                  + "save it again as V2) or an index under another name (name it PREFIX.index, next to its "
                                  + "PREFIX.data-* files)")
            }
        }
        return StoreError(.wrongFormat, file: given, reason: notACheckpoint)
    }

    /// The reason given for an empty file.
    static let emptyFile = "is empty, not a TensorFlow checkpoint; \(whatToPass)"
    /// The reason given for a file that is nothing this reader recognizes.
    static let notACheckpoint = "is not a TensorFlow checkpoint; \(whatToPass)"

    /// True when the file carries HDF5's signature at 0, 512, 1024, ... (where HDF5 looks for it).
    static func isHDF5(_ file: ReadOnlyFile) -> Bool {
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]
        var offset = 0
        while offset + 8 <= file.size {
            if let bytes = try? file.read(at: offset, count: 8), bytes == signature { return true }
            offset = offset == 0 ? 512 : offset * 2
        }
        return false
    }
}

/// The last component of a path (`a/b.index` → `b.index`).
func baseName(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
}

/// Everything before the last component (`a/b` → `a`, `b` → `.`, `/b` → `/`).
func directoryName(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// `directory/name`, without doubling a slash.
func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}
