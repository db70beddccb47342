import GRUCore
import TensorStore

/// Carries out a `ConversionPlan`: every other dataset copied whole, every converted tensor moved as raw
/// elements of its stored type (float16, float32 and float64 come out bit-identical) in row blocks of at
/// most a megabyte, group and file attributes kept, all into a temporary file that replaces OUTPUT only
/// when complete. The input is only read.
public struct Converter {
    /// Called before each cell with its index and the number of cells, for a progress line.
    public var progress: (Int, Int, String) -> Void = { _, _, _ in }
    /// The input's files as they were when it was opened (`FileIdentity.snapshot(of:)`); nil: as they are
    /// when `write` begins.
    public var inputIdentity: [String: FileIdentity?]? = nil
    /// Largest row block moved at once, in bytes: small enough to stay in cache between the read and the write.
    var blockBytes = 1 << 20

    /// A converter with the default block size and no progress reporting.
    public init() {}

    /// Writes `plan` for `input` into `sink` and publishes it (`finish()`) if the input's files are still
    /// what they were when it began (`FileIdentity`); on failure the sink is discarded.
    public func write(_ plan: ConversionPlan, from input: any TensorSource, to sink: any TensorSink) throws {
        // The input must be the same files at the end: one changed meanwhile was read as it was changing.
        let before = inputIdentity ?? FileIdentity.snapshot(of: input)
        do {
            try write(plan, from: input, into: sink)
            try FileIdentity.checkUnchanged(before)
            try sink.finish()
        } catch {
            sink.discard()
            // A read that failed because the input changed under it is the change's fault, not damage.
            try FileIdentity.checkUnchanged(before)
            throw error
        }
    }

    private func write(_ plan: ConversionPlan, from input: any TensorSource, into writer: any TensorSink) throws {
        // Committed datatypes first, so that the datasets and attributes copied next share them.
        let (types, links) = (plan.carried.filter { $0.kind == .namedType }, plan.carried.filter { $0.kind != .namedType })
        try writer.carry(types, from: input, outputName: plan.outputObject)
        for group in plan.containers { try writer.createContainer(group) }
        for name in plan.copied { try writer.copy(name, from: input, as: plan.outputName(ofCopied: name)) }
        for (index, cell) in plan.cells.enumerated() {
            progress(index, plan.cells.count, cell.scope)
            if plan.framework != nil || !cell.from.addedBlocks.isEmpty {
                try relayout(cell, from: input, into: writer)
            } else {
                try write(cell, from: input, into: writer)
            }
        }
        if plan.framework != nil {
            // A framework's file: its own attributes, none of the input's (`ConversionPlan.planFramework` names those).
            if plan.keepsFileAttributes { try writer.copyAttributes(of: "", from: input, to: "", skip: { _ in false }) }
            for (object, name, value) in plan.frame.attributes { try writer.setStringAttribute(name, value, on: object) }
            for (object, name, values) in plan.frame.listAttributes { try writer.setStringListAttribute(name, values, on: object) }
            return
        }
        // Attributes of every group that exists in the output, and of the file.
        let fusedScopes = Set(plan.cells.filter { !$0.to.isExplicit }.map(\.targetScope))
        for group in [""] + plan.containers where writer.exists(group) {
            try writer.copyAttributes(of: group, from: input, to: group) { name in
                fusedScopes.contains(group) && name == ConversionPlan.layoutAttribute
            }
        }
        for cell in plan.cells where cell.to.isExplicit && !cell.from.isExplicit {
            try writer.setStringAttribute(ConversionPlan.layoutAttribute, cell.recordedLayout.name, on: cell.targetScope)
        }
        // Second names, links and references, once everything they name is written.
        try writer.carry(links, from: input, outputName: plan.outputObject)
    }

