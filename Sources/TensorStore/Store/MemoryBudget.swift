import Glibc

/// The most memory one piece of work may ask for, checked against what a file declares before anything
/// is allocated: a small file can declare a terabyte (a never-written, compressed dataset), and
/// allocating what it claims would kill the process instead of answering.
public struct MemoryBudget: Hashable, Sendable, CustomStringConvertible {
    /// The budget in bytes.
    public var bytes: Int

    /// A budget of `bytes` bytes.
    public init(bytes: Int) { self.bytes = bytes }

    /// Half of the machine's physical memory (at least 1 GiB).
    public static let machineDefault: MemoryBudget = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        let physical = pages > 0 && size > 0 ? Int(pages).multipliedReportingOverflow(by: Int(size)).partialValue : 0
        return MemoryBudget(bytes: max(physical / 2, 1 << 30))
    }()

    /// Parses `512M`, `4G`, `1.5G`, `2T` or a plain number of bytes (powers of 1024).
    public init?(parsing text: String) {
        let units: [Character: Double] = ["K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024, "T": 1024 * 1024 * 1024 * 1024]
        var number = text.uppercased()
        if number.hasSuffix("B") { number.removeLast() }
        var scale = 1.0
        if let last = number.last, let unit = units[last] {
            scale = unit
            number.removeLast()
        }
        guard let value = Double(number), value > 0, value * scale < Double(Int.max) else { return nil }
        bytes = Int(value * scale)
    }

    /// Throws unless `count` elements of `size` bytes fit in the budget (overflow counts as not fitting).
    public func check(elements count: Int, of size: Int, file: String, object: String?, what: String) throws {
        let (needed, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow, needed <= bytes else {
            let amount = overflow ? "more than \(Self.format(Int.max))" : Self.format(needed)
            throw StoreError(.tooLarge, file: file, object: object,
                                  reason: "\(what) would need \(amount), more than the memory budget of \(self) (--max-memory)")
        }
    }

    /// `512 MiB`, `8 GiB`: the budget for messages.
    public var description: String { Self.format(bytes) }

    static func format(_ bytes: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes), unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        if unit == 0 { return "\(bytes) bytes" }
        let tenths = (value * 10).rounded() / 10
        return "\(tenths == tenths.rounded() ? String(Int(tenths)) : String(tenths)) \(units[unit])"
    }
}
