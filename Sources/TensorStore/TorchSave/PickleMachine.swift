/// A pickle interpreter that decodes data and executes nothing: the subset of opcodes `torch.save` writes
/// (protocols 2 to 5), and an allow-list of globals that it implements itself (`collections.OrderedDict`,
/// `torch._utils._rebuild_tensor_v2` and its relatives, the storage types, the dtypes). It has no way to call
/// anything else: a pickle naming any other global (`os.system`, `builtins.eval`, a class of the saving
/// program) is refused the moment the global is named, before any argument is read. Opcodes that build
/// objects by calling classes (`INST`, `OBJ`, `NEWOBJ_EX`, the extension registry) are refused too.
///
/// Bounded: the memo, the values created, the stack and the marks by `Limits`; every length is checked against
/// the bytes left. Containers are built without recursion; walking them (`TorchObjects`) bounds the nesting,
/// and `release()` empties every container without recursion, so neither a recursion bomb nor a cycle can
/// exhaust the stack. Models (read, not copied): torch's `torch/_weights_only_unpickler.py` and candle's
/// `candle-core/src/pickle.rs`; Python's `Lib/pickle.py` for what each opcode means.
struct PickleMachine {
    /// Why a pickle was not decoded, at which byte of it.
    struct Failure: Error, Equatable, CustomStringConvertible {
        /// What kind of refusal.
        enum Kind: Equatable {
            /// The bytes are not a well-formed pickle (truncated, an unknown opcode, a stack that does not fit).
            case damaged
            /// A well-formed pickle asks for something not read: a global off the allow-list, an opcode that calls.
            case refused
            /// A limit was reached.
            case tooLarge
        }

        var kind: Kind
        /// Where the opcode starts, counted from the start of the pickle's bytes buffer.
        var offset: Int
        var reason: String

        /// `is refused at byte <offset>: <reason>` (`is damaged`, `is too large`): what follows `its pickle`.
        var description: String {
            let what = switch kind {
            case .damaged: "is damaged"
            case .refused: "is refused"
            case .tooLarge: "is too large"
            }
            return "\(what) at byte \(offset): \(reason)"
        }
    }

    /// The bounds of one run.
    struct Limits {
        /// Values created or pushed (each opcode makes at most one).
        var maximumValues = 1 << 26
        /// Memo entries.
        var maximumMemo = 1 << 22
        /// Values on the stack at once.
        var maximumStack = 1 << 22
        /// Marks open at once.
        var maximumMarks = 1 << 16
        /// Dimensions of a tensor.
        var maximumRank = 64

        /// Limits scaled to `budget`: about 64 bytes a value.
        init(budget: MemoryBudget) {
            maximumValues = max(1 << 16, min(maximumValues, budget.bytes / 64))
            maximumMemo = min(maximumMemo, maximumValues)
            maximumStack = min(maximumStack, maximumValues)
        }

        /// The defaults.
        init() {}
    }

    private let bytes: [UInt8]
    private var position: Int
    private let end: Int
    private let limits: Limits
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var created = 0
    /// Every container made, so that `release()` can empty them all without recursion.
    private(set) var containers: [PickleContainer] = []
    /// Where the opcode being run starts.
    private var opcodeStart = 0

    /// A machine over `bytes[range]` (all of it when nil).
    init(_ bytes: [UInt8], range: Range<Int>? = nil, limits: Limits = Limits()) {
        self.bytes = bytes
        position = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
        self.limits = limits
    }

    /// Where the next pickle starts once `run()` has returned (one past its `STOP`).
    var offset: Int { position }

    /// Empties every container this machine made (their items, keys and states), so that nothing it built is
    /// left holding anything else: no cycle leaks and no deep chain is freed by recursion.
    func release() {
        for container in containers { container.clear() }
    }

    // MARK: - Running

    /// Runs the pickle up to its `STOP` and returns the value it leaves.
    mutating func run() throws(Failure) -> PickleValue {
        while true {
            opcodeStart = position
            let opcode = try byte()
            if opcode == Op.stop {
                guard marks.isEmpty, stack.count == 1 else {
                    throw damaged("STOP with \(stack.count) values on the stack and \(marks.count) marks open (one value expected)")
                }
                return stack.removeLast()
            }
            try step(opcode)
        }
    }

