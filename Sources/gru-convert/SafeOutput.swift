import Glibc

import Synchronization
import TensorStore

/// Where `convert` writes: a temporary file beside OUTPUT, named by this process, that the sink renames
/// into place only when complete (`rename(2)` is atomic within a directory) and that the signal handler
/// removes on SIGINT/SIGTERM/SIGHUP. An interrupted run, even by SIGKILL, never leaves a partial OUTPUT.
enum SafeOutput {
    /// The temporary file that process `process` writes for `output`: `.NAME.gru-convert-PID.tmp` beside it.
    static func temporaryPath(for output: String, process: Int32) -> String {
        let slash = output.lastIndex(of: "/")
        let base = slash.map { String(output[output.index(after: $0)...]) } ?? output
        let directory = slash.map { String(output[...$0]) } ?? ""
        return directory + ".\(base).gru-convert-\(process).tmp"
    }

    /// Whether `output` names a TensorFlow checkpoint to write: a prefix ending in `.ckpt`.
    static func isCheckpoint(_ output: String) -> Bool { output.hasSuffix(".ckpt") }

    /// Whether `output` names a safetensors file to write (`.safetensors`).
    static func isSafetensors(_ output: String) -> Bool { output.lowercased().hasSuffix(".safetensors") }

    /// Whether `output` names a `torch.save` file to write (`.pt`, `.pth`).
    static func isTorchSave(_ output: String) -> Bool { [".pt", ".pth"].contains { output.lowercased().hasSuffix($0) } }

    /// Whether `output` names an ONNX model to write (`.onnx`).
    static func isONNX(_ output: String) -> Bool { output.lowercased().hasSuffix(".onnx") }

    /// The files a conversion creates for `output`: the checkpoint's index and data file for a `.ckpt`
    /// prefix, the file itself otherwise.
    static func files(of output: String) -> [String] {
        isCheckpoint(output) ? [output + ".index", output + ".data-00000-of-00001"] : [output]
    }

    /// Every temporary file process `process` writes for `output`: one per file of `files(of:)`, and for a
    /// safetensors file a second one holding the tensors' bytes until the header is known.
    static func temporaries(of output: String, process: Int32) -> [String] {
        let paths = files(of: output).map { temporaryPath(for: $0, process: process) }
        return isSafetensors(output) || isONNX(output) || isTorchSave(output) ? paths + [paths[0] + ".data"] : paths
    }

    /// A sink for `output`, writing into this process's temporary files (one per file of `files(of:)`),
    /// with the signal cleanup armed: a TensorFlow checkpoint for a prefix ending in `.ckpt`, a safetensors
    /// file for `.safetensors`, HDF5 otherwise.
    static func sink(for output: String, force: Bool, dropAttributes: Bool = false) throws -> any TensorSink {
        let temporaries = temporaries(of: output, process: getpid())
        SignalCleanup.arm(temporaries)
        do {
            let writer: any PublishingSink
            if isTorchSave(output) {
                writer = try TorchSaveWriter(creating: output, temporaryPath: temporaries[0], temporaryDataPath: temporaries[1])
            } else if isONNX(output) {
                writer = try ONNXWriter(creating: output, temporaryPath: temporaries[0], temporaryDataPath: temporaries[1])
            } else if isSafetensors(output) {
                let safetensors = try SafetensorsWriter(creating: output, temporaryPath: temporaries[0], temporaryDataPath: temporaries[1])
                safetensors.dropsAttributes = dropAttributes
                writer = safetensors
            } else if isCheckpoint(output) {
                let checkpoint = try TFCheckpointWriter(creating: output, temporaryIndexPath: temporaries[0], temporaryDataPath: temporaries[1])
                checkpoint.dropsAttributes = dropAttributes
                writer = checkpoint
            } else {
                writer = try HDF5Writer(creating: output, temporaryPath: temporaries[0])
            }
            writer.replacesExisting = force
            // libhdf5 is done with: its shutdown runs now, so that a heap a malformed input damaged inside it
            // fails before OUTPUT appears (then the parent removes the temporary file), never after.
            writer.beforePublishing = HDF5Calls.shutDownLibrary
            return writer
        } catch {
            SignalCleanup.disarm()
            throw error
        }
    }

    /// The size of a file in bytes, 0 if it cannot be read.
    static func size(of path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    /// The bytes of every file of `output`.
    static func outputSize(of output: String) -> Int { files(of: output).reduce(0) { $0 + size(of: $1) } }
}

/// Removes the temporary output if the process is interrupted (SIGINT, SIGTERM, SIGHUP), then exits
/// with the usual status for the signal. The path lives in C memory behind an atomic pointer, so the
/// handler only makes an atomic load and async-signal-safe calls; arming and disarming block those
/// signals while they swap it, so a handler never sees a path being freed.
enum SignalCleanup {
    /// The addresses of the C strings (up to two files), 0 when disarmed (integers, so that the atomics
    /// are `Sendable`).
    private static let path = Atomic<UInt>(0)
    private static let secondPath = Atomic<UInt>(0)
    private static let signals = [SIGINT, SIGTERM, SIGHUP]

    /// Removes `temporaryPath` if one of the signals arrives from now on.
    static func arm(_ temporaryPath: String) { arm([temporaryPath]) }

    /// Removes the temporary paths (one or two) if one of the signals arrives from now on.
    static func arm(_ temporaryPaths: [String]) {
        precondition((1...2).contains(temporaryPaths.count))
        withSignalsBlocked {
            free(UnsafeMutablePointer<CChar>(bitPattern: path.exchange(UInt(bitPattern: strdup(temporaryPaths[0])), ordering: .acquiringAndReleasing)))
            let second = temporaryPaths.count > 1 ? UInt(bitPattern: strdup(temporaryPaths[1])) : 0
            free(UnsafeMutablePointer<CChar>(bitPattern: secondPath.exchange(second, ordering: .acquiringAndReleasing)))
            for signal in signals {
                _ = Glibc.signal(signal) { number in
                    if let path = UnsafePointer<CChar>(bitPattern: SignalCleanup.path.load(ordering: .acquiring)) { unlink(path) }
                    if let path = UnsafePointer<CChar>(bitPattern: SignalCleanup.secondPath.load(ordering: .acquiring)) { unlink(path) }
                    _exit(128 + number)
                }
            }
        }
    }

    /// Restores the default handlers and forgets the path.
    static func disarm() {
        withSignalsBlocked {
            for signal in signals { _ = Glibc.signal(signal, SIG_DFL) }
            free(UnsafeMutablePointer<CChar>(bitPattern: path.exchange(0, ordering: .acquiringAndReleasing)))
            free(UnsafeMutablePointer<CChar>(bitPattern: secondPath.exchange(0, ordering: .acquiringAndReleasing)))
        }
    }

    private static func withSignalsBlocked(_ body: () -> Void) {
        var blocked = sigset_t(), previous = sigset_t()
        sigemptyset(&blocked)
        for signal in signals { sigaddset(&blocked, signal) }
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        body()
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        // Armed or not, the signals must be able to arrive: a mask inherited with them blocked would keep
        // them pending until the process ends, and the temporary file would outlive an interrupt.
        pthread_sigmask(SIG_UNBLOCK, &blocked, nil)
    }
}
