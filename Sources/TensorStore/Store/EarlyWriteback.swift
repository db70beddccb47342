import CStorage

/// Starts the disk writes of a file being written every `interval` bytes (`sync_file_range` with
/// `SYNC_FILE_RANGE_WRITE`, which does not wait), so that the `fsync` before publishing waits for the last
/// part only, while the rest went to disk during the work. A hint: where the call fails, nothing changes.
struct EarlyWriteback {
    /// A descriptor of the file (any access mode: the page cache is the file's).
    let descriptor: Int32
    /// Bytes between two starts.
    var interval = 64 << 20
    private var pending = 0

    /// For the file open as `descriptor`.
    init(descriptor: Int32) { self.descriptor = descriptor }

    /// Counts `bytes` just written; starts the writes of what is dirty once `interval` bytes gathered.
    mutating func wrote(_ bytes: Int) {
        pending += bytes
        guard pending >= interval, descriptor >= 0 else { return }
        pending = 0
        _ = gc_start_writeback(descriptor)
    }
}
