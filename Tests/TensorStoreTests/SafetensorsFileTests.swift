import Foundation
import GRUCore
import Testing
@testable import TensorStore

/// The safetensors reader: values bit for bit, and every way a header can lie refused with its own line
/// before a byte of data is read.
@Suite struct SafetensorsFileTests {
    /// A safetensors file of `tensors` (name, dtype, shape, bytes) in that order, the header as given
    /// (`header` replaces the one made from the tensors), padded with spaces as the library pads it.
    static func file(_ tensors: [(String, String, [Int], [UInt8])], header: String? = nil, metadata: String? = nil,
                     trailing: [UInt8] = []) -> [UInt8] {
        var offset = 0
        var entries: [String] = metadata.map { ["\"__metadata__\":\($0)"] } ?? []
        for (name, dtype, shape, bytes) in tensors {
            entries.append("\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],"
                           + "\"data_offsets\":[\(offset),\(offset + bytes.count)]}")
            offset += bytes.count
        }
        var json = Array((header ?? "{" + entries.joined(separator: ",") + "}").utf8)
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out += $0 }
        return out + json + tensors.flatMap(\.3) + trailing
    }

    static func floats(_ values: [Float]) -> [UInt8] { values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } } }

    /// Writes `bytes` to a temporary file, opens it, and returns the file or the error's line.
    static func open(_ bytes: [UInt8], budget: MemoryBudget = .machineDefault) throws -> Result<SafetensorsFile, StoreError> {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID()).safetensors").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do { return .success(try SafetensorsFile(readingFrom: path, memoryBudget: budget)) } catch let error as StoreError {
            var error = error
            error.file = "FILE"
            return .failure(error)
        }
    }

    static func refusal(_ bytes: [UInt8]) throws -> String {
        switch try open(bytes) {
        case .success: return "accepted"
        case .failure(let error): return error.description
        }
    }

    @Test func valuesReadBitForBit() throws {
        let kernel = Self.floats([1, -2, .pi, .nan, -0.0, 6])
        let half: [UInt8] = [0x00, 0x3C, 0x00, 0xC0]            // float16 1.0, -2.0
        let bytes = Self.file([("w", "F32", [2, 3], kernel), ("h", "F16", [2], half), ("n", "I64", [1], Array(repeating: 0xFF, count: 8))],
                              metadata: "{\"format\":\"pt\"}")
        let file = try Self.open(bytes).get()
        #expect(try file.variables() == [Variable(name: "h", elementType: .float(bits: 16), shape: [2]),
                                         Variable(name: "n", elementType: .integer(bits: 64, signed: true), shape: [1]),
                                         Variable(name: "w", elementType: .float(bits: 32), shape: [2, 3])])
        #expect(try file.readAll("w") == StoredValues(elementType: .float(bits: 32), shape: [2, 3], storage: .bytes(kernel)))
        #expect(try file.read("h", as: Float.self).scalars == [1, -2])
        var row = [UInt8](repeating: 0, count: 12)
        try row.withUnsafeMutableBytes { try file.readRawRows("w", rows: 1..<2, into: $0) }
        #expect(row == Array(kernel[12...]))
        #expect(try file.attributeNames(of: "") == ["format"] && file.stringAttribute("format", of: "") == "pt")
        #expect(try file.attributeNames(of: "w").isEmpty)
    }

    /// A header padded or not, tensors in any order of keys, an empty file of tensors: all read.
    @Test func whatTheLibraryAcceptsIsAccepted() throws {
        #expect(try Self.refusal(Self.file([])) == "accepted")
        let unpadded = Self.file([("a", "F32", [1], Self.floats([1]))])
        #expect(try Self.refusal(unpadded) == "accepted")
        // Keys out of data order: b's bytes come first.
        let header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"
        #expect(try Self.refusal(Self.file([("b", "F32", [1], Self.floats([2])), ("a", "F32", [1], Self.floats([1]))], header: header)) == "accepted")
    }

    /// What the format's library also accepts: whitespace before the header, `__metadata__` null, and the
    /// dtypes C64 and F8_E8M0. Negative control: a shape `-0` (which the library refuses) is refused.
    @Test func whatTheLibraryLoadsIsRead() throws {
        let header = "  {\"__metadata__\":null,\"c\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]},"
            + "\"e\":{\"dtype\":\"F8_E8M0\",\"shape\":[2],\"data_offsets\":[8,10]}}"
        let file = try Self.open(Self.file([("c", "C64", [1], Array(repeating: 1, count: 8)), ("e", "F8_E8M0", [2], [7, 9])], header: header)).get()
        #expect(try file.variables().map(\.elementType) == [.other("complex64"), .other("float8_e8m0fnu")])
        #expect(try file.attributeNames(of: "").isEmpty)
        #expect(try Self.refusal(Self.file([("w", "F32", [2], Self.floats([1, 2]))],
                                           header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[-0,2],\"data_offsets\":[0,8]}}"))
                == "FILE: w: has a shape that is not a list of non-negative integers")
    }

    /// Writing: an empty tensor has no rows to write and is complete at once; h5py's bool (an HDF5 enum)
    /// comes back as BOOL; a metadata key that only looks like a split record (no tensors under its scope)
    /// stays the file's.
    @Test func emptyTensorsBoolsAndMetadataAreWritten() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stw-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let hdf5 = try HDF5Writer(creating: dir + "/in.h5", temporaryPath: dir + "/in.h5.tmp")
        try hdf5.write("flags", values: StoredValues(elementType: .other("bool"), shape: [3], storage: .bytes([1, 0, 1])))
        try hdf5.create("empty", elementType: .float(bits: 32), shape: [4, 0])
        try hdf5.finish()
        let source = try HDF5File(readingFrom: dir + "/in.h5")
        let writer = try SafetensorsWriter(creating: dir + "/out.safetensors", temporaryPath: dir + "/o.tmp", temporaryDataPath: dir + "/o.data")
        for name in ["empty", "flags"] { try writer.copy(name, from: source, as: name) }
        try writer.setStringAttribute("nothere@gru_convert_layout", "torch-gru", on: "")
        try writer.finish()
        let written = try SafetensorsFile(readingFrom: dir + "/out.safetensors")
        #expect(try written.variables() == [Variable(name: "empty", elementType: .float(bits: 32), shape: [4, 0]),
                                             Variable(name: "flags", elementType: .other("bool"), shape: [3])])
        #expect(try written.readAll("flags").storage == .bytes([1, 0, 1]))
        #expect(try written.attributeNames(of: "") == ["nothere@gru_convert_layout"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["in.h5", "out.safetensors"])
    }

    /// Names and metadata holding quotes, backslashes and control characters are escaped in the header and
    /// read back as they were (a wrong escape would make the header invalid JSON, or another name).
    @Test func namesAreEscapedInTheHeader() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ste-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let name = "a\"b\\c\nd\u{1}é"
        let writer = try SafetensorsWriter(creating: dir + "/x.safetensors", temporaryPath: dir + "/x.tmp", temporaryDataPath: dir + "/x.data")
        try writer.create(name, elementType: .float(bits: 32), shape: [1])
        try Self.floats([3]).withUnsafeBytes { try writer.writeRawRows(name, rows: 0..<1, from: $0) }
        try writer.setStringAttribute("note", "say \"hi\"\t", on: "")
        try writer.finish()
        let file = try SafetensorsFile(readingFrom: dir + "/x.safetensors")
        #expect(try file.variables().map(\.name) == [name])
        #expect(try file.stringAttribute("note", of: "") == "say \"hi\"\t")
        #expect(SafetensorsWriter.quoted("\"\n\u{1}") == "\"\\\"\\n\\u0001\"")
    }

    @Test func lyingHeadersAreRefused() throws {
        let good = Self.file([("w", "F32", [2], Self.floats([1, 2]))])
        #expect(try Self.refusal(Array(good.prefix(7))) == "FILE: 7 bytes, too short for a safetensors file (8-byte header length)")
        var long = good
        long[0] = 0xFF
        #expect(try Self.refusal(long) == "FILE: declares a 255-byte header, but only 64 bytes follow; it is truncated or not safetensors")
        #expect(try Self.refusal(Array(good.dropLast(1)))
                == "FILE: w: its bytes end at 8, past the file's 7 bytes of data; it is truncated")
        #expect(try Self.refusal(Self.file([("w", "F32", [2], Self.floats([1, 2]))], trailing: [0, 0, 0, 0]))
                == "FILE: the tensors' bytes end at 8, but the file holds 12 bytes of data after its header")
        #expect(try Self.refusal(Self.file([("w", "F33", [2], Self.floats([1, 2]))]))
                == "FILE: w: has dtype F33, which gru-convert does not read")
        #expect(try Self.refusal(Self.file([("w", "F32", [3], Self.floats([1, 2]))]))
                == "FILE: w: is F32 [3], 12 bytes, but its data_offsets [0, 8] hold 8")
        #expect(try Self.refusal(Self.file([("w", "F32", [-2], Self.floats([1, 2]))]))
                == "FILE: w: has a shape that is not a list of non-negative integers")
        let overlap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}"
        #expect(try Self.refusal(Self.file([("a", "F32", [2], Self.floats([1, 2]))], header: overlap))
                == "FILE: b: its bytes [4, 8) overlap another tensor's (which end at 8)")
        let gap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}"
        #expect(try Self.refusal(Self.file([("a", "F32", [2], Self.floats([1, 2]))], header: gap))
                == "FILE: a: its bytes start at 4, leaving a gap after byte 0 of the data")
        let huge = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}"
        #expect(try Self.refusal(Self.file([("a", "F32", [2], Self.floats([1, 2]))], header: huge))
                == "FILE: a: declares [4294967296, 4294967296] elements, too many to count")
        #expect(try Self.refusal(Self.file([("w", "F32", [2], Self.floats([1, 2]))], metadata: "{\"epoch\":1}"))
                == "FILE: __metadata__ epoch is not a string")
        let twice = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}"
        #expect(try Self.refusal(Self.file([("w", "F32", [2], Self.floats([1, 2]))], header: twice))
                == "FILE: its header is not valid JSON at byte 54 of 112: the name \"w\" appears twice")
        let deep = "{\"w\":" + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}"
        #expect(try Self.refusal(Self.file([], header: deep))
                == "FILE: its header is not valid JSON at byte 20 of 88: nested more than 16 levels deep")
        #expect(try Self.refusal(Self.file([], header: "[1]")) == "FILE: its header does not start with {, so it is not safetensors")
        #expect(try Self.refusal(Self.file([], header: "{\"a\":1,}")) == "FILE: its header is not valid JSON at byte 7 of 8: expected a member name")
    }

    /// The header is checked against the memory budget before it is read.
    @Test func aHeaderBeyondTheBudgetIsRefused() throws {
        let bytes = Self.file([("w", "F32", [2], Self.floats([1, 2]))])
        guard case .failure(let error) = try Self.open(bytes, budget: MemoryBudget(bytes: 16)) else {
            Issue.record("accepted")
            return
        }
        #expect(error.code == .tooLarge)
        #expect(try Self.refusal(bytes) == "accepted")      // negative control: the default budget reads it
    }
}
