import Foundation
import GRUCore
import Testing
@testable import TensorStore

/// The torch.save reader over files made by real PyTorch (fixtures/torchsave/generate.py): every tensor bit for bit
/// against what torch.load(weights_only=True) gave (F.expected.safetensors), views and shared storages, names and
/// attributes; and every hostile file refused with its own line, nothing executed.
@Suite struct TorchSaveFileTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/torchsave")

    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    /// Every file torch itself made, each with its expected tensors.
    static let torchMade = ["gru.pt", "gru2_bidir.pt", "grucell.pt", "nested.pt", "checkpoint.tar", "legacy.pt", "gru_f16.pt",
                            "gru_f64.pt", "views.pt", "views_legacy.pt", "dtypes.pt"]

    /// Opens `name` (a fixture, or a path) and gives `code: line`, the file's path replaced by `FILE`.
    static func refusal(_ path: String, budget: MemoryBudget = .machineDefault) -> String {
        do {
            _ = try TorchSaveFile(readingFrom: path, memoryBudget: budget)
            return "accepted"
        } catch let error as StoreError {
            return "\(error.code): " + error.description.replacingOccurrences(of: path, with: "FILE")
        } catch {
            return "not a StoreError: \(error)"
        }
    }

    static func withFile<T>(_ bytes: [UInt8], suffix: String = ".pt", _ body: (String) throws -> T) throws -> T {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("torch-\(UUID())\(suffix)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    // MARK: - Values

    @Test(arguments: torchMade)
    func everyTensorAsTorchLoadGivesIt(_ name: String) throws {
        let file = try TorchSaveFile(readingFrom: Self.fixture(name))
        let expected = try SafetensorsFile(readingFrom: Self.fixture(name + ".expected.safetensors"))
        #expect(try file.variables() == expected.variables())
        #expect(try file.variables().count >= 4)
        for variable in try expected.variables() {
            let got = try file.readAll(variable.name), want = try expected.readAll(variable.name)
            #expect(got == want, "\(name): \(variable.name)")
            if variable.elementType.isFloat {
                let floats: Tensor<Double> = try file.read(variable.name)
                #expect(floats.scalars.map(\.bitPattern) == (try expected.read(variable.name, as: Double.self)).scalars.map(\.bitPattern))
            }
        }
        #expect(file.layout == (name.contains("legacy") ? .legacy : .zip))
    }

    /// The comparison can fail: another fixture's tensor of the same name and shape differs, and so does one
    /// with a single bit changed.
    @Test func negativeControls() throws {
        let gru = try TorchSaveFile(readingFrom: Self.fixture("gru.pt"))
        let legacy = try SafetensorsFile(readingFrom: Self.fixture("legacy.pt.expected.safetensors"))
        let mine = try gru.readAll("weight_ih_l0"), theirs = try legacy.readAll("weight_ih_l0")
        #expect(mine.shape == theirs.shape)
        #expect(mine != theirs)
        guard case .bytes(var flipped) = mine.storage else { Issue.record("not bytes"); return }
        flipped[5] ^= 1
        #expect(StoredValues(elementType: mine.elementType, shape: mine.shape, storage: .bytes(flipped)) != mine)
    }

    /// Five views of one 8x6 storage: rows at an offset, the transpose (gathered), a strided column, one element
    /// (rank 0), an empty slice; each as its own values, checked against the base read in Swift.
    @Test(arguments: ["views.pt", "views_legacy.pt"])
    func viewsOfOneStorage(_ name: String) throws {
        let file = try TorchSaveFile(readingFrom: Self.fixture(name))
        let big: Tensor<Float> = try file.read("big")
        let value = { (row: Int, column: Int) in Float(row * 6 + column) * 0.25 - 3 }
        #expect(big.scalars == (0..<48).map { value($0 / 6, $0 % 6) })
        #expect(try file.read("rows", as: Float.self).scalars == (12..<30).map { value($0 / 6, $0 % 6) })
        let transposed: Tensor<Float> = try file.read("t")
        #expect(transposed.shape == [6, 8])
        #expect(transposed.scalars == (0..<48).map { value($0 % 8, $0 / 8) })
        #expect(try file.read("col", as: Float.self).scalars == (0..<8).map { value($0, 1) })
        #expect(try file.read("one", as: Float.self).scalars == [value(3, 4)])
        #expect(try file.readAll("empty") == StoredValues(elementType: .float(bits: 32), shape: [0, 6], storage: .bytes([])))
        var row = [UInt8](repeating: 0, count: 32)
        try row.withUnsafeMutableBytes { try file.readRawRows("t", rows: 2..<3, into: $0) }
        #expect(row == (0..<8).flatMap { withUnsafeBytes(of: value($0, 2).bitPattern.littleEndian, Array.init) })
    }

    @Test func rowMajorViews() {
        let storage = TorchStorageReference(key: "0", dtype: "F32", location: "cpu", count: 48)
        let view = { (shape: [Int], stride: [Int]) in TorchTensorView(storage: storage, offset: 0, shape: shape, stride: stride) }
        #expect(TorchSaveFile.isRowMajor(view([8, 6], [6, 1])))
        #expect(TorchSaveFile.isRowMajor(view([1, 6], [99, 1])))   // a dimension of one: any stride
        #expect(TorchSaveFile.isRowMajor(view([], [])))
        #expect(!TorchSaveFile.isRowMajor(view([6, 8], [1, 6])))
        #expect(!TorchSaveFile.isRowMajor(view([8], [6])))
    }

    // MARK: - Names and attributes

    @Test func checkpointNamesAndAttributes() throws {
        let file = try TorchSaveFile(readingFrom: Self.fixture("checkpoint.tar"))
        #expect(file.root == "checkpoint")
        let names = try file.variables().map(\.name)
        #expect(names.contains("model.rnn.weight_ih_l0"))
        #expect(names.contains("optimizer.state.0.exp_avg"))
        #expect(try file.variables().first { $0.name == "optimizer.state.0.step" }?.shape == [])
        #expect(try file.attributeNames(of: "") == ["arch", "epoch", "model._metadata", "optimizer.param_groups"])
        #expect(try file.stringAttribute("epoch", of: "") == "3")
        #expect(try file.stringAttribute("arch", of: "") == "encoder")
        #expect(try file.stringAttribute("model._metadata", of: "") == "{'': {'version': 1}, 'rnn': {'version': 1}, 'head': {'version': 1}}")
        #expect(try file.stringAttribute("optimizer.param_groups", of: "")?.hasPrefix(
            "[{'lr': 0.001, 'betas': (0.9, 0.999), 'eps': 1e-08, 'weight_decay': 0, 'amsgrad': False,") == true)
        #expect(try file.stringAttribute("optimizer.param_groups", of: "")?.hasSuffix("'params': [0, 1, 2, 3, 4, 5]}]") == true)
        #expect(try file.attributeNames(of: "model") == [])
        #expect(try file.stringAttribute("epoch", of: "model") == nil)
        #expect(try file.containers() == [])
        #expect(throws: StoreError(.notFound, file: Self.fixture("checkpoint.tar"), object: "model", reason: "no such tensor")) {
            try file.readAll("model")
        }
    }

    @Test func nonFloatReadsAreRefused() throws {
        let file = try TorchSaveFile(readingFrom: Self.fixture("dtypes.pt"))
        #expect(throws: StoreError(.unsupportedType, file: Self.fixture("dtypes.pt"), object: "i32",
                                   reason: "holds int32 values, not float16, float32 or float64")) {
            try file.read("i32", as: Float.self)
        }
        #expect(try file.variables().first { $0.name == "bf16" }?.elementType == .other("bfloat16"))
    }

    // MARK: - Hostile and damaged files

    static let marker = "/tmp/PWNED_gru_convert_torchsave_os_system"

    @Test(arguments: [
        ("evil_os_system.pt", "unsupportedType: FILE: evil_os_system/data.pkl: its pickle is refused at byte 2: it names the global "
            + "os.system, which is not allowed (only tensors, storages, dicts and plain values are read; nothing is executed)"),
        ("evil_eval.pt", "unsupportedType: FILE: evil_eval/data.pkl: its pickle is refused at byte 35: it names the global "
            + "builtins.eval, which is not allowed (only tensors, storages, dicts and plain values are read; nothing is executed)"),
        ("evil_popen.pt", "unsupportedType: FILE: evil_popen/data.pkl: its pickle is refused at byte 2: it names the global "
            + "subprocess.Popen, which is not allowed (only tensors, storages, dicts and plain values are read; nothing is executed)"),
        ("evil_class.pt", "unsupportedType: FILE: evil_class/data.pkl: its pickle is refused at byte 2: it names the global "
            + "__main__.Evil, which is not allowed (only tensors, storages, dicts and plain values are read; nothing is executed)"),
        ("evil_getattr.pt", "unsupportedType: FILE: evil_getattr/data.pkl: its pickle is refused at byte 2: it names the global "
            + "__builtin__.getattr, which is not allowed (only tensors, storages, dicts and plain values are read; nothing is executed)"),
        ("recursion_bomb.pt", "tooLarge: FILE: recursion_bomb/data.pkl: it nests containers more than 100 levels deep "
            + "(a recursion bomb, or a container that holds itself); refused"),
        ("huge_numel.pt", "tooLarge: FILE: huge_numel/data/0: declares 2305843009213693952 float32 elements, too many to address"),
        ("missing_storage.pt", "damaged: FILE: v: its storage missing_storage/data/7 is not in the archive: the file is damaged"),
        ("offset_beyond.pt", "damaged: FILE: w: its view (offset 4, size [3], stride [1]) reaches element 6 of its storage "
            + "offset_beyond/data/0, which holds 6: the file is damaged"),
        ("truncated.pt", "damaged: FILE: a truncated or damaged zip archive (no end of central directory record)"),
        ("legacy_bad_magic.pt", "wrongFormat: FILE: a pickle that does not start with torch's magic number (0x1950a86a20f9469cfc6c), "
            + "so not a torch.save file"),
    ])
    func hostileFilesAreRefused(_ name: String, _ line: String) {
        #expect(Self.refusal(Self.fixture(name)) == line)
        #expect(!FileManager.default.fileExists(atPath: Self.marker))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/PWNED_gru_convert_torchsave_eval"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/PWNED_gru_convert_torchsave_popen"))
    }

    @Test func osSystemPayloadRunsNothing() {
        #expect(!FileManager.default.fileExists(atPath: Self.marker))
        #expect(Self.refusal(Self.fixture("evil_os_system.pt")).hasPrefix("unsupportedType: "))
        #expect(!FileManager.default.fileExists(atPath: Self.marker))
    }

    @Test func otherFilesAreNotTorchSave() throws {
        #expect(try Self.withFile([]) { Self.refusal($0) } == "wrongFormat: FILE: empty file, not a torch.save file")
        #expect(try Self.withFile(Array("hello".utf8)) { Self.refusal($0) }
                == "wrongFormat: FILE: not a torch.save file (neither a zip archive nor a pickle at its start)")
        let keras = Self.fixtures.deletingLastPathComponent().appendingPathComponent("frameworks/k3_gru.keras").path
        #expect(Self.refusal(keras).hasPrefix("wrongFormat: FILE: a zip archive whose members are not all in one folder"))
        // A legacy stream cut inside its storages.
        let legacy = try [UInt8](Data(contentsOf: Self.fixtures.appendingPathComponent("legacy.pt")))
        #expect(try Self.withFile(Array(legacy.dropLast(10))) { Self.refusal($0) }.hasPrefix("damaged: FILE: storage "))
        #expect(try Self.withFile(legacy + [0]) { Self.refusal($0) }
                == "damaged: FILE: 1 bytes follow its last storage (at byte \(legacy.count)), which torch.save never writes")
    }

    /// Inputs the fuzzer (gru-fuzz-torch) found trapping, each now refused with one line.
    @Test(arguments: [
        ("zip64-local-offset-past-2-63", "damaged: FILE: its zip directory cannot be followed (offsets outside the file, or records "
            + "that do not fit): the archive is damaged"),
        // A ZIP64 record just before the locator, which ZIPFoundation takes whatever the locator says, with a directory offset past 2^63.
        ("zip64-record-before-locator-offset-past-2-63", "damaged: FILE: its zip directory cannot be followed (offsets outside the file, "
            + "or records that do not fit): the archive is damaged"),
    ])
    func fuzzRegressions(_ name: String, _ line: String) {
        let path = Self.fixtures.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fuzz/torch-regressions/\(name)").path
        #expect(Self.refusal(path) == line)
    }

    // MARK: - The memory budget

    @Test func budgetRefusals() throws {
        let path = Self.fixture("gru.pt")
        #expect(Self.refusal(path, budget: MemoryBudget(bytes: 100))
                == "tooLarge: FILE: reading the zip archive's directory would need 603 bytes, more than the memory budget of 100 bytes (--max-memory)")
        // Opens within 800 bytes (the directory, the pickle), but a read needs the storage and the result.
        let file = try TorchSaveFile(readingFrom: path, memoryBudget: MemoryBudget(bytes: 800))
        #expect(throws: StoreError(.tooLarge, file: path, object: "weight_hh_l0",
                                   reason: "reading its storage gru/data/1 (432 bytes) and its [18, 6] values would need 864 bytes, "
                                   + "more than the memory budget of 800 bytes (--max-memory)")) {
            _ = try file.readAll("weight_hh_l0")
        }
        #expect(try file.readAll("bias_hh_l0").shape == [18])
        let legacy = Self.fixture("legacy.pt")
        #expect(Self.refusal(legacy, budget: MemoryBudget(bytes: 100)).hasPrefix("tooLarge: FILE: reading its pickles would need"))
    }
}

