import Glibc

/// The C library's words for an `errno` value (`strerror`), for messages: "No space left on device".
public func systemErrorDescription(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(decoding: UnsafeRawBufferPointer(start: text, count: strlen(text)), as: UTF8.self)
}

/// Writes all of `bytes` at `offset` of the open file `descriptor` (`pwrite`, retried on `EINTR` and short
/// writes); returns 0, or the `errno` of the write that failed.
func writeFully(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int32 {
    var done = 0
    while done < bytes.count {
        let written = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
        if written < 0, errno == EINTR { continue }
        guard written > 0 else { return written == 0 ? EIO : errno }
        done += written
    }
    return 0
}

