extension TensorSink {
    /// Copies a rank-1 or rank-2 float variable of `source` as `target`, a block of whole rows (at most
    /// 1 MiB, which stays in the processor's caches between the read and the write) at a time, so that
    /// memory holds one block whatever the tensor's size; each block is checked against the source's
    /// memory budget before it is allocated.
    public func copyRows(of variable: Variable, from source: any TensorSource, as target: String) throws {
        guard let width = variable.elementType.byteWidth, (1...2).contains(variable.shape.count) else {
            throw StoreError(.unsupportedType, file: source.path, object: variable.name,
                             reason: "only float tensors of rank 1 or 2 are copied by rows")
        }
        guard variable.elementCount > 0 else {
            return try create(target, elementType: variable.elementType, shape: variable.shape)
        }
        let rows = variable.shape.count == 2 ? variable.shape[0] : 1
        // One row of a declared shape can exceed what an Int holds: that is a budget refusal, not a trap.
        try source.memoryBudget.check(elements: variable.shape.last!, of: width, file: source.path, object: variable.name,
                                      what: "copying a row of it")
        let rowBytes = max(1, variable.shape.last! * width)
        let rowsPerBlock = max(1, (1 << 20) / rowBytes)
        try source.memoryBudget.check(elements: min(rows, rowsPerBlock), of: rowBytes, file: source.path, object: variable.name,
                                      what: "copying a block of its rows")
        try create(target, elementType: variable.elementType, shape: variable.shape)
        var buffer = [UInt8](repeating: 0, count: min(rows, rowsPerBlock) * rowBytes)
        for start in stride(from: 0, to: rows, by: rowsPerBlock) {
            let block = start..<min(rows, start + rowsPerBlock)
            try buffer.withUnsafeMutableBytes { try source.readRawRows(variable.name, rows: block, into: $0) }
            try buffer.withUnsafeBytes { try writeRawRows(target, rows: block, from: $0) }
        }
    }
}
