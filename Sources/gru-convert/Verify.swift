import ArgumentParser
import GRUCore
import GRUTools
import TensorStore
import Glibc

/// `gru-convert verify FILE [OTHER]`: prove that two forms compute the same cell, or show where they part.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prove that the fused and explicit forms of each GRU cell compute the same thing.",
        discussion: """
            verify FILE: for every GRU cell in FILE, fused or explicit, derive the other form, check that \
            split then fuse gives back every stored element bit for bit, and run both forms side by side on \
            seeded random inputs from a non-zero state.

            verify FILE OTHER: FILE is the original, OTHER a conversion of it (by hand or by script). Cells \
            pair by scope (legacy and current TF names pair up), by order when each file holds one cell, by \
            layer and direction in the model when the two files are different frameworks' (l1_reverse and \
            layers/bidirectional_1/backward_layer/cell), or by --pair. Tensors are compared first; when they differ the classic mistakes are tried (r/z \
            swapped, input/state rows swapped, a matrix transposed, tensors zeroed) and named.

            --mode strict (default): both forms sum in the same order, so outputs must be bitwise identical \
            (and, with OTHER, the tensors too). --mode fast: both forms on the fast path; each step must \
            agree within a bound derived from float32 error analysis (see docs/VERIFY.md).

            Both GRU families are verified: reset-before (TensorFlow 1 GRUCell, Keras reset_after=False) and \
            reset-after (Keras reset_after=True, PyTorch nn.GRU). A Keras GRU saved without a bias does not \
            record which it is; such a cell is refused unless --reset-after true|false says.

            --reference REF.h5 holds, per cell scope, inputs [B,T,I], initial_state [B,H] and outputs \
            [B,T,H] (the format of fixtures/*.reference.h5). Each step is checked from the reference's own \
            previous state; that is the verdict. The free-running trajectory difference is reported beside it.

            Exit status: 0 every cell equivalent, 1 some cell not equivalent, 2 bad input or usage.

            Examples:
              gru-convert verify fixtures/gru_adam.h5
              gru-convert verify fixtures/gru_single.h5 fixtures/gru_explicit.h5
              gru-convert verify fixtures/gru_single.h5 my_split.h5 --pair rnn/gru_cell=decoder/gru
              gru-convert verify fixtures/gru_legacy.h5 --reference fixtures/gru_legacy.reference.h5 --mode fast
            """
    )

    @Argument(help: "The checkpoint to verify (the original, when OTHER is given).")
    var file: String

    @Argument(help: "A conversion of FILE to check against it.")
    var other: String?

    @Option(help: "strict: bitwise identical outputs; fast: within the derived float32 bound.")
    var mode: Mode = .strict

    @Option(help: "Sequences per run (at least 1).")
    var batch: Int = 8

    @Option(help: "Time steps per sequence (at least 1).")
    var steps: Int = 32

    @Option(help: "Seed of the random inputs.")
    var seed: UInt64 = 0

    @Option(name: .customLong("pair"), help: ArgumentHelp("Pair a cell of FILE with one of OTHER.", valueName: "FILE_SCOPE=OTHER_SCOPE"))
    var pairs: [String] = []

    @Option(help: ArgumentHelp("Reference outputs to check each cell against.", valueName: "REF.h5"))
    var reference: String?

    @Option(name: .customLong("reset-after"), help: ArgumentHelp(
        "For cells whose tensors do not record it (a Keras GRU without a bias): true if the reset acts after the recurrent product (Keras reset_after=True), false if before.",
        valueName: "true|false"))
    var resetAfter: Bool?

    @OptionGroup var output: FormatOptions

    @OptionGroup var external: ExternalOption

    @OptionGroup var memory: MemoryOption

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case strict, fast
    }

    func validate() throws {
        guard (1...100_000).contains(batch) else { throw ValidationError("--batch must be between 1 and 100000") }
        guard (1...100_000).contains(steps) else { throw ValidationError("--steps must be between 1 and 100000") }
        guard other != nil || pairs.isEmpty else { throw ValidationError("--pair needs OTHER") }
        for pair in pairs where pair.split(separator: "=", omittingEmptySubsequences: false).count != 2 {
            throw ValidationError("--pair takes FILE_SCOPE=OTHER_SCOPE, not '\(pair)'")
        }
    }

    func run() throws {
        let options = VerifyOptions(mode: mode == .strict ? .strict : .fast, batch: batch, steps: steps, seed: seed,
                                    declaredFamily: resetAfter.map { $0 ? .resetAfter : .resetBefore })
        var verifier = Verifier(options: options)
        let progress = ProgressLine()
        nonisolated(unsafe) var current = ""
        verifier.progress = { index, count, scope in
            current = "verifying cell \(index + 1) of \(count): \(shown(scope))"
            progress.show(current)
        }
        verifier.stage = { stage in progress.show(current + ": " + stage) }
        let checkpoint = try openStore(file, external: external, budget: memory.budget)
        let referenceFile = try reference.map { try openStore($0, external: external, budget: memory.budget) }
        let verdicts: [CellVerdict]
        if let other {
            let counterpart = try openStore(other, external: external, budget: memory.budget)
            let named = pairs.map { pair -> (String, String) in
                let parts = pair.split(separator: "=", omittingEmptySubsequences: false).map(String.init)
                return (parts[0], parts[1])
            }
            verdicts = try verifier.verify(checkpoint, against: counterpart, pairs: named, reference: referenceFile)
        } else {
            verdicts = try verifier.verify(checkpoint, reference: referenceFile)
        }
        progress.clear()
        let report = VerifyReport(options: options, verdicts: verdicts, file: file, other: other, reference: reference)
        switch output.format {
        case .json: try printJSON(report)
        case .text: print(report.text, terminator: "")
        }
        if !report.equivalent { throw ExitCode(ExitStatus.notEquivalent) }
    }
}

/// A one-line progress message on stderr, shown only when stderr is a terminal and the work has taken
/// more than a second; rewritten in place and cleared at the end.
final class ProgressLine {
    /// Where progress goes: the terminal's stderr, even when the work runs in a child whose stderr the
    /// parent collects (`Isolation`).
    nonisolated(unsafe) static var descriptor: Int32 = STDERR_FILENO
    private let start = ProgressLine.now()
    private let enabled = isatty(ProgressLine.descriptor) == 1
    private var shown = false

    /// Seconds of work before the line appears (`GRU_CONVERT_PROGRESS_DELAY`, default 1): quick work shows none.
    private let delay = getenv("GRU_CONVERT_PROGRESS_DELAY").flatMap { Double(String(cString: $0)) } ?? 1

    func show(_ message: String) {
        guard enabled, Self.now() - start > delay else { return }
        write("\r\u{1B}[K" + message, to: Self.descriptor)
        shown = true
    }

    func clear() {
        if shown { write("\r\u{1B}[K", to: Self.descriptor) }
        shown = false
    }

    private static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}
