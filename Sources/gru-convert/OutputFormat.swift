import ArgumentParser
import Checkpoint
#if canImport(FoundationEssentials)
import FoundationEssentials  // JSONEncoder without ICU: Foundation would double start-up time
#else
import Foundation
#endif

/// `--format text|json`: words for people, stable JSON for scripts.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Options every reporting subcommand shares.
struct FormatOptions: ParsableArguments {
    @Option(help: "Output format: text for people, json for scripts (keys documented in the README).")
    var format: OutputFormat = .text
}

/// Prints `value` as JSON with sorted keys, one document on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    print(String(decoding: data, as: UTF8.self))
}

/// Options about what the tool may use, shared by every subcommand that reads weights.
struct ResourceOptions: ParsableArguments {
    @Option(name: .customLong("max-memory"),
            help: ArgumentHelp("Refuse work that would need more memory than this (512M, 4G, ...; default: half the machine's memory).",
                               valueName: "SIZE"))
    var maxMemory: String?

    func validate() throws {
        if let maxMemory, MemoryBudget(parsing: maxMemory) == nil {
            throw ValidationError("--max-memory takes a size such as 512M or 4G, not '\(maxMemory)'")
        }
    }

    /// Opens a checkpoint with this budget.
    func open(_ path: String) throws -> CheckpointFile {
        let file = try CheckpointFile(readingFrom: path)
        if let maxMemory, let budget = MemoryBudget(parsing: maxMemory) { file.memoryBudget = budget }
        return file
    }
}
