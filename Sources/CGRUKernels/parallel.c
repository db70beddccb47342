// parallel.c: a small persistent team of threads for the per-step work of a GRU.
//
// A GRU step is two short parallel stages (tens of microseconds each), a hundred steps a sequence.
// Waking pooled threads through the kernel for each stage (as DispatchQueue.concurrentPerform does)
// costs about as much as the work; here helpers spin briefly between stages, then sleep.
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

static pthread_mutex_t gk_team_busy = PTHREAD_MUTEX_INITIALIZER;   // one caller at a time
static pthread_mutex_t gk_sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gk_wake = PTHREAD_COND_INITIALIZER;
static size_t gk_helpers = 0;                                        // started so far (under gk_team_busy)

static _Atomic uint64_t gk_generation = 0;
static _Atomic size_t gk_remaining = 0;
static uint64_t gk_created_at = 0;   // the generation before the call that starts a helper
static gk_task_fn gk_task = 0;
static void *gk_task_context = 0;
static size_t gk_task_workers = 0;

static void *gk_helper_main(void *argument) {
    size_t index = (size_t)(uintptr_t)argument;   // 1-based; the caller is worker 0
    // Not the current generation: the call that started this helper may already have moved it on.
    uint64_t seen = gk_created_at;
    for (;;) {
        uint64_t now;
        int spins = 0;
        while ((now = atomic_load_explicit(&gk_generation, memory_order_acquire)) == seen) {
            if (++spins < GK_SPINS) { GK_PAUSE(); continue; }
            pthread_mutex_lock(&gk_sleep_lock);
            while ((now = atomic_load_explicit(&gk_generation, memory_order_acquire)) == seen) {
                pthread_cond_wait(&gk_wake, &gk_sleep_lock);
            }
            pthread_mutex_unlock(&gk_sleep_lock);
            break;
        }
        seen = now;
        if (index < gk_task_workers) {
            gk_task(gk_task_context, index);
            atomic_fetch_sub_explicit(&gk_remaining, 1, memory_order_acq_rel);
        }
    }
    return 0;
}

void gk_parallel(size_t workers, gk_task_fn task, void *context) {
    if (workers > GK_MAX_HELPERS + 1) workers = GK_MAX_HELPERS + 1;
    // Serial when there is nothing to share, or when another caller has the team: same results either way.
    if (workers <= 1 || pthread_mutex_trylock(&gk_team_busy) != 0) {
        for (size_t w = 0; w < workers; w++) task(context, w);
        return;
    }
    gk_created_at = atomic_load_explicit(&gk_generation, memory_order_acquire);
    while (gk_helpers < workers - 1) {
        pthread_t thread;
        if (pthread_create(&thread, 0, gk_helper_main, (void *)(uintptr_t)(gk_helpers + 1)) != 0) break;
        pthread_detach(thread);
        gk_helpers++;
    }
    size_t team = gk_helpers + 1 < workers ? gk_helpers + 1 : workers;
    gk_task = task;
    gk_task_context = context;
    gk_task_workers = team;
    atomic_store_explicit(&gk_remaining, team - 1, memory_order_release);
    pthread_mutex_lock(&gk_sleep_lock);
    atomic_fetch_add_explicit(&gk_generation, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&gk_wake);
    pthread_mutex_unlock(&gk_sleep_lock);
    task(context, 0);
    for (size_t w = team; w < workers; w++) task(context, w);   // if fewer helpers could be started
    // On a shared machine the helpers may be waiting for a CPU: after a while, yield ours.
    for (int spins = 0; atomic_load_explicit(&gk_remaining, memory_order_acquire) != 0; spins++) {
        if (spins < GK_SPINS) GK_PAUSE(); else sched_yield();
    }
    pthread_mutex_unlock(&gk_team_busy);
}
