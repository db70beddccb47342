import Foundation
import ZIPFoundation

/// Reading the members of a zip archive held by a store (a Keras `.keras`, a `torch.save` file) in memory,
/// never extracted to disk, with the checks every member gets: the archive opens (ZIPFoundation), no member is
/// encrypted (`ZipDirectory`), every member the directory lists can be read, no name points outside the
/// archive; a member is a file, stored or deflated, whose declared size fits the archive, a limit and the
/// memory budget; its bytes stop at the declared size (a zip bomb declares little and inflates to much), and
/// their CRC-32 is the one recorded.
///
/// Errors name the archive for the archive as a whole and `ARCHIVE: MEMBER` for one member.
struct ZipMembers {
    /// The archive's path, for messages.
    let path: String
    /// Its size in bytes.
    let archiveSize: Int
    /// The archive, opened by ZIPFoundation.
    let archive: Archive
    /// Every member, in directory order.
    let entries: [Entry]

    /// Opens the zip at `path` (already open as `file`, its signature checked by the caller) and checks its
    /// directory: `format` names what the archive should be (`a Keras archive`) and `encryptedAdvice` what to do
    /// with an encrypted member, in the refusals.
    init(path: String, file: ReadOnlyFile, budget: MemoryBudget, format: String, encryptedAdvice: String) throws {
        self.path = path
        archiveSize = file.size
        do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) } catch {
            throw StoreError(.damaged, file: path, reason: "a truncated or damaged zip archive (\(Self.describe(error)))")
        }
        // ZIPFoundation stops listing at a member it cannot read (an encrypted one): the directory says which.
        let flags = try ZipDirectory.flags(of: file, budget: budget, path: path)
        if let encrypted = flags?.first(where: { $0.flags & ZipDirectory.encryptedFlags != 0 }) {
            throw StoreError(.wrongFormat, file: "\(path): \(encrypted.name)",
                             reason: "is encrypted, which gru-convert does not read (\(encryptedAdvice))")
        }
        // ZIPFoundation follows the directory's offsets as they are (and traps on one past 2^63): only a directory
        // this reader could follow is handed to it.
        guard let flags else {
            throw StoreError(.damaged, file: path, reason: "its zip directory cannot be followed (offsets outside the file, or "
                             + "records that do not fit): the archive is damaged")
        }
        entries = Array(archive)
        if flags.count != entries.count {
            throw StoreError(.damaged, file: path, reason: "its zip directory lists \(flags.count) members, of which only \(entries.count) "
                             + "can be read: the archive is damaged")
        }
        for entry in entries {
            let parts = entry.path.split(separator: "/", omittingEmptySubsequences: false)
                .flatMap { $0.split(separator: "\\", omittingEmptySubsequences: false) }
            if parts.contains("..") || entry.path.hasPrefix("/") || entry.path.hasPrefix("\\") {
                throw StoreError(.damaged, file: path, reason: "has a member named \(entry.path), which points outside the archive "
                                 + "(\(format) never has one; refused)")
            }
        }
    }

    /// The one member named `name`, nil when there is none; two of that name are refused (which one a reader
    /// takes is not defined).
    func member(_ name: String, reader: String) throws -> Entry? {
        let matches = entries.filter { $0.path == name }
        guard matches.count <= 1 else {
            throw StoreError(.damaged, file: path, reason: "has \(matches.count) members named \(name), so which one \(reader) reads is not defined")
        }
        return matches.first
    }

    /// The bytes of member `entry`, read whole after the checks every member gets; `limit` is the most it may
    /// hold and what says so (`a Keras config`).
    func bytes(of entry: Entry, budget: MemoryBudget, limit: (bytes: Int, what: String)? = nil) throws -> [UInt8] {
        let count = try checkedSize(of: entry, budget: budget, limit: limit)
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { try extract(entry, count: count, into: $0) }
        return bytes
    }

    /// The member's declared size, once it is known to be a file, stored or deflated, of a size that fits
    /// the archive, `limit` and the budget.
    func checkedSize(of entry: Entry, budget: MemoryBudget, limit: (bytes: Int, what: String)?) throws -> Int {
        let name = "\(path): \(entry.path)"
        guard entry.type == .file else {
            throw StoreError(.damaged, file: name, reason: "is a \(entry.type == .directory ? "directory" : "symbolic link"), not a file")
        }
        guard entry.compressedSize <= UInt64(archiveSize) else {
            throw StoreError(.damaged, file: name, reason: "declares \(entry.compressedSize) stored bytes, more than the archive's "
                             + "\(archiveSize): the archive is truncated or damaged")
        }
        guard let count = Int(exactly: entry.uncompressedSize) else {
            throw StoreError(.tooLarge, file: name, reason: "declares \(entry.uncompressedSize) bytes, too many to address")
        }
        if !entry.isCompressed, entry.compressedSize != entry.uncompressedSize {
            throw StoreError(.damaged, file: name, reason: "is stored uncompressed, but declares \(entry.compressedSize) bytes stored for "
                             + "\(count): the archive is damaged")
        }
        if let limit, count > limit.bytes {
            throw StoreError(.tooLarge, file: name, reason: "declares \(count) bytes, more than \(limit.what) may hold (\(limit.bytes))")
        }
        try budget.check(elements: count, of: 1, file: name, object: nil, what: "reading it into memory")
        return count
    }

    /// Extracts `entry` into `buffer` (ZIPFoundation, stored or deflated), refusing it as soon as it gives
    /// more than its declared `count` bytes, and when it gives fewer or its CRC-32 differs from the one recorded.
    func extract(_ entry: Entry, count: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        final class Overflow: Error {}
        let name = "\(path): \(entry.path)"
        var written = 0
        let checksum: CRC32
        do {
            checksum = try archive.extract(entry, bufferSize: 1 << 20, skipCRC32: false) { data in
                guard data.count <= count - written else { throw Overflow() }
                data.withUnsafeBytes { buffer.baseAddress!.advanced(by: written).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                written += data.count
            }
        } catch is Overflow {
            throw StoreError(.damaged, file: name, reason: "holds more than its declared \(count) bytes (a zip bomb, or damaged); refused")
        } catch {
            throw StoreError(.damaged, file: name, reason: "cannot be read (\(Self.describe(error))): the archive is damaged")
        }
        guard written == count else {
            throw StoreError(.damaged, file: name, reason: "holds \(written) of its declared \(count) bytes: the archive is truncated or damaged")
        }
        guard checksum == entry.checksum else {
            throw StoreError(.damaged, file: name, reason: "CRC-32 mismatch: recorded \(Self.hex(entry.checksum)), read \(Self.hex(checksum)): "
                             + "the member is damaged")
        }
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// ZIPFoundation's error in words (its cases name what is wrong: `missingEndOfCentralDirectoryRecord`).
    static func describe(_ error: any Error) -> String {
        switch error {
        case Archive.ArchiveError.missingEndOfCentralDirectoryRecord: return "no end of central directory record"
        case Archive.ArchiveError.invalidCompressionMethod: return "a compression method other than stored or deflate"
        case Archive.ArchiveError.unreadableArchive: return "unreadable"
        case let error as Archive.ArchiveError: return "\(error)"
        default: return "\(error)"
        }
    }
}
