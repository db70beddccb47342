@testable import GRUTools
import TensorStore
import GRUCore
import Testing

/// Cell discovery on the TensorFlow-made fixtures, then on hand-built name lists for the edge cases.
@Suite struct CellDiscoveryTests {
    func inventory(_ fixture: String) throws -> CellInventory {
        CellInventory(variables: try HDF5File(readingFrom: Fixtures.path(fixture)).variables())
    }

    struct Expected: Sendable, CustomTestStringConvertible {
        var fixture: String
        var scopes: [String]
        var layout: LayoutTable
        var dimensions: [CellDimensions]
        var testDescription: String { fixture }
    }

    static let spellings: [Expected] = [
        Expected(fixture: "gru_single.h5", scopes: ["rnn/gru_cell"], layout: .tfGRUCell,
                 dimensions: [CellDimensions(inputSize: 5, units: 4)]),
        Expected(fixture: "gru_tf10.h5", scopes: ["rnn/gru_cell"], layout: .tfGRUCell10,
                 dimensions: [CellDimensions(inputSize: 5, units: 4)]),
        Expected(fixture: "gru_legacy.h5", scopes: ["RNN/GRUCell"], layout: .tfLegacyGRUCell,
                 dimensions: [CellDimensions(inputSize: 5, units: 4)]),
        Expected(fixture: "gru_block.h5", scopes: ["rnn/gru_cell"], layout: .tfGRUBlockCell,
                 dimensions: [CellDimensions(inputSize: 5, units: 4)]),
        Expected(fixture: "gru_explicit.h5", scopes: ["rnn/gru_cell"], layout: .explicitResetBefore,
                 dimensions: [CellDimensions(inputSize: 5, units: 4)]),
        Expected(fixture: "gru_adam.h5", scopes: ["rnn/gru_cell"], layout: .tfGRUCell,
                 dimensions: [CellDimensions(inputSize: 5, units: 4)]),
        Expected(fixture: "gru_float64.h5", scopes: ["rnn/gru_cell"], layout: .tfGRUCell,
                 dimensions: [CellDimensions(inputSize: 5, units: 4)]),
        Expected(fixture: "gru_stacked.h5",
                 scopes: ["rnn/multi_rnn_cell/cell_0/gru_cell", "rnn/multi_rnn_cell/cell_1/gru_cell"],
                 layout: .tfGRUCell,
                 dimensions: [CellDimensions(inputSize: 5, units: 4), CellDimensions(inputSize: 4, units: 3)]),
        Expected(fixture: "gru_stacked_legacy.h5",
                 scopes: ["RNN/MultiRNNCell/Cell0/GRUCell", "RNN/MultiRNNCell/Cell1/GRUCell"],
                 layout: .tfLegacyGRUCell,
                 dimensions: [CellDimensions(inputSize: 5, units: 4), CellDimensions(inputSize: 4, units: 3)]),
        Expected(fixture: "gru_bidirectional.h5",
                 scopes: ["bidirectional_rnn/bw/gru_cell", "bidirectional_rnn/fw/gru_cell"],
                 layout: .tfGRUCell,
                 dimensions: [CellDimensions(inputSize: 5, units: 4), CellDimensions(inputSize: 5, units: 4)]),
        Expected(fixture: "gru_bidirectional_legacy.h5",
                 scopes: ["BiRNN/BW/GRUCell", "BiRNN/FW/GRUCell"],
                 layout: .tfLegacyGRUCell,
                 dimensions: [CellDimensions(inputSize: 5, units: 4), CellDimensions(inputSize: 5, units: 4)]),
    ]

    @Test(arguments: spellings)
    func findsEveryCellInEverySpelling(_ expected: Expected) throws {
        let found = try inventory(expected.fixture)
        #expect(found.cells.map(\.scope) == expected.scopes)
        #expect(found.cells.allSatisfy { $0.layout == expected.layout })
        #expect(found.cells.map(\.dimensions) == expected.dimensions)
        #expect(found.problems.isEmpty)
        // Every cell tensor is named in the file under the layout's relative name.
        for cell in found.cells {
            for (tensor, stored) in cell.tensors {
                #expect(expected.layout.tensorNames.contains(tensor))
                #expect(stored.hasPrefix(cell.scope + "/" + tensor), "\(stored)")
            }
        }
    }

    @Test func float64CellReportsItsType() throws {
        #expect(try inventory("gru_float64.h5").cells.first?.elementType == .float(bits: 64))
        #expect(try inventory("gru_single.h5").cells.first?.elementType == .float(bits: 32))
    }

