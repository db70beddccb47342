/// A JSON value parsed strictly (RFC 8259) from bytes: objects keep their members in file order and refuse
/// duplicate keys, numbers are kept as text (a safetensors header's are integers), and nesting is bounded,
/// so that no document can exhaust the stack. Used for safetensors headers and Keras model configs.
enum JSONValue: Equatable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case let (.object(x), .object(y)): x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(x), .array(y)): x == y
        case let (.string(x), .string(y)), let (.number(x), .number(y)): x == y
        case let (.bool(x), .bool(y)): x == y
        case (.null, .null): true
        default: false
        }
    }

    /// Why bytes are not JSON, with the byte offset where it shows.
    struct Failure: Error, Equatable {
        var offset: Int
        var reason: String
    }

    /// Nesting deeper than this is refused by default (a safetensors header needs 3: the object, a tensor's
    /// object, its shape).
    static let maximumDepth = 16

    /// Parses `bytes` as one JSON value with nothing but whitespace after it, nested at most `maximumDepth`
    /// levels. `pythonNumbers` also takes what Python's `json.dumps` writes for non-finite floats (`NaN`,
    /// `Infinity`, `-Infinity`, kept as that text), which a Keras config may hold.
    static func parse(_ bytes: [UInt8], maximumDepth: Int = JSONValue.maximumDepth,
                      pythonNumbers: Bool = false) throws(Failure) -> JSONValue {
        var parser = Parser(bytes: bytes, maximumDepth: maximumDepth, pythonNumbers: pythonNumbers)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw Failure(offset: parser.position, reason: "text after the JSON value") }
        return value
    }

    /// The member `key` of an object, or nil.
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    private struct Parser {
        let bytes: [UInt8]
        let maximumDepth: Int
        let pythonNumbers: Bool
        var position = 0

        mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        func fail(_ reason: String) -> Failure { Failure(offset: position, reason: reason) }

        mutating func expect(_ literal: String) throws(Failure) {
            for byte in literal.utf8 {
                guard position < bytes.count, bytes[position] == byte else { throw fail("expected \(literal)") }
                position += 1
            }
        }

        mutating func value(depth: Int) throws(Failure) -> JSONValue {
            guard depth < maximumDepth else { throw fail("nested more than \(maximumDepth) levels deep") }
            guard position < bytes.count else { throw fail("the JSON ends early") }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "N") where pythonNumbers: try expect("NaN"); return .number("NaN")
            case UInt8(ascii: "I") where pythonNumbers: try expect("Infinity"); return .number("Infinity")
            case UInt8(ascii: "-") where pythonNumbers && position + 1 < bytes.count && bytes[position + 1] == UInt8(ascii: "I"):
                try expect("-Infinity"); return .number("-Infinity")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw fail("unexpected byte 0x\(String(bytes[position], radix: 16))")
            }
        }

        mutating func object(depth: Int) throws(Failure) -> JSONValue {
            position += 1
            var members: [(key: String, value: JSONValue)] = []
            var keys = Set<String>()
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .object([]) }
            while true {
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
                let keyStart = position
                let key = try string()
                guard keys.insert(key).inserted else { throw Failure(offset: keyStart, reason: "the name \"\(key)\" appears twice") }
                skipWhitespace()
                try expect(":")
                skipWhitespace()
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                guard position < bytes.count else { throw fail("the JSON ends early") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                throw fail("expected , or }")
            }
        }

        mutating func array(depth: Int) throws(Failure) -> JSONValue {
            position += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array([]) }
            while true {
                skipWhitespace()
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                guard position < bytes.count else { throw fail("the JSON ends early") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
                throw fail("expected , or ]")
            }
        }

        /// A string: escapes decoded (surrogate pairs joined), control characters refused, UTF-8 checked.
        mutating func string() throws(Failure) -> String {
            position += 1
            var out: [UInt8] = []
            while true {
                guard position < bytes.count else { throw fail("a string is not closed") }
                let byte = bytes[position]
                position += 1
                switch byte {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: out, as: UTF8.self) else { throw fail("a string is not valid UTF-8") }
                    return text
                case UInt8(ascii: "\\"):
                    guard position < bytes.count else { throw fail("a string is not closed") }
                    let escape = bytes[position]
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            try expect("\\u")
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw fail("a lone surrogate in \\u escapes") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw fail("a lone surrogate in \\u escapes") }
                        out += Array(String(Character(unicode)).utf8)
                    default: throw fail("an unknown escape \\\(Character(Unicode.Scalar(escape)))")
                    }
                case 0..<0x20: throw fail("a control character inside a string")
                default: out.append(byte)
                }
            }
        }

        mutating func hex4() throws(Failure) -> UInt32 {
            guard position + 4 <= bytes.count else { throw fail("a \\u escape ends early") }
            var value: UInt32 = 0
            for byte in bytes[position..<(position + 4)] {
                guard let digit = Character(Unicode.Scalar(byte)).hexDigitValue else { throw fail("a \\u escape is not hexadecimal") }
                value = value << 4 | UInt32(digit)
            }
            position += 4
            return value
        }

        /// A number as written (`-`? digits, fraction and exponent allowed, as JSON spells them).
        mutating func number() throws(Failure) -> String {
            let start = position
            func digits() -> Int {
                let first = position
                while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
                return position - first
            }
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            let integer = position
            guard digits() > 0 else { throw fail("a number without digits") }
            guard bytes[integer] != UInt8(ascii: "0") || position - integer == 1 else {
                throw Failure(offset: integer, reason: "a number with a leading zero")
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                guard digits() > 0 else { throw fail("a number without digits after its point") }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
                guard digits() > 0 else { throw fail("a number without digits in its exponent") }
            }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }
    }
}
