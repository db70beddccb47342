/// Decompression of raw Snappy blocks (no framing), the compression a table block's trailer type 1
/// announces: a varint32 uncompressed length, then literals and back-references.
///
/// Every length and offset is checked against the input, the output written so far and the declared
/// length; the output never grows past the declared length, which is itself checked against `limit`
/// before anything is allocated.
enum Snappy {
    /// A malformed block: what was wrong and where, counted from the start of the compressed bytes.
    struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// The offset in the compressed bytes where the bad element starts.
        var offset: Int
        /// What was wrong.
        var reason: String
        /// True when the block is well formed but declares more than the limit allows.
        var tooLarge = false

        /// `<reason> at byte <offset>`.
        var description: String { "\(reason) at byte \(offset) of the compressed block" }
    }

    /// The most output bytes per input byte any element can produce (a 3-byte copy of 64 bytes: 21.3).
    static let maximumExpansion = 22

    /// The uncompressed length a block declares, without decompressing it.
    static func declaredLength(_ input: ArraySlice<UInt8>) throws(Failure) -> Int {
        var cursor = ByteCursor(Array(input.prefix(10)))
        do {
            return Int(try cursor.readVarint32())
        } catch {
            throw Failure(offset: 0, reason: "bad uncompressed length (\(error.reason))")
        }
    }

    /// The uncompressed bytes of `input`; refuses a block declaring more than `limit` bytes.
    static func decompress(_ input: ArraySlice<UInt8>, limit: Int) throws(Failure) -> [UInt8] {
        let declared = try declaredLength(input)
        // No element expands more than a 3-byte copy of 64 bytes does, so a block cannot honestly declare more.
        let (most, overflow) = input.count.multipliedReportingOverflow(by: maximumExpansion)
        guard overflow || declared <= most else {
            throw Failure(offset: 0, reason: "the block declares \(declared) uncompressed bytes, more than its \(input.count) "
                          + "compressed bytes can hold")
        }
        guard declared <= limit else {
            throw Failure(offset: 0, reason: "the block declares \(declared) uncompressed bytes, more than the limit of \(limit)",
                          tooLarge: true)
        }
        let source = Array(input)
        var output = [UInt8](repeating: 0, count: declared)
        var failure: Failure?
        source.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { output in
                failure = run(input, into: output)
            }
        }
        if let failure { throw failure }
        return output
    }

    /// Decodes the elements after the length into `output`, which has exactly the declared size; nil on
    /// success, else the first problem.
    private static func run(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Failure? {
        var position = 0
        // Skip the length varint (validated by `declaredLength`).
        while position < input.count, input[position] & 0x80 != 0 { position += 1 }
        position += 1
        var written = 0
        while position < input.count {
            let start = position
            let tag = input[position]
            position += 1
            var length: Int
            var distance = 0
            switch tag & 3 {
            case 0:  // literal
                length = Int(tag >> 2) + 1
                if length > 60 {
                    let extra = length - 60  // 1...4 little-endian bytes hold length - 1
                    guard input.count - position >= extra else {
                        return Failure(offset: start, reason: "a literal's length runs past the end of the block")
                    }
                    var value = 0
                    for index in 0..<extra { value |= Int(input[position + index]) << (8 * index) }
                    position += extra
                    length = value + 1
                }
                guard length <= input.count - position else {
                    return Failure(offset: start, reason: "a literal of \(length) bytes runs past the end of the block "
                                   + "(\(input.count - position) bytes left)")
                }
                guard length <= output.count - written else {
                    return Failure(offset: start, reason: "a literal of \(length) bytes overflows the declared length of \(output.count)")
                }
                for index in 0..<length { output[written + index] = input[position + index] }
                position += length
                written += length
                continue
            case 1:  // copy, 1-byte offset: 3 bits of length, 11 bits of offset
                guard position < input.count else {
                    return Failure(offset: start, reason: "a copy's offset runs past the end of the block")
                }
                length = Int((tag >> 2) & 7) + 4
                distance = Int(tag >> 5) << 8 | Int(input[position])
                position += 1
            case 2:  // copy, 2-byte offset
                guard input.count - position >= 2 else {
                    return Failure(offset: start, reason: "a copy's offset runs past the end of the block")
                }
                length = Int(tag >> 2) + 1
                distance = Int(input[position]) | Int(input[position + 1]) << 8
                position += 2
            default:  // copy, 4-byte offset
                guard input.count - position >= 4 else {
                    return Failure(offset: start, reason: "a copy's offset runs past the end of the block")
                }
                length = Int(tag >> 2) + 1
                distance = 0
                for index in 0..<4 { distance |= Int(input[position + index]) << (8 * index) }
                position += 4
            }
            guard distance > 0 else {
                return Failure(offset: start, reason: "a copy has offset 0")
            }
            guard distance <= written else {
                return Failure(offset: start, reason: "a copy reaches \(distance) bytes back but only \(written) were written")
            }
            guard length <= output.count - written else {
                return Failure(offset: start, reason: "a copy of \(length) bytes overflows the declared length of \(output.count)")
            }
            // Byte by byte: a copy may overlap what it writes (offset < length repeats a pattern).
            for index in 0..<length { output[written + index] = output[written - distance + index] }
            written += length
        }
        guard written == output.count else {
            return Failure(offset: input.count, reason: "the block ends after \(written) of its declared \(output.count) bytes")
        }
        return nil
    }
}
