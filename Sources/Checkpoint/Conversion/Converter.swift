import CHDF5
import GRUReference
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a conversion wrote.
public struct ConversionSummary: Sendable {
    public var plan: ConversionPlan
    /// Bytes of the finished output file.
    public var bytes: Int
}

/// Carries out a `ConversionPlan`: every other dataset copied whole, every converted tensor moved as raw
/// elements of its stored type (float16, float32 and float64 come out bit-identical) in row blocks of at
/// most a megabyte, group and file attributes kept, all into a temporary file that replaces OUTPUT only
/// when complete. The input is only read.
public struct Converter {
    /// Called before each cell with its index and the number of cells, for a progress line.
    public var progress: (Int, Int, String) -> Void = { _, _, _ in }
    /// Largest row block moved at once, in bytes: small enough to stay in cache between the read and the write.
    var blockBytes = 1 << 20

    public init() {}

    /// Writes `plan` for `input` to `output`; refuses an existing OUTPUT unless `force`, and always refuses
    /// OUTPUT that is INPUT itself.
    public func write(_ plan: ConversionPlan, from input: CheckpointFile, to output: String, force: Bool) throws -> ConversionSummary {
        try SafeOutput.checkTarget(output, input: input.path, force: force)
        let safe = try SafeOutput(for: output)
        defer { safe.discard() }
        do {
            let writer = try CheckpointWriter(creating: safe.temporaryPath, displayName: output)
            try write(plan, from: input, into: writer)
            try writer.finish()
        }
        try safe.commit()
        return ConversionSummary(plan: plan, bytes: SafeOutput.size(of: output))
    }

    private func write(_ plan: ConversionPlan, from input: CheckpointFile, into writer: CheckpointWriter) throws {
        let convertedSources = Set(plan.cells.flatMap { $0.datasets.flatMap(\.sources) })
        // Groups that hold only converted datasets disappear with them (`gates/`, `Gates/Linear/`, ...);
        // groups that hold something else, or nothing at all, are kept.
        let (datasets, groups) = try input.datasetAndGroupNames()
        var holdsKept = Set<String>(), holdsAny = Set<String>()
        for name in datasets {
            let ancestors = VariableName.ancestors(of: name)
            holdsAny.formUnion(ancestors)
            if !convertedSources.contains(name) { holdsKept.formUnion(ancestors) }
        }
        for group in groups where holdsKept.contains(group) || !holdsAny.contains(group) {
            try writer.createGroup(group)
        }
        for name in plan.copied { try writer.copyDataset(name, from: input) }
        for (index, cell) in plan.cells.enumerated() {
            progress(index, plan.cells.count, cell.scope)
            try write(cell, from: input, into: writer)
        }
        // Attributes of every group that exists in the output, and of the file.
        let fusedScopes = Set(plan.cells.filter { $0.to.isFused }.map(\.targetScope))
        for group in [""] + groups where writer.exists(group) {
            try writer.copyAttributes(of: group, from: input, to: group) { name in
                fusedScopes.contains(group) && name == ConversionPlan.layoutAttribute
            }
        }
        for cell in plan.cells where !cell.to.isFused && cell.from.isFused {
            try writer.setStringAttribute(ConversionPlan.layoutAttribute, cell.from.rawValue, on: cell.targetScope)
        }
    }

    private func write(_ cell: PlannedCell, from input: CheckpointFile, into writer: CheckpointWriter) throws {
        let d = cell.dimensions
        for (tensor, dataset) in cell.tensors + cell.slots {
            switch (tensor, cell.from.isFused == cell.to.isFused) {
            case (_, true):
                try writer.copyDataset(dataset.sources[0], from: input, as: dataset.name)
            case (.explicit(let t), false):
                try move(from: dataset.sources[0], shape: t.block(d).source.shape(d), into: writer,
                         pieces: [(dataset.name, t.shape(d), t.block(d))], splitting: true, input: input)
            case (.fused(let f), false):
                let parts = ExplicitTensor.allCases.filter { $0.block(d).source == f }
                try move(from: dataset.name, shape: f.shape(d), into: writer,
                         pieces: zip(parts, dataset.sources).map { ($1, $0.shape(d), $0.block(d)) }, splitting: false,
                         input: input)
            }
            // A split tensor keeps its source's attributes; a fused one takes its first piece's.
            if cell.from.isFused != cell.to.isFused {
                try writer.copyAttributes(of: dataset.sources[0], from: input, to: dataset.name)
            }
        }
    }

