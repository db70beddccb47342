/// What a `torch.save` file's object becomes in a store: every tensor a variable, every other value an
/// attribute of the file, both named by their path.
///
/// Naming: dict keys joined with `.` (`model.rnn.weight_ih_l0`, `optimizer.state.0.exp_avg`); a string key is
/// used as it is, an integer key in decimal, any other key as its Python literal; items of a list or tuple
/// that holds a tensor by their index (`layers.0`). A bare tensor saved alone is named `tensor`.
///
/// Non-tensor values: a dict, list or tuple that holds no tensor at any depth, and any plain value (an int,
/// a float, a string, None ...), is one string attribute of the file named by its path: `epoch` = `3`,
/// `arch` = `encoder` (a string as it is), `optimizer.param_groups` = `[{'lr': 0.001, 'betas': (0.9, 0.999), ...}]`
/// (containers and nested strings as Python literals). The state an `OrderedDict` carries (a state dict's
/// `_metadata`, the module versions) is walked as further keys of that dict (`_metadata`,
/// `model._metadata`). Nothing is dropped: two values of one name are refused.
struct TorchObjects {
    /// Why the object could not be walked.
    struct Failure: Error {
        var code: StoreError.Code
        var reason: String
    }

    /// Every tensor, in the order met.
    private(set) var tensors: [(name: String, view: TorchTensorView)] = []
    /// Every other value, rendered, in the order met.
    private(set) var attributes: [(name: String, value: String)] = []

    /// Containers nested deeper than this are refused (a state dict nests 3 to 5 levels).
    static let maximumNesting = 100
    /// A rendered attribute longer than this is cut and ends in `...`.
    static let maximumAttributeCharacters = 1 << 16

    /// Containers visited (walking, and rendering): a pickle can share one container many times over
    /// (`[x, x]`, then `[that, that]` ...), so the walk is bounded by its work, not only by its depth.
    private var visits = 0
    private let maximumVisits: Int
    private var holdsTensor: [ObjectIdentifier: Bool] = [:]
    private var seen: Set<String> = []

    /// Walks `root`, visiting at most `maximumVisits` containers and values.
    init(walking root: PickleValue, maximumVisits: Int) throws(Failure) {
        self.maximumVisits = maximumVisits
        switch root {
        case .container(let box) where box.kind == .dict: try walkDict(box, path: nil, depth: 0)
        case .tensor(let view): try add(tensor: view, "tensor")
        default:
            if try containsTensor(root, depth: 0) { try walk(root, path: nil, depth: 0) } else { try add(attribute: render(root, depth: 0, top: true), "value") }
        }
    }

    private static func join(_ path: String?, _ key: String) -> String { path.map { $0 + "." + key } ?? key }

    private mutating func visit(_ depth: Int) throws(Failure) {
        visits += 1
        guard visits <= maximumVisits else {
            throw Failure(code: .tooLarge, reason: "its objects expand to more than \(maximumVisits) values (containers shared many times over)")
        }
        guard depth <= Self.maximumNesting else {
            throw Failure(code: .tooLarge, reason: "it nests containers more than \(Self.maximumNesting) levels deep "
                          + "(a recursion bomb, or a container that holds itself); refused")
        }
    }

    private mutating func walk(_ value: PickleValue, path: String?, depth: Int) throws(Failure) {
        try visit(depth)
        switch value {
        case .tensor(let view): try add(tensor: view, path ?? "tensor")
        case .container(let box) where try containsTensor(value, depth: depth):
            if box.kind == .dict { return try walkDict(box, path: path, depth: depth) }
            for (index, item) in box.items.enumerated() { try walk(item, path: Self.join(path, String(index)), depth: depth + 1) }
        default:
            try add(attribute: render(value, depth: depth, top: true), path ?? "value")
        }
    }

    private mutating func walkDict(_ box: PickleContainer, path: String?, depth: Int) throws(Failure) {
        for (key, item) in zip(box.keys, box.items) {
            let text: String
            switch key {
            case .string(let string): text = string
            case .int(let number): text = String(number)
            default: text = try render(key, depth: depth + 1, top: false)
            }
            try walk(item, path: Self.join(path, text), depth: depth + 1)
        }
        if let state = box.state {
            guard case .container(let stateBox) = state, stateBox.kind == .dict else {
                return try add(attribute: render(state, depth: depth + 1, top: false), Self.join(path, "__state__"))
            }
            try walkDict(stateBox, path: path, depth: depth + 1)
        }
    }

