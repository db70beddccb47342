import Foundation
import GRUCore
import GRUTools
import TensorStore
import Testing

/// GRU cells in torch.save files made by PyTorch (fixtures/torchsave/generate.py): found under their state dict
/// keys at any prefix (`model.rnn.weight_ih_l0` of a training checkpoint), never among the optimizer's state, and
/// verified against torch's own outputs (F.reference.h5).
@Suite struct TorchSaveCellTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/torchsave")

    static let expected: [(String, [String])] = [
        ("gru.pt", ["l0"]), ("gru2_bidir.pt", ["l0", "l0_reverse", "l1", "l1_reverse"]), ("grucell.pt", ["cell"]),
        ("nested.pt", ["decoder.rnn.l0", "encoder.rnn.l0"]), ("checkpoint.tar", ["model.rnn.l0"]), ("legacy.pt", ["l0"]),
        ("gru_f16.pt", ["l0"]), ("gru_f64.pt", ["l0"]),
    ]

    @Test(arguments: expected, [VerifyMode.strict, .fast])
    func everyCellMatchesTorch(_ fixture: (String, [String]), mode: VerifyMode) throws {
        let source = try TorchSaveFile(readingFrom: Self.folder.appendingPathComponent(fixture.0).path)
        let inventory = try CellInventory(source)
        #expect(inventory.cells.map(\.scope) == fixture.1)
        #expect(inventory.problems.isEmpty, "\(inventory.problems)")
        let reference = try HDF5File(readingFrom: Self.folder.appendingPathComponent(fixture.0 + ".reference.h5").path)
        let verdicts = try Verifier(options: VerifyOptions(mode: mode, batch: 4, steps: 6, seed: 3)).verify(source, reference: reference)
        #expect(verdicts.map(\.scope) == fixture.1)
        for verdict in verdicts {
            #expect(verdict.equivalent && verdict.reference?.withinTolerance == true, "\(fixture.0) \(verdict.scope): \(verdict.diagnosis)")
        }
    }

    /// Adam's moments are keyed by parameter index (`optimizer.state.0.exp_avg`): other variables, no cell.
    @Test func optimizerStateIsNotACell() throws {
        let source = try TorchSaveFile(readingFrom: Self.folder.appendingPathComponent("checkpoint.tar").path)
        let inventory = try CellInventory(source)
        #expect(inventory.otherVariables.contains("optimizer.state.0.exp_avg"))
        #expect(inventory.otherVariables.contains("model.head.weight"))
        #expect(!inventory.cells.contains { $0.scope.hasPrefix("optimizer") })
    }
}
