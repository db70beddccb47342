/// The parts of a TF2 checkpoint's `_CHECKPOINTABLE_OBJECT_GRAPH` (a `TrackableObjectGraph`, §9 of the
/// format notes) that name its variables: every node's `attributes` (`SerializedTensor {name = 1,
/// full_name = 2, checkpoint_key = 3}`) and `slot_variables` (`{original_variable_node_id = 1,
/// slot_name = 2, slot_variable_node_id = 3}`). The tree of `children` is not needed: names come from
/// `full_name`, and the raw key stands for the path.
struct TFObjectGraph: Sendable {
    /// The key the graph is stored under.
    static let key = "_CHECKPOINTABLE_OBJECT_GRAPH"

    /// One saved tensor of an object.
    struct Attribute: Hashable, Sendable {
        /// `name` (`VARIABLE_VALUE`).
        var name: String
        /// `full_name`: the variable's own name (`encoder_gru/gru_cell/kernel`), maybe empty.
        var fullName: String
        /// `checkpoint_key`: the index key of its value.
        var checkpointKey: String
    }

    /// An optimizer slot: which variable it belongs to, its name, and the node holding its value.
    struct SlotVariable: Hashable, Sendable {
        /// `original_variable_node_id`: the node of the variable the slot belongs to.
        var originalNode: Int
        /// `slot_name` (`m`, `v`, `momentum`).
        var slotName: String
        /// `slot_variable_node_id`: the node holding the slot's value.
        var slotNode: Int
    }

    /// One trackable object.
    struct Node: Sendable {
        /// `attributes`: the tensors saved for this object.
        var attributes: [Attribute] = []
        /// `slot_variables`: optimizer slots this (optimizer) object keeps.
        var slotVariables: [SlotVariable] = []
    }

    /// Node 0 is the root.
    var nodes: [Node] = []

    /// Parses a serialized `TrackableObjectGraph` (`nodes` = 1; in a node `attributes` = 2 and
    /// `slot_variables` = 3); everything else is skipped.
    init(_ bytes: [UInt8]) throws(ByteCursor.Failure) {
        var reader = ProtobufReader(bytes)
        while let field = try reader.next() {
            guard field.number == 1, field.wireType == .lengthDelimited else {
                try reader.skip(field)
                continue
            }
            var node = Node()
            var object = ProtobufReader(try reader.lengthDelimited())
            while let inner = try object.next() {
                guard inner.wireType == .lengthDelimited, inner.number == 2 || inner.number == 3 else {
                    try object.skip(inner)
                    continue
                }
                var message = ProtobufReader(try object.lengthDelimited())
                switch inner.number {
                case 2:
                    var attribute = Attribute(name: "", fullName: "", checkpointKey: "")
                    while let part = try message.next() {
                        switch (part.number, part.wireType) {
                        case (1, .lengthDelimited): attribute.name = try message.string()
                        case (2, .lengthDelimited): attribute.fullName = try message.string()
                        case (3, .lengthDelimited): attribute.checkpointKey = try message.string()
                        default: try message.skip(part)
                        }
                    }
                    node.attributes.append(attribute)
                default:
                    var slot = SlotVariable(originalNode: -1, slotName: "", slotNode: -1)
                    while let part = try message.next() {
                        switch (part.number, part.wireType) {
                        case (1, .varint): slot.originalNode = Int(try message.int32())
                        case (2, .lengthDelimited): slot.slotName = try message.string()
                        case (3, .varint): slot.slotNode = Int(try message.int32())
                        default: try message.skip(part)
                        }
                    }
                    node.slotVariables.append(slot)
                }
            }
            nodes.append(node)
        }
    }

    /// Every attribute of every node with the node it belongs to.
    var attributes: [(node: Int, attribute: Attribute)] {
        nodes.enumerated().flatMap { index, node in node.attributes.map { (index, $0) } }
    }
}