    private enum Op {
        static let stop = UInt8(ascii: ".")
    }

    private mutating func step(_ opcode: UInt8) throws(Failure) {
        switch opcode {
        case 0x80:  // PROTO
            let version = try byte()
            guard version <= 5 else { throw damaged("pickle protocol \(version), which no Python writes (0 to 5)") }
        case 0x95:  // FRAME: a length prefix for buffering; the opcodes inside are read as they come.
            let length = try unsigned(8)
            guard length <= UInt64(end - position) else { throw damaged("a frame of \(length) bytes, more than the \(end - position) left") }
        case UInt8(ascii: "("): // MARK
            guard marks.count < limits.maximumMarks else { throw tooLarge("more than \(limits.maximumMarks) marks open at once") }
            marks.append(stack.count)
        case UInt8(ascii: "0"): _ = try pop()                       // POP
        case UInt8(ascii: "1"): _ = try popMark()                   // POP_MARK
        case UInt8(ascii: "2"): try push(try top())                 // DUP
        case UInt8(ascii: "N"): try push(.none)
        case 0x88: try push(.bool(true))                            // NEWTRUE
        case 0x89: try push(.bool(false))                           // NEWFALSE
        case UInt8(ascii: "K"): try push(.int(Int(try byte())))     // BININT1
        case UInt8(ascii: "M"): try push(.int(Int(try unsigned(2))))  // BININT2
        case UInt8(ascii: "J"): try push(.int(Int(Int32(truncatingIfNeeded: try unsigned(4)))))  // BININT
        case 0x8a: try push(try long(count: Int(try byte())))       // LONG1
        case 0x8b:                                                  // LONG4
            let count = Int(Int32(truncatingIfNeeded: try unsigned(4)))
            guard count >= 0 else { throw damaged("LONG4 with a negative length \(count)") }
            try push(try long(count: count))
        case UInt8(ascii: "G"): try push(.float(Double(bitPattern: try bigEndian(8))))  // BINFLOAT
        case UInt8(ascii: "X"): try push(.string(try utf8(count: try length(4))))       // BINUNICODE
        case 0x8c: try push(.string(try utf8(count: Int(try byte()))))                  // SHORT_BINUNICODE
        case 0x8d: try push(.string(try utf8(count: try length(8))))                    // BINUNICODE8
        case UInt8(ascii: "T"): try push(.bytes(try take(try length(4, signed: true)))) // BINSTRING (Python 2 str)
        case UInt8(ascii: "U"): try push(.bytes(try take(Int(try byte()))))           // SHORT_BINSTRING
        case UInt8(ascii: "B"): try push(.bytes(try take(try length(4))))              // BINBYTES
        case UInt8(ascii: "C"): try push(.bytes(try take(Int(try byte()))))           // SHORT_BINBYTES
        case 0x8e: try push(.bytes(try take(try length(8))))                           // BINBYTES8
        case UInt8(ascii: "}"): try push(.container(try make(.dict)))                  // EMPTY_DICT
        case UInt8(ascii: "]"): try push(.container(try make(.list)))                  // EMPTY_LIST
        case UInt8(ascii: ")"): try push(.container(try make(.tuple)))                 // EMPTY_TUPLE
        case UInt8(ascii: "t"): try push(.container(try make(.tuple, items: try popMark())))  // TUPLE
        case 0x85, 0x86, 0x87:                                                          // TUPLE1, 2, 3
            let count = Int(opcode - 0x84)
            guard stack.count - (marks.last ?? 0) >= count else { throw damaged("TUPLE\(count) with fewer than \(count) values on the stack") }
            let items = Array(stack.suffix(count))
            stack.removeLast(count)
            try push(.container(try make(.tuple, items: items)))
        case UInt8(ascii: "l"): try push(.container(try make(.list, items: try popMark())))  // LIST
        case UInt8(ascii: "d"):                                                          // DICT
            let items = try popMark()
            let dict = try make(.dict)
            try setItems(items, in: dict)
            try push(.container(dict))
        case UInt8(ascii: "q"): try put(Int(try byte()))            // BINPUT
        case UInt8(ascii: "r"): try put(Int(try unsigned(4)))       // LONG_BINPUT
        case 0x94: try put(memo.count)                              // MEMOIZE
        case UInt8(ascii: "h"): try get(Int(try byte()))            // BINGET
        case UInt8(ascii: "j"): try get(Int(try unsigned(4)))       // LONG_BINGET
        case UInt8(ascii: "a"):                                     // APPEND
            let value = try pop()
            try list(try top(), "APPEND").append([value])
        case UInt8(ascii: "e"):                                     // APPENDS
            let items = try popMark()
            try list(try top(), "APPENDS").append(items)
        case UInt8(ascii: "s"):                                     // SETITEM
            let value = try pop(), key = try pop()
            try setItems([key, value], in: try dict(try top(), "SETITEM"))
        case UInt8(ascii: "u"):                                     // SETITEMS
            let items = try popMark()
            try setItems(items, in: try dict(try top(), "SETITEMS"))
        case UInt8(ascii: "c"):                                     // GLOBAL
            let module = try line(), name = try line()
            try push(.global(try allowed(module: module, name: name)))
        case 0x93:                                                  // STACK_GLOBAL
            let name = try pop(), module = try pop()
            guard case .string(let moduleText) = module, case .string(let nameText) = name else {
                throw damaged("STACK_GLOBAL with a module and name that are not strings")
            }
            try push(.global(try allowed(module: moduleText, name: nameText)))
        case UInt8(ascii: "R"):                                     // REDUCE
            let arguments = try pop(), callable = try pop()
            try push(try call(callable, arguments))
        case 0x81:                                                  // NEWOBJ: cls.__new__(cls, *args)
            let arguments = try pop(), callable = try pop()
            guard case .global(.orderedDict) = callable else {
                throw refused("NEWOBJ of \(callable.kind), which is not read (only collections.OrderedDict)")
            }
            try push(try call(callable, arguments))
        case UInt8(ascii: "b"):                                     // BUILD
            let state = try pop()
            guard case .container(let object) = try top(), object.kind == .dict else {
                throw refused("BUILD on \(try top().kind), which is not read (only a dict's state, such as a state dict's _metadata)")
            }
            guard object.state == nil else { throw damaged("BUILD twice on one dict") }
            object.state = state
        case UInt8(ascii: "Q"):                                     // BINPERSID
            try push(.storage(try storage(try pop())))
        default:
            throw unknown(opcode)
        }
    }