    /// Moves raw elements between one fused tensor (`whole`, of `shape`) and its explicit blocks (`pieces`),
    /// a block of whole rows at a time: splitting reads the fused tensor and writes the pieces; fusing reads
    /// the pieces and writes the fused tensor. Memory holds one row block and one piece of it.
    private func move(from whole: String, shape: [Int], into writer: CheckpointWriter,
                      pieces: [(name: String, shape: [Int], block: FusedBlock)], splitting: Bool,
                      input: CheckpointFile) throws {
        let typeSource = try input.openForRawReading(splitting ? whole : pieces[0].name)
        let elementSize = HDF5Library.locked { H5Tget_size(typeSource.type.id) }
        let width = shape.count == 2 ? shape[1] : shape[0]
        let totalRows = shape.count == 2 ? shape[0] : 1
        let rowsPerBlock = max(1, blockBytes / max(1, width * elementSize))
        // The side that is one dataset, and the pieces' datasets (created when writing them).
        let wholeDataset = splitting ? typeSource.dataset : try writer.createDataset(whole, type: typeSource.type, shape: shape)
        var pieceDatasets: [HDF5Handle] = []
        for piece in pieces {
            if splitting {
                pieceDatasets.append(try writer.createDataset(piece.name, type: typeSource.type, shape: piece.shape))
            } else {
                let opened = try input.openForRawReading(piece.name)
                guard HDF5Library.locked({ H5Tequal(opened.type.id, typeSource.type.id) }) > 0 else {
                    throw CheckpointError(file: input.path, object: piece.name,
                                          reason: "has another element type than \(pieces[0].name); the pieces of one tensor must share it")
                }
                pieceDatasets.append(opened.dataset)
            }
        }
        var block = [UInt8](repeating: 0, count: min(rowsPerBlock, totalRows) * width * elementSize)
        var part = [UInt8](repeating: 0, count: block.count)
        for start in stride(from: 0, to: totalRows, by: rowsPerBlock) {
            let rows = start..<min(start + rowsPerBlock, totalRows)
            let wholeRows = shape.count == 2 ? rows : 0..<width
            if splitting {
                try block.withUnsafeMutableBytes {
                    try input.readRows(wholeDataset, name: whole, shape: shape, rows: wholeRows, type: typeSource.type, into: $0.baseAddress!)
                }
            }
            for (piece, dataset) in zip(pieces, pieceDatasets) {
                // Rows of this block that belong to the piece, in the piece's own numbering.
                let pieceRows = piece.block.rows.map { $0.clamped(to: rows) } ?? rows
                guard !pieceRows.isEmpty else { continue }
                let local = piece.block.rows.map { (pieceRows.lowerBound - $0.lowerBound)..<(pieceRows.upperBound - $0.lowerBound) }
                    ?? 0..<piece.shape[0]
                let columns = piece.block.columns
                let rowBytes = columns.count * elementSize
                if splitting {
                    for (n, row) in pieceRows.enumerated() {
                        let from = ((row - rows.lowerBound) * width + columns.lowerBound) * elementSize
                        part.replaceSubrange((n * rowBytes)..<((n + 1) * rowBytes), with: block[from..<(from + rowBytes)])
                    }
                    try part.withUnsafeBytes {
                        try writer.writeRows(dataset, name: piece.name, shape: piece.shape, rows: local, type: typeSource.type,
                                             bytes: $0.baseAddress!)
                    }
                } else {
                    try part.withUnsafeMutableBytes {
                        try input.readRows(dataset, name: piece.name, shape: piece.shape, rows: local, type: typeSource.type,
                                           into: $0.baseAddress!)
                    }
                    for (n, row) in pieceRows.enumerated() {
                        let to = ((row - rows.lowerBound) * width + columns.lowerBound) * elementSize
                        block.replaceSubrange(to..<(to + rowBytes), with: part[(n * rowBytes)..<((n + 1) * rowBytes)])
                    }
                }
            }
            if !splitting {
                try block.withUnsafeBytes {
                    try writer.writeRows(wholeDataset, name: whole, shape: shape, rows: wholeRows, type: typeSource.type,
                                         bytes: $0.baseAddress!)
                }
            }
        }
    }
}
