// kernels.c: GRUReference's float32 kernels, compiled for several instruction sets and chosen at run time.
//
// Floating-point contraction is off in this file: a multiply and an add stay two roundings unless the
// code asks for a fused multiply-add by name, so every element's chain of operations is what the
// source says, in the vector body and in the tails alike.
#pragma clang fp contract(off)

#include "gru_kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GK_X86 1
#endif

// MARK: - Activations

static inline float gk_bits_to_float(uint32_t bits) { float f; memcpy(&f, &bits, 4); return f; }

// The activations are stamped out once per instruction set from activations.inc: with separate
// multiplies and adds on the baseline, with fused multiply-adds where the CPU has them (half the
// operations in the polynomials). Each variant is measured against float64 in the tests.
#define GK_SUFFIX baseline
#define GK_MADD(a, b, c) ((a) * (b) + (c))
#define GK_TARGET
#include "activations.inc"

#ifdef GK_X86
#define GK_SUFFIX avx2
#define GK_MADD(a, b, c) fmaf((a), (b), (c))
#define GK_TARGET __attribute__((target("avx2,fma")))
#include "activations.inc"

#define GK_SUFFIX avx512
#define GK_MADD(a, b, c) fmaf((a), (b), (c))
#define GK_TARGET __attribute__((target("avx512f,fma")))
#include "activations.inc"
#endif

// MARK: - Strict products on packed panels

size_t gk_packed_size(size_t depth, size_t columns) {
    return depth * ((columns + GK_PANEL - 1) / GK_PANEL) * GK_PANEL;
}

void gk_pack(size_t depth, size_t columns, const float *w, size_t ldw, float *packed) {
    size_t panels = (columns + GK_PANEL - 1) / GK_PANEL;
    for (size_t p = 0; p < panels; p++) {
        float *panel = packed + p * depth * GK_PANEL;
        size_t first = p * GK_PANEL;
        size_t width = columns - first < GK_PANEL ? columns - first : GK_PANEL;
        for (size_t k = 0; k < depth; k++) {
            for (size_t n = 0; n < GK_PANEL; n++) panel[k * GK_PANEL + n] = n < width ? w[k * ldw + first + n] : 0.0f;
        }
    }
}

/// Portable: a multiply then an add per k, vectorised across the panel's columns by the compiler.
static void strict_baseline(size_t rows, size_t depth, size_t columns, const float *a, size_t lda,
                            const float *packed, size_t panel_begin, size_t panel_end, float *out, size_t ldo) {
    for (size_t p = panel_begin; p < panel_end; p++) {
        const float *panel = packed + p * depth * GK_PANEL;
        size_t first = p * GK_PANEL;
        size_t width = columns - first < GK_PANEL ? columns - first : GK_PANEL;
        for (size_t b = 0; b < rows; b++) {
            float acc[GK_PANEL];
            float *o = out + b * ldo + first;
            for (size_t n = 0; n < GK_PANEL; n++) acc[n] = n < width ? o[n] : 0.0f;
            const float *ar = a + b * lda;
            for (size_t k = 0; k < depth; k++) {
                const float av = ar[k];
                const float *wr = panel + k * GK_PANEL;
                for (size_t n = 0; n < GK_PANEL; n++) acc[n] = acc[n] + av * wr[n];
            }
            for (size_t n = 0; n < width; n++) o[n] = acc[n];
        }
    }
}

