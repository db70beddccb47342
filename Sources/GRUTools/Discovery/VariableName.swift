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
        if base == relative { return "" }
        guard base.hasSuffix("/" + relative) else { return nil }
        return String(base.dropLast(relative.count + 1))
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