/// The pickle machine alone, over hand-built pickles: each opcode, the memo, the allow-list and the limits.
@Suite struct PickleMachineTests {
    static func run(_ bytes: [UInt8], limits: PickleMachine.Limits = .init()) -> Result<String, PickleMachine.Failure> {
        var machine = PickleMachine(bytes, limits: limits)
        defer { machine.release() }
        do throws(PickleMachine.Failure) {
            let value = try machine.run()
            if case .tensor(let view) = value { return .success("tensor \(view.storage.key) \(view.offset) \(view.shape) \(view.stride)") }
            if case .container(let box) = value, box.kind == .dict {
                return .success("dict " + zip(box.keys, box.items).map { "\(Self.show($0)): \(Self.show($1))" }.joined(separator: ", "))
            }
            return .success(show(value))
        } catch {
            return .failure(error)
        }
    }

    static func show(_ value: PickleValue) -> String {
        switch value {
        case .none: "None"
        case .bool(let flag): "\(flag)"
        case .int(let number): "\(number)"
        case .bigInt(let data): "big " + TorchObjects.decimal(data)
        case .float(let number): "\(number)"
        case .string(let text): "'\(text)'"
        case .bytes(let data): "b\(data)"
        case .container(let box): (box.kind == .list ? "[" : box.kind == .tuple ? "(" : "{") + box.items.map(show).joined(separator: ",")
            + (box.kind == .list ? "]" : box.kind == .tuple ? ")" : "}")
        case .global(let global): global.name
        case .storage(let storage): "storage \(storage.key)"
        case .tensor: "tensor"
        }
    }

