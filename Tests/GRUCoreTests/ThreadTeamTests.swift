import CGRUKernels
import Dispatch
import Synchronization
import Testing
import Glibc

/// Tasks that ran, or were still running, after their call to gk_parallel had returned (counted by
/// `noHelperTouchesTheContextAfterReturn`; here so that a hung run can still report them).
private let lateTouches = Atomic<Int>(0)

/// The kernels' thread team (`gk_parallel`): every worker index of every call runs exactly once, nothing
/// touches a call's context once the call has returned, and a forked child gets a working team.
/// Serialized: the tests share the one team, and each wants it to itself.
@Suite(.serialized) struct ThreadTeamTests {
    /// Worker counts that go up and down from one call to the next, so that helpers started by a wide
    /// call are still spinning or asleep when narrower and wider calls follow (more helpers than cores).
    static let widths = [8, 2, 5, 1, 16, 3, 2, 7, 1, 12, 4, 2, 9, 6, 3]

    /// Runs `body` on a thread of its own and waits at most `seconds`: false if it has not returned by
    /// then (a hung team), so that a hang fails the test instead of stopping the run. The thread is left.
    static func finishes(within seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            body()
            done.signal()
        }
        return done.wait(timeout: .now() + seconds) == .success
    }

    /// Atomic counters that tasks reach through gk_parallel's context pointer. Made outside the thread
    /// that calls gk_parallel, so that a hung call can still be looked at (and is then left allocated).
    struct Counters: @unchecked Sendable {
        let base: UnsafeMutablePointer<Atomic<Int>>
        let count: Int

        init(_ count: Int) {
            self.count = count
            base = .allocate(capacity: count)
            for i in 0..<count { (base + i).initialize(to: Atomic(0)) }
        }

        func free() {
            base.deinitialize(count: count)
            base.deallocate()
        }

        subscript(_ i: Int) -> Int { base[i].load(ordering: .sequentiallyConsistent) }
    }

    /// What a test's worker thread finds, readable even while that thread is stuck in a hung call.
    final class Outcome: Sendable {
        let returned = Atomic<Int>(0)   // calls that have returned
        let mismatches = Atomic<Int>(0)
        let firstProblem = Mutex("")

        func record(_ problem: @autoclosure () -> String) {
            if mismatches.add(1, ordering: .relaxed).oldValue == 0 {
                let text = problem()
                firstProblem.withLock { $0 = text }
            }
        }

        var summary: String {
            let first = mismatches.load(ordering: .relaxed) == 0 ? "" : "; first: \(firstProblem.withLock { $0 })"
            return "\(mismatches.load(ordering: .relaxed)) wrong counts\(first)"
        }
    }

    @Test func everyWorkerOfEveryCallRunsExactlyOnce() {
        let calls = 3000
        let slots = 64   // the most workers a call can have
        // One row of counters per call, kept to the end: a run that lands twice, or late, shows in its own row.
        let counts = Counters(calls * slots)
        let outcome = Outcome()
        @Sendable func row(_ call: Int) -> [Int] { (0..<slots).map { counts[call * slots + $0] } }
        @Sendable func check(_ call: Int, _ when: String) {
            let workers = Self.widths[call % Self.widths.count]
            for (w, n) in row(call).enumerated() where n != (w < workers ? 1 : 0) {
                outcome.record("call \(call) (\(workers) workers): worker \(w) ran \(n) times, \(when)")
            }
        }
        let finished = Self.finishes(within: 20) {
            for call in 0..<calls {
                gk_parallel(Self.widths[call % Self.widths.count], { context, worker in
                    context!.assumingMemoryBound(to: Atomic<Int>.self)[worker].wrappingAdd(1, ordering: .relaxed)
                }, counts.base + call * slots)
                outcome.returned.add(1, ordering: .relaxed)
                check(call, "on return")
            }
            usleep(20_000)   // give a stray helper time to land
            for call in 0..<calls { check(call, "after the last call") }
        }
        guard finished else {
            let call = outcome.returned.load(ordering: .relaxed)
            let workers = Self.widths[call % Self.widths.count]
            Issue.record("""
                gk_parallel hung in call \(call) (\(workers) workers), runs per worker so far \
                \(row(call).prefix(workers)); before it, \(outcome.summary)
                """)
            return
        }
        counts.free()
        #expect(outcome.mismatches.load(ordering: .relaxed) == 0, "\(outcome.summary)")
    }

    @Test func noHelperTouchesTheContextAfterReturn() {
        let calls = 3000
        // Per call: [closed, runs]. The caller closes (poisons) the context as soon as gk_parallel returns;
        // a task that starts, or is still running, after that counts a late touch.
        let state = Counters(calls * 2)
        let outcome = Outcome()
        let lateBefore = lateTouches.load(ordering: .relaxed)
        @Sendable func late() -> Int { lateTouches.load(ordering: .relaxed) - lateBefore }
        let finished = Self.finishes(within: 20) {
            for call in 0..<calls {
                let workers = Self.widths[call % Self.widths.count]
                let context = state.base + call * 2
                gk_parallel(workers, { context, worker in
                    let s = context!.assumingMemoryBound(to: Atomic<Int>.self)
                    if s[0].load(ordering: .sequentiallyConsistent) != 0 { lateTouches.add(1, ordering: .relaxed) }
                    // A little work, so that a helper still running after the return is likely to be seen.
                    var x = worker &+ 1
                    for _ in 0..<200 { x = x &* 6364136223846793005 &+ 1442695040888963407 }
                    if x == 42 { s[1].wrappingAdd(1_000_000, ordering: .relaxed) }   // never: keeps the loop
                    s[1].wrappingAdd(1, ordering: .sequentiallyConsistent)
                    if s[0].load(ordering: .sequentiallyConsistent) != 0 { lateTouches.add(1, ordering: .relaxed) }
                }, context)
                // Sequentially consistent: a run counted after this load must see the context closed.
                context[0].store(1, ordering: .sequentiallyConsistent)
                outcome.returned.add(1, ordering: .relaxed)
                let runs = context[1].load(ordering: .sequentiallyConsistent)
                if runs != workers { outcome.record("call \(call): \(runs) of \(workers) runs on return") }
            }
            usleep(20_000)
            for call in 0..<calls {
                let runs = state[call * 2 + 1]
                let workers = Self.widths[call % Self.widths.count]
                if runs != workers { outcome.record("call \(call): \(runs) of \(workers) runs at the end") }
            }
        }
        guard finished else {
            let call = outcome.returned.load(ordering: .relaxed)
            let workers = Self.widths[call % Self.widths.count]
            Issue.record("""
                gk_parallel hung in call \(call) (\(workers) workers) after \(state[call * 2 + 1]) runs; \
                before it, \(late()) late touches, \(outcome.summary)
                """)
            return
        }
        state.free()
        #expect(late() == 0, "tasks ran after their call had returned")
        #expect(outcome.mismatches.load(ordering: .relaxed) == 0, "\(outcome.summary)")
    }

    @Test func aForkedChildGetsAWorkingTeam() {
        // Everything the child touches is made before the fork: it only calls gk_parallel, then _exit.
        let counts = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: 4)
        for i in 0..<4 { (counts + i).initialize(to: Atomic(0)) }
        defer { counts.deinitialize(count: 4); counts.deallocate() }
        let count: gk_task_fn = { context, worker in
            context!.assumingMemoryBound(to: Atomic<Int>.self)[worker].wrappingAdd(1, ordering: .relaxed)
        }
        // The team has helpers in the parent (threads that the child will not have).
        gk_parallel(4, count, counts)
        for w in 0..<4 { #expect(counts[w].load(ordering: .relaxed) == 1) }
        for w in 0..<4 { counts[w].store(0, ordering: .relaxed) }

        let child = fork()
        if child == 0 {
            gk_parallel(4, count, counts)
            for w in 0..<4 where counts[w].load(ordering: .relaxed) != 1 { _exit(2) }
            _exit(0)
        }
        #expect(child > 0, "fork failed")
        guard child > 0 else { return }
        var status: Int32 = 0
        var exited = false
        for _ in 0..<1000 {   // 10 s
            let r = waitpid(child, &status, WNOHANG)
            if r == child { exited = true; break }
            if r < 0 && errno != EINTR { break }
            usleep(10_000)
        }
        if !exited {
            kill(child, SIGKILL)
            _ = waitpid(child, &status, 0)
            Issue.record("the forked child's gk_parallel(4) did not return within 10 s")
            return
        }
        let termSignal = status & 0x7f
        let exitCode = (status >> 8) & 0xff
        #expect(termSignal == 0 && exitCode == 0, "child status: signal \(termSignal), exit \(exitCode)")
    }
}
