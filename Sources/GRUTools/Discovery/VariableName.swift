/// A stored dataset name split into TensorFlow's variable name and the tensor-output suffix that real
/// dumps keep (`rnn/gru_cell/gates/kernel:0` is the variable `rnn/gru_cell/gates/kernel`, suffix `:0`).
struct VariableName: Hashable {
    /// The name as stored in the file.
    let stored: String
    /// The variable's name without the suffix.
    let base: String
    /// `:0` (or `:N`), or empty when the file uses plain names.
    let suffix: String

    init(_ stored: String) {
        self.stored = stored
        if let colon = stored.utf8.lastIndex(of: UInt8(ascii: ":")) {   // bytes: names can be long
            let digits = stored[stored.index(after: colon)...]
            if !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit) {
                base = String(stored[..<colon])
                suffix = ":" + digits
                return
            }
        }
        base = stored
        suffix = ""
    }

    /// The scope in front of `relative` when this name ends with it as whole path components:
    /// `rnn/gru_cell` for `rnn/gru_cell/gates/kernel` and `gates/kernel`, `""` when the name is exactly it.
    func scope(before relative: String) -> String? {
        // Bytes, not characters: names are compared as TensorFlow compares them.
        let baseBytes = base.utf8, relativeBytes = relative.utf8
        guard baseBytes.count >= relativeBytes.count else { return nil }
        if baseBytes.count == relativeBytes.count { return baseBytes.elementsEqual(relativeBytes) ? "" : nil }
        let slash = baseBytes.index(baseBytes.endIndex, offsetBy: -relativeBytes.count - 1)
        guard baseBytes[slash] == UInt8(ascii: "/"), baseBytes[baseBytes.index(after: slash)...].elementsEqual(relativeBytes) else { return nil }
        return String(base[..<slash])
    }

    /// The last path component of the variable's name (`kernel` for `rnn/gru_cell/gates/kernel:0`).
    var lastComponent: Substring { Self.lastComponent(of: base) }

    /// The last path component of `path`.
    static func lastComponent(of path: String) -> Substring {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path[...] }
        return path[path.utf8.index(after: slash)...]
    }

    /// Every proper ancestor path of the variable, nearest first: `a/b` and `a` for `a/b/c:0`.
    var ancestors: [String] { Self.ancestors(of: base) }

    /// Every proper ancestor path of `path`, nearest first.
    static func ancestors(of path: String) -> [String] {
        var result: [String] = []
        var rest = Substring(path)
        while let slash = rest.utf8.lastIndex(of: UInt8(ascii: "/")) {
            rest = rest[..<slash]
            result.append(String(rest))
        }
        return result
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
