/// Something a file holds besides variables, containers and attributes: another name of one of its
/// objects, a link that points by path, an object that is neither, or values that point to other objects.
/// A source lists these (`TensorSource.structure()`); a conversion carries each into a sink that can hold
/// it, and refuses (or, when the user opts out, leaves out and names) the others: never a silent drop.
public struct StructureItem: Hashable, Sendable {
    /// What the item is.
    public enum Kind: Hashable, Sendable {
        /// A further name of the object first named `of` (an HDF5 hard link): one object, not a copy.
        case secondName(of: String)
        /// A link holding a path, which may name nothing (a dangling link).
        case softLink(target: String)
        /// A link to `object` in another file, never followed.
        case externalLink(file: String, object: String)
        /// A stored datatype that variables and attributes can share (an HDF5 committed datatype).
        case namedType
        /// A variable whose elements point to the objects `targets` names (their first names; nil for a
        /// null reference).
        case references(targets: [String?])
        /// An attribute `attribute` of the item's object whose elements point to `targets`.
        case referenceAttribute(String, targets: [String?])
        /// References inside compound, array or variable-length values of the item's variable, or of
        /// its attribute `attribute`: no sink re-points them.
        case nestedReferences(attribute: String?)
        /// A link of a kind no sink makes (HDF5's user-defined links).
        case unknownLink
    }

    /// The item's path (for `referenceAttribute`, the path of the object that has the attribute).
    public var name: String
    /// What it is.
    public var kind: Kind

    /// What a reference to an object that has no name (no link reaches it) is said to point to.
    public static let unnamedObject = "(an object without a name)"

    /// The item `name` of `kind`.
    public init(name: String, kind: Kind) {
        (self.name, self.kind) = (name, kind)
    }

    /// A few words on what it is: `a soft link to /x`, `a second name of a/b` ...
    public var description: String {
        switch kind {
        case .secondName(let primary): "a second name of \(primary)"
        case .softLink(let target): "a soft link to \(target)"
        case .externalLink(let file, let object): "an external link to \(file):\(object)"
        case .namedType: "a committed datatype"
        case .references: "a dataset of references to other objects"
        case .referenceAttribute: "an attribute of references to other objects"
        case .nestedReferences(let attribute): "\(attribute == nil ? "a dataset" : "an attribute") with references inside compound, array or variable-length values"
        case .unknownLink: "a user-defined link"
        }
    }

    /// Where it appears in messages: the path, or `path@attribute` for an attribute.
    public var place: String {
        switch kind {
        case .referenceAttribute(let attribute, _), .nestedReferences(.some(let attribute)): "\(name.isEmpty ? "/" : name)@\(attribute)"
        default: name
        }
    }
}
