import ArgumentParser
import GRUTools
import TensorStore

/// `gru-convert convert INPUT OUTPUT`: split fused GRU cells into explicit per-gate tensors, or fuse them back.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Split fused GRU cells into per-gate tensors or fuse them back, losing nothing; or move them to Keras, PyTorch or ONNX.",
        discussion: """
            --to explicit (default) writes Wr Wz Wh Ur Uz Uh br bz bh for a reset-before cell (TensorFlow 1 \
            GRUCell, Keras reset_after=False) and adds the recurrent biases bUr bUz bUh for a reset-after \
            one (Keras reset_after=True). --to fused writes a split cell back in the layout it was split \
            from (TensorFlow GRUCell or Keras GRU), or TensorFlow's GRUCell (reset-before) or Keras's \
            reset_after=True GRU (reset-after) for explicit cells of unknown origin. A Keras GRU without a \
            bias records neither its family nor biases and is refused (leave it out with --cell).

            Every GRU cell (or each --cell) is written in the chosen form under its scope; its optimizer \
            slots are converted alongside (gates/kernel/Adam:0 becomes Wr/Adam:0 ...), so training can \
            resume. Every other dataset is copied whole (values, type, shape, attributes, chunking, \
            compression), and group and file attributes are kept. Into HDF5, every other object is carried: \
            each name of a hard-linked object, soft and external links (never followed), committed \
            datatypes, and references, re-pointed to the objects as written. Values move as raw elements: \
            float16, float32 and float64 come out bit-identical, and a split followed by a fuse gives back \
            the input.

            --names keep (default) keeps each cell's scope; fusing returns a split cell to the names and \
            layout it was split from. --names tf writes TF >= 1.2 names and scopes (RNN -> rnn, \
            MultiRNNCell/CellN -> multi_rnn_cell/cell_N, BiRNN/FW -> bidirectional_rnn/fw, GRUCell -> \
            gru_cell, Gates/Linear/Matrix -> gates/kernel); --names legacy the TF <= 0.12 ones. \
            --to fused --names tf renames a legacy checkpoint without splitting it.

            --to keras (Keras 2 weights .h5), keras3 (Keras 3 .weights.h5; the default for OUTPUT named so), \
            torch (a PyTorch nn.GRU state dict: safetensors, or torch.save's zip for OUTPUT.pt/.pth, the default \
            for such a name) and onnx (the default for OUTPUT.onnx) move the \
            GRU cells into another framework: the cells are arranged as the model's layers (order from the \
            names, or from sizes; directions from fw/bw, forward_/backward_, _reverse), each written in the \
            framework's layout of its family under the framework's names, with what its loader needs \
            (layer_names and weight_names for Keras 2, vars groups for Keras 3). Within a family this is exact: \
            values are reordered, transposed and placed, never computed. Across families it is impossible: a \
            reset-before cell (TensorFlow 1 GRUCell, Keras reset_after=False) into PyTorch is refused with the \
            difference measured on the file's own weights; Keras and ONNX hold both families. A Keras GRU \
            without a bias needs --reset-after true|false. What the framework's file cannot hold (other \
            variables, optimizer slots, links) is refused by name, or left out and named with \
            --drop-unsupported; the input's attributes are named in a note.

            OUTPUT ending in .safetensors is a safetensors file laid out as safetensors.torch.save_file \
            lays it out (a PyTorch file split and fused back comes out byte for byte, but for __metadata__ \
            keys, which pass through HDF5 in name order); it holds no attributes \
            but the file's strings (__metadata__) and a split cell's record, so any other is an error naming \
            it (or left out with --drop-attributes).

            OUTPUT ending in .ckpt is a TensorFlow checkpoint prefix: OUTPUT.index and \
            OUTPUT.data-00000-of-00001 are written (V2 format, one shard), every tensor of any type \
            carried; a checkpoint holds no attributes, so an attribute to copy is an error naming it (convert \
            to HDF5 to keep it), except the split-layout record gru_convert_layout, left out with a note. Any \
            other OUTPUT is an HDF5 file; bool tensors become h5py's bool enum, strings variable-length \
            strings; bfloat16, complex and quantized tensors are refused.

            OUTPUT is written to a temporary file beside it and moved into place when complete. An existing \
            OUTPUT is refused unless --force; OUTPUT that is INPUT is always refused. INPUT is only read.

            Examples:
              gru-convert convert model.h5 model_explicit.h5
              gru-convert convert model_explicit.h5 model_again.h5 --to fused
              gru-convert convert old_0.12.h5 renamed.h5 --to fused --names tf --dry-run
              gru-convert convert model.h5 out.h5 --cell rnn/multi_rnn_cell/cell_0/gru_cell
              gru-convert convert model.ckpt keras_weights.h5 --to keras
              gru-convert convert gru.safetensors model.weights.h5
            """
    )

    @Argument(help: "The checkpoint to read.")
    var input: String

    @Argument(help: "The checkpoint to write.")
    var output: String

    @Option(help: ArgumentHelp("explicit: one tensor per gate (Wr ... bh, plus bUr bUz bUh for reset-after); fused: the cell's fused layout; keras: Keras 2 weights .h5; keras3: Keras 3 .weights.h5; torch: PyTorch nn.GRU safetensors or .pt; onnx: an ONNX model. Default: from OUTPUT's name (.onnx: onnx, .weights.h5: keras3, .pt/.pth: torch), else explicit.", valueName: "explicit|fused|keras|keras3|torch|onnx"))
    var to: Target?

    @Option(name: .customLong("reset-after"), help: ArgumentHelp(
        "For cells whose tensors do not record it (a Keras GRU without a bias): true if the reset acts after the recurrent product (Keras reset_after=True), false if before.",
        valueName: "true|false"))
    var resetAfter: Bool?

    @Option(help: "keep: each cell's scope (and, fusing, its original layout); tf: TF >= 1.2 names; legacy: TF <= 0.12 names.")
    var names: Names = .keep

    @Option(name: .customLong("cell"), help: ArgumentHelp("Convert only this cell (repeatable).", valueName: "SCOPE"))
    var cells: [String] = []

    @Flag(help: "Replace OUTPUT if it exists.")
    var force = false

    @Flag(help: "Print what would be written, without writing.")
    var dryRun = false

    @Flag(help: "Convert files holding what cannot be carried (a second name of or a reference to a tensor the conversion replaces; links, datatypes and references in a checkpoint), leaving it out and naming it in a note, instead of refusing.")
    var dropUnsupported = false

    @Flag(help: "Leave out attributes the output cannot hold (a TensorFlow checkpoint holds none), naming them in a note, instead of refusing to convert.")
    var dropAttributes = false

    @OptionGroup var output_: FormatOptions

    @OptionGroup var external: ExternalOption

    @OptionGroup var memory: MemoryOption

    enum Target: String, ExpressibleByArgument, CaseIterable { case explicit, fused, keras, keras3, torch, onnx }

    /// `--to`, or what OUTPUT's name implies: `.onnx` an ONNX model, `.weights.h5` Keras 3's weights file
    /// (the name Keras itself dispatches on); anything else the explicit form.
    var target: ConversionTarget {
        if let to { return ConversionTarget(rawValue: to.rawValue)! }
        let name = output.lowercased()
        if name.hasSuffix(".onnx") { return .onnx }
        if name.hasSuffix(".weights.h5") { return .keras3 }
        if SafeOutput.isTorchSave(output) { return .torch }
        return .explicit
    }

    func validate() throws {
        let name = output.lowercased()
        switch target {
        case .onnx where !name.hasSuffix(".onnx"):
            throw ValidationError("--to onnx writes an ONNX model: name OUTPUT *.onnx")
        case .torch where !SafeOutput.isSafetensors(output) && !SafeOutput.isTorchSave(output):
            throw ValidationError("--to torch writes a safetensors file or a torch.save file: name OUTPUT *.safetensors, *.pt or *.pth")
        case .keras3 where !name.hasSuffix(".weights.h5"):
            throw ValidationError("--to keras3 writes a Keras 3 weights file, which Keras loads only when it is named *.weights.h5")
        case .keras where !name.hasSuffix(".h5") || name.hasSuffix(".weights.h5"):
            throw ValidationError("--to keras writes a Keras 2 weights file, which Keras loads as one only when it is named *.h5 "
                                  + "but not *.weights.h5")
        case .explicit where name.hasSuffix(".onnx"), .fused where name.hasSuffix(".onnx"):
            throw ValidationError("an ONNX model holds GRU nodes, not \(target.rawValue) tensors: use --to onnx")
        default: break
        }
        if name.hasSuffix(".keras") {
            throw ValidationError("gru-convert does not write .keras archives; write --to keras3 OUTPUT.weights.h5 and load it with "
                                  + "model.load_weights")
        }
    }
    enum Names: String, ExpressibleByArgument, CaseIterable { case keep, tf, legacy }

    func run() throws {
        let file = try openStore(input, external: external, budget: memory.budget)
        let opened = FileIdentity.snapshot(of: file)     // a change from here on fails the conversion
        var options = ConversionOptions(target: target,
                                        names: NameStyle(rawValue: names.rawValue)!, cells: cells,
                                        flatOutput: SafeOutput.isCheckpoint(output) || SafeOutput.isSafetensors(output)
                                            || SafeOutput.isONNX(output) || SafeOutput.isTorchSave(output))
        if SafeOutput.isSafetensors(output) { options.flatOutputName = "a safetensors file" }
        options.dropUncarried = dropUnsupported
        options.declaredFamily = resetAfter.map { $0 ? .resetAfter : .resetBefore }
        let plan = try ConversionPlan.make(for: file, options: options)
        var bytes: Int? = nil
        // Every refusal of a real run, --dry-run included. A checkpoint is two files; the input is compared
        // by its index file when it is a checkpoint.
        let inputFile = (file as? TFCheckpointFile)?.indexPath ?? input
        for target in SafeOutput.files(of: output) {
            try OutputTarget.check(target, input: inputFile, force: force)
        }
        if !dryRun {
            var converter = Converter()
            converter.inputIdentity = opened
            let progress = ProgressLine()
            converter.progress = { index, count, scope in progress.show("converting cell \(index + 1) of \(count): \(scope)") }
            let sink = try SafeOutput.sink(for: output, force: force, dropAttributes: dropAttributes)
            defer { SignalCleanup.disarm() }
            try converter.write(plan, from: file, to: sink)
            bytes = SafeOutput.outputSize(of: output)
            progress.clear()
            for note in sink.notes { writeToStandardError("note: \(note)\n") }
        }
        for note in plan.notes { writeToStandardError("note: \(note)\n") }
        let report = ConvertReport(input: input, output: output, options: options, plan: plan, bytes: bytes)
        switch output_.format {
        case .json: try printJSON(report)
        case .text: print(report.text, terminator: "")
        }
    }
}
