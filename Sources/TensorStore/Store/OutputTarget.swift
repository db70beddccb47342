import CStorage
import Glibc

/// The checks every output path passes before anything is written, whatever the format.
public enum OutputTarget {
    /// Refuses an empty OUTPUT, OUTPUT whose directory does not exist, OUTPUT that is INPUT (the same file,
    /// by device and inode, whatever the path), OUTPUT that is anything but a regular file (a FIFO, a
    /// device such as /dev/null, a socket, a directory, a symbolic link: publishing would replace the
    /// entry, even with `force`), and OUTPUT that exists unless `force`.
    public static func check(_ output: String, input: String, force: Bool) throws {
        guard !output.isEmpty else {
            throw StoreError(.outputRefused, file: "''", reason: "OUTPUT is empty; name the file to write")
        }
        let slash = output.lastIndex(of: "/")
        let directory = slash.map { String(output[..<$0]) } ?? "."
        var info = stat()
        guard stat(directory.isEmpty ? "/" : directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw StoreError(.outputRefused, file: output,
                             reason: "the directory \(directory.isEmpty ? "/" : directory) does not exist")
        }
        var out = stat(), target = stat(), inp = stat()
        guard lstat(output, &out) == 0 else { return }
        // The input under any name, through links too.
        if stat(output, &target) == 0, stat(input, &inp) == 0, target.st_dev == inp.st_dev, target.st_ino == inp.st_ino {
            throw StoreError(.outputRefused, file: output, reason: "is the input file; write the conversion somewhere else")
        }
        try checkReplaceable(output, out)
        guard force else {
            throw StoreError(.outputRefused, file: output, reason: "already exists (use --force to replace it)")
        }
    }

    /// Refuses an existing OUTPUT that is not a regular file (`info` from `lstat`).
    static func checkReplaceable(_ output: String, _ info: stat) throws {
        let kind: String? = switch info.st_mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "is a directory; name the output file"
        case S_IFLNK: "is a symbolic link; name the file itself, or remove the link (the link would be replaced, not its target)"
        case S_IFIFO: "is a FIFO; the output must be a regular file (it is written beside, then renamed into place)"
        case S_IFCHR, S_IFBLK: "is a device; the output must be a regular file (it is written beside, then renamed into place)"
        default: "is not a regular file; the output must be one"
        }
        if let kind { throw StoreError(.outputRefused, file: output, reason: kind + (info.st_mode & S_IFMT == S_IFDIR ? "" : ", even with --force")) }
    }

    /// Syncs the directory holding `path`, so that a rename into it survives a power cut; best effort.
    public static func syncDirectory(of path: String) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let descriptor = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }

    /// Moves the finished `temporary` file to `output`: never over an entry that is not a regular file,
    /// and, unless `replace`, never over anything (a file that appeared since the checks is kept:
    /// `renameat2` with `RENAME_NOREPLACE`).
    public static func publish(_ temporary: String, as output: String, replace: Bool) throws {
        var info = stat()
        if lstat(output, &info) == 0 {
            try checkReplaceable(output, info)
            guard replace else {
                throw StoreError(.outputRefused, file: output, reason: "appeared while the conversion ran (use --force to replace it)")
            }
        }
        let moved = replace ? rename(temporary, output) : gc_rename_noreplace(temporary, output)
        guard moved == 0 else {
            let error = errno
            if error == EEXIST {
                throw StoreError(.outputRefused, file: output, reason: "appeared while the conversion ran (use --force to replace it)")
            }
            throw StoreError(.writeFailed, file: output, reason: "cannot move the finished file into place: \(systemErrorDescription(error))")
        }
    }
}
