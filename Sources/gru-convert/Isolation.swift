import CProcess
import GRUTools
import TensorStore
import Glibc

/// A subcommand that reads checkpoint files, and the files it reads (for the message if one crashes the
/// HDF5 library) and the output it writes (whose temporary file is removed after such a crash).
protocol ReadsCheckpoints {
    var inputFiles: [String] { get }
    var outputFile: String? { get }
    /// The memory budget the work runs under.
    var memoryBudget: MemoryBudget { get }
}

extension ReadsCheckpoints {
    var outputFile: String? { nil }
    var memoryBudget: MemoryBudget { .machineDefault }
}

/// Runs the work in a child process (`fork`), so that a file malformed enough to crash libhdf5 itself
/// (Debian's 1.10.8 has known crashes on malformed files; the fuzzer finds them in minutes), or to make
/// it loop forever, ends in `error: FILE: ...` and status 2 instead of a signal or a hang. The parent
/// only watches: the child writes all output, and publishes its count of HDF5 calls in shared memory; a count
/// that stops moving for `stallSeconds` (default 120, `GRU_CONVERT_STALL_SECONDS`) means libhdf5 is stuck
/// in one call. Cost: one fork of a small process (docs/SECURITY.md). `GRU_CONVERT_IN_PROCESS=1` runs in one
/// process (for debuggers).
enum Isolation {
    static var stallSeconds: Double {
        getenv("GRU_CONVERT_STALL_SECONDS").flatMap { Double(String(cString: $0)) } ?? 120
    }

