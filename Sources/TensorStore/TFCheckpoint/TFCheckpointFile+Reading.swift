import GRUCore

extension TFCheckpointFile {
    /// One stored run of bytes: a whole tensor, or one piece of a partitioned tensor, with where it goes.
    struct Piece: Sendable {
        /// The index key of its entry.
        var key: [UInt8]
        /// Where its bytes are.
        var entry: TFBundleEntry
        /// Its first element's position in the full tensor, per dimension.
        var origin: [Int]
        /// Its extents.
        var shape: [Int]
        /// `piece [3:6, :]: ` for messages, empty for a whole tensor.
        var label: String
    }

    /// Bytes per chunk when a tensor's checksum is verified without keeping the tensor.
    static let verificationChunk = 4 << 20

    // MARK: - TensorSource reads

    /// Reads a float tensor (float16, float32 or float64; partitioned ones assembled) into `Scalar`:
    /// float16 and float32 widen exactly, float64 read as `Float` rounds to nearest. The values are
    /// taken in the header's byte order, and their crc32c is verified first.
    public func read<Scalar: StoredFloat>(_ name: String, as: Scalar.Type = Scalar.self) throws -> Tensor<Scalar> {
        let item = try lookup(name)
        let bits = try floatBits(item)
        let count = item.shape.reduce(1, *)  // validated when the index was read
        try memoryBudget.check(elements: count, of: MemoryLayout<Scalar>.stride + bits / 8, file: path, object: name,
                               what: "reading its \(format(item.shape)) \(item.entry.dtype) values")
        let bytes = try canonicalBytes(item)
        let scalars = LittleEndianFloats.decode(bytes, bits: bits, count: count, as: Scalar.self)
        return Tensor(shape: item.shape, scalars: scalars)
    }

