// gru_kernels.h: the float32 kernels of GRUReference, in C so that each can be compiled for several
// instruction sets (AVX-512F+FMA, AVX2+FMA, and a portable baseline) and chosen once at run time with
// `__builtin_cpu_supports`. The package itself is built for the baseline target, so it builds and runs
// on any x86-64 or arm64 machine and can be used as a dependency (no -march=native, no unsafe flags).
#ifndef GRU_CONVERT_KERNELS_H
#define GRU_CONVERT_KERNELS_H

#include <stddef.h>

/// The strict product: `out[b][n] += sum over k of a[b][k] * w[k][n]`, with k ascending and one rounding
/// step per k (a fused multiply-add where the CPU has one, else a multiply then an add) for every element.
/// Each output element is a fixed chain of operations, whatever the tiling, the column count or the
/// column offset, so two calls that feed it the same numbers give the same bits. Vectorised across
/// `n` and `b`, never across `k`. Row strides are in elements.
void gk_strict_accumulate(size_t rows, size_t depth, size_t columns,
                          const float *a, size_t lda, const float *w, size_t ldw, float *out, size_t ldo);

/// `values[i] = 1 / (1 + exp(-values[i]))`, with `gk_exp`. NaN stays NaN.
void gk_sigmoid(float *values, size_t count);

/// `values[i] = tanh(values[i])`: an odd polynomial near zero, `1 - 2 / (exp(2x) + 1)` elsewhere. NaN stays NaN.
void gk_tanh(float *values, size_t count);

/// `values[i] = exp(values[i])`: Cephes-style range reduction and a degree-5 polynomial. For tests.
void gk_exp(float *values, size_t count);

/// The name of the instruction set the kernels run with on this machine: "avx512f+fma", "avx2+fma" or "baseline".
const char *gk_instruction_set(void);

/// The portable variants, whatever the machine supports, for tests that compare instruction sets.
void gk_strict_accumulate_baseline(size_t rows, size_t depth, size_t columns,
                                   const float *a, size_t lda, const float *w, size_t ldw, float *out, size_t ldo);
void gk_sigmoid_baseline(float *values, size_t count);
void gk_tanh_baseline(float *values, size_t count);

#endif
