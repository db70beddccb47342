import CHDF5

extension HDF5Writer {
    /// Writes `items` of an HDF5 `source`'s structure: committed datatypes copied (`H5Ocopy`), second names
    /// as hard links to the object written under its first name, soft links with the path they hold
    /// (unchanged: a dangling one stays dangling), external links as links (never followed), and datasets
    /// and attributes of references re-pointed to the objects as written here (`H5Rcreate`, object and
    /// region references; null references stay null). Anything else, or a source of another format, is
    /// refused, naming the item.
    public func carry(_ items: [StructureItem], from source: any TensorSource, outputName: (String) -> String?) throws {
        guard let first = items.first else { return }
        guard let source = source as? HDF5File else {
            throw StoreError(.unsupportedType, file: source.path, object: first.place,
                             reason: "is \(first.description), which convert carries only from HDF5")
        }
        // In three passes, so that nothing waits for what comes later in name order: datasets of references
        // are created (empty) first, then names and links to anything are made, then every reference is
        // written, when every object it may point to exists (references may point to each other).
        var created: [(item: StructureItem, dataset: HDF5Handle, stored: HDF5File.StoredReferences, targets: [String?])] = []
        for item in items {
            guard case .references(let targets) = item.kind else { continue }
            let (dataset, stored) = try createReferences(item, as: outputName(item.name) ?? item.name, from: source)
            created.append((item, dataset, stored, targets))
        }
        for item in items {
            let target = outputName(item.name) ?? item.name
            switch item.kind {
            case .namedType:
                _ = try call("copy the committed datatype", target) {
                    H5Ocopy(source.file.id, item.name, fileID, target, copyObjects.id, linkCreation.id)
                }
                try removeReferenceAttributes(of: target)
            case .secondName(let first):
                guard let existing = outputName(first) else { throw notWritten(first, for: item, source) }
                _ = try call("make the second name", target) {
                    H5Lcreate_hard(fileID, existing.isEmpty ? "/" : existing, fileID, target, linkCreation.id, gc_default_plist())
                }
            case .softLink(let path):
                _ = try call("make the soft link", target) {
                    H5Lcreate_soft(path, fileID, target, linkCreation.id, gc_default_plist())
                }
            case .externalLink(let file, let object):
                _ = try call("make the external link", target) {
                    H5Lcreate_external(file, object, fileID, target, linkCreation.id, gc_default_plist())
                }
            case .references, .referenceAttribute:
                continue
            case .nestedReferences, .unknownLink:
                throw StoreError(.unsupportedType, file: source.path, object: item.place, reason: "is \(item.description), which convert cannot carry")
            }
        }
        for (item, dataset, stored, targets) in created {
            let bytes = try remade(stored, targets: targets, item: item, from: source, outputName: outputName)
            let type = HDF5Handle(try call("make a reference type", item.name) { gc_reference_type(stored.kind) }, .datatype)
            if stored.count > 0 {
                _ = try call("write the references", item.name) {
                    bytes.withUnsafeBytes { H5Dwrite(dataset.id, type.id, gc_all_space(), gc_all_space(), gc_default_plist(), $0.baseAddress) }
                }
            }
        }
        for item in items {
            guard case .referenceAttribute(let attribute, let targets) = item.kind else { continue }
            try writeReferenceAttribute(attribute, of: item, targets: targets, on: outputName(item.name) ?? item.name, from: source,
                                        outputName: outputName)
        }
    }

    private func notWritten(_ object: String, for item: StructureItem, _ source: HDF5File) -> StoreError {
        StoreError(.invalidRequest, file: source.path, object: item.place, reason: "points to \(object), which is not in the output")
    }

    /// The references of `stored` re-made in this file: each non-null one to the output object of its
    /// target, a region reference with the region its source selects.
    private func remade(_ stored: HDF5File.StoredReferences, targets: [String?], item: StructureItem, from source: HDF5File,
                        outputName: (String) -> String?) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: stored.bytes.count)
        for index in 0..<stored.count {
            guard let found = try source.target(of: stored, at: index, place: item.place) else { continue }
            guard index < targets.count, let object = targets[index], let name = outputName(object) else {
                throw notWritten((index < targets.count ? targets[index] : nil) ?? "an object", for: item, source)
            }
            _ = try call("make reference \(index)", item.place) {
                bytes.withUnsafeMutableBytes {
                    gc_reference_create($0.baseAddress! + index * stored.size, fileID, name.isEmpty ? "/" : name, stored.kind, found.region?.id ?? -1)
                }
            }
        }
        return bytes
    }

    /// A dataset of references, created empty with its source's shape, creation properties (chunking,
    /// filters, fill value) and attributes; `carry` writes its references once every target exists.
    private func createReferences(_ item: StructureItem, as target: String, from source: HDF5File) throws
        -> (HDF5Handle, HDF5File.StoredReferences) {
        guard let stored = try source.references(inDataset: item.name) else {
            throw StoreError(.invalidRequest, file: source.path, object: item.name, reason: "holds no references")
        }
        let dataset = try source.openDataset(item.name)
        let creation = HDF5Handle(try source.call("read the dataset's properties", item.name) { H5Dget_create_plist(dataset.id) },
                                  .propertyList)
        let space = HDF5Handle(try source.call("read the shape", item.name) { H5Dget_space(dataset.id) }, .dataspace)
        let type = HDF5Handle(try call("make a reference type", target) { gc_reference_type(stored.kind) }, .datatype)
        let created = HDF5Handle(try call("create the dataset", target) {
            H5Dcreate2(fileID, target, type.id, space.id, linkCreation.id, creation.id, gc_default_plist())
        }, .dataset, parent: file)
        try copyAttributes(of: item.name, from: source, to: target, skip: { _ in false })
        return (created, stored)
    }

    /// An attribute of references on `target`, replacing the one `H5Ocopy` carried with its references
    /// nulled, with its source's shape and its references re-pointed.
    private func writeReferenceAttribute(_ attribute: String, of item: StructureItem, targets: [String?], on target: String,
                                         from source: HDF5File, outputName: (String) -> String?) throws {
        let sourceObject = try source.openObject(item.name)
        guard let stored = try source.references(inAttribute: attribute, of: sourceObject, item.name) else {
            throw StoreError(.invalidRequest, file: source.path, object: item.place, reason: "holds no references")
        }
        let bytes = try remade(stored, targets: targets, item: item, from: source, outputName: outputName)
        let object = HDF5Handle(try call("open the object", target) {
            H5Oopen(fileID, target.isEmpty ? "/" : target, gc_default_plist())
        }, .object)
        if try call("look for the attribute", item.place, { H5Aexists(object.id, attribute) }) > 0 {
            _ = try call("replace the attribute", item.place) { H5Adelete(object.id, attribute) }
        }
        let sourceAttribute = HDF5Handle(try source.call("open the attribute", item.place) {
            H5Aopen(sourceObject.id, attribute, gc_default_plist())
        }, .attribute)
        let space = HDF5Handle(try source.call("read the attribute's shape", item.place) { H5Aget_space(sourceAttribute.id) }, .dataspace)
        let type = HDF5Handle(try call("make a reference type", item.place) { gc_reference_type(stored.kind) }, .datatype)
        let created = HDF5Handle(try call("write the attribute", item.place) {
            H5Acreate2(object.id, attribute, type.id, space.id, gc_default_plist(), gc_default_plist())
        }, .attribute)
        _ = try call("write the attribute", item.place) { bytes.withUnsafeBytes { H5Awrite(created.id, type.id, $0.baseAddress) } }
    }
}
