#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An output file written safely: into a temporary file beside OUTPUT, renamed into place only when
/// complete (`rename(2)` is atomic within a directory), removed on failure or on SIGINT/SIGTERM. An
/// interrupted run, even by SIGKILL, never leaves a partial OUTPUT.
public final class SafeOutput {
    let output: String
    let temporaryPath: String
    private var committed = false

    init(for output: String) throws {
        self.output = output
        let slash = output.lastIndex(of: "/")
        let directory = slash.map { String(output[..<$0]) } ?? "."
        let base = slash.map { String(output[output.index(after: $0)...]) } ?? output
        var info = stat()
        guard stat(directory.isEmpty ? "/" : directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw CheckpointError(file: output, reason: "the directory \(directory.isEmpty ? "/" : directory) does not exist")
        }
        temporaryPath = Self.temporaryPath(for: output, process: getpid())
        SignalCleanup.arm(temporaryPath)
    }

    /// The temporary file that process `process` writes for `output`: `.NAME.gru-convert-PID.tmp` beside it.
    public static func temporaryPath(for output: String, process: Int32) -> String {
        let slash = output.lastIndex(of: "/")
        let base = slash.map { String(output[output.index(after: $0)...]) } ?? output
        let directory = slash.map { String(output[...$0]) } ?? ""
        return directory + ".\(base).gru-convert-\(process).tmp"
    }

    /// Moves the finished temporary file into place.
    func commit() throws {
        guard rename(temporaryPath, output) == 0 else {
            throw CheckpointError(file: output, reason: "cannot move the finished file into place: \(String(cString: strerror(errno)))")
        }
        committed = true
        SignalCleanup.disarm()
    }

    /// Removes the temporary file unless it was committed.
    func discard() {
        if !committed {
            unlink(temporaryPath)
            SignalCleanup.disarm()
        }
    }

    /// Refuses OUTPUT that is INPUT (the same file, by device and inode, whatever the path), and OUTPUT
    /// that exists unless `force`.
    static func checkTarget(_ output: String, input: String, force: Bool) throws {
        var out = stat(), inp = stat()
        guard stat(output, &out) == 0 else { return }
        if stat(input, &inp) == 0, out.st_dev == inp.st_dev, out.st_ino == inp.st_ino {
            throw CheckpointError(file: output, reason: "is the input file; write the conversion somewhere else")
        }
        if out.st_mode & S_IFMT == S_IFDIR {
            throw CheckpointError(file: output, reason: "is a directory; name the output file")
        }
        guard force else {
            throw CheckpointError(file: output, reason: "already exists (use --force to replace it)")
        }
    }

    static func size(of path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }
}

/// Removes the temporary output if the process is interrupted (SIGINT, SIGTERM, SIGHUP), then exits
/// with the usual status for the signal. The path lives in C memory so the handler only calls
/// async-signal-safe functions.
enum SignalCleanup {
    nonisolated(unsafe) private static var path: UnsafeMutablePointer<CChar>? = nil

    static func arm(_ temporaryPath: String) {
        disarm()
        path = strdup(temporaryPath)
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            _ = Glibc.signal(signal) { number in
                if let path = SignalCleanup.path { unlink(path) }
                _exit(128 + number)
            }
        }
    }

    static func disarm() {
        for signal in [SIGINT, SIGTERM, SIGHUP] { _ = Glibc.signal(signal, SIG_DFL) }
        if let old = path {
            path = nil
            free(old)
        }
    }
}
