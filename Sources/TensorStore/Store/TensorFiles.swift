/// Opens a file of tensors in whichever format it is, judged by content, so the command line takes any.
public enum TensorFiles {
    /// Opens `path` as HDF5 when it carries HDF5's signature (`HDF5File`), as a Keras archive when it is
    /// named `.keras` (`KerasArchive`: the zip's `model.weights.h5`, read in memory, and its `config.json`), as ONNX when
    /// named `.onnx` (`ONNXFile`), as PyTorch's `torch.save` when named so and starting as a zip or a pickle
    /// (`TorchSaveFile`), as safetensors when it starts like one or is named `.safetensors` (`SafetensorsFile`), else as a TensorFlow V2
    /// checkpoint (`TFCheckpointFile`: a prefix, its `.index`, a `.data-*` or `.meta` file, a `checkpoint`
    /// state file or a directory); anything else gets an error saying what it is and what to pass.
    /// `memoryBudget` is given to the source before it reads anything it must keep (the checkpoint's index).
    public static func open(_ path: String, memoryBudget: MemoryBudget = .machineDefault) throws -> any TensorSource {
        let kind = PathKind(path)
        let named = ["h5", "hdf5", "he5", "keras"].contains { path.lowercased().hasSuffix("." + $0) }
        if case .regular = kind, let file = try? ReadOnlyFile(path) {
            if CheckpointLocation.isHDF5(file) { return try hdf5(path, memoryBudget) }
            if path.lowercased().hasSuffix(".keras") { return try KerasArchive(readingFrom: path, memoryBudget: memoryBudget) }
            if path.lowercased().hasSuffix(".onnx") { return try ONNXFile(readingFrom: path, memoryBudget: memoryBudget) }
            if SafetensorsFile.looksLikeSafetensors(file) || path.lowercased().hasSuffix(".safetensors") {
                return try SafetensorsFile(readingFrom: path, memoryBudget: memoryBudget)
            }
            if isTorchSave(path, file) { return try TorchSaveFile(readingFrom: path, memoryBudget: memoryBudget) }
        }
        if kind == .missing, named, !PathKind(path + ".index").isFile {
            return try hdf5(path, memoryBudget)  // its own "no such file"
        }
        if kind == .missing, [".pt", ".pth"].contains(where: path.lowercased().hasSuffix) {
            return try TorchSaveFile(readingFrom: path, memoryBudget: memoryBudget)  // its own "no such file"
        }
        if kind == .missing, path.lowercased().hasSuffix(".safetensors") {
            return try SafetensorsFile(readingFrom: path, memoryBudget: memoryBudget)  // its own "no such file"
        }
        do {
            return try TFCheckpointFile(readingFrom: path, memoryBudget: memoryBudget)
        } catch let error as StoreError where error.file == path
            && [CheckpointLocation.notACheckpoint, CheckpointLocation.emptyFile].contains(error.reason) {
            let what = error.reason == CheckpointLocation.emptyFile
                ? "empty file, not an HDF5 file" : "not an HDF5 file (no HDF5 signature found)"
            throw StoreError(.wrongFormat, file: path, reason: "\(what), nor a safetensors file or a TensorFlow checkpoint; pass an HDF5 "
                             + "or safetensors file, or a checkpoint's prefix (PREFIX for PREFIX.index + PREFIX.data-00000-of-00001), "
                             + ".index file or directory")
        }
    }

    /// Whether the file is PyTorch's `torch.save`: named as PyTorch names them (`.pt`, `.pth`, `.tar`, `.bin`,
    /// Lightning's `.ckpt`) and starting as a zip (torch >= 1.6) or a pickle (the legacy format).
    static func isTorchSave(_ path: String, _ file: ReadOnlyFile) -> Bool {
        let name = path.lowercased()
        let start = (try? file.read(at: 0, count: min(4, file.size))) ?? []
        return [".pt", ".pth", ".ckpt", ".tar", ".bin"].contains(where: name.hasSuffix) && (start == [0x50, 0x4B, 0x03, 0x04] || start.first == 0x80)
    }

    private static func hdf5(_ path: String, _ memoryBudget: MemoryBudget) throws -> HDF5File {
        let file = try HDF5File(readingFrom: path)
        file.memoryBudget = memoryBudget
        return file
    }
}