    /// Copies the number of HDF5 calls made (`HDF5Calls.count`) into `counter`, memory the parent watches,
    /// every 50 ms from a thread of its own until the process ends: the library keeps only the count.
    static func publishCallCount(into counter: UnsafeMutablePointer<UInt64>) {
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { argument in
            let counter = argument!.assumingMemoryBound(to: UInt64.self)
            while true {
                counter.pointee = HDF5Calls.count
                usleep(50_000)
            }
        }, UnsafeMutableRawPointer(counter))
        if started == 0 { pthread_detach(thread) }
    }

    static func run(_ reader: ReadsCheckpoints, _ work: () -> Int32) -> Int32 {
        if getenv("GRU_CONVERT_IN_PROCESS") != nil { return work() }
        guard let shared = mmap(nil, 8, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0),
              shared != MAP_FAILED else { return work() }
        let counter = shared.bindMemory(to: UInt64.self, capacity: 1)
        counter.pointee = 0
        // SIGCHLD blocked, so the parent can sleep until the child ends (sigtimedwait), waking only to
        // look at the count: no polling delay on the way out.
        var childSignal = sigset_t(), previous = sigset_t()
        sigemptyset(&childSignal)
        sigaddset(&childSignal, SIGCHLD)
        sigprocmask(SIG_BLOCK, &childSignal, &previous)
        defer { sigprocmask(SIG_SETMASK, &previous, nil) }
        // The child's stderr goes through the parent, which passes it on only if the child ended on its
        // own: a child killed mid-way (by libhdf5 or by the watcher) must not leave half a message.
        var channel: [Int32] = [-1, -1]
        guard pipe(&channel) == 0 else { return work() }
        _ = fcntl(channel[0], F_SETFL, fcntl(channel[0], F_GETFL) | O_NONBLOCK)
        let child = fork()
        if child < 0 { return work() }             // no process to spare: run here rather than not at all
        if child == 0 {
            close(channel[0])
            ProgressLine.descriptor = dup(STDERR_FILENO)
            dup2(channel[1], STDERR_FILENO)
            close(channel[1])
            // A crash in the child should end it quietly (the parent reports it), without the Swift
            // runtime's backtrace on stderr.
            for crash in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT] { _ = Glibc.signal(crash, SIG_DFL) }
            // And it should not outlive the parent: `kill -9` on the tool stops the work.
            _ = gp_die_with_parent()
            sigprocmask(SIG_SETMASK, &previous, nil)
            // The budget bounds what the tool allocates; this bounds what libhdf5 allocates for a malformed
            // file too (a failed allocation is an HDF5 error, or a crash the parent reports).
            let (limit, overflow) = reader.memoryBudget.bytes.addingReportingOverflow(2 << 30)
            if !overflow {
                var bound = rlimit(rlim_cur: rlim_t(limit), rlim_max: rlim_t(limit))
                _ = setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &bound)
            }
            publishCallCount(into: counter)
            exit(work())                           // exit flushes what the child printed
        }
        close(channel[1])
        var collected: [UInt8] = []
        func drain() {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(channel[0], &buffer, buffer.count)
                if count <= 0 { break }
                collected.append(contentsOf: buffer[..<count])
            }
        }
        defer { close(channel[0]) }
        var status: Int32 = 0
        var seen = counter.pointee, lastProgress = now(), stalled = false
        while true {
            drain()
            let done = waitpid(child, &status, WNOHANG)
            if done == child || (done < 0 && errno != EINTR) { break }
            var wait = timespec(tv_sec: 0, tv_nsec: 200_000_000)
            _ = sigtimedwait(&childSignal, nil, &wait)
            let count = counter.pointee
            if count != seen {
                (seen, lastProgress) = (count, now())
            } else if now() - lastProgress > stallSeconds {
                stalled = true
                kill(child, SIGKILL)
                while waitpid(child, &status, 0) < 0 && errno == EINTR {}
                break
            }
        }
        munmap(shared, 8)
        if stalled {
            if let output = reader.outputFile { unlink(SafeOutput.temporaryPath(for: output, process: child)) }
            let files = reader.inputFiles.joined(separator: ", ")
            printError("\(files): the HDF5 library made no progress for \(Int(stallSeconds)) s while reading "
                       + "\(reader.inputFiles.count == 1 ? "this file; it is" : "these files; one of them is") malformed")
            return ExitStatus.badInput
        }
        let signal = status & 0x7f
        if signal == 0 {
            drain()
            write(String(decoding: collected, as: UTF8.self), to: STDERR_FILENO)
            return (status >> 8) & 0xff
        }
        if let output = reader.outputFile {
            unlink(SafeOutput.temporaryPath(for: output, process: child))
        }
        // A closed pipe on stdout (`gru-convert inspect FILE | head -1`) ends the tool quietly, as it ends
        // `ls` or `grep`: the reader left, nothing is wrong with the file.
        if signal == SIGINT || signal == SIGTERM || signal == SIGHUP || signal == SIGPIPE { return 128 + signal }
        let name = [SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGABRT: "SIGABRT", SIGFPE: "SIGFPE", SIGILL: "SIGILL",
                    SIGKILL: "SIGKILL, perhaps out of memory"][signal] ?? "signal \(signal)"
        let files = reader.inputFiles.joined(separator: ", ")
        printError("\(files): the HDF5 library crashed while reading \(reader.inputFiles.count == 1 ? "this file" : "these files") "
                   + "(\(name)); \(reader.inputFiles.count == 1 ? "it is" : "one of them is") malformed")
        return ExitStatus.badInput
    }
}

private func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

extension Inspect: ReadsCheckpoints {
    var inputFiles: [String] { [file] }
    /// inspect reads names and shapes only; libhdf5 needs little for that.
    var memoryBudget: MemoryBudget { MemoryBudget(bytes: 1 << 30) }
}

extension Verify: ReadsCheckpoints {
    var inputFiles: [String] { [file] + [other, reference].compactMap { $0 } }
    var memoryBudget: MemoryBudget { memory.budget }
}

extension Convert: ReadsCheckpoints {
    var inputFiles: [String] { [input] }
    var outputFile: String? { dryRun ? nil : output }
    var memoryBudget: MemoryBudget { memory.budget }
}
