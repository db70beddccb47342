/// A failure to read or write a store, naming the file, the object inside it (when there is one), why,
/// and a code a caller can switch on.
///
/// It prints as one line, `<file>: <object>: <reason>`, which the command line puts behind `error: `.
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is, independent of the file format and of the wording.
    public enum Code: String, Hashable, Sendable, CaseIterable {
        /// The file or the named object does not exist.
        case notFound
        /// The path exists but cannot be read as a file: a directory, a device, no permission.
        case notReadable
        /// The file is not in a format this store reads (wrong signature, empty).
        case wrongFormat
        /// The file is in the right format but damaged or truncated, or the library reading it failed.
        case damaged
        /// An element type that the operation cannot handle (integers where floats are needed, ...).
        case unsupportedType
        /// The file keeps values in, or links to, other files, and that was not allowed.
        case external
        /// Doing this would need more memory than the budget, or sizes overflow.
        case tooLarge
        /// The file holds no GRU cell, or a group of variables is not a consistent one.
        case notACell
        /// The caller asked for something the file does not have (a scope, a cell).
        case invalidRequest
        /// An output that cannot be written where asked: it exists, it is the input, its folder is missing.
        case outputRefused
        /// Writing the output failed.
        case writeFailed
        /// An input file changed (size, time, identity) while it was being read.
        case inputChanged
    }

    /// What kind of failure this is.
    public var code: Code
    /// The file as the user named it.
    public var file: String
    /// The path of the object inside the file, without the leading `/`; nil for the file as a whole.
    public var object: String?
    /// What went wrong, in words a user can act on.
    public var reason: String

    /// A failure of kind `code` on `object` of `file`.
    public init(_ code: Code, file: String, object: String? = nil, reason: String) {
        self.code = code
        self.file = file
        self.object = object
        self.reason = reason
    }

    /// `<file>: <object>: <reason>`, or `<file>: <reason>`.
    public var description: String {
        if let object { return "\(file): \(object): \(reason)" }
        return "\(file): \(reason)"
    }
}
