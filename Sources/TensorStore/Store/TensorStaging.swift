import Glibc

/// Tensors of a flat format written row by row into a temporary data file, in the order they come, until
/// the output's layout is known (`finish()` of the safetensors and `torch.save` writers). Rows arrive in
/// order, each once; every tensor must be complete before the output is assembled.
final class TensorStaging {
    /// One tensor: where its bytes are in the data file, and how far it is written.
    struct Entry {
        /// The element type.
        var type: ElementType
        /// Bytes of one element.
        var width: Int
        /// `[]` for a scalar.
        var shape: [Int]
        /// Where its bytes start in the data file.
        var offset: Int
        /// Its bytes.
        var size: Int
        /// Bytes of one row (all of them for rank 0 or 1).
        var rowBytes: Int
        /// Rows (1 for rank 0 or 1).
        var rowCount: Int
        /// The first row not written yet.
        var nextRow = 0
    }

    /// The output's path, for messages.
    let path: String
    /// The data file.
    let dataPath: String
    /// Every tensor, by name, and the names in the order they were created.
    private(set) var entries: [String: Entry] = [:]
    private(set) var order: [String] = []
    private var descriptor: Int32
    private var end = 0

    /// Creates the data file (failing if it exists) for the output at `path`.
    init(path: String, dataPath: String) throws {
        (self.path, self.dataPath) = (path, dataPath)
        descriptor = open(dataPath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StoreError(.writeFailed, file: path, reason: "cannot create \(dataPath): \(systemErrorDescription(errno))")
        }
    }

    /// Reserves a tensor of `width`-byte elements.
    func create(_ name: String, type: ElementType, width: Int, shape: [Int]) throws {
        guard entries[name] == nil, !name.isEmpty else {
            throw StoreError(.invalidRequest, file: path, object: name, reason: "cannot be written twice, or with an empty name")
        }
        let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        guard count < Int.max / max(width, 1) else {
            throw StoreError(.tooLarge, file: path, object: name, reason: "declares \(shape) elements, too many to write")
        }
        let rows = shape.count >= 2 ? shape[0] : 1
        let rowBytes = rows == 0 ? 0 : count * width / rows
        entries[name] = Entry(type: type, width: width, shape: shape, offset: end, size: count * width, rowBytes: rowBytes, rowCount: rows,
                              nextRow: count == 0 ? rows : 0)    // nothing to write: complete already
        order.append(name)
        end += count * width
    }

    /// Writes rows `rows` of a tensor made by `create`, which come in order, each once.
    func writeRows(_ name: String, rows: Range<Int>, from bytes: UnsafeRawBufferPointer) throws {
        guard var entry = entries[name], rows.lowerBound == entry.nextRow, rows.upperBound <= entry.rowCount,
              bytes.count >= rows.count * entry.rowBytes else {
            throw StoreError(.invalidRequest, file: path, object: name, reason: "rows \(rows) cannot be written now")
        }
        try write(UnsafeRawBufferPointer(rebasing: bytes[0..<(rows.count * entry.rowBytes)]), at: entry.offset + rows.lowerBound * entry.rowBytes, name)
        entry.nextRow = rows.upperBound
        entries[name] = entry
    }

    /// Writes a whole tensor made by `create` at once.
    func writeAll(_ name: String, _ bytes: [UInt8]) throws {
        guard let entry = entries[name], entry.nextRow == 0 || entry.size == 0, bytes.count == entry.size else {
            throw StoreError(.invalidRequest, file: path, object: name, reason: "cannot be written whole now")
        }
        if !bytes.isEmpty { try bytes.withUnsafeBytes { try write($0, at: entry.offset, name) } }
        entries[name]!.nextRow = entry.rowCount
    }

    /// Refuses a tensor whose rows were not all written.
    func checkComplete() throws {
        for name in order where entries[name]!.nextRow < entries[name]!.rowCount {
            let entry = entries[name]!
            throw StoreError(.invalidRequest, file: path, object: name, reason: "only \(entry.nextRow) of its \(entry.rowCount) rows were written")
        }
    }

    /// Reads `count` bytes of the data file at `offset`, for assembling the output.
    func read(at offset: Int, count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if got < 0, errno == EINTR { continue }
            guard got > 0 else { throw StoreError(.writeFailed, file: path, reason: "cannot read back \(dataPath): \(systemErrorDescription(errno))") }
            done += got
        }
        return buffer
    }

    private func write(_ bytes: UnsafeRawBufferPointer, at offset: Int, _ name: String?) throws {
        let error = writeFully(descriptor, bytes, at: offset)
        guard error == 0 else {
            throw StoreError(.writeFailed, file: path, object: name, reason: "cannot write the output: \(systemErrorDescription(error))")
        }
    }

    /// Closes and removes the data file.
    func remove() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        unlink(dataPath)
    }

    deinit { remove() }
}
