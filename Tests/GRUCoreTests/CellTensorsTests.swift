import GRUCore
import Testing

@Suite struct CellTensorsTests {
    let dims = CellDimensions(inputSize: 5, units: 4)

    @Test func fusedShapesFollowTheLayout() {
        #expect(FusedTensor.gateKernel.shape(dims) == [9, 8])
        #expect(FusedTensor.gateBias.shape(dims) == [8])
        #expect(FusedTensor.candidateKernel.shape(dims) == [9, 4])
        #expect(FusedTensor.candidateBias.shape(dims) == [4])
    }

    @Test func explicitShapesFollowTheLayout() {
        #expect(ExplicitTensor.Wr.shape(dims) == [5, 4])
        #expect(ExplicitTensor.Uh.shape(dims) == [4, 4])
        #expect(ExplicitTensor.bz.shape(dims) == [4])
    }

    @Test func eachBlockHasItsTensorsShape() {
        for tensor in ExplicitTensor.allCases {
            let block = tensor.block(dims)
            let shape = block.rows.map { [$0.count, block.columns.count] } ?? [block.columns.count]
            #expect(shape == tensor.shape(dims), "\(tensor)")
        }
    }

    /// The nine blocks cover every element of the four fused tensors exactly once.
    @Test func blocksTileTheFusedTensorsExactlyOnce() {
        #expect(coverage(ExplicitTensor.allCases.map { $0.block(dims) }) == .exactlyOnce)
    }

    /// Negative control: the classic r/z swap (Wr taken from the update columns) overlaps Wz and leaves
    /// the reset columns uncovered, and the check above sees it.
    @Test func swappedGateBlocksDoNotTile() {
        var blocks = ExplicitTensor.allCases.map { $0.block(dims) }
        blocks[0] = ExplicitTensor.Wz.block(dims)
        #expect(coverage(blocks) == .gapsOrOverlaps)
    }

    @Test func resetColumnsComeFirst() {
        #expect(ExplicitTensor.Wr.block(dims).columns == 0..<4)
        #expect(ExplicitTensor.Wz.block(dims).columns == 4..<8)
        #expect(ExplicitTensor.Ur.block(dims).rows == 5..<9)
        #expect(ExplicitTensor.Wh.block(dims).rows == 0..<5)
    }

    enum Coverage { case exactlyOnce, gapsOrOverlaps }

    func coverage(_ blocks: [FusedBlock]) -> Coverage {
        var counts: [FusedTensor: [Int]] = [:]
        for tensor in FusedTensor.allCases {
            counts[tensor] = Array(repeating: 0, count: tensor.shape(dims).reduce(1, *))
        }
        for block in blocks {
            let columns = block.source.shape(dims).last!
            for row in block.rows ?? 0..<1 {
                for column in block.columns { counts[block.source]![row * columns + column] += 1 }
            }
        }
        return counts.values.allSatisfy { $0.allSatisfy { $0 == 1 } } ? .exactlyOnce : .gapsOrOverlaps
    }
}