    private func write(_ cell: PlannedCell, from input: any TensorSource, into writer: any TensorSink) throws {
        let (d, from, to) = (cell.dimensions, cell.from, cell.to)
        let pairs = cell.tensors + cell.slots
        if to.isExplicit && !from.isExplicit {
            // Each stored tensor is read once, in row blocks, for all the pieces cut from it.
            var sources: [String] = [], cuts: [String: (shape: [Int], pieces: [(name: String, shape: [Int], block: BlockRange)])] = [:]
            for (tensor, dataset) in pairs {
                let piece = ExplicitTensor(rawValue: tensor)!
                let place = from.range(of: piece, d)!
                let source = dataset.sources[0]
                if cuts[source] == nil {
                    sources.append(source)
                    cuts[source] = (from.tensor(named: place.tensor)!.shape(d), [])
                }
                cuts[source]!.pieces.append((dataset.name, piece.shape(d), place))
            }
            for source in sources {
                try move(from: source, shape: cuts[source]!.shape, into: writer, pieces: cuts[source]!.pieces, splitting: true, input: input)
            }
            // A split tensor keeps its source's attributes.
            for (_, dataset) in pairs {
                try writer.copyAttributes(of: dataset.sources[0], from: input, to: dataset.name, skip: { _ in false })
            }
            return
        }
        for (tensor, dataset) in pairs {
            if from.isExplicit == to.isExplicit {
                try writer.copy(dataset.sources[0], from: input, as: dataset.name)
                continue
            }
            let parts = to.pieces(of: tensor)
            try move(from: dataset.name, shape: to.tensor(named: tensor)!.shape(d), into: writer,
                     pieces: zip(parts, dataset.sources).map { ($1, $0.shape(d), to.range(of: $0, d)!) }, splitting: false,
                     input: input)
            // A fused tensor takes its first piece's attributes.
            try writer.copyAttributes(of: dataset.sources[0], from: input, to: dataset.name, skip: { _ in false })
        }
    }

