import Glibc

/// The C library's words for an `errno` value (`strerror`), for messages: "No space left on device".
public func systemErrorDescription(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(decoding: UnsafeRawBufferPointer(start: text, count: strlen(text)), as: UTF8.self)
}
