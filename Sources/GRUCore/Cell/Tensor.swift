/// A dense row-major array of scalars with its shape: `[]` is a scalar, `[n]` a vector, `[rows, columns]` a matrix.
public struct Tensor<Scalar>: Sendable where Scalar: Sendable {
    /// The extents, outermost first.
    public var shape: [Int]
    /// The elements in row-major order.
    public var scalars: [Scalar]

    /// Wraps `scalars`, which must hold exactly as many elements as `shape` describes.
    public init(shape: [Int], scalars: [Scalar]) {
        precondition(shape.reduce(1, *) == scalars.count, "\(scalars.count) scalars do not fill shape \(shape)")
        self.shape = shape
        self.scalars = scalars
    }
}

extension Tensor: Equatable where Scalar: Equatable {}
