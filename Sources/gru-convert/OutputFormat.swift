import ArgumentParser
import GRUTools
import TensorStore
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
    @Option(help: "Output format: text for people, json for scripts (keys documented in docs/JSON.md).")
    var format: OutputFormat = .text
}

/// Prints `value` as JSON with sorted keys, one document on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    print(String(decoding: data, as: UTF8.self))
}

/// `--allow-external`: accept files that reach outside themselves.
struct ExternalOption: ParsableArguments {
    @Flag(name: .customLong("allow-external"),
          help: "Accept files whose datasets keep values in other files (external storage, virtual datasets) and read them; ignore external links (never followed). Refused by default.")
    var allowExternal = false
}

/// `--max-memory`: the most memory a piece of work may need.
struct MemoryOption: ParsableArguments {
    @Option(name: .customLong("max-memory"),
            help: ArgumentHelp("Refuse work that would need more memory than this (512M, 4G, ...; default: half the machine's memory).",
                               valueName: "SIZE"))
    var maxMemory: String?

    /// The budget given, or the machine's default.
    var budget: MemoryBudget { maxMemory.flatMap(MemoryBudget.init(parsing:)) ?? .machineDefault }

    func validate() throws {
        if let maxMemory, MemoryBudget(parsing: maxMemory) == nil {
            throw ValidationError("--max-memory takes a size such as 512M or 4G, not '\(maxMemory)'")
        }
    }
}

/// Opens an HDF5 file, a safetensors file or a TensorFlow checkpoint (judged by content) with the given limits.
func openStore(_ path: String, external: ExternalOption, budget: MemoryBudget) throws -> any TensorSource {
    let source = try TensorFiles.open(path, memoryBudget: budget)
    (source as? HDF5File)?.allowExternal = external.allowExternal
    return source
}

/// `text` safe for a terminal line: control characters (C0, DEL, C1; a newline, an escape sequence's ESC)
/// as `\n`, `\t`, `\r` or `\xNN`, so that a name read from a file cannot break a line, forge an `error:`
/// line or send escape sequences to the terminal. Everything else, backslashes included, as it is.
func shown(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: isControl) else { return text }
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        case _ where isControl(scalar):
            let hex = String(scalar.value, radix: 16)
            out += scalar.value < 0x100 ? "\\x" + String(repeating: "0", count: 2 - hex.count) + hex : "\\u{\(hex)}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}

private func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value)
}
