import Glibc

/// What says a file is still the one that was opened: device, inode, size and modification and change
/// times. Compared before publishing a conversion: an input truncated, rewritten or replaced while it
/// was read (HDF5 reads past the end as zeros) fails the conversion instead of publishing what was read.
public struct FileIdentity: Hashable, Sendable {
    var device: UInt64, inode: UInt64, size: Int64
    var modified: Int64, modifiedNanoseconds: Int64, changed: Int64, changedNanoseconds: Int64

    /// The identity of `path` now, or nil if it cannot be read (gone).
    public static func of(_ path: String) -> FileIdentity? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                            modified: Int64(info.st_mtim.tv_sec), modifiedNanoseconds: Int64(info.st_mtim.tv_nsec),
                            changed: Int64(info.st_ctim.tv_sec), changedNanoseconds: Int64(info.st_ctim.tv_nsec))
    }

    /// The identity of every file `source` reads, by path.
    public static func snapshot(of source: any TensorSource) -> [String: FileIdentity?] {
        Dictionary(source.storedFiles.map { ($0, FileIdentity.of($0)) }, uniquingKeysWith: { first, _ in first })
    }

    /// Throws `.inputChanged`, naming the first of `files` that is no longer what `before` recorded.
    public static func checkUnchanged(_ before: [String: FileIdentity?]) throws {
        for (path, identity) in before.sorted(by: { $0.key < $1.key }) {
            let now = FileIdentity.of(path)
            guard now != identity else { continue }
            let what: String
            if let identity, let now {
                what = now.inode != identity.inode || now.device != identity.device ? "was replaced"
                    : now.size != identity.size ? "changed size from \(identity.size) to \(now.size) bytes" : "was modified"
            } else {
                what = now == nil ? "disappeared" : "appeared"
            }
            throw StoreError(.inputChanged, file: path, reason: "\(what) while it was being read; nothing was written")
        }
    }
}
