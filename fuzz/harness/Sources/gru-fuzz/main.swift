// gru-fuzz: a libFuzzer harness for everything that reads a file: open, walk, discover cells, read
// tensors, verify and convert what was found. Every input must end in a value or a CheckpointError,
// never a trap or a sanitizer report. fuzz/run.sh builds it with AddressSanitizer and coverage and links
// libFuzzer's driver; a plain `swift build` links none, and the binary then says how to build it.
import Checkpoint
#if canImport(Glibc)
import Glibc
#endif

/// A scratch directory for the input file and converted outputs.
let scratch: String = {
    var template = Array("/tmp/gru-fuzz-XXXXXX".utf8CString)
    return String(cString: mkdtemp(&template)!)
}()

/// One input: written to a file (HDF5 reads files), then taken through every reading path.
let testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    let input = scratch + "/input.h5", output = scratch + "/output.h5"
    let descriptor = open(input, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard descriptor >= 0, let data else { return 0 }
    _ = write(descriptor, data, size)
    close(descriptor)
    unlink(output)
    do {
        let file = try CheckpointFile(readingFrom: input)
        file.memoryBudget = MemoryBudget(bytes: 64 << 20)
        let inventory = CheckpointInventory(variables: try file.variables())
        for variable in inventory.variables where variable.elementType.isFloat {
            _ = try? file.read(variable.name, as: Float.self)
        }
        _ = try? file.stringAttribute("generator")
        _ = try? Verifier(options: VerifyOptions(batch: 2, steps: 2)).verify(file)
        if let plan = try? ConversionPlan.make(for: file, options: ConversionOptions()) {
            _ = try? Converter().write(plan, from: file, to: output, force: true)
        }
    } catch {
        // A CheckpointError is the expected answer to a broken file.
    }
    return 0
}

typealias Driver = @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                                   @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

guard let symbol = dlsym(nil /* RTLD_DEFAULT */, "LLVMFuzzerRunDriver") else {
    let message = "gru-fuzz: built without libFuzzer; run fuzz/run.sh\n"
    _ = message.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    exit(2)
}
var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(unsafeBitCast(symbol, to: Driver.self)(&argc, &argv, testOneInput))
