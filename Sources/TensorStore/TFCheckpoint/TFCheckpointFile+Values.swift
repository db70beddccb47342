import GRUCore

extension TFCheckpointFile {
    /// Every value of tensor `name` (partitioned ones assembled), whatever its dtype: fixed-width types
    /// as little-endian bytes (`readBytes`), strings as byte strings (`readStrings`); the crc32c of every
    /// stored piece is verified first. Variants, resources and unknown dtypes are refused.
    public func readAll(_ name: String) throws -> StoredValues {
        let item = try lookup(name)
        let dtype = item.entry.dtype
        if dtype.isString {
            let strings = try readStrings(name)
            return StoredValues(elementType: .string, shape: strings.shape, storage: .strings(strings.scalars))
        }
        return StoredValues(elementType: dtype.elementType, shape: item.shape, storage: .bytes(try canonicalBytes(item)))
    }
}
