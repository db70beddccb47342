import ArgumentParser
import GRUTools
import TensorStore

/// `gru-convert inspect FILE`: what a checkpoint holds and which variables form GRU cells.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a file's variables and the GRU cells they form, with layout, family and sizes.",
        discussion: """
            Reads names, types and shapes only, never the weights. Cells are recognised in every \
            TensorFlow 1 spelling (gates/kernel, gates/weights, Gates/Linear/Matrix, w_ru), in Keras's \
            layout (kernel, recurrent_kernel, bias; the bias's shape gives the family; Keras 3's \
            .weights.h5 by position, cell/vars/0..2), in PyTorch's (weight_ih_l0 ..., under any module \
            prefix), in ONNX's (each direction of a GRU node; its linear_before_reset gives the family) and in \
            the explicit form (Wr Wz Wh Ur Uz Uh br bz bh, plus bUr bUz bUh for reset-after), under any scope, \
            with or without ':0'. Keras optimizer state (optimizer_weights/, optimizer/) is never taken for \
            cells. Would-be cells whose shapes or types disagree are listed as problems, with the reason. Each \
            cell's framework, layer in the model (with the layer's recorded name) and direction are shown.

            FILE is an HDF5 file, a TensorFlow checkpoint (its prefix, its .index file, a data file \
            or the directory holding its `checkpoint` file; of a checkpoint only the index is read), a \
            safetensors file, a Keras 3 .keras archive, an ONNX model, or a PyTorch torch.save file (.pt, .pth, \
            .tar; its pickle is read as data, never run).

            Examples:
              gru-convert inspect fixtures/gru_adam.h5
              gru-convert inspect fixtures/checkpoints/tf1_adam/model.ckpt
              gru-convert inspect model.h5 --format json | jq '.cells[].scope'
            """
    )

    @Argument(help: "The file to read: HDF5, TensorFlow checkpoint, safetensors, .keras, ONNX or torch.save.")
    var file: String

    @OptionGroup var output: FormatOptions

    @OptionGroup var external: ExternalOption

    @Option(name: .customLong("max-memory"),
            help: ArgumentHelp("Refuse files whose names and shapes alone would need more memory than this (512M, 4G, ...; default: 1G).",
                               valueName: "SIZE"))
    var maxMemory: String?

    /// The budget given, or 1 GiB: names and shapes need little.
    var budget: MemoryBudget { maxMemory.flatMap(MemoryBudget.init(parsing:)) ?? MemoryBudget(bytes: 1 << 30) }

    func validate() throws {
        if let maxMemory, MemoryBudget(parsing: maxMemory) == nil {
            throw ValidationError("--max-memory takes a size such as 512M or 4G, not '\(maxMemory)'")
        }
    }

    func run() throws {
        let checkpoint = try openStore(file, external: external, budget: budget)
        let report = InspectReport(file: file, inventory: try CellInventory(checkpoint), structure: try checkpoint.structure(), source: checkpoint)
        switch output.format {
        case .json: try printJSON(report)
        case .text: print(report.text, terminator: "")
        }
    }
}
