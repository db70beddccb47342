import TensorStore

extension ConversionPlan {
    /// Where an object of the input is in the output, by its first name: a copied dataset under its
    /// output name, a kept group or committed datatype under its own, the root as the root; nil for what
    /// the conversion replaces or leaves out. A carried second name of a dataset is named as datasets are.
    public func outputObject(_ name: String) -> String? {
        if name.isEmpty { return "" }
        return keptObjects.contains(name) || carriedDatasets.contains(name) ? outputName(ofCopied: name) : nil
    }

    /// Decides everything but the cells: the datasets copied, the groups written, and what of the input's
    /// structure (`TensorSource.structure()`) is carried, refused or (with `dropUncarried`) left out and
    /// named in a note.
    mutating func planTheRest(of file: any TensorSource, variables: [String], options: ConversionOptions) throws {
        let converted = Set(cells.flatMap { $0.datasets.flatMap(\.sources) })
        let structure = try file.structure()
        // Every name of each object that has several, under its first name.
        var namesOf: [String: [String]] = [:]
        for item in structure {
            if case .secondName(let first) = item.kind { namesOf[first, default: [first]].append(item.name) }
        }
        let secondNames = Set(namesOf.values.flatMap { $0.dropFirst() })
        var uncarried: [(place: String, reason: String)] = []
        // An object that a cell converts under one of its names has no other names in the output.
        var excluded = Set<String>()
        for (_, names) in namesOf.sorted(by: { $0.key < $1.key }) {
            guard let convertedName = names.first(where: converted.contains) else { continue }
            for name in names where !converted.contains(name) {
                uncarried.append((name, "is another name of \(convertedName), which this conversion replaces"))
                excluded.insert(name)
            }
        }
        let references = Set(structure.compactMap { item -> String? in if case .references = item.kind { item.name } else { nil } })
        let datasets = variables.filter { !converted.contains($0) && !secondNames.contains($0) && !excluded.contains($0) }

        containers = try groupsKept(of: file, variables: variables, structure: structure, converted: converted, secondNames: secondNames)
        let namedTypes = structure.filter { $0.kind == .namedType }.map(\.name)
        keptObjects = Set(datasets).union(containers).union(namedTypes)

        let (carried, refused) = classify(structure, output: options.carriesStructure ? nil : options.flatOutputName,
                                          converted: converted, excluded: excluded, datasets: datasets, namedTypes: namedTypes)
        uncarried += refused.map { ($0.key, $0.value) }
        // Converted tensors' attributes move with their pieces (under any of the tensor's names), but
        // references in them would be lost.
        for item in structure where converted.contains(item.name) || excluded.contains(item.name) {
            switch item.kind {
            case .referenceAttribute, .nestedReferences(.some):
                uncarried.append((item.place, "holds references to other objects, on a tensor this conversion replaces"))
            default: continue
            }
        }
        uncarried.sort { $0.place.utf8.lexicographicallyPrecedes($1.place.utf8) }
        self.carried = carried
        // Datasets of references are carried (or not at all); nested ones are never copied as raw bytes.
        let nested = Set(structure.filter { $0.kind == .nestedReferences(attribute: nil) }.map(\.name))
        copied = datasets.filter { !references.contains($0) && !nested.contains($0) }
        carriedDatasets = carried.filter { item in
            switch item.kind {
            case .references: true
            case .secondName(let first): variables.contains(first)
            default: false
            }
        }.map(\.name)
        let inputGroups = Set(try file.containers())
        for item in carried {
            guard case .softLink(let target) = item.kind, let resolved = Self.resolve(target, from: item.name) else { continue }
            let removedGroup = !containers.contains(resolved) && !secondNames.contains(resolved) && inputGroups.contains(resolved)
            guard converted.contains(resolved) || removedGroup else { continue }
            notes.append("soft link \(item.name) names \(target), which this conversion \(removedGroup ? "removes" : "replaces"); "
                         + "it is carried as it is, naming nothing in the output until the cell is fused back")
        }
        guard let first = uncarried.first else { return }
        guard options.dropUncarried else {
            throw StoreError(.unsupportedType, file: file.path, object: first.place,
                             reason: "\(first.reason)" + (uncarried.count > 1 ? " (and \(uncarried.count - 1) more that cannot be carried)" : "")
                                 + "; --drop-unsupported converts without \(uncarried.count > 1 ? "them" : "it"), listing what is left out")
        }
        let shown = uncarried.prefix(3).map { "\($0.place) (\($0.reason.hasPrefix("is ") ? String($0.reason.dropFirst(3)) : $0.reason))" }
        notes.append("\(uncarried.count) object\(uncarried.count == 1 ? "" : "s") left out (--drop-unsupported): "
                     + shown.joined(separator: ", ") + (uncarried.count > 3 ? ", ..." : ""))
    }