    /// Writes a cell in another fused layout (another framework's) or splits one whose layout adds blocks
    /// (ONNX's reset-before `Rb`): every tensor of the cell read whole (within the memory budget), split
    /// to the explicit form and fused into the target layout, elements carried by value in their stored
    /// type, so bits are unchanged but where an added block is not zero (then one float addition each).
    private func relayout(_ cell: PlannedCell, from input: any TensorSource, into writer: any TensorSink) throws {
        let variables = Dictionary(try input.variables().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let storedNames = cell.datasets.flatMap(\.sources)
        guard let first = storedNames.first, let elementType = variables[first]?.elementType else { return }
        switch elementType {
        case .float(bits: 16): try relayout(cell, as: Float16.self, elementType: elementType, from: input, into: writer)
        case .float(bits: 32): try relayout(cell, as: Float.self, elementType: elementType, from: input, into: writer)
        case .float(bits: 64): try relayout(cell, as: Double.self, elementType: elementType, from: input, into: writer)
        default: throw StoreError(.unsupportedType, file: input.path, object: first, reason: "is not a float tensor")
        }
    }

    private func relayout<Scalar: RawFloat>(_ cell: PlannedCell, as: Scalar.Type, elementType: ElementType,
                                           from input: any TensorSource, into writer: any TensorSink) throws {
        let (from, to, d) = (cell.from, cell.to, cell.dimensions)
        if let slot = cell.slots.first {
            throw StoreError(.unsupportedType, file: input.path, object: slot.dataset.sources[0],
                             reason: "is an optimizer slot of a \(from.name) cell, whose slots gru-convert does not convert")
        }
        var stored: [String: Tensor<Scalar>] = [:]
        for tensor in from.tensors {
            guard let name = cell.sourceNames[tensor.name] else { continue }
            let values = try input.readAll(name)
            guard case .bytes(let bytes) = values.storage, values.elementType == elementType else {
                throw StoreError(.unsupportedType, file: input.path, object: name, reason: "has another element type than the cell's other tensors")
            }
            stored[tensor.name] = Tensor(shape: values.shape, scalars: Scalar.fromLittleEndian(bytes))
        }
        let explicit: ExplicitWeights<Scalar>
        let fused: [String: Tensor<Scalar>]
        do {
            explicit = try from.split(stored, dimensions: d, family: cell.family ?? from.family ?? .resetAfter)
            fused = try to.fuse(explicit)
        } catch {
            throw StoreError(.damaged, file: input.path, object: cell.scope.isEmpty ? "/" : cell.scope, reason: "not a consistent GRU cell: \(error)")
        }
        for (tensor, dataset) in cell.tensors {
            let values = fused[tensor]!
            try writer.create(dataset.name, elementType: elementType, shape: values.shape)
            let rows = values.shape.count == 2 ? values.shape[0] : 1
            try Scalar.littleEndianBytes(values.scalars).withUnsafeBytes { try writer.writeRawRows(dataset.name, rows: 0..<rows, from: $0) }
        }
    }

    /// Moves raw elements between one fused tensor (`whole`, of `shape`) and its explicit blocks (`pieces`),
    /// a block of whole rows at a time: splitting reads the fused tensor and writes the pieces; fusing reads
    /// the pieces and writes the fused tensor. Memory holds one row block and one piece of it.
    private func move(from whole: String, shape: [Int], into writer: any TensorSink,
                      pieces: [(name: String, shape: [Int], block: BlockRange)], splitting: Bool,
                      input: any TensorSource) throws {
        let variables = Dictionary(try input.variables().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let typeSource = splitting ? whole : pieces[0].name
        guard let elementType = variables[typeSource]?.elementType, let elementSize = elementType.byteWidth else {
            throw StoreError(.unsupportedType, file: input.path, object: typeSource, reason: "is not a float tensor")
        }
        if pieces.contains(where: \.block.transposed) {
            return try moveTransposed(whole, shape: shape, elementType: elementType, into: writer, pieces: pieces,
                                      splitting: splitting, input: input)
        }
        let width = shape.count == 2 ? shape[1] : shape[0]
        let totalRows = shape.count == 2 ? shape[0] : 1
        let rowsPerBlock = max(1, blockBytes / max(1, width * elementSize))
        if splitting {
            for piece in pieces { try writer.create(piece.name, elementType: elementType, shape: piece.shape) }
        } else {
            for piece in pieces where variables[piece.name]?.elementType != elementType {
                throw StoreError(.unsupportedType, file: input.path, object: piece.name,
                                 reason: "has another element type than \(pieces[0].name); the pieces of one tensor must share it")
            }
            try writer.create(whole, elementType: elementType, shape: shape)
        }
        var block = [UInt8](repeating: 0, count: min(rowsPerBlock, totalRows) * width * elementSize)
        var part = [UInt8](repeating: 0, count: block.count)
        for start in stride(from: 0, to: totalRows, by: rowsPerBlock) {
            let rows = start..<min(start + rowsPerBlock, totalRows)
            // A rank-1 tensor is one row of `width` elements.
            let wholeRows = shape.count == 2 ? rows : 0..<1
            if splitting {
                try block.withUnsafeMutableBytes { try input.readRawRows(whole, rows: wholeRows, into: $0) }
            }
            for piece in pieces {
                // Rows of this block that belong to the piece, in the piece's own numbering.
                let pieceRows = piece.block.rows.map { $0.clamped(to: rows) } ?? rows
                guard !pieceRows.isEmpty else { continue }
                let local = piece.block.rows.map { (pieceRows.lowerBound - $0.lowerBound)..<(pieceRows.upperBound - $0.lowerBound) }
                    ?? 0..<1
                let columns = piece.block.columns
                let rowBytes = columns.count * elementSize
                if splitting {
                    block.withUnsafeBytes { block in
                        part.withUnsafeMutableBytes { part in
                            for (n, row) in pieceRows.enumerated() {
                                let from = ((row - rows.lowerBound) * width + columns.lowerBound) * elementSize
                                part.baseAddress!.advanced(by: n * rowBytes).copyMemory(from: block.baseAddress!.advanced(by: from), byteCount: rowBytes)
                            }
                        }
                    }
                    try part.withUnsafeBytes { try writer.writeRawRows(piece.name, rows: local, from: UnsafeRawBufferPointer(rebasing: $0[..<(pieceRows.count * rowBytes)])) }
                } else {
                    try part.withUnsafeMutableBytes { try input.readRawRows(piece.name, rows: local, into: $0) }
                    part.withUnsafeBytes { part in
                        block.withUnsafeMutableBytes { block in
                            for (n, row) in pieceRows.enumerated() {
                                let to = ((row - rows.lowerBound) * width + columns.lowerBound) * elementSize
                                block.baseAddress!.advanced(by: to).copyMemory(from: part.baseAddress!.advanced(by: n * rowBytes), byteCount: rowBytes)
                            }
                        }
                    }
                }
            }
            if !splitting {
                try block.withUnsafeBytes { try writer.writeRawRows(whole, rows: wholeRows, from: $0) }
            }
        }
    }

    /// `move` for a tensor whose pieces are transposed blocks (PyTorch's `[3H, I]` kernels): a piece's rows
    /// are the whole tensor's columns, so rows cannot stream; the whole tensor is held once (within the
    /// input's memory budget) and each piece transposed out of it or into it, element by element, bytes
    /// unchanged.
    private func moveTransposed(_ whole: String, shape: [Int], elementType: ElementType, into writer: any TensorSink,
                                pieces: [(name: String, shape: [Int], block: BlockRange)], splitting: Bool,
                                input: any TensorSource) throws {
        let size = elementType.byteWidth!
        let width = shape[1], rows = shape[0]
        try input.memoryBudget.check(elements: rows * width * 2, of: size, file: input.path, object: splitting ? whole : pieces[0].name,
                                     what: "transposing its \(format(shape)) \(elementType) values")
        var wholeBytes = [UInt8](repeating: 0, count: rows * width * size)
        if splitting {
            try wholeBytes.withUnsafeMutableBytes { try input.readRawRows(whole, rows: 0..<rows, into: $0) }
        } else {
            try writer.create(whole, elementType: elementType, shape: shape)
        }
        for piece in pieces {
            let block = piece.block
            // The piece's shape is the block's transposed ([columns, rows]) or, for a vector, its elements.
            let pieceRows = piece.shape.count == 2 ? piece.shape[0] : 1
            var pieceBytes = [UInt8](repeating: 0, count: piece.shape.reduce(1, *) * size)
            if splitting { try writer.create(piece.name, elementType: elementType, shape: piece.shape) }
            else { try pieceBytes.withUnsafeMutableBytes { try input.readRawRows(piece.name, rows: 0..<pieceRows, into: $0) } }
            wholeBytes.withUnsafeMutableBytes { wholeBuffer in
                pieceBytes.withUnsafeMutableBytes { pieceBuffer in
                    if block.transposed, let blockRows = block.rows {
                        for (i, column) in block.columns.enumerated() {
                            for (j, row) in blockRows.enumerated() {
                                let w = (row * width + column) * size, p = (i * blockRows.count + j) * size
                                if splitting { pieceBuffer.baseAddress!.advanced(by: p).copyMemory(from: wholeBuffer.baseAddress!.advanced(by: w), byteCount: size) }
                                else { wholeBuffer.baseAddress!.advanced(by: w).copyMemory(from: pieceBuffer.baseAddress!.advanced(by: p), byteCount: size) }
                            }
                        }
                    } else {
                        for (n, row) in (block.rows ?? 0..<1).enumerated() {
                            let w = (row * width + block.columns.lowerBound) * size, p = n * block.columns.count * size
                            let count = block.columns.count * size
                            if splitting { pieceBuffer.baseAddress!.advanced(by: p).copyMemory(from: wholeBuffer.baseAddress!.advanced(by: w), byteCount: count) }
                            else { wholeBuffer.baseAddress!.advanced(by: w).copyMemory(from: pieceBuffer.baseAddress!.advanced(by: p), byteCount: count) }
                        }
                    }
                }
            }
            if splitting { try pieceBytes.withUnsafeBytes { try writer.writeRawRows(piece.name, rows: 0..<pieceRows, from: $0) } }
        }
        if !splitting { try wholeBytes.withUnsafeBytes { try writer.writeRawRows(whole, rows: 0..<rows, from: $0) } }
    }
}

/// A float type whose values a relayout carries by bit pattern: `Float16`, `Float`, `Double`. Moving them
/// between arrays never changes a bit (NaN payloads and signed zeros included).
protocol RawFloat: BinaryFloatingPoint, Sendable where RawBits: FixedWidthInteger {
    associatedtype RawBits
    /// The IEEE encoding.
    var bitPattern: RawBits { get }
    /// The value of an IEEE encoding.
    init(bitPattern: RawBits)
}

extension Float16: RawFloat { typealias RawBits = UInt16 }
extension Float: RawFloat { typealias RawBits = UInt32 }
extension Double: RawFloat { typealias RawBits = UInt64 }

extension RawFloat {
    /// Values from their little-endian encodings, back to back.
    static func fromLittleEndian(_ bytes: [UInt8]) -> [Self] {
        let size = MemoryLayout<RawBits>.size
        return bytes.withUnsafeBytes { raw in
            (0..<(bytes.count / size)).map { Self(bitPattern: RawBits(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * size, as: RawBits.self))) }
        }
    }

    /// The little-endian encodings of `values`, back to back.
    static func littleEndianBytes(_ values: [Self]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * MemoryLayout<RawBits>.size)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }
}
