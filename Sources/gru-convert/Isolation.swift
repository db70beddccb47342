import CProcess
import Checkpoint
#if canImport(Glibc)
import Glibc
#endif

/// A subcommand that reads checkpoint files, and the files it reads (for the message if one crashes the
/// HDF5 library) and the output it writes (whose temporary file is removed after such a crash).
protocol ReadsCheckpoints {
    var inputFiles: [String] { get }
    var outputFile: String? { get }
}

extension ReadsCheckpoints {
    var outputFile: String? { nil }
}

/// Runs the work in a child process (`fork`), so that a file malformed enough to crash libhdf5 itself
/// (Debian's 1.10.8 has known crashes on malformed files; the fuzzer finds them in minutes) ends in
/// `error: FILE: ...` and status 2 instead of a signal. The parent only waits: the child writes all
/// output. Cost: one fork of a small process, about a millisecond (README). `GRU_CONVERT_IN_PROCESS=1`
/// runs in one process (for debuggers).
enum Isolation {
    static func run(_ reader: ReadsCheckpoints, _ work: () -> Int32) -> Int32 {
        if getenv("GRU_CONVERT_IN_PROCESS") != nil { return work() }
        let child = fork()
        if child < 0 { return work() }             // no process to spare: run here rather than not at all
        if child == 0 {
            // A crash in the child should end it quietly (the parent reports it), without the Swift
            // runtime's backtrace on stderr.
            for crash in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT] { _ = Glibc.signal(crash, SIG_DFL) }
            // And it should not outlive the parent: `kill -9` on the tool stops the work.
            _ = gp_die_with_parent()
            exit(work())                           // exit flushes what the child printed
        }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        if signal == 0 { return (status >> 8) & 0xff }
        if let output = reader.outputFile {
            unlink(SafeOutput.temporaryPath(for: output, process: child))
        }
        if signal == SIGINT || signal == SIGTERM || signal == SIGHUP { return 128 + signal }
        let name = [SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGABRT: "SIGABRT", SIGFPE: "SIGFPE", SIGILL: "SIGILL"][signal]
            ?? "signal \(signal)"
        let files = reader.inputFiles.joined(separator: ", ")
        printError("\(files): the HDF5 library crashed while reading \(reader.inputFiles.count == 1 ? "this file" : "these files") "
                   + "(\(name)); \(reader.inputFiles.count == 1 ? "it is" : "one of them is") malformed")
        return ExitStatus.badInput
    }
}

extension Inspect: ReadsCheckpoints {
    var inputFiles: [String] { [file] }
}

extension Verify: ReadsCheckpoints {
    var inputFiles: [String] { [file] + [other, reference].compactMap { $0 } }
}

extension Convert: ReadsCheckpoints {
    var inputFiles: [String] { [input] }
    var outputFile: String? { dryRun ? nil : output }
}
