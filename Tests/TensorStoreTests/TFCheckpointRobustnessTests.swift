import Foundation
import GRUCore
@testable import TensorStore
import Testing

/// Random damage to real checkpoints never traps: every outcome is values or a `StoreError`. (The fuzzing
/// harness does this at scale under AddressSanitizer; this is the quick, deterministic version.)
@Suite struct TFCheckpointRobustnessTests {
    /// A small deterministic generator (SplitMix64), so a failure can be replayed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }

    /// Opens the checkpoint and reads everything it lists, any way it can be read; returns how it ended.
    static func readEverything(_ prefix: String) -> String {
        do {
            let file = try TFCheckpointFile(readingFrom: prefix, memoryBudget: MemoryBudget(bytes: 64 << 20))
            var failures = 0
            for variable in try file.variables() {
                do {
                    _ = try file.info(variable.name)
                    if variable.elementType == .string {
                        _ = try file.readStrings(variable.name)
                    } else {
                        _ = try file.readBytes(variable.name)
                    }
                    if variable.elementType.isFloat {
                        let _: Tensor<Double> = try file.read(variable.name)
                        if variable.shape.count == 2 || variable.shape.count == 1, let width = variable.elementType.byteWidth {
                            let rows = variable.shape.count == 2 ? variable.shape[0] : 1
                            var buffer = [UInt8](repeating: 0, count: variable.elementCount * width)
                            try buffer.withUnsafeMutableBytes { try file.readRawRows(variable.name, rows: 0..<rows, into: $0) }
                        }
                    }
                } catch is StoreError {
                    failures += 1
                }
            }
            _ = file.optimizerSlots()
            return failures == 0 ? "read" : "some tensors refused"
        } catch is StoreError {
            return "refused"
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test(arguments: ["tf1_partitioned", "tfk_object_legacy_adam", "tf1_snappy", "tf1_adam", "tf1_sharded"])
    func randomDamageIsAnErrorNeverATrap(_ name: String) throws {
        let source = TFCheckpointFixtureTests.directory(name)
        try withCheckpointDirectory { directory in
            let files = try FileManager.default.contentsOfDirectory(atPath: source).filter { $0.contains(".index") || $0.contains(".data-") }
            let originals = try files.map { ($0, [UInt8](try Data(contentsOf: URL(fileURLWithPath: source + "/" + $0)))) }
            let prefix = directory.appendingPathComponent(try #require(files.first { $0.hasSuffix(".index") }).dropLast(6).description).path
            var generator = SplitMix(state: name.utf8.reduce(20_261_127) { $0 &* 31 &+ UInt64($1) })
            var outcomes: [String: Int] = [:]
            for _ in 0..<300 {
                for (file, bytes) in originals {
                    try Data(bytes).write(to: directory.appendingPathComponent(file))
                }
                // Damage one file: flip, overwrite with random or extreme bytes, or cut it.
                let (file, bytes) = originals[Int.random(in: 0..<originals.count, using: &generator)]
                var damaged = bytes
                switch Int.random(in: 0..<4, using: &generator) {
                case 0:
                    for _ in 0..<Int.random(in: 1...4, using: &generator) where !damaged.isEmpty {
                        damaged[Int.random(in: 0..<damaged.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
                    }
                case 1:
                    let at = Int.random(in: 0..<max(1, damaged.count), using: &generator)
                    let run = [UInt8](repeating: [0x00, 0xff, 0x7f, 0x80][Int.random(in: 0..<4, using: &generator)], count: 10)
                    damaged.replaceSubrange(at..<min(damaged.count, at + 10), with: run)
                case 2:
                    damaged = Array(damaged.prefix(Int.random(in: 0..<max(1, damaged.count), using: &generator)))
                default:
                    damaged += (0..<Int.random(in: 1...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                }
                try Data(damaged).write(to: directory.appendingPathComponent(file))
                outcomes[Self.readEverything(prefix), default: 0] += 1
            }
            #expect(outcomes.keys.allSatisfy { !$0.hasPrefix("unexpected") }, "\(outcomes)")
            // Negative control: the damage really is noticed most of the time, and the sound files read.
            #expect((outcomes["refused"] ?? 0) + (outcomes["some tensors refused"] ?? 0) > 100, "\(outcomes)")
            for (file, bytes) in originals { try Data(bytes).write(to: directory.appendingPathComponent(file)) }
            #expect(Self.readEverything(prefix) == "read")
        }
    }
}