    static func ok(_ bytes: [UInt8]) -> String? { try? run(bytes).get() }
    static func failure(_ bytes: [UInt8], limits: PickleMachine.Limits = .init()) -> String {
        switch run(bytes, limits: limits) {
        case .success(let value): return "accepted \(value)"
        case .failure(let error): return error.description
        }
    }

    static func unicode(_ text: String) -> [UInt8] {
        let data = Array(text.utf8)
        return [0x58] + withUnsafeBytes(of: UInt32(data.count).littleEndian, Array.init) + data
    }

    static func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }

    @Test func scalars() {
        #expect(Self.ok([0x80, 2, 0x4E, 0x2E]) == "None")
        #expect(Self.ok([0x88, 0x2E]) == "true")
        #expect(Self.ok([0x89, 0x2E]) == "false")
        #expect(Self.ok([0x4B, 200, 0x2E]) == "200")                             // BININT1
        #expect(Self.ok([0x4D, 0x34, 0x12, 0x2E]) == "4660")                     // BININT2
        #expect(Self.ok([0x4A, 0xFE, 0xFF, 0xFF, 0xFF, 0x2E]) == "-2")           // BININT
        #expect(Self.ok([0x8A, 0, 0x2E]) == "0")                                 // LONG1 of no bytes
        #expect(Self.ok([0x8A, 1, 0xFF, 0x2E]) == "-1")
        #expect(Self.ok([0x8A, 2, 0x00, 0x80, 0x2E]) == "-32768")
        #expect(Self.ok([0x8A, 9] + Array(repeating: 0, count: 8) + [1, 0x2E]) == "big 18446744073709551616")
        #expect(Self.ok([0x8B, 9, 0, 0, 0] + Array(repeating: 0xFF, count: 9) + [0x2E]) == "big -1")   // LONG4
        #expect(Self.ok([0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0x2E]) == "1.5")   // BINFLOAT, big-endian
        #expect(Self.ok(Self.unicode("héllo") + [0x2E]) == "'héllo'")
        #expect(Self.ok([0x8C, 2] + Array("ab".utf8) + [0x2E]) == "'ab'")        // SHORT_BINUNICODE
        #expect(Self.ok([0x55, 2, 0x61, 0x62, 0x2E]) == "b[97, 98]")              // SHORT_BINSTRING
        #expect(Self.ok([0x54, 1, 0, 0, 0, 0x61, 0x2E]) == "b[97]")               // BINSTRING
        #expect(Self.ok([0x43, 1, 0x7A, 0x2E]) == "b[122]")                       // SHORT_BINBYTES
    }

    @Test func containersAndMemo() {
        // [1, 2, 3] through EMPTY_LIST, BINPUT, MARK, APPENDS; then BINGET of it inside a tuple.
        #expect(Self.ok([0x5D, 0x71, 0, 0x28, 0x4B, 1, 0x4B, 2, 0x65, 0x4B, 3, 0x61, 0x68, 0, 0x86, 0x2E]) == "([1,2,3],[1,2,3])")
        #expect(Self.ok([0x29, 0x2E]) == "()")
        #expect(Self.ok([0x4B, 1, 0x85, 0x2E]) == "(1)")
        #expect(Self.ok([0x4B, 1, 0x4B, 2, 0x4B, 3, 0x87, 0x2E]) == "(1,2,3)")
        #expect(Self.ok([0x28, 0x4B, 1, 0x4B, 2, 0x74, 0x2E]) == "(1,2)")
        #expect(Self.ok([0x28, 0x4B, 1, 0x6C, 0x2E]) == "[1]")                   // LIST
        // {'a': 1, 'b': 2, 'a': 3}: the key set again keeps its place and takes the new value.
        #expect(Self.ok([0x7D, 0x28] + Self.unicode("a") + [0x4B, 1] + Self.unicode("b") + [0x4B, 2, 0x75]
                        + Self.unicode("a") + [0x4B, 3, 0x73, 0x2E]) == "dict 'a': 3, 'b': 2")
        #expect(Self.ok([0x28, 0x4B, 1, 0x4B, 2, 0x64, 0x2E]) == "dict 1: 2")   // DICT
        // MEMOIZE, LONG_BINPUT / LONG_BINGET, DUP, POP, POP_MARK.
        #expect(Self.ok([0x4B, 7, 0x94, 0x30, 0x68, 0, 0x2E]) == "7")
        #expect(Self.ok([0x4B, 7, 0x72, 0, 1, 0, 0, 0x30, 0x6A, 0, 1, 0, 0, 0x2E]) == "7")
        #expect(Self.ok([0x4B, 7, 0x32, 0x86, 0x2E]) == "(7,7)")
        #expect(Self.ok([0x4B, 7, 0x28, 0x4B, 1, 0x4B, 2, 0x31, 0x2E]) == "7")
        // PROTO 4 with a FRAME.
        #expect(Self.ok([0x80, 4, 0x95, 3, 0, 0, 0, 0, 0, 0, 0, 0x4B, 5, 0x2E]) == "5")
    }

    @Test func allowedGlobals() {
        // OrderedDict() by REDUCE and by NEWOBJ, and BUILD of its state.
        let od = Self.global("collections", "OrderedDict")
        #expect(Self.ok(od + [0x29, 0x52, 0x2E]) == "dict ")
        #expect(Self.ok(od + [0x29, 0x81, 0x7D, 0x62, 0x2E]) == "dict ")
        // A tensor: _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 6) persistent, 2, (2,), (1,), False, OrderedDict()).
        let pid = [0x28] + Self.unicode("storage") + Self.global("torch", "FloatStorage") + Self.unicode("0") + Self.unicode("cpu") + [0x4B, 6, 0x74, 0x51]
        let tensor = Self.global("torch._utils", "_rebuild_tensor_v2") + [0x28] + pid + [0x4B, 2, 0x4B, 2, 0x85, 0x4B, 1, 0x85, 0x89] + od
            + [0x29, 0x52, 0x74, 0x52]
        #expect(Self.ok(tensor + [0x2E]) == "tensor 0 2 [2] [1]")
        // _rebuild_parameter(tensor, True, OrderedDict()) is the tensor.
        #expect(Self.ok(Self.global("torch._utils", "_rebuild_parameter") + [0x28] + tensor + [0x88] + od + [0x29, 0x52, 0x74, 0x52, 0x2E])
                == "tensor 0 2 [2] [1]")
        #expect(Self.ok(Self.global("torch", "float32") + [0x2E]) == "torch.float32")
        // STACK_GLOBAL of an allowed name.
        #expect(Self.ok(Self.unicode("collections") + Self.unicode("OrderedDict") + [0x93, 0x29, 0x52, 0x2E]) == "dict ")
    }

    @Test func refusals() {
        let refusedGlobal = { (name: String) in
            "is refused at byte 0: it names the global \(name), which is not allowed (only tensors, storages, dicts and plain values are read; nothing is executed)"
        }
        #expect(Self.failure(Self.global("os", "system") + [0x2E]) == refusedGlobal("os.system"))
        #expect(Self.failure(Self.global("posix", "system") + [0x2E]) == refusedGlobal("posix.system"))
        #expect(Self.failure(Self.global("torch", "load") + [0x2E]) == refusedGlobal("torch.load"))
        #expect(Self.failure(Self.global("torch._utils", "_rebuild_qtensor") + [0x2E]) == refusedGlobal("torch._utils._rebuild_qtensor"))
        // Calling a storage type, a dtype, or a non-global.
        #expect(Self.failure(Self.global("torch", "FloatStorage") + [0x29, 0x52, 0x2E])
                == "is refused at byte 21: a call of torch.FloatStorage, which torch.save never writes")
        #expect(Self.failure([0x5D, 0x29, 0x52, 0x2E]) == "is refused at byte 2: REDUCE of a list, which is not a global of the allow-list")
        #expect(Self.failure(Self.global("collections", "OrderedDict") + [0x4B, 1, 0x85, 0x52, 0x2E])
                == "is refused at byte 28: collections.OrderedDict called with 1 arguments (torch.save passes none)")
        // BUILD on a list; opcodes that call; a byte that is no opcode.
        #expect(Self.failure([0x5D, 0x7D, 0x62, 0x2E]).hasPrefix("is refused at byte 2: BUILD on a list"))
        #expect(Self.failure([0x28, 0x69] + Array("os\nsystem\n".utf8) + [0x2E])
                == "is refused at byte 1: opcode INST (0x69), which torch.save does not write and this reader does not run")
        #expect(Self.failure([0x28, 0x6F, 0x2E]).hasPrefix("is refused at byte 1: opcode OBJ"))
        #expect(Self.failure([0x82, 1, 0x2E]).hasPrefix("is refused at byte 0: opcode EXT1"))
        #expect(Self.failure([0xFF]) == "is damaged at byte 0: byte 0xff, which is no pickle opcode")
    }

    @Test func damagedPickles() {
        #expect(Self.failure([]) == "is damaged at byte 0: the pickle ends without STOP")
        #expect(Self.failure([0x4B]) == "is damaged at byte 0: the pickle ends inside an opcode")
        #expect(Self.failure([0x2E]) == "is damaged at byte 0: STOP with 0 values on the stack and 0 marks open (one value expected)")
        #expect(Self.failure([0x4B, 1, 0x4B, 2, 0x2E]) == "is damaged at byte 4: STOP with 2 values on the stack and 0 marks open (one value expected)")
        #expect(Self.failure([0x30, 0x2E]) == "is damaged at byte 0: an opcode needs a value, but the stack is empty (above its mark)")
        #expect(Self.failure([0x74, 0x2E]) == "is damaged at byte 0: an opcode needs a mark, but none is open")
        #expect(Self.failure([0x68, 3, 0x2E]) == "is damaged at byte 0: memo entry 3 read before it is written")
        #expect(Self.failure([0x58, 0xFF, 0, 0, 0, 0x2E]) == "is damaged at byte 0: a length of 255 bytes, more than the 1 left")
        #expect(Self.failure([0x58, 1, 0, 0, 0, 0xFF, 0x2E]) == "is damaged at byte 0: a string that is not UTF-8")
        #expect(Self.failure([0x4B, 1, 0x4B, 1, 0x61, 0x2E]) == "is damaged at byte 4: APPEND to an integer, not a list")
        #expect(Self.failure([0x7D, 0x5D, 0x4B, 1, 0x73, 0x2E]) == "is damaged at byte 4: a dict key that is a list, which Python cannot use as a key")
        #expect(Self.failure([0x80, 9, 0x2E]) == "is damaged at byte 0: pickle protocol 9, which no Python writes (0 to 5)")
        #expect(Self.failure([0x28, 0x4B, 1, 0x4B, 2, 0x74, 0x51, 0x2E])
                == "is damaged at byte 6: a persistent id that is not ('storage', type, key, location, numel)")
    }

    @Test func limits() {
        var limits = PickleMachine.Limits()
        limits.maximumMemo = 2
        #expect(Self.failure([0x4B, 1, 0x71, 0, 0x71, 1, 0x71, 2, 0x2E], limits: limits) == "is too large at byte 6: more than 2 memo entries")
        limits = PickleMachine.Limits()
        limits.maximumStack = 3
        #expect(Self.failure([0x4E, 0x4E, 0x4E, 0x4E, 0x2E], limits: limits) == "is too large at byte 3: more than 3 values on the stack")
        limits = PickleMachine.Limits()
        limits.maximumMarks = 2
        #expect(Self.failure([0x28, 0x28, 0x28, 0x2E], limits: limits) == "is too large at byte 2: more than 2 marks open at once")
        limits = PickleMachine.Limits()
        limits.maximumValues = 5
        #expect(Self.failure(Array(repeating: 0x5D, count: 3) + Array(repeating: 0x61, count: 2) + [0x4E, 0x30, 0x4E, 0x30, 0x2E], limits: limits)
                == "is too large at byte 2: more than 5 values")   // each list is made (1) and pushed (2)
        // The budget scales the limits, never below 65536 values.
        #expect(PickleMachine.Limits(budget: MemoryBudget(bytes: 1 << 20)).maximumValues == 1 << 16)
        #expect(PickleMachine.Limits(budget: MemoryBudget(bytes: 1 << 30)).maximumValues == 1 << 24)
    }

    /// Deep nesting is built without recursion and refused by the walk; a list that holds itself too; so is a
    /// container shared so often that walking it would take for ever.
    @Test func recursionAndSharing() throws {
        let depth = 200_000
        let deep = Array(repeating: UInt8(0x5D), count: depth) + Array(repeating: UInt8(0x61), count: depth - 1)
        let dict = [0x7D] + Self.unicode("deep") + deep + [0x73, 0x2E]
        func walk(_ bytes: [UInt8]) -> String {
            var machine = PickleMachine(bytes)
            defer { machine.release() }
            do {
                _ = try TorchObjects(walking: try machine.run(), maximumVisits: 10_000)
                return "walked"
            } catch let error as TorchObjects.Failure {
                return "\(error.code): \(error.reason)"
            } catch {
                return "\(error)"
            }
        }
        #expect(walk(dict) == "tooLarge: it nests containers more than 100 levels deep (a recursion bomb, or a container that holds itself); refused")
        // l = []; l.append(l); {'l': l}
        #expect(walk([0x7D] + Self.unicode("l") + [0x5D, 0x71, 0, 0x68, 0, 0x61, 0x73, 0x2E]).hasPrefix("tooLarge: it nests containers"))
        // x0 = []; x1 = [x0, x0]; ... x60: 2^60 paths through 61 lists.
        var shared: [UInt8] = [0x7D] + Self.unicode("x") + [0x5D]
        for _ in 0..<60 { shared += [0x32, 0x86] }   // DUP, TUPLE2
        shared += [0x73, 0x2E]
        #expect(walk(shared) == "tooLarge: its objects expand to more than 10000 values (containers shared many times over)")
    }

    @Test func rendering() throws {
        var machine = PickleMachine([0x7D, 0x28] + Self.unicode("s") + Self.unicode("it's\n") + Self.unicode("n") + [0x4E]
                                    + Self.unicode("t") + [0x4B, 1, 0x85] + Self.unicode("b") + [0x43, 2, 0x00, 0x41]
                                    + Self.unicode("f") + [0x47, 0x7F, 0xF0, 0, 0, 0, 0, 0, 0]
                                    + Self.unicode("l") + [0x5D, 0x28] + Self.unicode("x") + [0x88, 0x65]
                                    + Self.unicode("big") + [0x8A, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF]
                                    + [0x75, 0x2E])
        defer { machine.release() }
        let objects = try TorchObjects(walking: try machine.run(), maximumVisits: 100)
        #expect(objects.tensors.isEmpty)
        #expect(objects.attributes.map { "\($0.name)=\($0.value)" }
                == ["s=it's\n", "n=None", "t=(1,)", "b=b'\\x00A'", "f=inf", "l=['x', True]", "big=-18446744073709551616"])
    }
}
