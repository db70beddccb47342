import GRUCore
import GRUTools
import Testing

/// Cells arranged as a model's layers from each framework's names: directions, layer keys, order.
@Suite struct ModelLayersTests {
    func cell(_ scope: String, _ layout: LayoutTable = .tfGRUCell, input: Int = 5, units: Int = 4) -> GRUCell {
        GRUCell(scope: scope, layout: layout, dimensions: CellDimensions(inputSize: input, units: units), elementType: .float(bits: 32),
                slots: [], storedNames: [:])
    }

    @Test func directionsComeFromEachFrameworksNames() {
        let cases: [(String, CellDirection)] = [
            ("l0", .forward), ("rnn.l1_reverse", .backward), ("bidirectional_rnn/fw/gru_cell", .forward),
            ("BiRNN/BW/GRUCell", .backward), ("bidi/bidi/backward_gru/gru_cell", .backward),
            ("layers/bidirectional/forward_layer/cell", .forward), ("rnn/multi_rnn_cell/cell_1/gru_cell", .forward),
        ]
        for (scope, direction) in cases { #expect(ModelLayers.direction(of: cell(scope), in: nil) == direction, "\(scope)") }
    }

    /// Two directions of one layer pair up; layers order by the numbers in their names (`cell_10` after `cell_2`).
    @Test func layersPairDirectionsAndOrderByNumber() throws {
        let cells = [cell("stack/cell_10/bidirectional_rnn/fw/gru_cell", input: 8), cell("stack/cell_2/bidirectional_rnn/bw/gru_cell"),
                     cell("stack/cell_2/bidirectional_rnn/fw/gru_cell"), cell("stack/cell_10/bidirectional_rnn/bw/gru_cell", input: 8)]
        let model = try ModelLayers.arrange(cells, in: nil)
        #expect(model.layers.map(\.key) == ["stack/cell_2/bidirectional_rnn/*/gru_cell", "stack/cell_10/bidirectional_rnn/*/gru_cell"])
        #expect(model.layers.allSatisfy(\.isBidirectional) && model.isStack)
        #expect(model.place(of: cells[3])! == (1, .backward))
    }

    /// Where names cannot order the layers (Keras 3's `bidirectional` and `gru` keys), sizes do: the one
    /// reading 12 values follows the one writing 12.
    @Test func sizesOrderLayersTheNamesCannot() throws {
        let cells = [cell("layers/gru/cell", .keras3ResetAfter, input: 12, units: 3),
                     cell("layers/bidirectional/forward_layer/cell", .keras3ResetAfter, input: 5, units: 6),
                     cell("layers/bidirectional/backward_layer/cell", .keras3ResetAfter, input: 5, units: 6)]
        let model = try ModelLayers.arrange(cells, in: nil)
        #expect(model.layers.map(\.key) == ["layers/bidirectional/*/cell", "layers/gru/cell"] && model.isStack)
        // Negative control: sizes that chain neither way keep the names' order (equal numbers: by name), and are no stack.
        let unrelated = try ModelLayers.arrange([cell("layers/gru/cell", .keras3ResetAfter, input: 7), cells[1], cells[2]], in: nil)
        #expect(unrelated.layers.map(\.key) == ["layers/bidirectional/*/cell", "layers/gru/cell"] && !unrelated.isStack)
    }

    /// Two cells claiming one direction of one layer are no model's layers.
    @Test func aDirectionTwiceIsRefused() {
        do {
            _ = try ModelLayers.arrange([cell("a/fw/gru_cell"), cell("a/forward_gru/gru_cell")], in: nil)
            Issue.record("two forward cells of a/*/gru_cell were accepted")
        } catch {
            #expect(error.reason == "a/forward_gru/gru_cell and another cell are both the forward direction of layer a/*/gru_cell")
        }
    }
}
