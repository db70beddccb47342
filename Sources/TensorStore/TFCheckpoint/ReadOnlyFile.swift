import Glibc

/// A file opened read-only by descriptor, for positioned reads (`open`, `fstat`, `pread`), closed when
/// released. Reads are checked against the size the file had when it was opened.
final class ReadOnlyFile: Sendable {
    /// Why a file could not be opened or read: an `errno` value, or fewer bytes than asked for.
    enum Failure: Error, Hashable {
        /// `open`, `fstat` or `pread` failed with this `errno`.
        case system(Int32)
        /// The path is a directory or not a regular file.
        case notRegular(isDirectory: Bool)
        /// The file ended (or shrank) before `offset + wanted`: only `got` bytes were there.
        case short(offset: Int, wanted: Int, got: Int)
    }

    /// The path it was opened by.
    let path: String
    /// Its size in bytes when it was opened.
    let size: Int
    private let descriptor: Int32

    /// Opens `path` for reading (`O_RDONLY | O_CLOEXEC`) and records its size.
    init(_ path: String) throws(Failure) {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .system(errno) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let code = errno
            close(descriptor)
            throw .system(code)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw .notRegular(isDirectory: info.st_mode & S_IFMT == S_IFDIR)
        }
        self.descriptor = descriptor
        size = Int(info.st_size)
    }

    deinit { close(descriptor) }

    /// Fills `buffer` with the bytes at `offset` (`pread`, retried on `EINTR` and short reads).
    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(Failure) {
        var done = 0
        while done < buffer.count {
            guard let base = buffer.baseAddress else { return }
            let count = pread(descriptor, base + done, buffer.count - done, off_t(offset + done))
            if count < 0 {
                if errno == EINTR { continue }
                throw .system(errno)
            }
            if count == 0 { throw .short(offset: offset, wanted: buffer.count, got: done) }
            done += count
        }
    }

    /// The `count` bytes at `offset`.
    func read(at offset: Int, count: Int) throws(Failure) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var failure: Failure?
        bytes.withUnsafeMutableBytes { buffer in
            do throws(Failure) { try read(at: offset, into: buffer) } catch { failure = error }
        }
        if let failure { throw failure }
        return bytes
    }
}

/// What is at a path, without following anything but symbolic links (`stat`).
enum PathKind: Hashable {
    case missing
    case regular(size: Int)
    case directory
    /// A device, a socket, or a path `stat` cannot look at (`errno`).
    case other(errno: Int32)

    /// Looks at `path`.
    init(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            self = errno == ENOENT || errno == ENOTDIR ? .missing : .other(errno: errno)
            return
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: self = .regular(size: Int(info.st_size))
        case S_IFDIR: self = .directory
        default: self = .other(errno: 0)
        }
    }

    /// True for a regular file.
    var isFile: Bool { if case .regular = self { true } else { false } }
}

/// The names in a directory, without `.` and `..`, sorted (`opendir`, `readdir`); nil if it cannot be listed.
func directoryEntries(_ path: String) -> [String]? {
    guard let directory = opendir(path) else { return nil }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != ".", name != ".." { names.append(name) }
    }
    return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
}
