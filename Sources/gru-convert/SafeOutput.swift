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

    /// A sink for `output` (HDF5), writing into this process's temporary file, with the signal cleanup armed.
    static func sink(for output: String) throws -> any TensorSink {
        let temporary = temporaryPath(for: output, process: getpid())
        SignalCleanup.arm(temporary)
        do {
            return try HDF5Writer(creating: output, temporaryPath: temporary)
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
}

/// Removes the temporary output if the process is interrupted (SIGINT, SIGTERM, SIGHUP), then exits
/// with the usual status for the signal. The path lives in C memory behind an atomic pointer, so the
/// handler only makes an atomic load and async-signal-safe calls; arming and disarming block those
/// signals while they swap it, so a handler never sees a path being freed.
enum SignalCleanup {
    /// The address of the C string, 0 when disarmed (an integer, so that the atomic is `Sendable`).
    private static let path = Atomic<UInt>(0)
    private static let signals = [SIGINT, SIGTERM, SIGHUP]

    /// Removes `temporaryPath` if one of the signals arrives from now on.
    static func arm(_ temporaryPath: String) {
        withSignalsBlocked {
            free(UnsafeMutablePointer<CChar>(bitPattern: path.exchange(UInt(bitPattern: strdup(temporaryPath)), ordering: .acquiringAndReleasing)))
            for signal in signals {
                _ = Glibc.signal(signal) { number in
                    if let path = UnsafePointer<CChar>(bitPattern: SignalCleanup.path.load(ordering: .acquiring)) { unlink(path) }
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
        }
    }

    private static func withSignalsBlocked(_ body: () -> Void) {
        var blocked = sigset_t(), previous = sigset_t()
        sigemptyset(&blocked)
        for signal in signals { sigaddset(&blocked, signal) }
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        body()
        pthread_sigmask(SIG_SETMASK, &previous, nil)
    }
}
