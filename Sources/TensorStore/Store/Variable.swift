/// The type of a dataset's elements, as far as a checkpoint reader cares.
public enum ElementType: Hashable, Sendable, CustomStringConvertible {
    /// An IEEE float of 16, 32 or 64 bits (HDF5 class `H5T_FLOAT`).
    case float(bits: Int)
    /// A signed or unsigned integer (`H5T_INTEGER`).
    case integer(bits: Int, signed: Bool)
    /// A fixed- or variable-length string (`H5T_STRING`).
    case string
    /// Anything else, by its HDF5 class name (`compound`, `enum`, `opaque`, ...).
    case other(String)

    /// `float32`, `int64`, `uint8`, `string`, `compound`, ...: the spelling used in every report.
    public var description: String {
        switch self {
        case .float(let bits): "float\(bits)"
        case .integer(let bits, let signed): signed ? "int\(bits)" : "uint\(bits)"
        case .string: "string"
        case .other(let name): name
        }
    }

    /// True for float16, float32 and float64: the types a GRU's weights can have.
    public var isFloat: Bool {
        if case .float(let bits) = self { return [16, 32, 64].contains(bits) }
        return false
    }
}

/// One dataset of a checkpoint: its name, element type and shape, read without touching its data.
public struct Variable: Hashable, Sendable {
    /// The full path as stored, without the leading `/` (`rnn/gru_cell/gates/kernel:0`).
    public var name: String
    /// The type of every element.
    public var elementType: ElementType
    /// `[]` for a scalar (and for a null dataspace, which `isNull` tells apart).
    public var shape: [Int]
    /// An HDF5 null dataspace: no value at all, not even a scalar's one.
    public var isNull: Bool

    /// A variable as a source lists it.
    public init(name: String, elementType: ElementType, shape: [Int], isNull: Bool = false) {
        self.name = name
        self.elementType = elementType
        self.shape = shape
        self.isNull = isNull
    }

    /// The number of elements: the product of the shape (1 for a scalar), `Int.max` if that overflows.
    public var elementCount: Int {
        if isNull { return 0 }
        return shape.reduce(1) { count, extent in
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            return overflow ? Int.max : product
        }
    }
}
