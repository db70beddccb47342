import GRUCore
import Testing

/// The layout tables: shapes, tiling, the places of the gates, dimensions from the basis.
@Suite struct LayoutTableTests {
    let dims = CellDimensions(inputSize: 5, units: 4)

    @Test func tensorFlowShapesFollowTheLayout() {
        #expect(LayoutTable.tfGRUCell.tensors.map { $0.shape(dims) } == [[9, 8], [8], [9, 4], [4]])
        #expect(LayoutTable.tfGRUCell.tensorNames == ["gates/kernel", "gates/bias", "candidate/kernel", "candidate/bias"])
        #expect(LayoutTable.tfLegacyGRUCell.tensorNames
                == ["Gates/Linear/Matrix", "Gates/Linear/Bias", "Candidate/Linear/Matrix", "Candidate/Linear/Bias"])
    }

    @Test func kerasShapesFollowTheLayout() {
        #expect(LayoutTable.kerasResetAfter.tensors.map { $0.shape(dims) } == [[5, 12], [4, 12], [2, 12]])
        #expect(LayoutTable.kerasResetBefore.tensors.map { $0.shape(dims) } == [[5, 12], [4, 12], [12]])
        #expect(LayoutTable.kerasNoBias.tensors.map { $0.shape(dims) } == [[5, 12], [4, 12]])
        #expect(LayoutTable.kerasNoBias.family == nil)
    }

    @Test func explicitShapesFollowTheLayout() {
        #expect(ExplicitTensor.Wr.shape(dims) == [5, 4])
        #expect(ExplicitTensor.Uh.shape(dims) == [4, 4])
        #expect(ExplicitTensor.bz.shape(dims) == [4])
        #expect(ExplicitTensor.bUh.shape(dims) == [4])
        #expect(LayoutTable.explicitResetAfter.tensorNames.count == 12)
        #expect(LayoutTable.explicitResetBefore.tensorNames.count == 9)
    }

    @Test(arguments: LayoutTable.all.map(\.name))
    func eachBlockHasItsTensorsShape(_ name: String) {
        let table = LayoutTable.named(name)!
        for tensor in ExplicitTensor.allCases {
            guard let place = table.range(of: tensor, dims) else { continue }
            var shape = place.rows.map { $0.count == 1 ? [place.columns.count] : [$0.count, place.columns.count] } ?? [place.columns.count]
            if place.transposed { shape.reverse() }          // the explicit tensor is the block's transpose
            #expect(shape == tensor.shape(dims), "\(name) \(tensor)")
        }
    }

    /// The blocks and added blocks (ONNX reset-before's `Rb`) cover every element of every stored tensor exactly once.
    @Test(arguments: LayoutTable.all.map(\.name))
    func blocksTileTheStoredTensorsExactlyOnce(_ name: String) {
        let table = LayoutTable.named(name)!
        let places = ExplicitTensor.allCases.compactMap { table.range(of: $0, dims) }
            + ExplicitTensor.allCases.compactMap { table.addedRange(of: $0, dims) }
        #expect(coverage(table, places) == .exactlyOnce)
    }

    /// Negative control: without its added blocks, ONNX reset-before's `B` has a gap (`Rb`), which the check sees.
    @Test func onnxResetBeforeWithoutItsAddedBlocksLeavesRbUncovered() {
        let table = LayoutTable.onnxResetBefore
        #expect(coverage(table, ExplicitTensor.allCases.compactMap { table.range(of: $0, dims) }) == .gapsOrOverlaps)
        #expect(table.addedRange(of: .bz, dims) == BlockRange(tensor: "B", rows: nil, columns: (3 * dims.units)..<(4 * dims.units)))
        #expect(table.addedRange(of: .br, dims) == BlockRange(tensor: "B", rows: nil, columns: (4 * dims.units)..<(5 * dims.units)))
    }

    /// ONNX stacks the gates as rows `z, r, h` (PyTorch's are `r, z, n`); reset-after's `Rb` is the recurrent bias.
    @Test func onnxGatesAreTransposedRowBlocksInUpdateResetOrder() {
        let (h, table) = (dims.units, LayoutTable.onnxResetAfter)
        #expect(table.range(of: .Wz, dims) == BlockRange(tensor: "W", rows: 0..<h, columns: 0..<dims.inputSize, transposed: true))
        #expect(table.range(of: .Ur, dims) == BlockRange(tensor: "R", rows: h..<(2 * h), columns: 0..<h, transposed: true))
        #expect(table.range(of: .bUh, dims) == BlockRange(tensor: "B", rows: nil, columns: (5 * h)..<(6 * h)))
        #expect(LayoutTable.onnxResetBefore.range(of: .bUh, dims) == nil)
    }

    /// Splitting ONNX reset-before adds `Rb` to `Wb`: zero leaves every bit (a negative zero in `Wb` stays
    /// negative), a non-zero `Rb` is summed.
    @Test func onnxResetBeforeSplitAddsTheRecurrentBias() throws {
        let d = CellDimensions(inputSize: 1, units: 1)
        let w = Tensor<Float>(shape: [3, 1], scalars: [1, 2, 3]), r = Tensor<Float>(shape: [3, 1], scalars: [4, 5, 6])
        let zeroRb = Tensor<Float>(shape: [6], scalars: [-0.0, 0.5, 0.25, 0, -0.0, 0])
        let kept = try LayoutTable.onnxResetBefore.split(["W": w, "R": r, "B": zeroRb], dimensions: d, family: .resetBefore)
        #expect(kept[.bz].scalars[0].bitPattern == (-0.0 as Float).bitPattern)
        #expect(kept[.br].scalars == [0.5] && kept[.bh].scalars == [0.25])
        let summed = try LayoutTable.onnxResetBefore.split(["W": w, "R": r, "B": Tensor(shape: [6], scalars: [1, 2, 3, 0.5, 0.25, 0.125])],
                                                          dimensions: d, family: .resetBefore)
        #expect(summed[.bz].scalars == [1.5] && summed[.br].scalars == [2.25] && summed[.bh].scalars == [3.125])
        #expect(summed[.Wz].scalars == [1] && summed[.Wr].scalars == [2] && summed[.Uh].scalars == [6])
    }

    /// Negative control: the classic r/z swap (Wr taken from the update columns) overlaps Wz and leaves
    /// the reset columns uncovered, and the check above sees it.
    @Test(arguments: ["tf-gru-cell", "keras-reset-after"])
    func swappedGateBlocksDoNotTile(_ name: String) {
        let table = LayoutTable.named(name)!
        var blocks = ExplicitTensor.allCases.compactMap { table.range(of: $0, dims) }
        blocks[0] = table.range(of: .Wz, dims)!
        #expect(coverage(table, blocks) == .gapsOrOverlaps)
    }

    /// PyTorch stacks the gates as rows `r, z, n` of `[3H, I]` kernels: Wz is the transpose of rows H..<2H;
    /// its biases are `[3H]` vectors in the same order, input and recurrent apart.
    @Test func torchGatesAreTransposedRowBlocks() {
        let t = LayoutTable.torchGRU
        #expect(t.tensors.map { $0.shape(dims) } == [[12, 5], [12, 4], [12], [12]])
        #expect(t.range(of: .Wz, dims) == BlockRange(tensor: "weight_ih", rows: 4..<8, columns: 0..<5, transposed: true))
        #expect(t.range(of: .Uh, dims) == BlockRange(tensor: "weight_hh", rows: 8..<12, columns: 0..<4, transposed: true))
        #expect(t.range(of: .bUr, dims) == BlockRange(tensor: "bias_hh", rows: nil, columns: 0..<4))
        #expect(t.dimensions(fromBasis: [12, 5]) == dims)
        // A split takes Wz[i][j] = weight_ih[H + j][i]; the fuse puts it back.
        let ih = Tensor(shape: [12, 5], scalars: (0..<60).map(Float.init))
        let stored = ["weight_ih": ih, "weight_hh": Tensor(shape: [12, 4], scalars: (0..<48).map(Float.init)),
                      "bias_ih": Tensor(shape: [12], scalars: (0..<12).map(Float.init)), "bias_hh": Tensor(shape: [12], scalars: (0..<12).map(Float.init))]
        let explicit = try! t.split(stored, dimensions: dims, family: .resetAfter)
        #expect(explicit[.Wz].shape == [5, 4])
        #expect(explicit[.Wz].scalars[0 * 4 + 1] == ih.scalars[(4 + 1) * 5 + 0])   // Wz[0][1] = weight_ih[5][0]
        #expect(explicit[.Wz].scalars[2 * 4 + 3] == ih.scalars[(4 + 3) * 5 + 2])   // Wz[2][3] = weight_ih[7][2]
        // Negative control: the untransposed block would give weight_ih[0][5 + ...], another element.
        #expect(explicit[.Wz].scalars[0 * 4 + 1] != ih.scalars[4 * 5 + 1])
        let fused = try! t.fuse(explicit)
        #expect(fused["weight_ih"]! == ih && fused["weight_hh"]! == stored["weight_hh"]! && fused["bias_hh"]! == stored["bias_hh"]!)
    }

    @Test func tensorFlowResetColumnsComeFirst() {
        let t = LayoutTable.tfGRUCell
        #expect(t.range(of: .Wr, dims)!.columns == 0..<4)
        #expect(t.range(of: .Wz, dims)!.columns == 4..<8)
        #expect(t.range(of: .Ur, dims)!.rows == 5..<9)
        #expect(t.range(of: .Wh, dims)!.rows == 0..<5)
        #expect(t.range(of: .bUr, dims) == nil)
    }

    /// Keras: columns z, r, h; bias row 0 input, row 1 recurrent (FRAMEWORK_LAYOUTS.md §2).
    @Test func kerasUpdateColumnsComeFirst() {
        let t = LayoutTable.kerasResetAfter
        #expect(t.range(of: .Wz, dims)!.columns == 0..<4)
        #expect(t.range(of: .Wr, dims)!.columns == 4..<8)
        #expect(t.range(of: .Uh, dims)!.columns == 8..<12)
        #expect(t.range(of: .Uh, dims)!.rows == 0..<4)
        #expect(t.range(of: .bz, dims)! == BlockRange(tensor: "bias", rows: 0..<1, columns: 0..<4))
        #expect(t.range(of: .bUh, dims)! == BlockRange(tensor: "bias", rows: 1..<2, columns: 8..<12))
        #expect(LayoutTable.kerasResetBefore.range(of: .bh, dims)! == BlockRange(tensor: "bias", rows: nil, columns: 8..<12))
        #expect(LayoutTable.kerasNoBias.range(of: .bh, dims) == nil)
    }

    @Test func dimensionsComeFromTheBasis() {
        #expect(LayoutTable.tfGRUCell.dimensions(fromBasis: [9, 4]) == dims)
        #expect(LayoutTable.kerasResetAfter.dimensions(fromBasis: [5, 12]) == dims)
        #expect(LayoutTable.explicitResetBefore.dimensions(fromBasis: [5, 4]) == dims)
        // Negative controls: no input rows, a width that is not 3H, a vector.
        #expect(LayoutTable.tfGRUCell.dimensions(fromBasis: [4, 4]) == nil)
        #expect(LayoutTable.kerasResetAfter.dimensions(fromBasis: [5, 13]) == nil)
        #expect(LayoutTable.kerasResetAfter.dimensions(fromBasis: [12]) == nil)
    }

    @Test func tensorFlowGenerationsAreRenamingsOfEachOther() {
        #expect(LayoutTable.tfGRUCell.isRenaming(of: .tfLegacyGRUCell))
        #expect(LayoutTable.tfGRUBlockCell.isRenaming(of: .tfGRUCell10))
        #expect(!LayoutTable.tfGRUCell.isRenaming(of: .kerasResetBefore))
        #expect(!LayoutTable.kerasResetBefore.isRenaming(of: .kerasResetAfter))
    }

    enum Coverage { case exactlyOnce, gapsOrOverlaps }

    func coverage(_ table: LayoutTable, _ blocks: [BlockRange]) -> Coverage {
        var counts: [String: [Int]] = [:]
        for tensor in table.tensors {
            counts[tensor.name] = Array(repeating: 0, count: tensor.shape(dims).reduce(1, *))
        }
        for block in blocks {
            let columns = table.tensor(named: block.tensor)!.shape(dims).last!
            for row in block.rows ?? 0..<1 {
                for column in block.columns { counts[block.tensor]![row * columns + column] += 1 }
            }
        }
        return counts.values.allSatisfy { $0.allSatisfy { $0 == 1 } } ? .exactlyOnce : .gapsOrOverlaps
    }
}
