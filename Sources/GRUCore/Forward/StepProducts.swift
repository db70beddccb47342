import CGRUKernels

// The products of one step in the shape a fused layout stores them: each matrix packed straight from
// the stored tensor's rows and columns (as the layout table places the gates), with where each gate's
// columns land in the product's output. The fused cells of both families run on these; the explicit
// cells multiply each gate's own matrix instead, so running both is a real check of the split.

extension PackedMatrix {
    /// Packs `rows` and `columns` of a row-major matrix tensor (`gk_pack` with the tensor's row stride).
    convenience init(_ tensor: Tensor<Float>, rows: Range<Int>, columns: Range<Int>) {
        let width = tensor.shape.last!
        self.init(depth: rows.count, columns: columns.count)
        tensor.scalars.withUnsafeBufferPointer { w in
            gk_pack(rows.count, columns.count, w.baseAddress! + rows.lowerBound * width + columns.lowerBound, width, storage)
        }
    }
}

/// The matrices, biases and column places of one fused layout's products, read from its table.
struct FusedBlocks {
    let table: LayoutTable
    let tensors: [String: Tensor<Float>]
    let dimensions: CellDimensions

    /// The one rectangle of one stored tensor that holds `members`' blocks side by side (same rows,
    /// adjacent columns; for transposed blocks, same columns, adjacent rows), and each member's first
    /// column (row) in it.
    func rectangle(_ members: [ExplicitTensor])
        -> (tensor: String, rows: Range<Int>?, columns: Range<Int>, offsets: [ExplicitTensor: Int], transposed: Bool)? {
        let ranges = members.compactMap { table.range(of: $0, dimensions) }
        guard ranges.count == members.count, let first = ranges.first,
              ranges.allSatisfy({ $0.tensor == first.tensor && $0.transposed == first.transposed }) else { return nil }
        if first.transposed {
            guard ranges.allSatisfy({ $0.columns == first.columns }) else { return nil }
            let lower = ranges.map { $0.rows!.lowerBound }.min()!, upper = ranges.map { $0.rows!.upperBound }.max()!
            guard upper - lower == ranges.reduce(0, { $0 + $1.rows!.count }) else { return nil }
            return (first.tensor, lower..<upper, first.columns,
                    Dictionary(uniqueKeysWithValues: zip(members, ranges.map { $0.rows!.lowerBound - lower })), true)
        }
        guard ranges.allSatisfy({ $0.rows == first.rows }) else { return nil }
        let lower = ranges.map(\.columns.lowerBound).min()!, upper = ranges.map(\.columns.upperBound).max()!
        guard upper - lower == ranges.reduce(0, { $0 + $1.columns.count }) else { return nil }
        return (first.tensor, first.rows, lower..<upper,
                Dictionary(uniqueKeysWithValues: zip(members, ranges.map { $0.columns.lowerBound - lower })), false)
    }

    /// `members`' kernels packed as one matrix (the product's columns are the gates' outputs), and each
    /// member's column offset in it. A transposed rectangle is transposed into place first.
    func matrix(_ members: [ExplicitTensor]) -> (PackedMatrix, [ExplicitTensor: Int]) {
        guard let place = rectangle(members), let rows = place.rows else {
            preconditionFailure("\(table.name): \(members) do not form one rectangle of one tensor")
        }
        guard place.transposed else {
            return (PackedMatrix(tensors[place.tensor]!, rows: rows, columns: place.columns), place.offsets)
        }
        let stored = tensors[place.tensor]!, width = stored.shape.last!
        var scalars: [Float] = []
        scalars.reserveCapacity(place.columns.count * rows.count)
        for column in place.columns {
            for row in rows { scalars.append(stored.scalars[row * width + column]) }
        }
        let transposed = Tensor(shape: [place.columns.count, rows.count], scalars: scalars)
        return (PackedMatrix(transposed, rows: 0..<place.columns.count, columns: 0..<rows.count), place.offsets)
    }

    /// `members`' biases side by side, in the column order `offsets` gives; zeros where the layout has none.
    func bias(_ members: [ExplicitTensor], offsets: [ExplicitTensor: Int]) -> [Float] {
        let h = dimensions.units
        var result = [Float](repeating: 0, count: members.count * h)
        guard let place = rectangle(members) else { return result }
        let source = tensors[place.tensor]!
        let start = (place.rows?.lowerBound ?? 0) * source.shape.last! + place.columns.lowerBound
        for member in members {
            let at = offsets[member]!, from = place.offsets[member]!
            result.replaceSubrange(at..<(at + h), with: source.scalars[(start + from)..<(start + from + h)])
        }
        return result
    }
}

/// The four products of a reset-before step, packed: the gates' input and state rows (`r` and `z`
/// side by side, each at its own column offset), the candidate's input and state rows, and the biases.
struct ResetBeforeProducts {
    let gateInput: PackedMatrix, gateState: PackedMatrix
    let candidateInput: PackedMatrix, candidateState: PackedMatrix
    let gateBias: [Float], candidateBias: [Float]
    /// Where `r` and `z` start in the `[2H]` gate output.
    let resetColumn: Int, updateColumn: Int

