/// The general-purpose flags of each member of a zip archive, read from its central directory: the one thing
/// ZIPFoundation does not make public, and the only way to tell an encrypted member (flag bit 0, or bit 6
/// for strong encryption) from a damaged one. ZIPFoundation reads everything else.
///
/// Every offset and length is checked against the file before it is followed; an archive this reader
/// cannot make sense of gives nil, and ZIPFoundation's own reading then decides.
enum ZipDirectory {
    /// Bit 0 of the general-purpose flags: the member is encrypted (bit 6: with strong encryption).
    static let encryptedFlags: UInt16 = 0x0041

    /// The flags of every member by name (as stored, decoded as UTF-8), in directory order; nil when the
    /// end-of-directory record or the directory itself cannot be read, or a member's local header is not
    /// inside the file.
    static func flags(of file: ReadOnlyFile, budget: MemoryBudget, path: String) throws -> [(name: String, flags: UInt16)]? {
        // The end-of-central-directory record: 22 bytes and a comment of at most 65535, at the file's end.
        let tailCount = min(file.size, 22 + 65535)
        guard tailCount >= 22, let tail = try? file.read(at: file.size - tailCount, count: tailCount) else { return nil }
        guard let end = stride(from: tailCount - 22, through: 0, by: -1).first(where: { u32(tail, $0) == 0x0605_4B50 }) else {
            return nil
        }
        var count = Int(u16(tail, end + 10)), size = Int(u32(tail, end + 12)), offset = Int(u32(tail, end + 16))
        // ZIP64, as ZIPFoundation reads it (whose directory walk this check stands in front of): a locator just
        // before the record and a ZIP64 record just before the locator (56 bytes, version needed >= 4.5), whose
        // counts and offsets then replace the record's, whatever the record holds. Where ZIPFoundation would
        // take them, they must be followable too; a locator whose record is elsewhere is not, as ZIPFoundation
        // would read something else.
        let record = file.size - tailCount + end
        if record > 20, record - 20 > 56, let locator = try? file.read(at: record - 20, count: 20), u32(locator, 0) == 0x0706_4B50,
           let zip64 = try? file.read(at: record - 20 - 56, count: 56), u32(zip64, 0) == 0x0606_4B50, u16(zip64, 14) >= 45 {
            guard let entries = Int(exactly: u64(zip64, 32)), let bytes = Int(exactly: u64(zip64, 40)),
                  let start = Int(exactly: u64(zip64, 48)) else { return nil }
            (count, size, offset) = (entries, bytes, start)
        } else if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            return nil   // the record says ZIP64 but ZIPFoundation would find none: the directory is not followable
        }
        guard offset <= file.size, size <= file.size - offset else { return nil }
        try budget.check(elements: size, of: 1, file: path, object: nil, what: "reading the zip archive's directory")
        guard let directory = try? file.read(at: offset, count: size) else { return nil }
        var members: [(name: String, flags: UInt16)] = []
        var position = 0
        for _ in 0..<count {
            guard position + 46 <= directory.count, u32(directory, position) == 0x0201_4B50 else { return nil }
            let nameLength = Int(u16(directory, position + 28))
            let skip = nameLength + Int(u16(directory, position + 30)) + Int(u16(directory, position + 32))
            guard position + 46 + skip <= directory.count else { return nil }
            let name = String(decoding: directory[(position + 46)..<(position + 46 + nameLength)], as: UTF8.self)
            // Where its local header is (in the ZIP64 extra field when the record says 0xFFFFFFFF): inside the
            // file, or the directory is not one to follow (ZIPFoundation traps on an offset past 2^63).
            var local = UInt64(u32(directory, position + 42))
            if local == 0xFFFF_FFFF {
                var skipped = (u32(directory, position + 24) == 0xFFFF_FFFF ? 8 : 0) + (u32(directory, position + 20) == 0xFFFF_FFFF ? 8 : 0)
                var extra = position + 46 + nameLength
                let extraEnd = extra + Int(u16(directory, position + 30))
                var found: UInt64?
                while extra + 4 <= extraEnd {
                    let tag = u16(directory, extra), size = Int(u16(directory, extra + 2))
                    guard extra + 4 + size <= extraEnd else { break }
                    if tag == 0x0001, skipped + 8 <= size { found = u64(directory, extra + 4 + skipped); break }
                    extra += 4 + size
                }
                guard let found else { return nil }
                local = found
            }
            guard local <= UInt64(file.size), UInt64(file.size) - local >= 30 else { return nil }
            members.append((name, u16(directory, position + 8)))
            position += 46 + skip
        }
        return members
    }

    private static func u16(_ bytes: [UInt8], _ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
    private static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 { UInt32(u16(bytes, at)) | UInt32(u16(bytes, at + 2)) << 16 }
    private static func u64(_ bytes: [UInt8], _ at: Int) -> UInt64 { UInt64(u32(bytes, at)) | UInt64(u32(bytes, at + 4)) << 32 }
}
