import ArgumentParser
import GRUTools
import TensorStore
import Glibc

/// The root command: dispatches to the subcommands and turns every failure into a documented exit status.
@main
struct GRUConvert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gru-convert",
        abstract: "Inspect, convert and verify GRU weights: TensorFlow 1 GRUCell, Keras 2/3 GRU, PyTorch nn.GRU, ONNX GRU, explicit.",
        discussion: """
            Both GRU families: reset-before (TensorFlow 1 GRUCell, Keras reset_after=False, ONNX \
            linear_before_reset=0) and reset-after (Keras reset_after=True, PyTorch nn.GRU, ONNX \
            linear_before_reset=1). Files, read and written: HDF5 (TensorFlow 1 dumps, Keras 2 and Keras 3 \
            weights), TensorFlow checkpoints, safetensors (PyTorch state dicts), ONNX models; read: Keras 3 \
            .keras archives. convert --to keras|keras3|torch|onnx moves cells between frameworks, exactly \
            within a family; across families it refuses, with the measured difference. Linux only.

            Exit status: 0 success; 1 verify found a cell that is not equivalent; 2 bad input or \
            usage, with one line on stderr (also when the HDF5 library crashes or hangs on a malformed \
            file: each subcommand runs its work in a child process); 3 a failure that is not the \
            input's (OUTPUT or stdout cannot be written, the work was killed, or a bug in gru-convert). \
            With --format json, an error is also a JSON document on stdout (docs/JSON.md).

            Examples:
              gru-convert inspect model.h5
              gru-convert inspect model.h5 --format json
              gru-convert verify model.h5
              gru-convert verify model.h5 converted_by_hand.h5
              gru-convert verify keras_weights.h5 --reference outputs.h5
              gru-convert convert model.h5 model_explicit.h5
              gru-convert convert old_0.12.h5 renamed.h5 --to fused --names tf
              gru-convert verify gru.safetensors --reference torch_outputs.h5
              gru-convert convert gru.safetensors model.onnx
              gru-convert verify gru.safetensors model.onnx
            """,
        version: "0.1.0",
        subcommands: [Inspect.self, Verify.self, Convert.self]
    )

    /// Parses, runs, and exits: 0 on success (and for --help), 1 when verify finds a difference, 2 for bad
    /// input or usage. A command that reads checkpoints runs in a child process (`Isolation`), so that a
    /// file malformed enough to crash the HDF5 library still gets one line and status 2.
    static func main() {
        let command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            Glibc.exit(report(error))
        }
        if let reader = command as? ReadsCheckpoints {
            Glibc.exit(Isolation.run(reader) { execute(command) })
        }
        Glibc.exit(execute(command))
    }

    /// Runs a parsed command and returns its exit status, printing any error as one line on stderr.
    static func execute(_ command: ParsableCommand) -> Int32 {
        var command = command
        let status: Int32
        do {
            try command.run()
            status = ExitStatus.success
        } catch {
            status = report(error)
        }
        return flushStandardOutput(status)
    }

    /// Flushes what was printed; a failed write (`> /dev/full`, a full disk) is an error, not success.
    static func flushStandardOutput(_ status: Int32) -> Int32 {
        guard fflush(nil) != 0 else { return status }
        printError("standard output: cannot write the report: \(systemErrorDescription(errno))", json: false)
        return ExitStatus.failure
    }

    /// Prints an error (or the help it carries) and returns the status it means.
    static func report(_ error: Error) -> Int32 {
        if let error = error as? StoreError {
            printError(error.description, code: error.code.rawValue, file: error.file, object: error.object)
            // The output could not be written (a full disk, no permission): the machine's, not the input's.
            return error.code == .writeFailed ? ExitStatus.failure : ExitStatus.badInput
        }
        if let exit = error as? ExitCode { return exit.rawValue }
        if exitCode(for: error) == .success {
            print(fullMessage(for: error))
            return ExitStatus.success
        }
        // One line, as every error: ArgumentParser's message, then where the usage is (its usage lines are
        // what --help shows).
        let lines = fullMessage(for: error).split(separator: "\n").map { $0.trimmingCharacters(in: " ") }.filter { !$0.isEmpty }
        let help = lines.first { $0.hasPrefix("See '") }.map { $0.dropFirst(5).prefix { $0 != "'" } }
        printError((lines.first ?? "invalid usage") + (help.map { " (see '\($0)')" } ?? ""))
        return ExitStatus.badInput
    }
}

/// The exit statuses every subcommand uses.
enum ExitStatus {
    static let success: Int32 = 0
    static let notEquivalent: Int32 = 1
    static let badInput: Int32 = 2
    /// The work failed for a reason that is not the input's: killed (perhaps for want of memory), or a
    /// crash in gru-convert's own code.
    static let failure: Int32 = 3
}

/// Writes one diagnostic line to stderr, prefixed `error: ` unless the text already carries it.
func printError(_ message: String, code: String = "usage", file: String? = nil, object: String? = nil, json: Bool = true) {
    let text = shown(message)           // one line, whatever the names in it hold
    let line = text.lowercased().hasPrefix("error: ") ? "error: " + text.dropFirst(7) : "error: " + text
    writeToStandardError(line + "\n")
    if json && ErrorDocument.wanted {
        try? printJSON(ErrorDocument(error: .init(code: code, file: Nullable(value: file), object: Nullable(value: object),
                                                  message: String(line.dropFirst(7)))))
    }
}

/// With `--format json`, an error is also a JSON document on stdout (docs/JSON.md): `{"error": {"code",
/// "file", "object", "message"}}`, the code stable (`StoreError.Code`'s names, or the tool's own).
struct ErrorDocument: Encodable {
    struct Body: Encodable {
        /// `notFound`, `damaged`, ... (`StoreError.Code`), `usage`, `libraryCrashed`, `libraryStalled`,
        /// `killed`, `internalError`.
        var code: String
        var file: Nullable<String>
        var object: Nullable<String>
        /// The line printed on stderr, without `error: `.
        var message: String
    }
    var error: Body

    /// Whether the command line asked for JSON (`--format json` or `--format=json`), usage errors included.
    static let wanted: Bool = {
        let arguments = CommandLine.arguments
        return arguments.contains("--format=json") || zip(arguments, arguments.dropFirst()).contains { $0 == "--format" && $1 == "json" }
    }()
}

/// Writes text to stderr unbuffered (`write(2)`), without Foundation.
func writeToStandardError(_ text: String) {
    write(text, to: STDERR_FILENO)
}

/// Writes all of `text` to a file descriptor.
func write(_ text: String, to descriptor: Int32) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written > 0 else { return }
        bytes = bytes.dropFirst(written)
    }
}

extension Substring {
    /// Without leading and trailing `characters`.
    func trimmingCharacters(in characters: String) -> String {
        String(drop { characters.contains($0) }.reversed().drop { characters.contains($0) }.reversed())
    }
}
