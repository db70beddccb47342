/// A failure to read a checkpoint, naming the file, the object inside it (when there is one) and why.
///
/// It prints as one line, `<file>: <object>: <reason>`, which the command line puts behind `error: `.
public struct CheckpointError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file as the user named it.
    public var file: String
    /// The path of the object inside the file, without the leading `/`; nil for the file as a whole.
    public var object: String?
    /// What went wrong, in words a user can act on.
    public var reason: String

    public init(file: String, object: String? = nil, reason: String) {
        self.file = file
        self.object = object
        self.reason = reason
    }

    public var description: String {
        if let object { return "\(file): \(object): \(reason)" }
        return "\(file): \(reason)"
    }
}