    /// Copies rows `rows` of a rank-1 or rank-2 float tensor into `bytes`, each element as its type's
    /// little-endian IEEE encoding (`ElementType.byteWidth` bytes), unchanged; a rank-1 tensor is one row.
    ///
    /// Each stored piece's crc32c is verified once, and the verdict remembered. Rows of a piece of whole
    /// rows read in order from its first (how conversion reads: block after block) are verified as they
    /// are read, in one pass: a damaged piece throws at the latest on the read that reaches its last row,
    /// so a reader must treat rows as provisional until it has read the last one (conversion writes into
    /// a temporary file it discards on error). Any other read verifies the whole piece first (read once,
    /// in bounded chunks), then reads its rows again; a file changed after a verification is not noticed.
    public func readRawRows(_ name: String, rows: Range<Int>, into bytes: UnsafeMutableRawBufferPointer) throws {
        let item = try lookup(name)
        let width = try floatBits(item) / 8
        let shape = item.shape
        let rowElements = shape.count == 2 ? shape[1] : (shape.first ?? 1)
        let rowCount = shape.count == 2 ? shape[0] : 1
        let (rowBytes, overflow1) = rowElements.multipliedReportingOverflow(by: width)
        let (needed, overflow2) = rows.count.multipliedReportingOverflow(by: rowBytes)
        guard shape.count == 1 || shape.count == 2, rows.lowerBound >= 0, rows.upperBound <= rowCount,
              !overflow1, !overflow2, bytes.count >= needed else {
            throw StoreError(.invalidRequest, file: path, object: name,
                             reason: "rows \(rows) of a \(format(shape)) tensor cannot be read into \(bytes.count) bytes")
        }
        guard !rows.isEmpty, rowElements > 0 else { return }
        let output = UnsafeMutableRawBufferPointer(rebasing: bytes[0..<needed])
        for piece in try pieces(of: item) {
            // As rows and columns: a rank-1 tensor is one row.
            let (rowStart, rowLength) = shape.count == 2 ? (piece.origin[0], piece.shape[0]) : (0, 1)
            let (columnStart, columns) = shape.count == 2 ? (piece.origin[1], piece.shape[1]) : (piece.origin[0], piece.shape[0])
            let low = max(rowStart, rows.lowerBound), high = min(rowStart + rowLength, rows.upperBound)
            guard low < high, columns > 0 else { continue }
            let file = try checkedFile(for: piece, item)
            let pieceRowBytes = columns * width
            let offset = Int(piece.entry.offset) + (low - rowStart) * pieceRowBytes
            if columns == rowElements {
                // The piece holds whole rows: read them straight into place, verifying as they pass when
                // they continue the piece from where the last read of it ended.
                let start = (low - rows.lowerBound) * rowBytes
                let target = UnsafeMutableRawBufferPointer(rebasing: output[start..<start + (high - low) * rowBytes])
                let position = (low - rowStart) * pieceRowBytes
                if try !streamVerifies(piece, item, file: file, from: position) {
                    try verify(piece, item, file: file)
                    try read(file, at: offset, into: target, piece, item)
                    continue
                }
                try read(file, at: offset, into: target, piece, item)
                try streamed(UnsafeRawBufferPointer(target), of: piece, item, file: file, at: position)
                continue
            }
            try verify(piece, item, file: file)
            try memoryBudget.check(elements: (high - low) * pieceRowBytes, of: 1, file: path, object: name,
                                   what: "reading a piece of its rows")
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: (high - low) * pieceRowBytes, alignment: 8)
            defer { scratch.deallocate() }
            try read(file, at: offset, into: scratch, piece, item)
            for row in low..<high {
                let source = (row - low) * pieceRowBytes
                let target = (row - rows.lowerBound) * rowBytes + columnStart * width
                UnsafeMutableRawBufferPointer(rebasing: output[target..<target + pieceRowBytes])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: scratch[source..<source + pieceRowBytes]))
            }
        }
        if isBigEndian { Self.swapBytes(output, unit: width) }
    }

    // MARK: - Other reads

    /// The values of any fixed-width tensor (every type but strings, variants and resources; partitioned
    /// ones assembled), row-major, each element in little-endian byte order (complex numbers as two
    /// little-endian parts), after verifying the crc32c of every stored piece.
    public func readBytes(_ name: String) throws -> [UInt8] {
        try canonicalBytes(try lookup(name))
    }

    /// The elements of a string tensor, row-major, as bytes (TensorFlow strings need not be UTF-8), after
    /// verifying the length checksum and the tensor's crc32c. Partitioned string tensors are refused, as
    /// TensorFlow refuses to restore them.
    public func readStrings(_ name: String) throws -> Tensor<[UInt8]> {
        let item = try lookup(name)
        guard item.entry.dtype.isString else {
            throw StoreError(.unsupportedType, file: path, object: name, reason: "holds \(item.entry.dtype) values, not strings")
        }
        guard item.entry.slices.isEmpty else {
            throw StoreError(.unsupportedType, file: path, object: name,
                             reason: "is a partitioned string tensor, which cannot be assembled")
        }
        let strings = try Self.readStringPiece(key: item.key, name: name, entry: item.entry, location: location, header: header,
                                               budget: memoryBudget, file: { try self.shardFile($0, name: name) })
        guard strings.count == item.shape.reduce(1, *) else {
            throw StoreError(.damaged, file: indexPath, object: name,
                             reason: "holds \(strings.count) strings for shape \(format(item.shape))")
        }
        return Tensor(shape: item.shape, scalars: strings)
    }

    // MARK: - Pieces

    /// The widths of the float types `read` and `readRawRows` accept, or the reason this tensor is not one.
    func floatBits(_ item: Listed) throws -> Int {
        let dtype = item.entry.dtype
        guard case .float(let bits) = dtype.elementType, [16, 32, 64].contains(bits) else {
            let reason: String
            switch dtype.rawValue {
            case 14: reason = "holds bfloat16 values, not float16, float32 or float64 (bfloat16 is not an IEEE type)"
            case _ where dtype.name.hasPrefix("unknown"):
                reason = "has dtype \(dtype.rawValue), which is not a TensorFlow type this reader knows (the index is damaged, "
                    + "or the checkpoint comes from a newer TensorFlow)"
            default: reason = "holds \(dtype) values, not float16, float32 or float64"
            }
            // An unknown type is the index's doing: name the index.
            throw StoreError(.unsupportedType, file: dtype.name.hasPrefix("unknown") ? indexPath : path, object: item.name, reason: reason)
        }
        return bits
    }

    /// The stored pieces of a tensor: itself, or for a partitioned tensor one piece per slice, each checked
    /// to lie inside the tensor and to have an entry of the same type and of its slice's shape, and all of
    /// them together to cover every element exactly once. Remembered per tensor.
    func pieces(of item: Listed) throws -> [Piece] {
        guard !item.entry.slices.isEmpty else {
            return [Piece(key: item.key, entry: item.entry, origin: item.shape.map { _ in 0 }, shape: item.shape, label: "")]
        }
        if let known = state.withLock({ $0.pieces[item.key] }) { return try known.get() }
        let result: Result<[Piece], StoreError>
        do {
            result = .success(try assemble(item))
        } catch let error as StoreError {
            result = .failure(error)
        }
        state.withLock { $0.pieces[item.key] = result }
        return try result.get()
    }

    private func assemble(_ item: Listed) throws -> [Piece] {
        let damaged = { (reason: String) in StoreError(.damaged, file: self.indexPath, object: item.name, reason: reason) }
        var pieces: [Piece] = []
        for slice in item.entry.slices {
            let label = "piece \(slice.description): "
            guard slice.extents.count == item.shape.count else {
                throw damaged("\(label)has \(slice.extents.count) dimensions, the tensor \(item.shape.count)")
            }
            var origin: [Int] = [], shape: [Int] = []
            for (extent, size) in zip(slice.extents, item.shape) {
                let length = extent.length ?? -1
                guard extent.start >= 0, length >= -1, length != -1 || extent.start == 0 else {
                    throw damaged("\(label)has a negative start or length")
                }
                let extentLength = length == -1 ? Int64(size) : length
                let (end, overflow) = extent.start.addingReportingOverflow(extentLength)
                guard !overflow, end <= Int64(size) else {
                    throw damaged("\(label)reaches past the tensor's shape \(format(item.shape))")
                }
                origin.append(Int(extent.start))
                shape.append(Int(extentLength))
            }
            let key = slice.isFull ? item.key : OrderedCode.sliceKey(name: item.key, slice: slice)
            guard let entry = slice.isFull ? item.entry : entries[key] else {
                throw damaged("\(label)has no entry in the index (key \(printable(key))): the index is damaged or incomplete")
            }
            if !slice.isFull {
                guard entry.dtype == item.entry.dtype else {
                    throw damaged("\(label)is stored as \(entry.dtype), the tensor is \(item.entry.dtype)")
                }
                guard entry.slices.isEmpty, entry.shape == TFTensorShape(dims: shape.map(Int64.init)) else {
                    throw damaged("\(label)is stored with shape \(entry.shape.dims), not the slice's \(format(shape))")
                }
            }
            pieces.append(Piece(key: key, entry: entry, origin: origin, shape: shape, label: label))
        }
        // Exact cover: no two pieces overlap, and together they hold as many elements as the tensor.
        let total = item.shape.reduce(1, *)
        var covered = 0
        for (index, piece) in pieces.enumerated() {
            let (sum, overflow) = covered.addingReportingOverflow(piece.shape.reduce(1, *))  // each piece ≤ the tensor
            guard !overflow else { throw damaged("its pieces hold more elements than can be counted") }
            covered = sum
            for other in pieces[..<index] where Self.overlap(piece, other) {
                throw damaged("\(piece.label)overlaps \(other.label.dropLast(2))")
            }
        }
        guard covered == total else {
            let missing = warnings.filter { $0.contains(" of \(item.keyText) that no entry lists") }
            throw damaged("does not have sufficient slices: its \(pieces.count) pieces "
                          + "(\(item.entry.slices.map(\.description).joined(separator: ", "))) cover \(covered) of its \(total) elements"
                          + (missing.isEmpty ? "" : "; \(missing.joined(separator: "; "))")
                          + " (the index is damaged or incomplete)")
        }
        return pieces
    }

    /// True when two rectangles share an element.
    private static func overlap(_ a: Piece, _ b: Piece) -> Bool {
        guard a.shape.allSatisfy({ $0 > 0 }), b.shape.allSatisfy({ $0 > 0 }) else { return false }
        for dimension in a.origin.indices {
            if a.origin[dimension] >= b.origin[dimension] + b.shape[dimension]
                || b.origin[dimension] >= a.origin[dimension] + a.shape[dimension] { return false }
        }
        return true
    }

    /// The data file holding `piece`, after checking that its entry's size matches its type and shape and
    /// that its bytes lie inside the file.
    func checkedFile(for piece: Piece, _ item: Listed) throws -> ReadOnlyFile {
        let dtype = item.entry.dtype
        guard let width = dtype.width else {
            throw StoreError(.unsupportedType, file: path, object: item.name, reason: "holds \(dtype) values, which have no fixed width")
        }
        let elements = piece.shape.reduce(1, *)
        let (expected, overflow) = elements.multipliedReportingOverflow(by: width)
        guard !overflow else {
            throw StoreError(.tooLarge, file: indexPath, object: item.name, reason: "\(piece.label)declares more bytes than can be counted")
        }
        guard piece.entry.size == Int64(expected) else {
            throw StoreError(.damaged, file: indexPath, object: item.name,
                             reason: "\(piece.label)invalid size in the index entry: stored size \(piece.entry.size), expected size "
                             + "\(expected) for \(format(piece.shape)) \(dtype) values (the index is damaged)")
        }
        let file = try shardFile(piece.entry.shardID, name: item.name, label: piece.label)
        let (end, overflow2) = piece.entry.offset.addingReportingOverflow(piece.entry.size)
        guard piece.entry.offset >= 0, !overflow2, end <= Int64(file.size) else {
            throw StoreError(.damaged, file: file.path, object: item.name, reason: "\(piece.label)data file too short: the tensor's "
                             + "\(piece.entry.size) bytes at offset \(piece.entry.offset) end at byte "
                             + "\(overflow2 ? "past 2^63" : String(end)), "
                             + "but the file has \(file.size) bytes (it is truncated or the index entry is damaged)")
        }
        return file
    }

    /// Verifies `piece`'s crc32c once: reads its bytes in bounded chunks and remembers the verdict.
    func verify(_ piece: Piece, _ item: Listed, file: ReadOnlyFile) throws {
        if let verdict = state.withLock({ $0.verified[piece.key] }) {
            if let verdict { throw verdict }
            return
        }
        let size = Int(piece.entry.size)
        let chunk = max(1, min(size, Self.verificationChunk, memoryBudget.bytes))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 8)
        defer { buffer.deallocate() }
        var crc: UInt32 = 0
        var done = 0
        while done < size {
            let part = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(chunk, size - done)])
            try read(file, at: Int(piece.entry.offset) + done, into: part, piece, item)
            crc = CRC32C.extend(crc, UnsafeRawBufferPointer(part))
            done += part.count
        }
        try record(crc, for: piece, item, file: file)
    }

    /// Whether a read of `piece` starting `position` bytes into it continues its verification in passing:
    /// the piece is unverified and the read starts where its streamed bytes end (0 for the first read).
    /// Throws a remembered verdict of damage.
    func streamVerifies(_ piece: Piece, _ item: Listed, file: ReadOnlyFile, from position: Int) throws -> Bool {
        let (verdict, progress) = state.withLock { ($0.verified[piece.key], $0.streamed[piece.key]) }
        if let verdict {
            if let verdict { throw verdict }
            return false                           // verified already: a plain read
        }
        return (progress?.bytes ?? 0) == position
    }

    /// Extends `piece`'s streamed crc by `bytes`, just read at `position` (the check, the extension and
    /// the store under one lock); after its last byte, compares with the entry's crc, remembers the
    /// verdict and throws on a mismatch. When another reader moved the stream meanwhile, the whole piece
    /// is verified instead: no read ends without a verdict on what it returned.
    func streamed(_ bytes: UnsafeRawBufferPointer, of piece: Piece, _ item: Listed, file: ReadOnlyFile, at position: Int) throws {
        let size = Int(piece.entry.size)
        let outcome: (complete: Bool, crc: UInt32)? = state.withLock { state in
            let progress: (bytes: Int, crc: UInt32) = state.streamed[piece.key] ?? (0, 0)
            guard progress.bytes == position, state.verified[piece.key] == nil else { return nil }
            let now = (bytes: position + bytes.count, crc: CRC32C.extend(progress.crc, bytes))
            if now.bytes >= size {
                state.streamed[piece.key] = nil
                return (true, now.crc)
            }
            state.streamed[piece.key] = now
            return (false, 0)
        }
        guard let outcome else { return try verify(piece, item, file: file) }
        if outcome.complete { try record(outcome.crc, for: piece, item, file: file) }
    }

    /// Compares a computed crc with the entry's and remembers the verdict; throws on a mismatch.
    func record(_ crc: UInt32, for piece: Piece, _ item: Listed, file: ReadOnlyFile) throws {
        let stored = CRC32C.unmask(piece.entry.maskedCRC)
        let verdict: StoreError? = stored == crc ? nil : StoreError(
            .damaged, file: file.path, object: item.name,
            reason: "\(piece.label)checksum mismatch: stored 0x\(hex(stored)), computed 0x\(hex(crc)) (the data file is damaged)")
        state.withLock { $0.verified[piece.key] = .some(verdict) }
        if let verdict { throw verdict }
    }

    /// The whole tensor's bytes in little-endian order, pieces assembled, every piece's crc verified.
    func canonicalBytes(_ item: Listed) throws -> [UInt8] {
        let dtype = item.entry.dtype
        guard let width = dtype.width else {
            let reason = dtype.isString ? "holds strings, not fixed-width values (readStrings reads them)"
                : dtype.name.hasPrefix("unknown") ? "has dtype \(dtype.rawValue), which is not a TensorFlow type this reader knows "
                    + "(the index is damaged, or the checkpoint comes from a newer TensorFlow)"
                : "holds \(dtype) values, which cannot be read"
            throw StoreError(.unsupportedType, file: dtype.name.hasPrefix("unknown") ? indexPath : path, object: item.name, reason: reason)
        }
        let count = item.shape.reduce(1, *)
        let pieces = try pieces(of: item)
        let largest = pieces.map { $0.shape.reduce(1, *) }.max() ?? 0
        let (total, overflow) = count.addingReportingOverflow(pieces.count == 1 ? 0 : largest)
        try memoryBudget.check(elements: overflow ? Int.max : total, of: width, file: path, object: item.name,
                               what: "reading its \(format(item.shape)) \(dtype) values")
        var output = [UInt8](repeating: 0, count: count * width)
        for piece in pieces {
            let file = try checkedFile(for: piece, item)
            var bytes = [UInt8](repeating: 0, count: Int(piece.entry.size))
            try bytes.withUnsafeMutableBytes { try read(file, at: Int(piece.entry.offset), into: $0, piece, item) }
            try record(CRC32C.checksum(bytes), for: piece, item, file: file)
            if pieces.count == 1, piece.shape == item.shape {
                output = bytes
            } else {
                output.withUnsafeMutableBytes { target in
                    bytes.withUnsafeBytes { source in
                        Self.scatter(source, shape: piece.shape, origin: piece.origin, into: target, fullShape: item.shape, width: width)
                    }
                }
            }
        }
        if isBigEndian { output.withUnsafeMutableBytes { Self.swapBytes($0, unit: dtype.swapUnit) } }
        return output
    }

    /// Copies a piece's row-major bytes into its rectangle of the full tensor.
    static func scatter(_ source: UnsafeRawBufferPointer, shape: [Int], origin: [Int], into target: UnsafeMutableRawBufferPointer,
                        fullShape: [Int], width: Int) {
        guard shape.allSatisfy({ $0 > 0 }) else { return }
        guard let innermost = shape.last else {
            target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<width]))
            return
        }
        var strides = [Int](repeating: 1, count: fullShape.count)
        for dimension in stride(from: fullShape.count - 2, through: 0, by: -1) {
            strides[dimension] = strides[dimension + 1] * fullShape[dimension + 1]
        }
        let run = innermost * width
        var index = [Int](repeating: 0, count: shape.count - 1)
        var sourceOffset = 0
        while true {
            var element = origin[shape.count - 1]
            for dimension in index.indices { element += (origin[dimension] + index[dimension]) * strides[dimension] }
            let targetOffset = element * width
            UnsafeMutableRawBufferPointer(rebasing: target[targetOffset..<targetOffset + run])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[sourceOffset..<sourceOffset + run]))
            sourceOffset += run
            // Next index, last dimension fastest.
            var dimension = index.count - 1
            while dimension >= 0 {
                index[dimension] += 1
                if index[dimension] < shape[dimension] { break }
                index[dimension] = 0
                dimension -= 1
            }
            if dimension < 0 { return }
        }
    }

    /// Reverses the bytes of every `unit`-byte group (big-endian file values to little-endian).
    static func swapBytes(_ buffer: UnsafeMutableRawBufferPointer, unit: Int) {
        guard unit > 1 else { return }
        var start = 0
        while start + unit <= buffer.count {
            var low = start, high = start + unit - 1
            while low < high {
                buffer.swapAt(low, high)
                low += 1
                high -= 1
            }
            start += unit
        }
    }

    // MARK: - Files

    /// Reads into `buffer` from a data file, turning failures into messages naming the tensor.
    func read(_ file: ReadOnlyFile, at offset: Int, into buffer: UnsafeMutableRawBufferPointer, _ piece: Piece, _ item: Listed) throws {
        do {
            try file.read(at: offset, into: buffer)
        } catch {
            throw Self.openError(error, file: file.path, object: item.name, what: "\(piece.label)reading data shard \(piece.entry.shardID)")
        }
    }

    /// The data file `shard`, opened once and kept; a shard number outside the header's count, or a
    /// missing file, is an error naming the tensor that needed it.
    func shardFile(_ shard: Int32, name: String, label: String = "") throws -> ReadOnlyFile {
        if let open = state.withLock({ $0.shards[Int(shard)] }) { return open }
        let file = try Self.openShard(shard, location: location, header: header, name: name, label: label)
        state.withLock { $0.shards[Int(shard)] = file }
        return file
    }

    /// Opens data shard `shard`, for the tensor `name` (and its piece `label`, if any).
    static func openShard(_ shard: Int32, location: CheckpointLocation, header: TFBundleHeader, name: String,
                          label: String = "") throws -> ReadOnlyFile {
        guard shard >= 0, shard < header.numShards else {
            throw StoreError(.damaged, file: location.indexPath, object: name,
                             reason: "\(label)the index entry names data shard \(shard), but the header declares \(header.numShards) "
                             + "(shards 0...\(header.numShards - 1)); the index is damaged")
        }
        let path = location.dataPath(shard: Int(shard), of: Int(header.numShards))
        do {
            return try ReadOnlyFile(path)
        } catch {
            if case .system(let code) = error, code == 2 /* ENOENT */ {
                // Data files of this prefix with another shard count: renamed, or left from another save.
                let expected = "-of-" + String(location.dataPath(shard: 0, of: Int(header.numShards)).suffix(5))
                let others = (directoryEntries(directoryName(location.prefix)) ?? []).filter {
                    $0.hasPrefix(baseName(location.prefix) + ".data-") && !$0.hasSuffix(expected)
                }
                let hint = others.isEmpty ? "the checkpoint is incomplete"
                    : "the directory holds \(others.joined(separator: ", ")) instead: data files renamed, or of another save"
                throw StoreError(.notFound, file: path, object: name,
                                 reason: "\(label)no such file: data shard \(shard) of \(header.numShards) is missing (\(hint))")
            }
            throw openError(error, file: path, object: name, what: "\(label)data shard \(shard)")
        }
    }

    /// Reads a string tensor's elements (§4 of the format notes): the varint64 lengths, their masked
    /// checksum (lengths as uint32, or uint64 above 2^32-1, in the writer's byte order), the bytes; then
    /// the entry's crc32c over lengths, length checksum and bytes.
    static func readStringPiece(key: [UInt8], name: String, entry: TFBundleEntry, location: CheckpointLocation, header: TFBundleHeader,
                                budget: MemoryBudget, file open: (Int32) throws -> ReadOnlyFile) throws -> [[UInt8]] {
        let indexPath = location.indexPath
        guard entry.dtype.isString else {
            throw StoreError(.unsupportedType, file: indexPath, object: name, reason: "holds \(entry.dtype) values, not strings")
        }
        let shape: [Int]
        switch entry.shape.validated() {
        case .success(let valid): shape = valid
        case .failure(.invalid(let reason)), .failure(.tooLarge(let reason)):
            throw StoreError(.damaged, file: indexPath, object: name, reason: "invalid tensor shape: \(reason)")
        }
        let count = shape.reduce(1, *)
        guard entry.size >= 0, entry.size >= Int64(count) else {
            throw StoreError(.damaged, file: indexPath, object: name, reason: "invalid size in the index entry: stored size \(entry.size); "
                             + "expected size is at least \(count) for \(count) strings (the index is damaged)")
        }
        if entry.size == 0 { return [] }
        let size = Int(entry.size)
        try budget.check(elements: size, of: 1, file: indexPath, object: name, what: "reading its strings")
        let file = try open(entry.shardID)
        let (end, overflow) = entry.offset.addingReportingOverflow(entry.size)
        guard entry.offset >= 0, !overflow, end <= Int64(file.size) else {
            throw StoreError(.damaged, file: file.path, object: name,
                             reason: "data file too short: the tensor's \(entry.size) bytes at offset "
                             + "\(entry.offset) end at byte \(overflow ? "past 2^63" : String(end)), but the file has \(file.size) bytes "
                             + "(it is truncated or the index entry is damaged)")
        }
        let bytes: [UInt8]
        do {
            bytes = try file.read(at: Int(entry.offset), count: size)
        } catch {
            throw openError(error, file: file.path, object: name, what: "reading data shard \(entry.shardID)")
        }
        let big = header.endianness == 1
        let damaged = { (reason: String) in
            StoreError(.damaged, file: file.path, object: name, reason: reason + " (the data file is damaged)")
        }
        var cursor = ByteCursor(bytes)
        var lengths: [Int] = []
        lengths.reserveCapacity(count)
        var crc: UInt32 = 0
        do {
            for _ in 0..<count {
                let length = try cursor.readVarint64()
                if let narrow = UInt32(exactly: length) {
                    crc = withUnsafeBytes(of: big ? narrow.bigEndian : narrow.littleEndian) { CRC32C.extend(crc, $0) }
                } else {
                    crc = withUnsafeBytes(of: big ? length.bigEndian : length.littleEndian) { CRC32C.extend(crc, $0) }
                }
                guard length <= UInt64(size) else {
                    throw cursor.failure("a string of \(length) bytes is longer than the tensor's \(size)")
                }
                lengths.append(Int(length))
            }
            let rawChecksum = try cursor.readBytes(4)
            var checksumCursor = ByteCursor(Array(rawChecksum))
            let fileOrder = try checksumCursor.readFixed32()
            let storedLengthCRC = CRC32C.unmask(big ? fileOrder.byteSwapped : fileOrder)
            guard storedLengthCRC == crc else {
                throw damaged("the length checksum does not match: stored 0x\(hex(storedLengthCRC)), computed 0x\(hex(crc))")
            }
            crc = CRC32C.extend(crc, rawChecksum)
            var total = 0, overflow = false
            for length in lengths where !overflow { (total, overflow) = total.addingReportingOverflow(length) }
            guard !overflow, total == cursor.remaining else {
                throw damaged("the strings take \(total) bytes but the entry leaves \(cursor.remaining) for them")
            }
            var strings: [[UInt8]] = []
            strings.reserveCapacity(count)
            for length in lengths { strings.append(Array(try cursor.readBytes(length))) }
            return try verifyStrings(strings, crcSoFar: crc, entry: entry, damaged: damaged)
        } catch let failure as ByteCursor.Failure {
            throw damaged("the strings cannot be read: \(failure)")
        }
    }

    /// Extends the crc of the lengths and their checksum over the strings and compares it with the entry's.
    private static func verifyStrings(_ strings: [[UInt8]], crcSoFar: UInt32, entry: TFBundleEntry,
                                      damaged: (String) -> StoreError) throws -> [[UInt8]] {
        var crc = crcSoFar
        for string in strings { crc = CRC32C.extend(crc, string) }
        let stored = CRC32C.unmask(entry.maskedCRC)
        guard stored == crc else {
            throw damaged("checksum mismatch: stored 0x\(hex(stored)), computed 0x\(hex(crc))")
        }
        return strings
    }
}
