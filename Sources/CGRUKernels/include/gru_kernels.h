// gru_kernels.h: the float32 kernels of GRUCore, in C so that each can be compiled for several
// instruction sets (AVX-512F+FMA, AVX2+FMA, and a portable baseline) and chosen once at run time with
// `__builtin_cpu_supports`. The package itself is built for the baseline target, so it builds and runs
// on any x86-64 or arm64 machine and can be used as a dependency (no -march=native, no unsafe flags).
#ifndef GRU_CONVERT_KERNELS_H
#define GRU_CONVERT_KERNELS_H

#include <stddef.h>

/// Columns per packed panel: weights are laid out once as panels of this many columns, each `depth`
/// rows of contiguous floats, so that the kernels stream them (zero-padded past the last column).
#define GK_PANEL 32

/// Floats needed to pack a `[depth, columns]` matrix.
size_t gk_packed_size(size_t depth, size_t columns);

/// Packs `w [depth, columns]` (row stride `ldw`) into panels: panel `p` holds columns `[32p, 32p + 32)`.
void gk_pack(size_t depth, size_t columns, const float *w, size_t ldw, float *packed);

/// The strict product over panels `[panel_begin, panel_end)` of a packed `W [depth, columns]`:
/// `out[b][n] += sum over k of a[b][k] * W[k][n]`, k ascending, one rounding step per k (a fused
/// multiply-add where the CPU has one, else a multiply then an add) for every element. Each output
/// element is a fixed chain of operations, whatever the tiling or which thread computes it, so two
/// calls that feed it the same numbers give the same bits. Vectorised across columns and rows, never
/// across k. `out` points at column 0; row strides are in elements.
void gk_strict_accumulate(size_t rows, size_t depth, size_t columns, const float *a, size_t lda,
                          const float *packed, size_t panel_begin, size_t panel_end, float *out, size_t ldo);

/// `values[i] = 1 / (1 + exp(-values[i]))`, with `gk_exp`. NaN stays NaN.
void gk_sigmoid(float *values, size_t count);

/// `values[i] = tanh(values[i])`: an odd polynomial near zero, `1 - 2 / (exp(2x) + 1)` elsewhere. NaN stays NaN.
void gk_tanh(float *values, size_t count);

/// `values[i] = exp(values[i])`: Cephes-style range reduction and a degree-5 polynomial. For tests.
void gk_exp(float *values, size_t count);

/// `out[b][n] += sum over k of a[b][k] * w[k][n]` in float64, for the reference cell (row-major, strides in elements).
void gk_float64_accumulate(size_t rows, size_t depth, size_t columns, const double *a, size_t lda,
                           const double *w, size_t ldw, double *out, size_t ldo);

/// A task of a parallel stage: called once for each worker index.
typedef void (*gk_task_fn)(void *context, size_t worker);

/// Runs `task(context, w)` for every `w` in `[0, workers)` and returns when all have finished: worker 0 on
/// the calling thread, the others on a persistent team of helper threads that spin briefly between
/// stages and then sleep. A second caller while the team is busy runs its tasks serially.
void gk_parallel(size_t workers, gk_task_fn task, void *context);

/// The name of the instruction set the kernels run with on this machine: "avx512f+fma", "avx2+fma" or "baseline".
const char *gk_instruction_set(void);

/// The portable variants, whatever the machine supports, for tests that compare instruction sets.
void gk_strict_accumulate_baseline(size_t rows, size_t depth, size_t columns, const float *a, size_t lda,
                                   const float *packed, size_t panel_begin, size_t panel_end, float *out, size_t ldo);
void gk_sigmoid_baseline(float *values, size_t count);
void gk_tanh_baseline(float *values, size_t count);

#endif
