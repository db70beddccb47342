import Glibc

/// The checks every output path passes before anything is written, whatever the format.
public enum OutputTarget {
    /// Refuses OUTPUT whose directory does not exist, OUTPUT that is INPUT (the same file, by device and
    /// inode, whatever the path), and OUTPUT that exists unless `force`.
    public static func check(_ output: String, input: String, force: Bool) throws {
        let slash = output.lastIndex(of: "/")
        let directory = slash.map { String(output[..<$0]) } ?? "."
        var info = stat()
        guard stat(directory.isEmpty ? "/" : directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw StoreError(.outputRefused, file: output,
                             reason: "the directory \(directory.isEmpty ? "/" : directory) does not exist")
        }
        var out = stat(), inp = stat()
        guard stat(output, &out) == 0 else { return }
        if stat(input, &inp) == 0, out.st_dev == inp.st_dev, out.st_ino == inp.st_ino {
            throw StoreError(.outputRefused, file: output, reason: "is the input file; write the conversion somewhere else")
        }
        if out.st_mode & S_IFMT == S_IFDIR {
            throw StoreError(.outputRefused, file: output, reason: "is a directory; name the output file")
        }
        guard force else {
            throw StoreError(.outputRefused, file: output, reason: "already exists (use --force to replace it)")
        }
    }

}
