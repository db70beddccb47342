import Glibc

/// The key/value pairs of a table file in TensorFlow's variant of the LevelDB table format (§2 of the
/// format notes; no filter blocks), which is what a checkpoint's `.index` is.
///
/// The whole table is read and checked up front: the 48-byte footer and its magic number, then the index
/// block, then every data block the index names, in order. Each block's trailer checksum is verified
/// before the block is parsed (type 0, stored, or 1, Snappy), every entry's prefix compression and every
/// restart point is checked against the block, and keys must be strictly increasing across the table.
struct SSTable {
    /// A reason the bytes are not a sound table.
    struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// What was wrong, naming the block and offset (`block checksum mismatch ...`).
        var reason: String
        /// True when the table is refused for the memory budget, not for damage.
        var tooLarge = false
        /// True when the file is too short or lacks the magic number: maybe not a table at all.
        var notATable = false

        /// The reason.
        var description: String { reason }
    }

    /// One key/value pair; keys are bytes (a checkpoint's slice keys are binary).
    struct Entry: Hashable, Sendable {
        /// The full key, prefix compression undone.
        var key: [UInt8]
        /// The value bytes.
        var value: [UInt8]
    }

    /// Bytes charged to the budget for each entry besides its key and value (arrays, strings, map slots).
    static let entryOverhead = 64

    /// Where a block lies: its offset and its size without the 5-byte trailer.
    struct BlockHandle: Hashable, Sendable {
        /// Where the block starts in the file.
        var offset: Int
        /// Its stored (possibly compressed) size, without the trailer.
        var size: Int
    }

    /// The footer's length in bytes.
    static let footerSize = 48
    /// The magic number closing every table (`kTableMagicNumber`).
    static let magic: UInt64 = 0xdb47_7524_8b80_fb57
    /// A block's trailer: one type byte and a masked crc32c.
    static let trailerSize = 5

    /// Every entry of every data block, in key order.
    private(set) var entries: [Entry] = []
    /// The handles of the data blocks, in index order.
    private(set) var dataBlocks: [BlockHandle] = []
    /// How many data blocks were Snappy-compressed.
    private(set) var compressedBlocks = 0

    /// Reads the table held in `file`; decompressed blocks together may take at most `limit` bytes.
    init(_ file: [UInt8], limit: Int) throws(Failure) {
        guard file.count >= Self.footerSize else {
            throw Failure(reason: "file is too short to be an sstable (\(file.count) bytes; a table ends in a "
                          + "\(Self.footerSize)-byte footer)", notATable: true)
        }
        let footerStart = file.count - Self.footerSize
        var footer = ByteCursor(file, range: footerStart..<file.count, origin: 0)
        var magicCursor = ByteCursor(file, range: file.count - 8..<file.count)
        let magic = (try? magicCursor.readFixed64()) ?? 0
        guard magic == Self.magic else {
            throw Failure(reason: "not an sstable (bad magic number: the last 8 bytes read 0x\(hex(magic, digits: 16)), "
                          + "not 0x\(hex(Self.magic, digits: 16)))", notATable: true)
        }
        let index: BlockHandle
        do {
            _ = try Self.handle(&footer)  // the metaindex: always empty in a bundle, never read by TensorFlow
            index = try Self.handle(&footer)
        } catch {
            throw Failure(reason: "bad footer: \(error)")
        }
        guard footer.offset <= file.count - 8 else {
            throw Failure(reason: "bad footer: its block handles run into the magic number")
        }
        var budget = limit
        let indexEntries = try Self.entries(of: try Self.block(index, in: file, what: "index block", budget: &budget).contents,
                                            what: "index block at offset \(index.offset)", budget: &budget)
        var previous: [UInt8]? = nil
        for (number, indexEntry) in indexEntries.enumerated() {
            var cursor = ByteCursor(indexEntry.value)
            let handle: BlockHandle
            do {
                handle = try Self.handle(&cursor)
            } catch {
                throw Failure(reason: "index block at offset \(index.offset): entry \(number) is not a block handle (\(error))")
            }
            dataBlocks.append(handle)
            let (contents, compressed) = try Self.block(handle, in: file, what: "data block \(number)", budget: &budget)
            if compressed { compressedBlocks += 1 }
            for entry in try Self.entries(of: contents, what: "data block \(number) at offset \(handle.offset)", budget: &budget) {
                if let previous, !Self.precedes(previous, entry.key) {
                    throw Failure(reason: "data block \(number) at offset \(handle.offset): key \(printable(entry.key)) "
                                  + "does not sort after the key before it, \(printable(previous))")
                }
                previous = entry.key
                entries.append(entry)
            }
        }
    }

    /// Byte order of keys (LevelDB's bytewise comparator), by `memcmp`.
    static func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        let common = min(a.count, b.count)
        guard common > 0 else { return a.count < b.count }
        let order = a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in memcmp(a.baseAddress!, b.baseAddress!, common) } }
        return order != 0 ? order < 0 : a.count < b.count
    }

    /// Reads a block handle: two varint64s, each small enough to be an offset.
    private static func handle(_ cursor: inout ByteCursor) throws(ByteCursor.Failure) -> BlockHandle {
        let start = cursor.offset
        let offset = try cursor.readVarint64(), size = try cursor.readVarint64()
        guard let offset = Int(exactly: offset), let size = Int(exactly: size) else {
            throw ByteCursor.Failure(offset: start, reason: "a block handle (offset \(offset), size \(size)) is too large")
        }
        return BlockHandle(offset: offset, size: size)
    }

    /// The contents of the block at `handle`: checked to lie before the footer, its checksum verified over
    /// the stored bytes and the type byte, then decompressed if its type says Snappy.
    private static func block(_ handle: BlockHandle, in file: [UInt8], what: String,
                              budget: inout Int) throws(Failure) -> (contents: [UInt8], compressed: Bool) {
        let limit = file.count - footerSize
        let (withTrailer, overflow) = handle.size.addingReportingOverflow(trailerSize)
        let (end, overflow2) = handle.offset.addingReportingOverflow(withTrailer)
        guard !overflow, !overflow2, end <= limit else {
            throw Failure(reason: "\(what) (offset \(handle.offset), \(handle.size) bytes + \(trailerSize)-byte trailer) "
                          + "runs past the table's data, which ends at byte \(limit) (the file is truncated or damaged)")
        }
        let stored = file[handle.offset..<handle.offset + handle.size]
        let type = file[handle.offset + handle.size]
        var trailer = ByteCursor(file, range: handle.offset + handle.size + 1..<end)
        let masked = (try? trailer.readFixed32()) ?? 0
        let actual = CRC32C.extend(CRC32C.checksum(stored), CollectionOfOne(type))
        guard CRC32C.unmask(masked) == actual else {
            throw Failure(reason: "block checksum mismatch in the \(what) at offset \(handle.offset): "
                          + "stored 0x\(hex(CRC32C.unmask(masked))), computed 0x\(hex(actual)) (the index file is damaged)")
        }
        switch type {
        case 0:
            return (Array(stored), false)
        case 1:
            do {
                let contents = try Snappy.decompress(stored, limit: max(budget, 0))
                budget -= contents.count
                return (contents, true)
            } catch {
                if error.tooLarge {
                    throw Failure(reason: "the Snappy-compressed \(what) at offset \(handle.offset): \(error.reason)"
                                  + " (the memory budget left for the index)", tooLarge: true)
                }
                throw Failure(reason: "corrupted compressed block contents in the \(what) at offset \(handle.offset): \(error)")
            }
        default:
            throw Failure(reason: "bad block type \(type) in the \(what) at offset \(handle.offset) (0 = stored and 1 = Snappy exist)")
        }
    }

    /// The entries of one block (LevelDB `Block`): prefix-compressed keys, then the restart array and
    /// its count. Every length is checked against the block, and every restart point must be the start of
    /// an entry that stores its whole key.
    ///
    /// Prefix compression lets a small block spell long keys (each entry repeating the one before it plus a
    /// byte: quadratic growth), so every entry is charged to `budget` before it is kept: its key four times
    /// over (the key, the name made from it and the maps and inventory that hold that name) and its value.
    static func entries(of block: [UInt8], what: String, budget: inout Int) throws(Failure) -> [Entry] {
        guard block.count >= 4 else {
            throw Failure(reason: "\(what): \(block.count) bytes, too small to hold its restart count")
        }
        var countCursor = ByteCursor(block, range: block.count - 4..<block.count)
        let restartCount = Int((try? countCursor.readFixed32()) ?? 0)
        let maximum = (block.count - 4) / 4
        guard restartCount <= maximum else {
            throw Failure(reason: "\(what): declares \(restartCount) restart points, more than its \(block.count) bytes can hold")
        }
        let restartsStart = block.count - 4 * (restartCount + 1)
        var restartCursor = ByteCursor(block, range: restartsStart..<block.count - 4)
        var restarts: [Int] = []
        restarts.reserveCapacity(restartCount)
        for _ in 0..<restartCount { restarts.append(Int((try? restartCursor.readFixed32()) ?? 0)) }

        var cursor = ByteCursor(block, range: 0..<restartsStart)
        var entries: [Entry] = []
        var key: [UInt8] = []
        var nextRestart = 0
        do {
            while !cursor.isAtEnd {
                let start = cursor.offset
                let shared = Int(try cursor.readVarint32())
                let unshared = Int(try cursor.readVarint32())
                let valueLength = Int(try cursor.readVarint32())
                guard shared <= key.count else {
                    throw ByteCursor.Failure(offset: start, reason: "an entry shares \(shared) bytes with a previous key of \(key.count)")
                }
                guard unshared <= cursor.remaining, valueLength <= cursor.remaining - unshared else {
                    throw ByteCursor.Failure(offset: start, reason: "an entry of \(unshared) key and \(valueLength) value bytes runs past "
                                             + "the entries' end at byte \(restartsStart)")
                }
                if nextRestart < restarts.count, restarts[nextRestart] == start {
                    guard shared == 0 else {
                        throw ByteCursor.Failure(offset: start,
                                                 reason: "restart point \(nextRestart) is an entry that shares \(shared) key bytes")
                    }
                    nextRestart += 1
                } else if start == 0 {
                    throw ByteCursor.Failure(offset: 0, reason: "the first restart point is not the first entry")
                }
                budget -= Self.entryOverhead + 4 * (shared + unshared) + valueLength
                guard budget >= 0 else {
                    throw Failure(reason: "\(what): the entry at byte \(start) has a key of \(shared + unshared) bytes; with the keys "
                                  + "before it, prefix compression undone, more than the memory budget left for the index (--max-memory)",
                                  tooLarge: true)
                }
                key.removeSubrange(shared...)
                key.append(contentsOf: try cursor.readBytes(unshared))
                entries.append(Entry(key: key, value: Array(try cursor.readBytes(valueLength))))
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(reason: "\(what): \(error)")
        }
        if entries.isEmpty {
            guard restarts.allSatisfy({ $0 == 0 }) else {
                throw Failure(reason: "\(what): has no entries but restart points past byte 0")
            }
        } else if nextRestart < restarts.count {
            throw Failure(reason: "\(what): restart point \(nextRestart) at byte \(restarts[nextRestart]) is not the start of an entry "
                          + "(restart points must be increasing entry offsets)")
        }
        return entries
    }
}

/// `value` in lower-case hexadecimal, zero-padded to `digits`.
func hex<Value: BinaryInteger>(_ value: Value, digits: Int = 8) -> String {
    let text = String(value, radix: 16)
    return String(repeating: "0", count: max(0, digits - text.count)) + text
}

/// Key bytes for messages: printable ASCII as is, everything else (and backslash) as `\xNN`.
func printable<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    var text = ""
    for byte in bytes {
        if byte >= 0x20, byte < 0x7f, byte != UInt8(ascii: "\\") {
            text.unicodeScalars.append(Unicode.Scalar(byte))
        } else {
            text += "\\x" + hex(byte, digits: 2)
        }
    }
    return text
}