    /// Whether `value` holds a tensor at any depth (remembered per container).
    private mutating func containsTensor(_ value: PickleValue, depth: Int) throws(Failure) -> Bool {
        switch value {
        case .tensor: return true
        case .container(let box):
            if let known = holdsTensor[ObjectIdentifier(box)] { return known }
            try visit(depth)
            holdsTensor[ObjectIdentifier(box)] = false  // a container that holds itself adds nothing new
            var found = false
            for item in box.items + box.keys where try containsTensor(item, depth: depth + 1) { found = true; break }
            if !found, let state = box.state { found = try containsTensor(state, depth: depth + 1) }
            holdsTensor[ObjectIdentifier(box)] = found
            return found
        default: return false
        }
    }

    private mutating func add(tensor view: TorchTensorView, _ name: String) throws(Failure) {
        try claim(name)
        tensors.append((name, view))
    }

    private mutating func add(attribute value: String, _ name: String) throws(Failure) {
        try claim(name)
        attributes.append((name, value))
    }

    private mutating func claim(_ name: String) throws(Failure) {
        guard seen.insert(name).inserted else {
            throw Failure(code: .unsupportedType, reason: "two values are named \(name) (its keys joined with '.' name both), "
                          + "which this reader cannot tell apart")
        }
    }

    // MARK: - Rendering

    /// `value` as a Python literal (a string at the top as it is), cut at `maximumAttributeCharacters`.
    private mutating func render(_ value: PickleValue, depth: Int, top: Bool) throws(Failure) -> String {
        var text = ""
        if top, case .string(let string) = value { text = string } else { try append(value, to: &text, depth: depth) }
        if text.count > Self.maximumAttributeCharacters { text = String(text.prefix(Self.maximumAttributeCharacters)) + "..." }
        return text
    }

    private mutating func append(_ value: PickleValue, to text: inout String, depth: Int) throws(Failure) {
        guard text.utf8.count <= Self.maximumAttributeCharacters else { return }
        switch value {
        case .none: text += "None"
        case .bool(let flag): text += flag ? "True" : "False"
        case .int(let number): text += String(number)
        case .bigInt(let data): text += Self.decimal(data)
        case .float(let number): text += number.isNaN ? "nan" : number.isInfinite ? (number < 0 ? "-inf" : "inf") : "\(number)"
        case .string(let string): text += Self.quoted(string)
        case .bytes(let data): text += "b'" + data.map { Self.escape($0) }.joined() + "'"
        case .global(let global): text += global.name
        case .storage(let storage): text += "storage(\(Self.quoted(storage.key)))"
        case .tensor: text += "tensor"  // not reached: containers holding tensors are walked
        case .container(let box):
            try visit(depth)
            let (open, close) = box.kind == .list ? ("[", "]") : box.kind == .tuple ? ("(", ")") : ("{", "}")
            text += open
            for index in box.items.indices {
                if index > 0 { text += ", " }
                if box.kind == .dict {
                    try append(box.keys[index], to: &text, depth: depth + 1)
                    text += ": "
                }
                try append(box.items[index], to: &text, depth: depth + 1)
                guard text.utf8.count <= Self.maximumAttributeCharacters else { return }
            }
            if box.kind == .tuple, box.items.count == 1 { text += "," }
            text += close
        }
    }

    private static func quoted(_ string: String) -> String {
        var text = "'"
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\\": text += "\\\\"
            case "'": text += "\\'"
            case "\n": text += "\\n"
            case "\t": text += "\\t"
            case "\r": text += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f { text += escape(UInt8(scalar.value)) } else { text.unicodeScalars.append(scalar) }
            }
        }
        return text + "'"
    }

    private static func escape(_ byte: UInt8) -> String {
        switch byte {
        case UInt8(ascii: "\\"): return "\\\\"
        case UInt8(ascii: "'"): return "\\'"
        case 0x20..<0x7f: return String(UnicodeScalar(byte))
        default:
            let digits = String(byte, radix: 16)
            return "\\x" + (digits.count == 1 ? "0" : "") + digits
        }
    }

    /// A little-endian two's complement integer of any width in decimal.
    static func decimal(_ data: [UInt8]) -> String {
        guard let last = data.last else { return "0" }
        let negative = last & 0x80 != 0
        var magnitude = data
        if negative {  // two's complement: invert and add one
            var carry = 1
            for index in magnitude.indices {
                let sum = Int(~magnitude[index]) + carry
                magnitude[index] = UInt8(sum & 0xFF)
                carry = sum >> 8
            }
        }
        var digits: [UInt8] = []
        while magnitude.contains(where: { $0 != 0 }) {
            var remainder = 0
            for index in magnitude.indices.reversed() {
                let current = remainder << 8 | Int(magnitude[index])
                magnitude[index] = UInt8(current / 10)
                remainder = current % 10
            }
            digits.append(UInt8(remainder) + UInt8(ascii: "0"))
        }
        if digits.isEmpty { digits = [UInt8(ascii: "0")] }
        return (negative ? "-" : "") + String(decoding: digits.reversed(), as: UTF8.self)
    }
}
