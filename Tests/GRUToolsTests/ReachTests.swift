import GRUTools
import TensorStore
import Testing

/// Files that point outside themselves are refused by default, naming the object and where it points.
@Suite struct ReachTests {
    @Test(arguments: [
        ("bad/external_storage.h5", "keeps its values in another file, secret.bin (--allow-external to read it)"),
        ("bad/virtual.h5", "is a virtual dataset reading from source_of_virtual.h5 (--allow-external to read it)"),
        ("bad/external_link.h5", "is an external link to source_of_virtual.h5:/kernel, outside this file "
            + "(links are never followed; --allow-external accepts files that have them)"),
    ])
    func reachingOutsideIsRefused(_ fixture: String, _ reason: String) throws {
        let file = try HDF5File(readingFrom: Fixtures.path(fixture))
        let error = #expect(throws: StoreError.self) { _ = try file.variables() }
        #expect(error?.object == "rnn/gru_cell/gates/kernel")
        #expect(error?.reason == reason)
    }

    /// Negative control: opting in lists the datasets (external links are still not followed, so that
    /// cell lacks its kernel).
    @Test func allowExternalOptsIn() throws {
        for fixture in ["bad/external_storage.h5", "bad/virtual.h5"] {
            let file = try HDF5File(readingFrom: Fixtures.path(fixture))
            file.allowExternal = true
            #expect(CellInventory(variables: try file.variables()).cells.count == 1)
        }
        let linked = try HDF5File(readingFrom: Fixtures.path("bad/external_link.h5"))
        linked.allowExternal = true
        let inventory = CellInventory(variables: try linked.variables())
        #expect(inventory.cells.isEmpty)
        #expect(inventory.problems.first?.reason == "incomplete tf-gru-cell cell: missing gates/kernel")
    }

    @Test func ordinaryFixturesAreUnaffected() throws {
        #expect(try HDF5File(readingFrom: Fixtures.path("gru_adam.h5")).variables().count == 21)
    }
}
