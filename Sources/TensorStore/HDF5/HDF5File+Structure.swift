import CHDF5
import GRUCore

extension HDF5File {
    /// One link of the file: its path, kind and, for a hard link, the address of the object it names.
    public struct Link: Hashable, Sendable {
        /// The kinds HDF5 has.
        public enum Kind: Hashable, Sendable { case hard, soft, external, other }
        /// The link's path, without the leading `/`.
        public var name: String
        /// What kind of link it is.
        public var kind: Kind
        /// For a hard link, the object's address (two names of one object share it); 0 otherwise.
        public var address: UInt64
    }

    /// Every link reachable from the root by hard links, in the order `H5Lvisit` walks them (by name, depth
    /// first; a group reachable under several names is entered under the first); soft and external links
    /// are listed, never followed.
    public func links() throws -> [Link] {
        if let walkedLinks { return walkedLinks }
        final class Collector { var links: [Link] = [] }
        let collector = Collector()
        let visitor: gc_link_visitor = { name, kind, address, context in
            HDF5Calls.callingBack {
                guard let name, let context else { return 0 }
                let kinds: [Link.Kind] = [.hard, .soft, .external, .other]
                Unmanaged<Collector>.fromOpaque(context).takeUnretainedValue().links.append(
                    Link(name: String(cString: name), kind: kinds[Int(min(max(kind, 0), 3))], address: UInt64(address)))
                return 0
            }
        }
        _ = try HDF5Library.call("list the links in the file", file: displayName) {
            gc_visit_links(file.id, visitor, Unmanaged.passUnretained(collector).toOpaque())
        }
        walkedLinks = collector.links
        return collector.links
    }

    /// What the file holds besides datasets, groups and plain attributes, in name order: every further name
    /// of an object reachable under several (hard links; the first name is the one the walk enters), soft
    /// links (dangling or not), external links (when they are allowed at all), user-defined links,
    /// committed datatypes, datasets of references and attributes of references, each reference resolved to
    /// the first name of the object it points to.
    public func structure() throws -> [StructureItem] {
        let links = try links()
        _ = try containers()                            // refuses external links unless they are allowed
        let kinds = try objectKinds()
        var items: [StructureItem] = []
        // The root has no link, but a link may name it (a loop) and a reference may point to it.
        let root = try openObject("")
        var firstNames: [UInt64: String] = [HDF5Library.locked { gc_object_address(root.id) }: ""]
        for link in links {
            switch link.kind {
            case .hard:
                if let first = firstNames[link.address] {
                    items.append(StructureItem(name: link.name, kind: .secondName(of: first)))
                } else {
                    firstNames[link.address] = link.name
                    if kinds[link.address] == H5O_TYPE_NAMED_DATATYPE {
                        items.append(StructureItem(name: link.name, kind: .namedType))
                    }
                }
            case .soft:
                var target = try linkValueBuffer(link.name)
                _ = try call("read the soft link", link.name) { gc_soft_link_target(file.id, link.name, &target, target.count) }
                items.append(StructureItem(name: link.name, kind: .softLink(target: string(target))))
            case .external:
                var target = try linkValueBuffer(link.name), object = try linkValueBuffer(link.name)
                _ = try call("read the external link", link.name) {
                    gc_external_link_target(file.id, link.name, &target, target.count, &object, object.count)
                }
                items.append(StructureItem(name: link.name, kind: .externalLink(file: string(target), object: string(object))))
            case .other:
                items.append(StructureItem(name: link.name, kind: .unknownLink))
            }
        }
        let name: (UInt64) -> String = { firstNames[$0] ?? StructureItem.unnamedObject }
        // Types that can hold references inside them: a reference dataset, or compound, array, vlen ones.
        let mayHoldReferences = Set(try variables().filter {
            [.other("reference"), .other("compound"), .other("array"), .other("vlen")].contains($0.elementType)
        }.map(\.name))
        for object in [""] + links.filter({ $0.kind == .hard && firstNames[$0.address] == $0.name }).map(\.name) {
            if mayHoldReferences.contains(object) {
                if let references = try references(inDataset: object) {
                    items.append(StructureItem(name: object, kind: .references(targets: try targets(of: references, place: object, name: name))))
                } else if try holdsNestedReferences(dataset: object) {
                    items.append(StructureItem(name: object, kind: .nestedReferences(attribute: nil)))
                }
            }
            let handle = try openObject(object)
            guard HDF5Library.locked({ gc_object_attribute_count(handle.id) }) != 0 else { continue }
            for attribute in try attributeNames(of: handle, object) {
                let place = "\(object.isEmpty ? "/" : object)@\(attribute)"
                if let references = try references(inAttribute: attribute, of: handle, object) {
                    items.append(StructureItem(name: object, kind: .referenceAttribute(attribute, targets: try targets(of: references, place: place, name: name))))
                } else if try Self.holdsReferences(attribute: attribute, of: handle, place: place, file: displayName) {
                    items.append(StructureItem(name: object, kind: .nestedReferences(attribute: attribute)))
                }
            }
        }
        return items.sorted { $0.place.utf8.lexicographicallyPrecedes($1.place.utf8) }
    }

    /// The first name of the committed datatype `type` is (`H5Tcommitted`), or nil for a type of its own.
    func committedTypeName(_ type: HDF5Handle) throws -> String? {
        guard HDF5Library.locked({ H5Tcommitted(type.id) }) > 0 else { return nil }
        let address = HDF5Library.locked { gc_object_address(type.id) }
        return try links().first { $0.kind == .hard && $0.address == address }?.name
    }

    /// A buffer for the value of link `name` (its size, plus a NUL), within the memory budget.
    private func linkValueBuffer(_ name: String) throws -> [CChar] {
        let size = HDF5Library.locked { gc_link_value_size(file.id, name) }
        try memoryBudget.check(elements: size + 1, of: 1, file: displayName, object: name, what: "reading the link")
        return [CChar](repeating: 0, count: size + 1)
    }

