import ArgumentParser
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
