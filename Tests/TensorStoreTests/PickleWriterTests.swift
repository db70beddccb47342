@testable import TensorStore
import Testing

/// The state dict pickle is byte for byte what `torch.save` writes for the same dict (torch 2.13, the
/// hex below printed by `torch.save(OrderedDict(...), buffer)` and reading `archive/data.pkl`).
@Suite struct PickleWriterTests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }

    /// `OrderedDict(w=torch.zeros(2, 3))`: one item, written with SETITEM.
    @Test func oneTensorIsWhatTorchWrites() {
        let bytes = PickleWriter.stateDict([.init(key: "w", storageType: "FloatStorage", storageKey: "0", shape: [2, 3])])
        #expect(Self.hex(bytes) == "800263636f6c6c656374696f6e730a4f726465726564446963740a710029527101580100000077710263746f7263682e5f7574696c730a5f7265"
            + "6275696c645f74656e736f725f76320a71032828580700000073746f72616765710463746f7263680a466c6f617453746f726167650a7105580100000030"
            + "7106580300000063707571074b06747108514b004b024b038671094b034b0186710a8968002952710b74710c52710d732e")
    }

    /// A scalar int64, a 4-d float16 and a 70000-element float64 tensor: empty tuples, MARK..TUPLE for long
    /// shapes, BININT for sizes past 65535, globals and shared strings fetched with BINGET, SETITEMS.
    @Test func shapesTypesAndSizesAreWhatTorchWrites() {
        let bytes = PickleWriter.stateDict([
            .init(key: "a", storageType: "LongStorage", storageKey: "0", shape: []),
            .init(key: "b", storageType: "HalfStorage", storageKey: "1", shape: [1, 2, 3, 4]),
            .init(key: "c", storageType: "DoubleStorage", storageKey: "2", shape: [70000]),
        ])
        #expect(Self.hex(bytes) == "800263636f6c6c656374696f6e730a4f726465726564446963740a71002952710128580100000061710263746f7263682e5f7574696c730a5f"
            + "72656275696c645f74656e736f725f76320a71032828580700000073746f72616765710463746f7263680a4c6f6e6753746f726167650a710558010000"
            + "00307106580300000063707571074b01747108514b0029298968002952710974710a52710b580100000062710c68032828680463746f7263680a48616c"
            + "6653746f726167650a710d580100000031710e68074b1874710f514b00284b014b024b034b04747110284b184b0c4b044b0174711189680029527112747113"
            + "527114580100000063711568032828680463746f7263680a446f75626c6553746f726167650a7116580100000032711768074a70110100747118514b004a70"
            + "1101008571194b0185711a8968002952711b74711c52711d752e")
        // Negative control: another shape is other bytes.
        #expect(PickleWriter.stateDict([.init(key: "a", storageType: "LongStorage", storageKey: "0", shape: [1])]) != bytes)
    }
}
