import CHDF5
import Synchronization

/// The bytes of an HDF5 file held in memory (a member of an archive), in a buffer of its own that
/// libhdf5 reads in place (`gc_open_file_image`): never copied, and freed only when the file using it has
/// closed (its `HDF5Handle` keeps the image).
final class HDF5Image {
    /// The buffer and its size, as the shim's callbacks receive them.
    private let record: UnsafeMutablePointer<gc_file_image>
    /// The image's size in bytes.
    let count: Int

    /// Numbers the names that images are opened under: libhdf5 takes two open core files of one name for
    /// the same file, so every image gets a name of its own.
    private static let opened = Atomic<Int>(0)

    /// An image of `count` bytes, filled by `fill` with the buffer (whose contents start undefined); `fill`
    /// must write every byte.
    init(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        self.count = count
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
        record = .allocate(capacity: 1)
        record.initialize(to: gc_file_image(buffer: buffer, size: count))
        try fill(UnsafeMutableRawBufferPointer(start: buffer, count: count))
    }

    /// An image holding a copy of `bytes`.
    convenience init(copying bytes: [UInt8]) {
        self.init(count: bytes.count) { buffer in
            bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
    }

    deinit {
        record.pointee.buffer.deallocate()
        record.deallocate()
    }

    /// The image's bytes, read-only.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: record.pointee.buffer, count: count) }

    /// Whether HDF5's signature (`\x89HDF\r\n\x1a\n`) is where libhdf5 looks for a superblock: at byte 0,
    /// 512, 1024, 2048 and so on, within the image.
    var hasSignature: Bool {
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
        var offset = 0
        while offset + signature.count <= count {
            if bytes[offset..<(offset + signature.count)].elementsEqual(signature) { return true }
            offset = offset == 0 ? 512 : offset * 2
        }
        return false
    }

    /// Opens the image read-only in place (`gc_open_file_image`), under a name that is unique in the process
    /// and cannot exist on disk (below `/dev/null`, which is no directory); negative on failure. To be run
    /// inside an HDF5 call (`HDF5Library.call`).
    func open() -> hid_t {
        let number = Self.opened.add(1, ordering: .relaxed).newValue
        return gc_open_file_image(record, "/dev/null/gru-convert-image-\(number)")
    }
}
