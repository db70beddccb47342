import GRUCore

/// A `readRawRows` request checked against a flat tensor stored row-major in one run of bytes (safetensors,
/// ONNX): where the rows' bytes start within the tensor's, and how many there are. The one check every such
/// reader makes, so that none of them reads past a tensor or a caller's buffer.
struct RawRowRequest {
    /// Offset of the first requested row's bytes from the tensor's first byte.
    var start: Int
    /// Bytes to copy: the rows, whole.
    var count: Int

    /// Checks `rows` of a tensor of `type` and `shape` (rank 1 or 2; a vector is one row) against a buffer
    /// of `bufferBytes`; nil when there is nothing to copy (no rows, or empty rows).
    init?(rows: Range<Int>, type: ElementType, shape: [Int], bufferBytes: Int, file: String, object: String) throws {
        guard let width = type.byteWidth else {
            throw StoreError(.unsupportedType, file: file, object: object, reason: "holds \(type) values, not float16, float32 or float64")
        }
        let rowElements = shape.count == 2 ? shape[1] : (shape.first ?? 1)
        let rowCount = shape.count == 2 ? shape[0] : 1
        let (rowBytes, overflow) = rowElements.multipliedReportingOverflow(by: width)
        guard shape.count == 1 || shape.count == 2, rows.lowerBound >= 0, rows.upperBound <= rowCount, !overflow,
              bufferBytes >= rows.count * rowBytes else {
            throw StoreError(.invalidRequest, file: file, object: object,
                             reason: "rows \(rows) of a \(format(shape)) tensor cannot be read into \(bufferBytes) bytes")
        }
        guard !rows.isEmpty, rowBytes > 0 else { return nil }
        (start, count) = (rows.lowerBound * rowBytes, rows.count * rowBytes)
    }
}
