// parallel.c: a small persistent team of threads for the per-step work of a GRU.
//
// A GRU step is two short parallel stages (tens of microseconds each), a hundred steps a sequence.
// Waking pooled threads through the kernel for each stage (as DispatchQueue.concurrentPerform does)
// costs about as much as the work; here helpers spin briefly between stages, then sleep.
//
// Each helper has a slot of its own. A call hands work only to the helpers of its team (1 ..< team):
// it stores its call number in their slots, and waits until each of them has run its task and said so.
// A helper runs once for each new number in its slot, and never looks at a call it is not part of.
// So, whatever the worker counts of consecutive calls, every worker index of a call runs exactly once,
// and once a call returns no helper touches its task or context. (A single shared generation does not
// give this: a helper outside one call's team, still between noticing that call and reading its worker
// count, could read the next call's task and count, run it, then notice that call too and run it twice.)
//
// Fork: threads are not copied into a child process, so a child handler (pthread_atfork, registered
// with the first helper) resets the team; the child's first parallel call starts helpers of its own.
// Forking from inside a task is not supported (the child would be half-way through a call).
#include "gru_kernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GK_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define GK_PAUSE() __asm__ __volatile__("yield")
#else
#define GK_PAUSE() ((void)0)
#endif

#define GK_MAX_HELPERS 63
#define GK_SPINS 4000      // tens of microseconds: longer than the gap between two stages of a step

typedef struct {
    // The number of the last call this helper is part of (0: none yet). Written only by a caller holding
    // gk_team_busy, only for the helpers of its team, and only once each helper has finished the previous
    // call it was part of (the caller that wrote the previous number waited for that).
    _Alignas(64) _Atomic uint64_t go;
    pthread_cond_t wake;   // with gk_sleep_lock: a sleeping helper waits here for `go` to change
} gk_slot;

static pthread_mutex_t gk_team_busy = PTHREAD_MUTEX_INITIALIZER;   // one caller at a time
static pthread_mutex_t gk_sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static gk_slot gk_slots[GK_MAX_HELPERS + 1];                        // [1 ... gk_helpers]; the caller is worker 0
static size_t gk_helpers = 0;            // started so far (under gk_team_busy)
static uint64_t gk_calls = 0;            // calls handed to helpers so far (under gk_team_busy)
static int gk_fork_handler = 0;          // pthread_atfork done (under gk_team_busy; kept across fork)

// The current call: written by its caller before the `go` stores (release) that hand it out, read by the
// helpers after loading `go` (acquire). A later caller writes them only after this one's helpers are done.
static gk_task_fn gk_task = 0;
static void *gk_task_context = 0;
static _Atomic size_t gk_remaining = 0;  // helpers of the current call that have not finished its task

static void *gk_helper_main(void *argument) {
    size_t index = (size_t)(uintptr_t)argument;   // 1-based
    gk_slot *slot = &gk_slots[index];
    uint64_t seen = 0;   // the slot held 0 when this helper was created
    for (;;) {
        uint64_t call;
        int spins = 0;
        while ((call = atomic_load_explicit(&slot->go, memory_order_acquire)) == seen) {
            if (++spins < GK_SPINS) { GK_PAUSE(); continue; }
            pthread_mutex_lock(&gk_sleep_lock);
            while ((call = atomic_load_explicit(&slot->go, memory_order_acquire)) == seen) {
                pthread_cond_wait(&slot->wake, &gk_sleep_lock);
            }
            pthread_mutex_unlock(&gk_sleep_lock);
            break;
        }
        seen = call;
        gk_task(gk_task_context, index);
        // The last touch of this call: after it the caller may return and start the next call.
        atomic_fetch_sub_explicit(&gk_remaining, 1, memory_order_release);
    }
    return 0;
}

// In the child of a fork: only the forking thread exists, whatever the team's state was in the parent
// (helpers started, a call under way in another thread, a lock held). Start again from nothing.
static void gk_reset_in_child(void) {
    pthread_mutex_init(&gk_team_busy, 0);
    pthread_mutex_init(&gk_sleep_lock, 0);
    gk_helpers = 0;   // each slot's `go` and condition are set up again when its helper is started
    gk_task = 0;
    gk_task_context = 0;
    atomic_store_explicit(&gk_remaining, 0, memory_order_relaxed);
}

// Under gk_team_busy: starts helpers until there are `wanted`, or as many as could be started.
static void gk_start_helpers(size_t wanted) {
    if (!gk_fork_handler) {
        // Without it a forked child would wait for helpers it does not have: better no helpers at all.
        if (pthread_atfork(0, 0, gk_reset_in_child) != 0) return;
        gk_fork_handler = 1;
    }
    while (gk_helpers < wanted) {
        size_t index = gk_helpers + 1;
        gk_slot *slot = &gk_slots[index];
        atomic_store_explicit(&slot->go, 0, memory_order_relaxed);
        if (pthread_cond_init(&slot->wake, 0) != 0) return;
        pthread_t thread;
        if (pthread_create(&thread, 0, gk_helper_main, (void *)(uintptr_t)index) != 0) {
            pthread_cond_destroy(&slot->wake);
            return;
        }
        pthread_detach(thread);
        gk_helpers++;
    }
}

void gk_parallel(size_t workers, gk_task_fn task, void *context) {
    if (workers > GK_MAX_HELPERS + 1) workers = GK_MAX_HELPERS + 1;
    // Serial when there is nothing to share, or when another caller has the team: same results either way.
    if (workers <= 1 || pthread_mutex_trylock(&gk_team_busy) != 0) {
        for (size_t w = 0; w < workers; w++) task(context, w);
        return;
    }
    if (gk_helpers < workers - 1) gk_start_helpers(workers - 1);
    size_t team = gk_helpers + 1 < workers ? gk_helpers + 1 : workers;
    if (team > 1) {
        uint64_t call = ++gk_calls;
        gk_task = task;
        gk_task_context = context;
        atomic_store_explicit(&gk_remaining, team - 1, memory_order_relaxed);   // published by the `go` stores
        for (size_t i = 1; i < team; i++) atomic_store_explicit(&gk_slots[i].go, call, memory_order_release);
        // A helper about to sleep checks its slot under this lock, so it either sees the new number or is
        // already waiting when signalled.
        pthread_mutex_lock(&gk_sleep_lock);
        for (size_t i = 1; i < team; i++) pthread_cond_signal(&gk_slots[i].wake);
        pthread_mutex_unlock(&gk_sleep_lock);
    }
    task(context, 0);
    for (size_t w = team; w < workers; w++) task(context, w);   // if fewer helpers could be started
    // On a shared machine the helpers may be waiting for a CPU: after a while, yield ours.
    for (int spins = 0; atomic_load_explicit(&gk_remaining, memory_order_acquire) != 0; spins++) {
        if (spins < GK_SPINS) GK_PAUSE(); else sched_yield();
    }
    pthread_mutex_unlock(&gk_team_busy);
}