    /// The groups written: every group of the input but second names of groups and those that held only
    /// converted datasets (`gates/`, `Gates/Linear/` ...), which disappear with them unless they have
    /// attributes (other than the split's own record on a scope being fused) or hold what a cell writes.
    /// Groups that hold anything else (a link too), or nothing, are kept.
    private func groupsKept(of file: any TensorSource, variables: [String], structure: [StructureItem], converted: Set<String>,
                            secondNames: Set<String>) throws -> [String] {
        var holdsKept = Set(cells.flatMap { $0.datasets.flatMap { VariableName.ancestors(of: $0.name) } }), holdsAny = Set<String>()
        let linked = structure.filter { if case .referenceAttribute = $0.kind { false } else { true } }.map(\.name)
        for name in variables + linked {
            let ancestors = VariableName.ancestors(of: name)
            holdsAny.formUnion(ancestors)
            if !converted.contains(name) { holdsKept.formUnion(ancestors) }
        }
        let fusedScopes = Set(cells.filter { !$0.to.isExplicit }.map(\.scope))
        return try file.containers().filter { group in
            guard !secondNames.contains(group) else { return false }
            if holdsKept.contains(group) || !holdsAny.contains(group) { return true }
            return try file.attributeNames(of: group).contains { !fusedScopes.contains(group) || $0 != Self.layoutAttribute }
        }
    }

    /// Which items are carried and why each other one cannot be (by place), into an output that holds
    /// structure (`output` nil) or not (its name). References are carried when every object they point to
    /// is written; a dataset of references counts once it is carried itself, hence the repetition, which
    /// also settles `keptObjects`.
    private mutating func classify(_ structure: [StructureItem], output: String?, converted: Set<String>, excluded: Set<String>,
                                   datasets: [String], namedTypes: [String]) -> (carried: [StructureItem], refused: [String: String]) {
        let references = Set(structure.compactMap { item -> String? in if case .references = item.kind { item.name } else { nil } })
        func why(_ target: String) -> String {
            target == StructureItem.unnamedObject ? "one to \(target)"
                : "one to \(target), which this conversion \(converted.contains(target) ? "replaces" : "leaves out")"
        }
        while true {
            var carried: [StructureItem] = [], refused: [String: String] = [:]
            for item in structure where !converted.contains(item.name) && !excluded.contains(item.name) {
                if let output {
                    refused[item.place] = "is \(item.description), which \(output) cannot hold"
                    continue
                }
                switch item.kind {
                case .secondName(let first):
                    if outputObject(first) != nil {
                        carried.append(item)
                    } else {
                        refused[item.place] = "is a second name of \(first), which this conversion leaves out"
                    }
                case .softLink, .externalLink, .namedType:
                    carried.append(item)
                case .references(let targets), .referenceAttribute(_, let targets):
                    if case .referenceAttribute = item.kind, outputObject(item.name) == nil {
                        refused[item.place] = "holds references to other objects, on an object this conversion does not copy"
                    } else if let target = targets.compactMap({ $0 }).first(where: { outputObject($0) == nil }) {
                        refused[item.place] = references.contains(item.place)
                            ? "is \(item.description), \(why(target))" : "holds references to other objects, \(why(target))"
                    } else {
                        carried.append(item)
                    }
                case .nestedReferences:
                    refused[item.place] = "is \(item.description), which convert cannot re-point"
                case .unknownLink:
                    refused[item.place] = "is \(item.description), which convert cannot carry"
                }
            }
            let carriedReferences = Set(carried.filter { if case .references = $0.kind { true } else { false } }.map(\.name))
            let before = keptObjects
            keptObjects = Set(datasets).subtracting(references).union(containers).union(namedTypes).union(carriedReferences)
            if keptObjects == before { return (carried, refused) }
        }
    }

    /// The object name (no leading `/`) a soft link's path names, absolute or relative to the link's group,
    /// without following further links; nil for `..` (HDF5 has no parent step: a link named `..` is meant).
    static func resolve(_ target: String, from link: String) -> String? {
        var parts = target.hasPrefix("/") ? [] : Array(link.split(separator: "/").dropLast())
        for part in target.split(separator: "/") where part != "." {
            guard part != ".." else { return nil }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }
}
