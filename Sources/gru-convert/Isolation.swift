import CProcess
import GRUTools
import TensorStore
import Glibc
import Synchronization

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

    /// What the child publishes to its parent in shared memory: the number of HDF5 calls made, whether
    /// one is under way (both copied every 50 ms by a thread of the child's own), and where a crash struck.
    struct Watch {
        let words: UnsafeMutablePointer<UInt64>
        /// `HDF5Calls.count`.
        var calls: UInt64 { words[0] }
        /// 1 while an HDF5 call is under way.
        var inCall: Bool { words[1] != 0 }
        /// `Place` of a crash: unknown (the handler did not run), in this package's code, or in libhdf5.
        var crash: Place { Place(rawValue: words[2]) ?? .unknown }

        enum Place: UInt64 { case unknown = 0, outsideHDF5 = 1, insideHDF5 = 2 }
    }

    /// Copies the number of HDF5 calls made and whether one is under way into `words[0]` and `words[1]`,
    /// memory the parent watches, every 50 ms from a thread of its own until the process ends: the
    /// library keeps only the statistics.
    static func publishCalls(into words: UnsafeMutablePointer<UInt64>) {
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { argument in
            let words = argument!.assumingMemoryBound(to: UInt64.self)
            // The signals that end the work are the work thread's to handle (its cleanup runs there).
            var ending = sigset_t()
            sigemptyset(&ending)
            for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&ending, signal) }
            pthread_sigmask(SIG_BLOCK, &ending, nil)
            while true {
                words[0] = HDF5Calls.count
                words[1] = HDF5Calls.underWay ? 1 : 0
                usleep(50_000)
            }
        }, UnsafeMutableRawPointer(words))
        if started == 0 { pthread_detach(thread) }
    }

    /// In the child: a crash signal records in `words[2]` whether an HDF5 call was under way (on a stack of
    /// its own, so that a stack overflow is recorded too), then ends the child with that signal, quietly
    /// (no Swift backtrace: the parent reports it).
    static func recordCrashes(into words: UnsafeMutablePointer<UInt64>) {
        crashRecord = words + 2
        _ = HDF5Calls.underWay                     // initialised before any handler reads them
        _ = childIsExiting.load(ordering: .relaxed)
        let size = 256 << 10
        if let memory = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), memory != MAP_FAILED {
            var stack = stack_t(ss_sp: memory, ss_flags: 0, ss_size: size)
            _ = sigaltstack(&stack, nil)
        }
        for crash in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                // libhdf5's own exit handler (H5_term_library) runs after the work: a heap it damaged
                // earlier can bring the crash there.
                let inside = HDF5Calls.underWay || (childIsExiting.load(ordering: .relaxed) && HDF5Calls.count > 0)
                crashRecord?.pointee = inside ? Watch.Place.insideHDF5.rawValue : Watch.Place.outsideHDF5.rawValue
                _ = Glibc.signal(signal, SIG_DFL)
                _ = raise(signal)
            }
            action.sa_flags = Int32(SA_ONSTACK)
            sigemptyset(&action.sa_mask)
            _ = sigaction(crash, &action, nil)
        }
    }

    static func run(_ reader: ReadsCheckpoints, _ work: () -> Int32) -> Int32 {
        if getenv("GRU_CONVERT_IN_PROCESS") != nil { return work() }
        guard let shared = mmap(nil, 24, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0),
              shared != MAP_FAILED else { return work() }
        let words = shared.bindMemory(to: UInt64.self, capacity: 3)
        words.initialize(repeating: 0, count: 3)
        let watch = Watch(words: words)
        // SIGCHLD blocked, so the parent can sleep until the child ends (sigtimedwait), waking only to
        // look at the count: no polling delay on the way out.
        // SIGINT, SIGTERM and SIGHUP blocked too: sent to the parent alone (`kill PID`), they are passed on
        // to the child, which removes its temporary output and ends with 128 + the signal, as the parent
        // then does.
        var childSignal = sigset_t(), previous = sigset_t()
        sigemptyset(&childSignal)
        for signal in [SIGCHLD, SIGINT, SIGTERM, SIGHUP] { sigaddset(&childSignal, signal) }
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
            recordCrashes(into: words)
            // And it should not outlive the parent: `kill -9` on the tool stops the work.
            _ = gp_die_with_parent()
            sigprocmask(SIG_SETMASK, &previous, nil)
            // The signals that end the work cleanly reach the child even when whoever started the tool
            // had them blocked (a blocked mask is inherited; Foundation's Process passes its own on).
            var ending = sigset_t()
            sigemptyset(&ending)
            for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&ending, signal) }
            sigprocmask(SIG_UNBLOCK, &ending, nil)
            // The budget bounds what the tool allocates; this bounds what libhdf5 allocates for a malformed
            // file too (a failed allocation is an HDF5 error, or a crash the parent reports).
            let (limit, overflow) = reader.memoryBudget.bytes.addingReportingOverflow(2 << 30)
            if !overflow {
                var bound = rlimit(rlim_cur: rlim_t(limit), rlim_max: rlim_t(limit))
                _ = setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &bound)
            }
            publishCalls(into: words)
            let status = work()
            childIsExiting.store(true, ordering: .relaxed)
            exit(status)                           // exit flushes what the child printed
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
        var seen = watch.calls, lastProgress = now(), stalled = false
        while true {
            drain()
            let done = waitpid(child, &status, WNOHANG)
            if done == child || (done < 0 && errno != EINTR) { break }
            var wait = timespec(tv_sec: 0, tv_nsec: 200_000_000)
            let received = sigtimedwait(&childSignal, nil, &wait)
            if received == SIGINT || received == SIGTERM || received == SIGHUP { kill(child, received) }
            // Only time spent inside one HDF5 call counts: a long conversion or verification in this
            // package's own code (a large checkpoint has no HDF5 call at all) is not a stall.
            let count = watch.calls
            if count != seen || !watch.inCall {
                (seen, lastProgress) = (count, now())
            } else if now() - lastProgress > stallSeconds {
                stalled = true
                kill(child, SIGKILL)
                while waitpid(child, &status, 0) < 0 && errno == EINTR {}
                break
            }
        }
        let place = watch.crash
        munmap(shared, 24)
        if stalled {
            if let output = reader.outputFile { SafeOutput.temporaries(of: output, process: child).forEach { _ = unlink($0) } }
            let files = reader.inputFiles.joined(separator: ", ")
            printError("\(files): the HDF5 library made no progress for \(Int(stallSeconds)) s while reading "
                       + "\(reader.inputFiles.count == 1 ? "this file; it is" : "these files; one of them is") malformed", code: "libraryStalled", file: files)
            return ExitStatus.badInput
        }
        let signal = status & 0x7f
        if signal == 0 {
            drain()
            write(String(decoding: collected, as: UTF8.self), to: STDERR_FILENO)
            return (status >> 8) & 0xff
        }
        if let output = reader.outputFile {
            SafeOutput.temporaries(of: output, process: child).forEach { _ = unlink($0) }
        }
        // A closed pipe on stdout (`gru-convert inspect FILE | head -1`) ends the tool quietly, as it ends
        // `ls` or `grep`: the reader left, nothing is wrong with the file.
        if signal == SIGINT || signal == SIGTERM || signal == SIGHUP || signal == SIGPIPE { return 128 + signal }
        let name = [SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGABRT: "SIGABRT", SIGFPE: "SIGFPE", SIGILL: "SIGILL",
                    SIGTRAP: "SIGTRAP", SIGKILL: "SIGKILL"][signal] ?? "signal \(signal)"
        let files = reader.inputFiles.joined(separator: ", ")
        let one = reader.inputFiles.count == 1
        let nothingWritten = reader.outputFile == nil ? "" : "; nothing was written"
        switch (place, signal) {
        case (.insideHDF5, _):
            printError("\(files): the HDF5 library crashed while reading \(one ? "this file" : "these files") "
                       + "(\(name)); \(one ? "it is" : "one of them is") malformed", code: "libraryCrashed", file: files)
            return ExitStatus.badInput
        case (_, SIGKILL):
            printError("\(files): the work was killed (SIGKILL) while reading \(one ? "this file" : "these files"), "
                       + "perhaps for want of memory\(nothingWritten)", code: "killed", file: files)
            return ExitStatus.failure
        default:
            printError("\(files): gru-convert crashed (\(name)) while working on \(one ? "this file" : "these files"): "
                       + "a bug in gru-convert, not in the file; please report it with the file\(nothingWritten)", code: "internalError", file: files)
            return ExitStatus.failure
        }
    }
}

/// Where the crash handler of the child writes (`Isolation.recordCrashes`); set once before any handler runs.
nonisolated(unsafe) private var crashRecord: UnsafeMutablePointer<UInt64>?
/// Set in the child when its work is done and exit handlers (libhdf5's among them) are about to run.
private let childIsExiting = Atomic<Bool>(false)

private func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

extension Inspect: ReadsCheckpoints {
    var inputFiles: [String] { [file] }
    /// inspect reads names and shapes only; libhdf5 needs little for that.
    var memoryBudget: MemoryBudget { budget }
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