    init(gateInput: PackedMatrix, gateState: PackedMatrix, candidateInput: PackedMatrix, candidateState: PackedMatrix,
         gateBias: [Float], candidateBias: [Float], resetColumn: Int, updateColumn: Int) {
        (self.gateInput, self.gateState, self.candidateInput, self.candidateState) = (gateInput, gateState, candidateInput, candidateState)
        (self.gateBias, self.candidateBias) = (gateBias, candidateBias)
        (self.resetColumn, self.updateColumn) = (resetColumn, updateColumn)
    }

    /// From a fused reset-before layout's stored tensors, as its table places them.
    init(_ blocks: FusedBlocks) {
        let (gateInput, offsets) = blocks.matrix([.Wr, .Wz])
        let (gateState, stateOffsets) = blocks.matrix([.Ur, .Uz])
        precondition(offsets[.Wr] == stateOffsets[.Ur] && offsets[.Wz] == stateOffsets[.Uz],
                     "\(blocks.table.name): the gates' input and state columns differ")
        self.init(gateInput: gateInput, gateState: gateState,
                  candidateInput: blocks.matrix([.Wh]).0, candidateState: blocks.matrix([.Uh]).0,
                  gateBias: blocks.bias([.br, .bz], offsets: [.br: offsets[.Wr]!, .bz: offsets[.Wz]!]),
                  candidateBias: blocks.bias([.bh], offsets: [.bh: 0]),
                  resetColumn: offsets[.Wr]!, updateColumn: offsets[.Wz]!)
    }
}

/// The two products of a reset-after step, packed: every gate's input kernel side by side, every
/// gate's recurrent kernel side by side, the input and recurrent biases, and where each gate's columns
/// start in the `[3H]` outputs.
struct ResetAfterProducts {
    let input: PackedMatrix, recurrent: PackedMatrix
    let inputBias: [Float], recurrentBias: [Float]
    let columns: GateColumns

    init(input: PackedMatrix, recurrent: PackedMatrix, inputBias: [Float], recurrentBias: [Float], columns: GateColumns) {
        (self.input, self.recurrent, self.inputBias, self.recurrentBias, self.columns) = (input, recurrent, inputBias, recurrentBias, columns)
    }

    /// From a fused reset-after layout's stored tensors, as its table places them.
    init(_ blocks: FusedBlocks) {
        let (input, offsets) = blocks.matrix([.Wr, .Wz, .Wh])
        let (recurrent, recurrentOffsets) = blocks.matrix([.Ur, .Uz, .Uh])
        precondition(Gate.allCases.allSatisfy { offsets[ExplicitTensor(.inputKernel, $0)] == recurrentOffsets[ExplicitTensor(.recurrentKernel, $0)] },
                     "\(blocks.table.name): the input and recurrent columns differ")
        let columns = GateColumns(reset: offsets[.Wr]!, update: offsets[.Wz]!, candidate: offsets[.Wh]!)
        self.init(input: input, recurrent: recurrent,
                  inputBias: blocks.bias([.br, .bz, .bh], offsets: [.br: columns.reset, .bz: columns.update, .bh: columns.candidate]),
                  recurrentBias: blocks.bias([.bUr, .bUz, .bUh],
                                             offsets: [.bUr: columns.reset, .bUz: columns.update, .bUh: columns.candidate]),
                  columns: columns)
    }
}

/// Where each gate's `H` columns start in a `[3H]` product output.
struct GateColumns: Equatable {
    var reset: Int, update: Int, candidate: Int
}

/// The element-wise end of a reset-after step for `rows` rows, from the input projections `xa [rows, 3H]`
/// and recurrent projections `hu [rows, 3H]` (biases included): `r = σ(xa_r + hu_r)`, `z = σ(xa_z + hu_z)`,
/// `c = tanh(xa_h + r∘hu_h)`, `h' = z∘h + (1 − z)∘c`. Each value is one fixed chain of roundings, so both
/// forms give the same bits when their projections do.
func finishResetAfter(rows: Int, units h: Int, xa: UnsafePointer<Float>, ldxa: Int, hu: UnsafePointer<Float>, ldhu: Int,
                      columns: GateColumns, scratch: StepScratch, state: UnsafePointer<Float>, ldh: Int,
                      out: UnsafeMutablePointer<Float>, ldo: Int) {
    let g = scratch.gates, c = scratch.candidate
    for b in 0..<rows {
        let x = xa + b * ldxa, u = hu + b * ldhu, gr = g + b * 2 * h, cr = c + b * h
        for j in 0..<h {
            gr[j] = x[columns.reset + j] + u[columns.reset + j]
            gr[h + j] = x[columns.update + j] + u[columns.update + j]
        }
        gk_sigmoid(gr, 2 * h)
        for j in 0..<h { cr[j] = x[columns.candidate + j] + gr[j] * u[columns.candidate + j] }
        gk_tanh(cr, h)
    }
    combine(rows: rows, columns: 0..<h, z: g + h, ldz: 2 * h, h: state, ldh: ldh, c: c, ldc: h, out: out, ldo: ldo)
}