    /// Whether dataset `name`'s type holds references anywhere in it (`H5Tdetect_class`).
    private func holdsNestedReferences(dataset name: String) throws -> Bool {
        let dataset = try openDataset(name)
        let type = try HDF5Handle(call("read the type", name) { H5Dget_type(dataset.id) }, .datatype)
        return HDF5Library.locked { H5Tdetect_class(type.id, H5T_REFERENCE) } > 0
    }

    /// Whether attribute `attribute` of the open `object` holds references anywhere in its type.
    static func holdsReferences(attribute: String, of object: HDF5Handle, place: String, file: String) throws -> Bool {
        let handle = try HDF5Handle(HDF5Library.call("open the attribute", file: file, object: place) {
            H5Aopen(object.id, attribute, gc_default_plist())
        }, .attribute)
        let type = try HDF5Handle(HDF5Library.call("read the attribute's type", file: file, object: place) { H5Aget_type(handle.id) },
                                  .datatype)
        return HDF5Library.locked { H5Tdetect_class(type.id, H5T_REFERENCE) } > 0
    }

    /// References as stored: their kind (1 object, 2 dataset region, as `gc_reference_kind`), the shape,
    /// and the raw references, `size` bytes each.
    struct StoredReferences {
        var kind: Int32
        var shape: [Int]
        var size: Int
        var bytes: [UInt8]
        var count: Int { size == 0 ? 0 : bytes.count / size }

        /// Whether reference `index` is null (all its bytes zero).
        func isNull(_ index: Int) -> Bool { bytes[(index * size)..<((index + 1) * size)].allSatisfy { $0 == 0 } }
    }

    /// The references dataset `name` holds, or nil when it holds none (another type).
    func references(inDataset name: String) throws -> StoredReferences? {
        let dataset = try openDataset(name)
        let type = try HDF5Handle(call("read the type", name) { H5Dget_type(dataset.id) }, .datatype)
        let kind = HDF5Library.locked { gc_reference_kind(type.id) }
        guard kind > 0 else { return nil }
        let shape = try shape(of: dataset, name)
        var stored = try allocate(kind, shape: shape, place: name)
        if stored.count > 0 {
            let memory = try HDF5Handle(call("make a reference type", name) { gc_reference_type(kind) }, .datatype)
            _ = try call("read the references", name) {
                stored.bytes.withUnsafeMutableBytes { H5Dread(dataset.id, memory.id, gc_all_space(), gc_all_space(), gc_default_plist(), $0.baseAddress) }
            }
        }
        return stored
    }

    /// The references attribute `attribute` of the open `object` holds, or nil when it holds none.
    func references(inAttribute attribute: String, of object: HDF5Handle, _ objectName: String) throws -> StoredReferences? {
        let place = "\(objectName.isEmpty ? "/" : objectName)@\(attribute)"
        let handle = try HDF5Handle(call("open the attribute", place) { H5Aopen(object.id, attribute, gc_default_plist()) }, .attribute)
        let type = try HDF5Handle(call("read the attribute's type", place) { H5Aget_type(handle.id) }, .datatype)
        let kind = HDF5Library.locked { gc_reference_kind(type.id) }
        guard kind > 0 else { return nil }
        let space = try HDF5Handle(call("read the attribute's shape", place) { H5Aget_space(handle.id) }, .dataspace)
        let rank = try call("read the attribute's shape", place) { H5Sget_simple_extent_ndims(space.id) }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        if rank > 0 { _ = try call("read the attribute's shape", place) { H5Sget_simple_extent_dims(space.id, &dims, nil) } }
        let shape = dims.map { Int(clamping: $0) }
        var stored = try allocate(kind, shape: shape, place: place)
        if stored.count > 0 {
            let memory = try HDF5Handle(call("make a reference type", place) { gc_reference_type(kind) }, .datatype)
            _ = try call("read the references", place) {
                stored.bytes.withUnsafeMutableBytes { H5Aread(handle.id, memory.id, $0.baseAddress) }
            }
        }
        return stored
    }

    private func allocate(_ kind: Int32, shape: [Int], place: String) throws -> StoredReferences {
        let size = HDF5Library.locked { gc_reference_size(kind) }
        let count = try Self.elementCount(shape, file: displayName, object: place)
        try memoryBudget.check(elements: count, of: size, file: displayName, object: place, what: "reading its references")
        return StoredReferences(kind: kind, shape: shape, size: size, bytes: [UInt8](repeating: 0, count: count * size))
    }

    /// Where reference `index` of `references` points: the object's address, and for a region reference
    /// the region (a dataspace with its selection); nil for a null reference.
    func target(of references: StoredReferences, at index: Int, place: String) throws -> (address: UInt64, region: HDF5Handle?)? {
        guard !references.isNull(index) else { return nil }
        var address: UInt64 = 0
        var selection: hid_t = -1
        let status = references.bytes.withUnsafeBytes { bytes in
            HDF5Library.locked {
                gc_reference_target(file.id, references.kind, bytes.baseAddress! + index * references.size, &address, &selection)
            }
        }
        let region = selection >= 0 ? HDF5Handle(selection, .dataspace) : nil
        guard status >= 0 else {
            throw StoreError(.damaged, file: displayName, object: place,
                             reason: HDF5Library.locked { HDF5Library.failure(of: "follow reference \(index)") })
        }
        return (address, region)
    }

    private func targets(of references: StoredReferences, place: String, name: (UInt64) -> String) throws -> [String?] {
        try (0..<references.count).map { index in try target(of: references, at: index, place: place).map { name($0.address) } }
    }
}
