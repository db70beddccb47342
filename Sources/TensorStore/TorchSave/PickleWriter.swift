/// Writes the pickle (protocol 2) of a PyTorch state dict as `torch.save` writes it: an
/// `collections.OrderedDict` of `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False,
/// OrderedDict())`, each storage a persistent id `('storage', torch.<Type>Storage, '<key>', 'cpu', numel)`.
/// Only the opcodes and globals that `torch.load(weights_only=True)` accepts are written.
struct PickleWriter {
    /// The bytes written so far.
    private(set) var bytes: [UInt8] = [0x80, 0x02]     // PROTO 2
    private var memo = 0
    /// Memo indices of the globals and shared strings written, by what they are.
    private var memoized: [String: Int] = [:]

    /// One tensor of the dict: its key, its storage's type and key, its shape.
    struct Entry {
        var key: String
        var storageType: String
        var storageKey: String
        var shape: [Int]
    }

    /// The pickle of an ordered dict of `entries`, each a contiguous tensor over the whole of its storage:
    /// byte for byte what Python's pickler writes for `torch.save` of such a dict (memo puts after every
    /// object it may meet again, `BINGET` for a global or a shared string met before, `TUPLE1..3` for short
    /// tuples, `SETITEM` for one item and `SETITEMS` in batches of 1000 otherwise).
    static func stateDict(_ entries: [Entry]) -> [UInt8] {
        var writer = PickleWriter()
        writer.global("collections", "OrderedDict")
        writer.bytes += [0x29, 0x52]                        // EMPTY_TUPLE, REDUCE: OrderedDict()
        writer.put()
        if entries.count == 1 {
            writer.string(entries[0].key)
            writer.tensor(entries[0])
            writer.bytes.append(0x73)                       // SETITEM
        } else {
            for start in stride(from: 0, to: entries.count, by: 1000) {
                writer.bytes.append(0x28)                   // MARK
                for entry in entries[start..<min(start + 1000, entries.count)] {
                    writer.string(entry.key)
                    writer.tensor(entry)
                }
                writer.bytes.append(0x75)                   // SETITEMS
            }
        }
        writer.bytes.append(0x2E)                           // STOP
        return writer.bytes
    }

    /// `_rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())`.
    private mutating func tensor(_ entry: Entry) {
        global("torch._utils", "_rebuild_tensor_v2")
        bytes.append(0x28)                                  // MARK (the arguments)
        bytes.append(0x28)                                  // MARK (the persistent id)
        string("storage", shared: true)
        global("torch", entry.storageType)
        string(entry.storageKey)
        string("cpu", shared: true)
        integer(entry.shape.reduce(1, *))
        bytes.append(0x74)                                  // TUPLE
        put()
        bytes.append(0x51)                                  // BINPERSID
        integer(0)
        tuple(entry.shape)
        var strides: [Int] = []
        var stride = 1
        for extent in entry.shape.reversed() {
            strides.insert(stride, at: 0)
            stride *= max(extent, 1)
        }
        tuple(strides)
        bytes.append(0x89)                                  // NEWFALSE: requires_grad
        global("collections", "OrderedDict")
        bytes += [0x29, 0x52]                               // OrderedDict(): backward hooks
        put()
        bytes.append(0x74)                                  // TUPLE
        put()
        bytes.append(0x52)                                  // REDUCE
        put()
    }

    /// A tuple of integers: `EMPTY_TUPLE`, `TUPLE1..3`, or `MARK ... TUPLE`, memoized unless empty.
    private mutating func tuple(_ values: [Int]) {
        if values.isEmpty { bytes.append(0x29); return }
        if values.count > 3 { bytes.append(0x28) }          // MARK
        for value in values { integer(value) }
        bytes.append(values.count > 3 ? 0x74 : [0x85, 0x86, 0x87][values.count - 1])
        put()
    }

    /// `GLOBAL module\nname\n` the first time, `BINGET` after.
    private mutating func global(_ module: String, _ name: String) {
        let key = "global " + module + "\n" + name
        if let index = memoized[key] { get(index); return }
        bytes.append(0x63)
        bytes += Array(module.utf8) + [0x0A] + Array(name.utf8) + [0x0A]
        memoized[key] = memo
        put()
    }

    /// `BINUNICODE`: a 4-byte little-endian length, then UTF-8. A `shared` string (one Python object in
    /// torch, such as `'storage'`) is written once and fetched again with `BINGET`.
    private mutating func string(_ text: String, shared: Bool = false) {
        if shared, let index = memoized["string " + text] { get(index); return }
        let utf8 = Array(text.utf8)
        bytes.append(0x58)
        bytes += littleEndian(UInt32(utf8.count)) + utf8
        if shared { memoized["string " + text] = memo }
        put()
    }

    /// `BINGET n` (or `LONG_BINGET`).
    private mutating func get(_ index: Int) {
        if index < 256 { bytes += [0x68, UInt8(index)] } else { bytes += [0x6A] + littleEndian(UInt32(index)) }
    }

    /// The smallest integer opcode: BININT1, BININT2, BININT (signed 32-bit) or LONG1.
    private mutating func integer(_ value: Int) {
        switch value {
        case 0..<256: bytes += [0x4B, UInt8(value)]
        case 256..<65536: bytes += [0x4D] + littleEndian(UInt16(value))
        case Int(Int32.min)...Int(Int32.max): bytes += [0x4A] + littleEndian(UInt32(bitPattern: Int32(value)))
        default:
            // LONG1: the two's complement, little-endian, as few bytes as hold the sign.
            var digits = littleEndian(UInt64(bitPattern: Int64(value)))
            while digits.count > 1, (digits.last == 0 && digits[digits.count - 2] < 0x80) || (digits.last == 0xFF && digits[digits.count - 2] >= 0x80) {
                digits.removeLast()
            }
            bytes += [0x8A, UInt8(digits.count)] + digits
        }
    }

    /// `BINPUT n` (or `LONG_BINPUT`): what pickle writes after each object it may refer to again.
    private mutating func put() {
        if memo < 256 { bytes += [0x71, UInt8(memo)] } else { bytes += [0x72] + littleEndian(UInt32(memo)) }
        memo += 1
    }

    private func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}