#ifdef GK_X86
/// AVX2 + FMA: 4 rows x 16 columns of accumulators per half panel; masked stores at the last column.
__attribute__((target("avx2,fma")))
static void strict_avx2(size_t rows, size_t depth, size_t columns, const float *a, size_t lda,
                        const float *packed, size_t panel_begin, size_t panel_end, float *out, size_t ldo) {
    for (size_t p = panel_begin; p < panel_end; p++) {
        const float *panel = packed + p * depth * GK_PANEL;
        for (size_t half = 0; half < 2; half++) {
            size_t first = p * GK_PANEL + half * 16;
            if (first >= columns) break;
            size_t width = columns - first < 16 ? columns - first : 16;
            int32_t lanes[16];
            for (int i = 0; i < 16; i++) lanes[i] = (size_t)i < width ? -1 : 0;
            __m256i m0 = _mm256_loadu_si256((const __m256i *)lanes);
            __m256i m1 = _mm256_loadu_si256((const __m256i *)(lanes + 8));
            const float *w = panel + half * 16;
            size_t b = 0;
            for (; b + 4 <= rows; b += 4) {
                __m256 c[4][2];
                for (int r = 0; r < 4; r++) {
                    c[r][0] = _mm256_maskload_ps(out + (b + r) * ldo + first, m0);
                    c[r][1] = _mm256_maskload_ps(out + (b + r) * ldo + first + 8, m1);
                }
                for (size_t k = 0; k < depth; k++) {
                    __m256 w0 = _mm256_loadu_ps(w + k * GK_PANEL);
                    __m256 w1 = _mm256_loadu_ps(w + k * GK_PANEL + 8);
                    for (int r = 0; r < 4; r++) {
                        __m256 av = _mm256_broadcast_ss(a + (b + r) * lda + k);
                        c[r][0] = _mm256_fmadd_ps(av, w0, c[r][0]);
                        c[r][1] = _mm256_fmadd_ps(av, w1, c[r][1]);
                    }
                }
                for (int r = 0; r < 4; r++) {
                    _mm256_maskstore_ps(out + (b + r) * ldo + first, m0, c[r][0]);
                    _mm256_maskstore_ps(out + (b + r) * ldo + first + 8, m1, c[r][1]);
                }
            }
            for (; b < rows; b++) {
                __m256 c0 = _mm256_maskload_ps(out + b * ldo + first, m0);
                __m256 c1 = _mm256_maskload_ps(out + b * ldo + first + 8, m1);
                for (size_t k = 0; k < depth; k++) {
                    __m256 av = _mm256_broadcast_ss(a + b * lda + k);
                    c0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(w + k * GK_PANEL), c0);
                    c1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(w + k * GK_PANEL + 8), c1);
                }
                _mm256_maskstore_ps(out + b * ldo + first, m0, c0);
                _mm256_maskstore_ps(out + b * ldo + first + 8, m1, c1);
            }
        }
    }
}

/// AVX-512F: 8 rows x 32 columns of accumulators (16 of the 32 zmm registers); masked stores at the last column.
__attribute__((target("avx512f,fma")))
static void strict_avx512(size_t rows, size_t depth, size_t columns, const float *a, size_t lda,
                          const float *packed, size_t panel_begin, size_t panel_end, float *out, size_t ldo) {
    for (size_t p = panel_begin; p < panel_end; p++) {
        const float *w = packed + p * depth * GK_PANEL;
        size_t first = p * GK_PANEL;
        size_t width = columns - first < GK_PANEL ? columns - first : GK_PANEL;
        __mmask16 m0 = width >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << width) - 1);
        __mmask16 m1 = width >= 32 ? (__mmask16)0xFFFF : width > 16 ? (__mmask16)((1u << (width - 16)) - 1) : 0;
        size_t b = 0;
        for (; b + 8 <= rows; b += 8) {
            __m512 c[8][2];
            for (int r = 0; r < 8; r++) {
                c[r][0] = _mm512_maskz_loadu_ps(m0, out + (b + r) * ldo + first);
                c[r][1] = _mm512_maskz_loadu_ps(m1, out + (b + r) * ldo + first + 16);
            }
            for (size_t k = 0; k < depth; k++) {
                __m512 w0 = _mm512_loadu_ps(w + k * GK_PANEL);
                __m512 w1 = _mm512_loadu_ps(w + k * GK_PANEL + 16);
                for (int r = 0; r < 8; r++) {
                    __m512 av = _mm512_set1_ps(a[(b + r) * lda + k]);
                    c[r][0] = _mm512_fmadd_ps(av, w0, c[r][0]);
                    c[r][1] = _mm512_fmadd_ps(av, w1, c[r][1]);
                }
            }
            for (int r = 0; r < 8; r++) {
                _mm512_mask_storeu_ps(out + (b + r) * ldo + first, m0, c[r][0]);
                _mm512_mask_storeu_ps(out + (b + r) * ldo + first + 16, m1, c[r][1]);
            }
        }
        for (; b < rows; b++) {
            __m512 c0 = _mm512_maskz_loadu_ps(m0, out + b * ldo + first);
            __m512 c1 = _mm512_maskz_loadu_ps(m1, out + b * ldo + first + 16);
            for (size_t k = 0; k < depth; k++) {
                __m512 av = _mm512_set1_ps(a[b * lda + k]);
                c0 = _mm512_fmadd_ps(av, _mm512_loadu_ps(w + k * GK_PANEL), c0);
                c1 = _mm512_fmadd_ps(av, _mm512_loadu_ps(w + k * GK_PANEL + 16), c1);
            }
            _mm512_mask_storeu_ps(out + b * ldo + first, m0, c0);
            _mm512_mask_storeu_ps(out + b * ldo + first + 16, m1, c1);
        }
    }
}
#endif