    @Test func slotsWithOutputSuffixBelongToTheirCellAndAreNeverCells() throws {
        let found = try inventory("gru_adam.h5")
        let cell = try #require(found.cells.first)
        #expect(found.cells.count == 1)
        #expect(cell.storedName(of: "gates/kernel") == "rnn/gru_cell/gates/kernel:0")
        #expect(cell.slots == [
            "rnn/gru_cell/candidate/bias/Adam:0", "rnn/gru_cell/candidate/bias/Adam_1:0",
            "rnn/gru_cell/candidate/kernel/Adam:0", "rnn/gru_cell/candidate/kernel/Adam_1:0",
            "rnn/gru_cell/gates/bias/Adam:0", "rnn/gru_cell/gates/bias/Adam_1:0",
            "rnn/gru_cell/gates/kernel/Adam:0", "rnn/gru_cell/gates/kernel/Adam_1:0",
        ])
        #expect(found.otherVariables == [
            "beta1_power:0", "beta2_power:0", "dense/bias/Adam:0", "dense/bias/Adam_1:0", "dense/bias:0",
            "dense/kernel/Adam:0", "dense/kernel/Adam_1:0", "dense/kernel:0", "global_step:0",
        ])
    }

    @Test func problemsAreReportedWithTheirReasonNotGuessed() throws {
        let found = try inventory("gru_problems.h5")
        #expect(found.cells.map(\.scope) == ["ok/rnn/gru_cell"])
        let reasons = Dictionary(uniqueKeysWithValues: found.problems.map { ($0.scope, $0.reason) })
        #expect(reasons["short_bias/rnn/gru_cell"]
                == "gates/bias is [7], expected [8] (input size 5, 4 units, from candidate/kernel [9, 4])")
        #expect(reasons["wide_gates/rnn/gru_cell"]
                == "gates/kernel is [9, 9], expected [9, 8] (input size 5, 4 units, from candidate/kernel [9, 4])")
        #expect(reasons["missing/rnn/gru_cell"] == "incomplete tf-gru-cell cell: missing candidate/bias")
        #expect(reasons["transposed/rnn/gru_cell"]
                == "candidate/kernel has shape [4, 9], which leaves no rows for the input (a kernel is [I+H, H])")
        #expect(reasons["int_kernel/rnn/gru_cell"] == "gates/kernel holds int32 values, not float16, float32 or float64")
        #expect(reasons["mixed/rnn/gru_cell"]?.hasPrefix("mixes the layouts tf-gru-cell") == true)
        #expect(found.problems.count == 6)
        #expect(found.otherVariables == ["embedding"])
        // A problem lists the variables it involves; none of them is reported as an "other" variable.
        #expect(found.problems.first { $0.scope == "missing/rnn/gru_cell" }?.variables.count == 3)
    }

    // MARK: - Hand-built name lists, for cases TensorFlow cannot be made to write

    func variable(_ name: String, _ shape: [Int], _ type: ElementType = .float(bits: 32)) -> Variable {
        Variable(name: name, elementType: type, shape: shape)
    }

    func fused(_ scope: String, i: Int = 3, h: Int = 2, suffix: String = "", names: LayoutTable = .tfGRUCell) -> [Variable] {
        let d = CellDimensions(inputSize: i, units: h)
        return names.tensors.map { variable((scope.isEmpty ? "" : scope + "/") + $0.name + suffix, $0.shape(d)) }
    }

    @Test func aCellAtTheRootHasAnEmptyScope() {
        let found = CellInventory(variables: fused(""))
        #expect(found.cells.map(\.scope) == [""])
    }

    @Test func anyUserScopeMayStandInFront() {
        let found = CellInventory(variables: fused("encoder/layer 1/rnn/gru_cell", suffix: ":0"))
        #expect(found.cells.map(\.scope) == ["encoder/layer 1/rnn/gru_cell"])
        #expect(found.cells.first?.dimensions == CellDimensions(inputSize: 3, units: 2))
    }

    /// Negative control: scope names are case-sensitive, so `Gates/kernel` is no cell tensor.
    @Test func spellingIsCaseSensitive() {
        let variables = fused("rnn/gru_cell").map { v in
            var v = v
            v.name = v.name.replacingOccurrences(of: "gates/", with: "Gates/")
            return v
        }
        let found = CellInventory(variables: variables)
        #expect(found.cells.isEmpty)
        #expect(found.problems.map(\.reason) == ["incomplete tf-gru-cell cell: missing gates/kernel, gates/bias"])
        #expect(found.otherVariables == ["rnn/gru_cell/Gates/kernel", "rnn/gru_cell/Gates/bias"])
    }

    @Test func slotsAloneNeverFormACell() {
        let slots = fused("rnn/gru_cell", suffix: "/Adam:0") + fused("rnn/gru_cell", suffix: "/Momentum")
        let found = CellInventory(variables: slots)
        #expect(found.cells.isEmpty)
        #expect(found.problems.isEmpty)
        #expect(found.otherVariables.count == 8)
    }

    @Test func slotsOfEveryOptimizerAttachToTheirVariable() {
        let optimizers = ["Adam", "Adam_1", "Momentum", "RMSProp", "RMSProp_1", "Adagrad", "ExponentialMovingAverage"]
        let variables = fused("rnn/gru_cell", suffix: ":0")
            + optimizers.flatMap { fused("rnn/gru_cell", suffix: "/\($0):0") }
        let found = CellInventory(variables: variables)
        #expect(found.cells.count == 1)
        #expect(found.cells.first?.slots.count == 4 * optimizers.count)
        #expect(found.otherVariables.isEmpty)
    }

    @Test func aSlotShapedUnlikeItsVariableIsAProblem() {
        var variables = fused("rnn/gru_cell", suffix: ":0")
        variables.append(variable("rnn/gru_cell/gates/kernel/Adam:0", [5, 3]))
        let found = CellInventory(variables: variables)
        #expect(found.cells.isEmpty)
        #expect(found.problems.first?.reason
                == "slot rnn/gru_cell/gates/kernel/Adam:0 is [5, 3], but its variable gates/kernel is [5, 4]")
    }

    @Test func twoVariablesForOneTensorIsAProblem() {
        let variables = fused("rnn/gru_cell") + [variable("rnn/gru_cell/gates/kernel:0", [5, 4])]
        let found = CellInventory(variables: variables)
        #expect(found.cells.isEmpty)
        #expect(found.problems.first?.reason
                == "has two variables for gates/kernel: rnn/gru_cell/gates/kernel and rnn/gru_cell/gates/kernel:0")
    }

    @Test func mixedFloatTypesAreAProblem() {
        var variables = fused("rnn/gru_cell")
        variables[1].elementType = .float(bits: 64)
        let found = CellInventory(variables: variables)
        #expect(found.cells.isEmpty)
        #expect(found.problems.first?.reason.hasPrefix("mixes element types:") == true)
    }

    @Test func float16CellsAreCells() {
        let variables = fused("rnn/gru_cell").map { v in
            var v = v
            v.elementType = .float(bits: 16)
            return v
        }
        #expect(CellInventory(variables: variables).cells.first?.elementType == .float(bits: 16))
    }

    @Test func explicitCellShapesMustAgree() {
        let d = CellDimensions(inputSize: 3, units: 2)
        var variables = LayoutTable.explicitResetBefore.tensors.map { variable("dec/" + $0.name, $0.shape(d)) }
        #expect(CellInventory(variables: variables).cells.first?.dimensions == d)
        // Negative control: Uh transposed into [I, H]... is caught as a shape disagreement.
        let uh = variables.firstIndex { $0.name == "dec/Uh" }!
        variables[uh].shape = [3, 2]
        let found = CellInventory(variables: variables)
        #expect(found.cells.isEmpty)
        #expect(found.problems.first?.reason == "Uh is [3, 2], expected [2, 2] (input size 3, 2 units, from Wh [3, 2])")
    }

    @Test func aScalarWhereTheKernelShouldBeIsAProblem() {
        var variables = fused("rnn/gru_cell")
        let kc = variables.firstIndex { $0.name.hasSuffix("candidate/kernel") }!
        variables[kc].shape = []
        #expect(CellInventory(variables: variables).problems.first?.reason
                == "candidate/kernel has shape [], expected a matrix")
    }

    @Test func zeroExtentsAndHighRanksAreProblems() {
        var zero = fused("rnn/gru_cell", i: 3, h: 0)
        #expect(CellInventory(variables: zero).problems.first?.reason
                == "candidate/kernel has shape [3, 0], which leaves no rows for the input (a kernel is [I+H, H])")
        zero = fused("rnn/gru_cell")
        zero[0].shape = [5, 4, 1]   // gates/kernel of rank 3
        #expect(CellInventory(variables: zero).problems.first?.reason
                == "gates/kernel is [5, 4, 1], expected [5, 4] (input size 3, 2 units, from candidate/kernel [5, 2])")
        let huge = [variable("x/gates/kernel", [Int.max, 4]), variable("x/gates/bias", [4]),
                    variable("x/candidate/kernel", [Int.max, 2]), variable("x/candidate/bias", [2])]
        #expect(huge[0].elementCount == Int.max)   // saturates rather than overflowing
        #expect(CellInventory(variables: huge).problems.first?.reason
                == "candidate/kernel has shape [\(Int.max), 2], too large to be a cell")
        let wide = [variable("x/gates/kernel", [4, Int.max]), variable("x/gates/bias", [4]),
                    variable("x/candidate/kernel", [Int.max, Int.max / 2 + 1]), variable("x/candidate/bias", [2])]
        #expect(CellInventory(variables: wide).cells.isEmpty)   // 2H would overflow: refused, no trap
    }

    @Test func unrelatedVariablesAreListedAsOther() {
        let variables = [variable("embedding/weights", [10, 3]), variable("dense/kernel", [2, 2]),
                         variable("global_step", [], .integer(bits: 64, signed: true))] + fused("rnn/gru_cell")
        let found = CellInventory(variables: variables)
        #expect(found.cells.count == 1)
        #expect(found.otherVariables == ["embedding/weights", "dense/kernel", "global_step"])
    }

    /// PyTorch state dict keys: the tensor's name is the last `.` part, followed by the layer and direction
    /// of an `nn.GRU` (`_l0`, `_l1_reverse`) or by nothing (an `nn.GRUCell`); the scope is the module path
    /// and the layer, and the key can be made again from it.
    @Test func torchKeysNameTheirCells() {
        let cases: [(String, (scope: String, relative: String)?)] = [
            ("weight_ih_l0", ("l0", "weight_ih")), ("rnn.weight_hh_l12_reverse", ("rnn.l12_reverse", "weight_hh")),
            ("encoder.rnn.bias_ih_l1", ("encoder.rnn.l1", "bias_ih")), ("cell.bias_hh", ("cell", "bias_hh")), ("weight_ih", ("", "weight_ih")),
            // Not PyTorch GRU keys: another suffix, no `.` before the name, no layer number, an LSTM's name.
            ("rnn.weight_ih_l0_backward", nil), ("rnnweight_ih_l0", nil), ("rnn.weight_ih_lx", nil), ("rnn.weight_ih_l", nil),
            ("rnn.weight_hr_l0", nil),
        ]
        for (key, expected) in cases {
            let parsed = CellInventory.torchKey(key)
            #expect(parsed?.scope == expected?.scope && parsed?.relative == expected?.relative, "\(key)")
            if let expected { #expect(CellInventory.torchKey(expected.relative, scope: expected.scope) == key) }
        }
    }

    /// PyTorch's other recurrent layers are not GRUs, with or without a GRU beside them: an LSTM's
    /// `[4H, ·]` and an RNN's `[H, ·]` kernels are other variables, not broken cells. A GRU without biases
    /// (`bias=False`) is a cell of its own layout, reset-after.
    @Test func torchLSTMsAndRNNsAreNotCellsAndBiasFreeGRUsAre() {
        func tensors(_ prefix: String, rows: Int, input: Int, hidden: Int, bias: Bool = true) -> [Variable] {
            [Variable(name: prefix + "weight_ih_l0", elementType: .float(bits: 32), shape: [rows, input]),
             Variable(name: prefix + "weight_hh_l0", elementType: .float(bits: 32), shape: [rows, hidden])]
                + (bias ? ["bias_ih_l0", "bias_hh_l0"].map { Variable(name: prefix + $0, elementType: .float(bits: 32), shape: [rows]) } : [])
        }
        let inventory = CellInventory(variables: tensors("gru.", rows: 12, input: 3, hidden: 4) + tensors("lstm.", rows: 16, input: 3, hidden: 4)
                                      + tensors("lstm2.", rows: 12, input: 4, hidden: 3) + tensors("rnn.", rows: 4, input: 3, hidden: 4)
                                      + tensors("plain.", rows: 12, input: 3, hidden: 4, bias: false))
        #expect(inventory.cells.map { "\($0.scope) \($0.layout.name)" } == ["gru.l0 torch-gru", "plain.l0 torch-gru-no-bias"])
        #expect(inventory.problems.isEmpty, "\(inventory.problems)")
        #expect(inventory.otherVariables.count == 12)
        #expect(inventory.cells[1].family == .resetAfter)
    }
}
