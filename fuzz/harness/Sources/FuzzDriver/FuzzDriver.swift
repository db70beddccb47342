import Glibc

/// The entry libFuzzer calls with each input.
public typealias FuzzTarget = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32

/// Prints `trace` (what one input went through) as one line on stderr, prefixed `tool: `, and empties it.
public func printTrace(_ tool: String, _ trace: inout [String]) {
    let line = tool + ": " + trace.joined(separator: "; ") + "\n"
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    trace = []
}

/// Runs libFuzzer's driver (`LLVMFuzzerRunDriver`, linked in by fuzz/run.sh) over `target` with the
/// process's arguments; without it, says how to build `tool` (`hint`) and exits 2.
public func runLibFuzzer(_ tool: String, hint: String, _ target: FuzzTarget) -> Never {
    typealias Driver = @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                                       FuzzTarget) -> Int32
    guard let symbol = dlsym(nil /* RTLD_DEFAULT */, "LLVMFuzzerRunDriver") else {
        let message = "\(tool): built without libFuzzer; \(hint)\n"
        _ = message.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        exit(2)
    }
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(unsafeBitCast(symbol, to: Driver.self)(&argc, &argv, target))
}