// MARK: - Dispatch

typedef void (*gk_product_fn)(size_t, size_t, size_t, const float *, size_t, const float *, size_t, size_t, float *, size_t);
typedef void (*gk_elementwise_fn)(float *, size_t);

typedef struct {
    const char *name;
    gk_product_fn product;
    gk_elementwise_fn exp, sigmoid, tanh;
} gk_kernels;

static const gk_kernels gk_baseline = { "baseline", strict_baseline, exp_baseline, sigmoid_baseline, tanh_baseline };
#ifdef GK_X86
static const gk_kernels gk_avx2 = { "avx2+fma", strict_avx2, exp_avx2, sigmoid_avx2, tanh_avx2 };
static const gk_kernels gk_avx512 = { "avx512f+fma", strict_avx512, exp_avx512, sigmoid_avx512, tanh_avx512 };
#endif

static const gk_kernels *gk_detect(void) {
#ifdef GK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return &gk_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &gk_avx2;
#endif
    return &gk_baseline;
}

// Chosen once; a data race on first use would store the same pointer from every thread.
static const gk_kernels *_Atomic gk_selected = 0;

static const gk_kernels *gk_current(void) {
    const gk_kernels *k = gk_selected;
    if (!k) { k = gk_detect(); gk_selected = k; }
    return k;
}

void gk_strict_accumulate(size_t rows, size_t depth, size_t columns, const float *a, size_t lda,
                          const float *packed, size_t panel_begin, size_t panel_end, float *out, size_t ldo) {
    if (rows == 0 || depth == 0 || panel_begin >= panel_end) return;
    gk_current()->product(rows, depth, columns, a, lda, packed, panel_begin, panel_end, out, ldo);
}

void gk_sigmoid(float *values, size_t count) { gk_current()->sigmoid(values, count); }
void gk_tanh(float *values, size_t count) { gk_current()->tanh(values, count); }
void gk_exp(float *values, size_t count) { gk_current()->exp(values, count); }
const char *gk_instruction_set(void) { return gk_current()->name; }

void gk_strict_accumulate_baseline(size_t rows, size_t depth, size_t columns, const float *a, size_t lda,
                                   const float *packed, size_t panel_begin, size_t panel_end, float *out, size_t ldo) {
    if (rows == 0 || depth == 0 || panel_begin >= panel_end) return;
    strict_baseline(rows, depth, columns, a, lda, packed, panel_begin, panel_end, out, ldo);
}

void gk_sigmoid_baseline(float *values, size_t count) { sigmoid_baseline(values, count); }
void gk_tanh_baseline(float *values, size_t count) { tanh_baseline(values, count); }