    /// The refusal of an opcode this machine does not run.
    private func unknown(_ opcode: UInt8) -> Failure {
        let names: [UInt8: String] = [
            UInt8(ascii: "i"): "INST", UInt8(ascii: "o"): "OBJ", 0x92: "NEWOBJ_EX", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
            UInt8(ascii: "P"): "PERSID", UInt8(ascii: "I"): "INT", UInt8(ascii: "L"): "LONG", UInt8(ascii: "S"): "STRING",
            UInt8(ascii: "V"): "UNICODE", UInt8(ascii: "F"): "FLOAT", UInt8(ascii: "p"): "PUT", UInt8(ascii: "g"): "GET",
            0x8f: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
        ]
        if let name = names[opcode] {
            return refused("opcode \(name) (0x\(String(opcode, radix: 16))), which torch.save does not write and this reader does not run")
        }
        return damaged("byte 0x\(String(opcode, radix: 16)), which is no pickle opcode")
    }

    // MARK: - Globals and calls

    /// The allow-listed global `module.name`, or the refusal naming it.
    private func allowed(module: String, name: String) throws(Failure) -> PickleGlobal {
        if let global = PickleGlobal.allowList["\(module).\(name)"] { return global }
        let shown = (module + "." + name).unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f ? String($0) : "?" }
        let text = shown.count > 200 ? shown.prefix(200).joined() + "..." : shown.joined()
        throw refused("it names the global \(text), which is not allowed (only tensors, storages, dicts and plain values are "
                      + "read; nothing is executed)")
    }

    /// What an allow-listed `callable` gives for `arguments`, computed here: nothing is called.
    private mutating func call(_ callable: PickleValue, _ arguments: PickleValue) throws(Failure) -> PickleValue {
        guard case .global(let global) = callable else { throw refused("REDUCE of \(callable.kind), which is not a global of the allow-list") }
        guard case .container(let box) = arguments, box.kind == .tuple else {
            throw damaged("\(global.name) called with \(arguments.kind) instead of a tuple of arguments")
        }
        let args = box.items
        switch global {
        case .orderedDict:
            guard args.isEmpty else { throw refused("collections.OrderedDict called with \(args.count) arguments (torch.save passes none)") }
            return .container(try make(.dict))
        case .rebuildTensorV2, .rebuildTensor:
            let counts = global == .rebuildTensor ? [4] : [6, 7]
            guard counts.contains(args.count) else {
                throw damaged("\(global.name) called with \(args.count) arguments, not \(counts.map(String.init).joined(separator: " or "))")
            }
            return .tensor(try tensor(args))
        case .rebuildParameter, .rebuildParameterWithState:
            let count = global == .rebuildParameter ? 3 : 4
            guard args.count == count, case .tensor = args[0] else {
                throw damaged("\(global.name) called with \(args.count) arguments, not a tensor and \(count - 1) more")
            }
            return args[0]
        case .storageType, .dtype:
            throw refused("a call of \(global.name), which torch.save never writes")
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, ...)`: the storage and the view into it.
    private func tensor(_ args: [PickleValue]) throws(Failure) -> TorchTensorView {
        guard case .storage(let storage) = args[0] else { throw damaged("a tensor rebuilt from \(args[0].kind), not a storage") }
        guard case .int(let offset) = args[1], offset >= 0 else { throw damaged("a tensor whose storage offset is not a non-negative integer") }
        let size = try extents(args[2], "size"), stride = try extents(args[3], "stride")
        guard size.count == stride.count else { throw damaged("a tensor of \(size.count) sizes but \(stride.count) strides") }
        return TorchTensorView(storage: storage, offset: offset, shape: size, stride: stride)
    }

    /// A tuple of non-negative integers, at most `maximumRank` of them.
    private func extents(_ value: PickleValue, _ what: String) throws(Failure) -> [Int] {
        guard case .container(let box) = value, box.kind == .tuple, box.items.count <= limits.maximumRank else {
            throw damaged("a tensor whose \(what) is not a tuple of at most \(limits.maximumRank) integers")
        }
        var result: [Int] = []
        for item in box.items {
            guard case .int(let extent) = item, extent >= 0 else { throw damaged("a tensor whose \(what) holds a value that is not a non-negative integer") }
            result.append(extent)
        }
        return result
    }

    /// The persistent id `('storage', torch.<T>Storage, key, location, numel)` (the legacy format adds
    /// a sixth item, None).
    private func storage(_ id: PickleValue) throws(Failure) -> TorchStorageReference {
        guard case .container(let box) = id, box.kind == .tuple, [5, 6].contains(box.items.count),
              case .string("storage") = box.items[0] else {
            throw damaged("a persistent id that is not ('storage', type, key, location, numel)")
        }
        let items = box.items
        guard case .global(let global) = items[1], case .storageType(let dtype) = global else {
            throw damaged("a persistent id whose storage type is \(items[1].kind), not a torch storage type")
        }
        guard case .string(let key) = items[2], case .string(let location) = items[3], case .int(let numel) = items[4], numel >= 0 else {
            throw damaged("a persistent id whose key, location or element count is malformed")
        }
        if items.count == 6, items[5] != .none {
            throw refused("a storage view (view_metadata) of torch before 0.4, which is not read")
        }
        return TorchStorageReference(key: key, dtype: dtype, location: location, count: numel)
    }

    // MARK: - Containers

    private mutating func make(_ kind: PickleContainer.Kind, items: [PickleValue] = []) throws(Failure) -> PickleContainer {
        try count(1)
        let container = PickleContainer(kind)
        container.items = items
        containers.append(container)
        return container
    }

    private func list(_ value: PickleValue, _ opcode: String) throws(Failure) -> PickleContainer {
        guard case .container(let box) = value, box.kind == .list else { throw damaged("\(opcode) to \(value.kind), not a list") }
        return box
    }

    private func dict(_ value: PickleValue, _ opcode: String) throws(Failure) -> PickleContainer {
        guard case .container(let box) = value, box.kind == .dict else { throw damaged("\(opcode) to \(value.kind), not a dict") }
        return box
    }

    /// Sets `pairs` (key, value, key, value ...) in `dict`, as Python does: a key set again keeps its place and
    /// takes the new value.
    private func setItems(_ pairs: [PickleValue], in dict: PickleContainer) throws(Failure) {
        guard pairs.count % 2 == 0 else { throw damaged("an odd number of values (\(pairs.count)) to set as a dict's keys and values") }
        for index in stride(from: 0, to: pairs.count, by: 2) {
            guard let identity = pairs[index].keyIdentity else {
                throw damaged("a dict key that is \(pairs[index].kind), which Python cannot use as a key")
            }
            dict.set(pairs[index], pairs[index + 1], identity: identity)
        }
    }

    // MARK: - Stack and memo

    private mutating func push(_ value: PickleValue) throws(Failure) {
        try count(1)
        guard stack.count < limits.maximumStack else { throw tooLarge("more than \(limits.maximumStack) values on the stack") }
        stack.append(value)
    }

    private mutating func count(_ values: Int) throws(Failure) {
        created += values
        guard created <= limits.maximumValues else { throw tooLarge("more than \(limits.maximumValues) values") }
    }

    private mutating func pop() throws(Failure) -> PickleValue {
        guard stack.count > (marks.last ?? 0) else { throw damaged("an opcode needs a value, but the stack is empty (above its mark)") }
        return stack.removeLast()
    }

    private func top() throws(Failure) -> PickleValue {
        guard let last = stack.last, stack.count > (marks.last ?? 0) else { throw damaged("an opcode needs a value, but the stack is empty (above its mark)") }
        return last
    }

    /// The values above the last mark, which is removed.
    private mutating func popMark() throws(Failure) -> [PickleValue] {
        guard let mark = marks.popLast() else { throw damaged("an opcode needs a mark, but none is open") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private mutating func put(_ index: Int) throws(Failure) {
        let value = try top()
        guard memo[index] != nil || memo.count < limits.maximumMemo else { throw tooLarge("more than \(limits.maximumMemo) memo entries") }
        memo[index] = value
    }

    private mutating func get(_ index: Int) throws(Failure) {
        guard let value = memo[index] else { throw damaged("memo entry \(index) read before it is written") }
        try push(value)
    }

    // MARK: - Bytes

    private mutating func byte() throws(Failure) -> UInt8 {
        guard position < end else { throw damaged(position == opcodeStart ? "the pickle ends without STOP" : "the pickle ends inside an opcode") }
        defer { position += 1 }
        return bytes[position]
    }

    /// A little-endian unsigned integer of `count` bytes.
    private mutating func unsigned(_ count: Int) throws(Failure) -> UInt64 {
        guard end - position >= count else { throw damaged("the pickle ends inside an opcode") }
        var value: UInt64 = 0
        for index in 0..<count { value |= UInt64(bytes[position + index]) << (8 * index) }
        position += count
        return value
    }

    private mutating func bigEndian(_ count: Int) throws(Failure) -> UInt64 {
        guard end - position >= count else { throw damaged("the pickle ends inside an opcode") }
        var value: UInt64 = 0
        for index in 0..<count { value = value << 8 | UInt64(bytes[position + index]) }
        position += count
        return value
    }

    /// A length of `width` bytes that the bytes left can hold.
    private mutating func length(_ width: Int, signed: Bool = false) throws(Failure) -> Int {
        let raw = try unsigned(width)
        if signed, Int32(truncatingIfNeeded: raw) < 0 { throw damaged("a negative length") }
        guard raw <= UInt64(end - position) else { throw damaged("a length of \(raw) bytes, more than the \(end - position) left") }
        return Int(raw)
    }

    private mutating func take(_ count: Int) throws(Failure) -> [UInt8] {
        guard count <= end - position else { throw damaged("a length of \(count) bytes, more than the \(end - position) left") }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    private mutating func utf8(count: Int) throws(Failure) -> String {
        let data = try take(count)
        guard let text = String(validating: data, as: UTF8.self) else { throw damaged("a string that is not UTF-8") }
        return text
    }

    /// A line of `GLOBAL` (module or name), up to its newline, at most 1024 bytes.
    private mutating func line() throws(Failure) -> String {
        var data: [UInt8] = []
        while true {
            let next = try byte()
            if next == 0x0A { break }
            data.append(next)
            guard data.count <= 1024 else { throw damaged("a GLOBAL name longer than 1024 bytes") }
        }
        guard let text = String(validating: data, as: UTF8.self) else { throw damaged("a GLOBAL name that is not UTF-8") }
        return text
    }

    /// A little-endian two's complement integer of `count` bytes (LONG1, LONG4): `.int` when it fits.
    private mutating func long(count: Int) throws(Failure) -> PickleValue {
        let data = try take(count)
        guard let last = data.last else { return .int(0) }
        if count <= 8 {
            var value: UInt64 = last & 0x80 != 0 ? ~0 : 0
            for (index, byte) in data.enumerated() {
                value &= ~(UInt64(0xFF) << (8 * index))
                value |= UInt64(byte) << (8 * index)
            }
            return .int(Int(Int64(bitPattern: value)))
        }
        return .bigInt(data)
    }

    private func damaged(_ reason: String) -> Failure { Failure(kind: .damaged, offset: opcodeStart, reason: reason) }
    private func refused(_ reason: String) -> Failure { Failure(kind: .refused, offset: opcodeStart, reason: reason) }
    private func tooLarge(_ reason: String) -> Failure { Failure(kind: .tooLarge, offset: opcodeStart, reason: reason) }
}

/// A global the machine knows: each one it implements itself.
enum PickleGlobal: Equatable {
    case orderedDict
    case rebuildTensorV2, rebuildTensor, rebuildParameter, rebuildParameterWithState
    /// `torch.FloatStorage` ..., by the dtype it holds (safetensors' spelling: `F32`).
    case storageType(String)
    /// `torch.float32` ..., data only (a value, never called).
    case dtype(String)

    /// Every allowed global by `module.name`.
    static let allowList: [String: PickleGlobal] = {
        var list: [String: PickleGlobal] = [
            "collections.OrderedDict": .orderedDict,
            "torch._utils._rebuild_tensor_v2": .rebuildTensorV2,
            "torch._utils._rebuild_tensor": .rebuildTensor,
            "torch._utils._rebuild_parameter": .rebuildParameter,
            "torch._utils._rebuild_parameter_with_state": .rebuildParameterWithState,
        ]
        for (type, dtype) in storageTypes { list["torch.\(type)"] = .storageType(dtype) }
        for name in ["float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "bool",
                     "half", "float", "double", "short", "int", "long"] {
            list["torch.\(name)"] = .dtype(name)
        }
        return list
    }()

    /// The storage types read, and the safetensors dtype of their elements.
    static let storageTypes: [String: String] = [
        "HalfStorage": "F16", "FloatStorage": "F32", "DoubleStorage": "F64", "BFloat16Storage": "BF16",
        "CharStorage": "I8", "ShortStorage": "I16", "IntStorage": "I32", "LongStorage": "I64",
        "ByteStorage": "U8", "BoolStorage": "BOOL",
    ]

    /// `torch._utils._rebuild_tensor_v2`, `torch.FloatStorage` ...: the name in messages.
    var name: String {
        switch self {
        case .orderedDict: "collections.OrderedDict"
        case .rebuildTensorV2: "torch._utils._rebuild_tensor_v2"
        case .rebuildTensor: "torch._utils._rebuild_tensor"
        case .rebuildParameter: "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: "torch._utils._rebuild_parameter_with_state"
        case .storageType(let dtype): "torch." + (Self.storageTypes.first { $0.value == dtype }?.key ?? dtype)
        case .dtype(let name): "torch." + name
        }
    }
}

/// A storage as a persistent id names it: the member `data/KEY` (zip) or the record `KEY` (legacy).
struct TorchStorageReference: Hashable {
    var key: String
    /// safetensors' spelling of the element type (`F32`).
    var dtype: String
    /// Where it was (`cpu`, `cuda:0`): recorded, not used (the bytes are the same).
    var location: String
    /// Its elements.
    var count: Int
}

/// `_rebuild_tensor_v2`'s view: elements `offset + Σ index[d] · stride[d]` of the storage.
struct TorchTensorView: Hashable {
    var storage: TorchStorageReference
    var offset: Int
    var shape: [Int]
    var stride: [Int]
}

/// One value a pickle builds.
enum PickleValue: Equatable {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits, as LONG1/LONG4 store it (little-endian two's complement).
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case container(PickleContainer)
    case global(PickleGlobal)
    case storage(TorchStorageReference)
    case tensor(TorchTensorView)

    static func == (a: PickleValue, b: PickleValue) -> Bool {
        switch (a, b) {
        case (.none, .none): true
        case let (.bool(x), .bool(y)): x == y
        case let (.int(x), .int(y)): x == y
        case let (.bigInt(x), .bigInt(y)): x == y
        case let (.float(x), .float(y)): x.bitPattern == y.bitPattern
        case let (.string(x), .string(y)): x == y
        case let (.bytes(x), .bytes(y)): x == y
        case let (.container(x), .container(y)): x === y
        case let (.global(x), .global(y)): x == y
        case let (.storage(x), .storage(y)): x == y
        case let (.tensor(x), .tensor(y)): x == y
        default: false
        }
    }

    /// A few words on what it is, for messages (`a list`, `an integer`).
    var kind: String {
        switch self {
        case .none: "None"
        case .bool: "a bool"
        case .int, .bigInt: "an integer"
        case .float: "a float"
        case .string: "a string"
        case .bytes: "bytes"
        case .container(let box): box.kind == .dict ? "a dict" : box.kind == .list ? "a list" : "a tuple"
        case .global(let global): global.name
        case .storage: "a storage"
        case .tensor: "a tensor"
        }
    }

    /// What tells this key from others in a dict, as Python's hash and equality do for the keys a pickle can
    /// hold (`1`, `True` and `1.0` are one key); nil for an unhashable value (a list, a dict).
    var keyIdentity: String? {
        switch self {
        case .none: return "N"
        case .bool(let value): return "i\(value ? 1 : 0)"
        case .int(let value): return "i\(value)"
        case .bigInt(let data): return "L" + data.map { String($0, radix: 16) }.joined(separator: ",")
        case .float(let value):
            if value == value.rounded(), abs(value) < 9.2e18 { return "i\(Int(value))" }
            return "f\(value.bitPattern)"
        case .string(let text): return "s" + text
        case .bytes(let data): return "b" + data.map { String($0, radix: 16) }.joined(separator: ",")
        case .global(let global): return "g" + global.name
        case .container(let box):
            guard box.kind == .tuple else { return nil }
            var parts: [String] = []
            for item in box.items {
                guard case .container = item else {
                    guard let identity = item.keyIdentity else { return nil }
                    parts.append(identity)
                    continue
                }
                return nil  // a tuple inside a key: not written by torch.save; refused rather than walked
            }
            return "t(" + parts.joined(separator: "|") + ")"
        case .storage, .tensor: return nil
        }
    }
}

/// A list, tuple or dict a pickle builds: a class, because the memo and later opcodes (`APPEND`, `SETITEM`,
/// `BUILD`) change the one object every reference sees.
final class PickleContainer {
    enum Kind { case list, tuple, dict }
    let kind: Kind
    /// A list's or tuple's items; a dict's values, in insertion order.
    var items: [PickleValue] = []
    /// A dict's keys, beside `items`.
    var keys: [PickleValue] = []
    /// A dict's state set by `BUILD` (a state dict's `{'_metadata': ...}`).
    var state: PickleValue?
    private var index: [String: Int] = [:]

    init(_ kind: Kind) { self.kind = kind }

    func append(_ values: [PickleValue]) { items.append(contentsOf: values) }

    /// Sets `key` (of `identity`) to `value`, keeping the key's first place.
    func set(_ key: PickleValue, _ value: PickleValue, identity: String) {
        if let at = index[identity] {
            items[at] = value
        } else {
            index[identity] = items.count
            keys.append(key)
            items.append(value)
        }
    }

    /// Drops everything it holds.
    func clear() {
        items = []
        keys = []
        state = nil
        index = [:]
    }
}
