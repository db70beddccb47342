import CHDF5
import Synchronization
import Glibc

/// The single chokepoint through which every HDF5 call passes.
///
/// It serialises calls (a process-wide recursive lock, so the code is correct whether or not the
/// installed libhdf5 was built thread-safe), keeps HDF5 from printing its error stack, and turns a
/// failed call into a `StoreError` carrying HDF5's innermost message.
enum HDF5Library {
    private static let lock = RecursiveLock()

    /// Runs `body` with the lock held and HDF5's automatic error printing switched off.
    static func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        HDF5Calls.made.add(1, ordering: .relaxed)
        HDF5Calls.open.add(1, ordering: .relaxed)
        defer { HDF5Calls.open.subtract(1, ordering: .relaxed) }
        // Error-printing settings are per thread in thread-safe builds, so this is done every time.
        _ = gc_silence_errors()
        return try body()
    }

    /// Runs one HDF5 call and returns its result, or throws when the result is negative
    /// (HDF5's sign of failure for `herr_t`, `hid_t`, `htri_t` and `hssize_t`).
    ///
    /// - Parameters:
    ///   - operation: what was attempted, as the user would say it ("open the dataset").
    ///   - file, object: where, for the error message.
    static func call<R: BinaryInteger>(
        _ operation: String, file: String, object: String? = nil, _ body: () -> R
    ) throws -> R {
        try locked {
            let result = body()
            guard result >= 0 else {
                throw StoreError(.damaged, file: file, object: object, reason: failure(of: operation))
            }
            return result
        }
    }

    /// "cannot <operation>", with HDF5's innermost message when its error stack has one; clears the stack.
    static func failure(of operation: String) -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        let depth = gc_take_error_message(&buffer, buffer.count)
        let message = plainWords(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        return depth > 0 && !message.isEmpty ? "cannot \(operation) (\(message))" : "cannot \(operation)"
    }

    /// HDF5's message, or the system's words when it reports a failed system call: its file driver says
    /// "file write failed: time = ..., errno = 28, error message = 'No space left on device', buf = 0x...",
    /// which a user needs as "No space left on device".
    /// `1.10.8`: the libhdf5 this process runs.
    static let libraryVersion: String = {
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        _ = H5get_libversion(&major, &minor, &release)
        return "\(major).\(minor).\(release)"
    }()

    static func plainWords(_ message: String) -> String {
        // The plugin search for a filter libhdf5 lacks ("can't open directory: .../plugins", "can't dlopen").
        if message.hasPrefix("can't open directory:") && message.hasSuffix("plugins") || message.hasPrefix("can't dlopen") {
            return "the data is compressed with a filter this libhdf5 does not have (a plugin is missing); "
                + "re-save the file with gzip or without compression"
        }
        // A message version beyond what this libhdf5 knows: written by a newer HDF5.
        if message.hasPrefix("bad version number for "), message.hasSuffix(" message"),
           message.count > "bad version number for  message".count {
            let what = message.dropFirst("bad version number for ".count).dropLast(" message".count)
            return "its \(what) message has a version this libhdf5 (\(libraryVersion)) does not read: written by a newer HDF5 "
                + "(re-save it with an older format, h5py: libver='earliest' or 'v110'), or damaged"
        }
        if message == "filter returned failure during read" {
            return "a compressed chunk cannot be decoded: the data is damaged"
        }
        let marker = Array("errno = ".utf8), bytes = Array(message.utf8)
        guard bytes.count >= marker.count,
              let start = (0...(bytes.count - marker.count)).first(where: { bytes[$0..<$0 + marker.count].elementsEqual(marker) })
        else { return message }
        let digits = bytes[(start + marker.count)...].prefix { (0x30...0x39).contains($0) }
        guard let code = Int32(String(decoding: digits, as: UTF8.self)), code > 0 else { return message }
        return systemErrorDescription(code)
    }
}

/// Owns one HDF5 identifier and closes it, with the call that matches its kind, when released.
final class HDF5Handle {
    /// Which `H5*close` releases the identifier.
    enum Kind { case file, group, dataset, datatype, dataspace, attribute, propertyList, object }

    let id: hid_t
    let kind: Kind
    /// Objects inside a file keep their file's handle alive, so it closes last.
    private let parent: HDF5Handle?
    /// What libhdf5 reads while the identifier is open (a file image), released only after it is closed.
    private let kept: AnyObject?

    init(_ id: hid_t, _ kind: Kind, parent: HDF5Handle? = nil, keeping kept: AnyObject? = nil) {
        self.id = id
        self.kind = kind
        self.parent = parent
        self.kept = kept
    }

    /// The library run this identifier belongs to (`HDF5Calls.shutDownLibrary` ends a run).
    private let run = HDF5Calls.runs.load(ordering: .relaxed)

    deinit {
        let (id, kind) = (id, kind)
        // After a shutdown the identifier is gone with the library: closing it would only start the library
        // again (and a later one may have reused the number).
        guard run == HDF5Calls.runs.load(ordering: .relaxed) else { return }
        HDF5Library.locked {
            switch kind {
            case .file: _ = H5Fclose(id)
            case .group: _ = H5Gclose(id)
            case .dataset: _ = H5Dclose(id)
            case .datatype: _ = H5Tclose(id)
            case .dataspace: _ = H5Sclose(id)
            case .attribute: _ = H5Aclose(id)
            case .propertyList: _ = H5Pclose(id)
            case .object: _ = H5Oclose(id)
            }
        }
    }
}

/// A recursive pthread mutex: a handle released inside a locked section closes under the same lock.
/// (Foundation's `NSRecursiveLock` would do, but Foundation with ICU would double the tool's start-up time.)
private final class RecursiveLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = .allocate(capacity: 1)

    init() {
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
}

/// How many HDF5 calls this process has made through the chokepoint, and whether one is under way: a
/// statistic, not a hook. A watcher that sees the count stop moving while a call is under way knows
/// libhdf5 is stuck in that call (it can loop forever on a malformed file), and a crash during a call is
/// libhdf5's; the command line's child process publishes both to its parent.
public enum HDF5Calls {
    fileprivate static let made = Atomic<UInt64>(0)
    fileprivate static let open = Atomic<Int>(0)
    /// How many times the library was shut down: identifiers of an earlier run are not closed again.
    fileprivate static let runs = Atomic<Int>(0)

    /// The number of calls so far; safe to read from any thread, even while a call is under way.
    public static var count: UInt64 { made.load(ordering: .relaxed) }

    /// True while an HDF5 call is under way; lock-free, so a signal handler may read it.
    public static var underWay: Bool { open.load(ordering: .relaxed) > 0 }

    /// Runs libhdf5's own shutdown now (`H5close`, what its exit handler would run at exit), as a call:
    /// every HDF5 object still open is closed. For a process that is done with HDF5 and about to publish
    /// its output: a heap that a malformed input damaged inside libhdf5 then fails here, before the
    /// output appears, not at exit after it. Later HDF5 calls start the library again.
    public static func shutDownLibrary() {
        HDF5Library.locked {
            _ = H5close()
            runs.add(1, ordering: .relaxed)
        }
    }

    /// Runs `body`, Swift code that libhdf5 calls back (a visitor), as not inside an HDF5 call: a crash
    /// there is this package's, not the library's.
    static func callingBack<T>(_ body: () throws -> T) rethrows -> T {
        open.subtract(1, ordering: .relaxed)
        defer { open.add(1, ordering: .relaxed) }
        return try body()
    }
}
