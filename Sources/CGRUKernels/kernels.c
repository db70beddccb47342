// kernels.c: GRUCore's float32 kernels, compiled for several instruction sets and chosen at run time.
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

/// The parameters of every variant of the strict product (`gk_strict_accumulate`).
#define GK_PRODUCT_PARAMETERS size_t rows, size_t depth, size_t columns, const float *a, size_t lda, \
    const float *packed, size_t panel_begin, size_t panel_end, float *out, size_t ldo

/// Portable: a multiply then an add per k, vectorised across the panel's columns by the compiler.
static void strict_baseline(GK_PRODUCT_PARAMETERS) {
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
// The accumulation of `R` rows of `a` into two vectors of columns each, written once for both
// instruction sets: load the accumulators (masked at the last column), add `a[r][k] * W[k][n]` for k
// ascending with one fused multiply-add each, store them back. `o` and `ar` point at the first row's
// output and input; `w` at the (half) panel; `m0`, `m1` are the masks; `STEP` is the vector width.
#define GK_ACCUMULATE_ROWS(R, VEC, LOAD, STORE, BROADCAST, FMA, LOADW, STEP)                                   \
    do {                                                                                                      \
        VEC c[R][2];                                                                                          \
        for (int r = 0; r < (R); r++) {                                                                       \
            c[r][0] = LOAD(o + r * ldo, m0);                                                                  \
            c[r][1] = LOAD(o + r * ldo + (STEP), m1);                                                         \
        }                                                                                                     \
        for (size_t k = 0; k < depth; k++) {                                                                  \
            VEC w0 = LOADW(w + k * GK_PANEL), w1 = LOADW(w + k * GK_PANEL + (STEP));                          \
            for (int r = 0; r < (R); r++) {                                                                   \
                VEC av = BROADCAST(ar + r * lda + k);                                                         \
                c[r][0] = FMA(av, w0, c[r][0]);                                                               \
                c[r][1] = FMA(av, w1, c[r][1]);                                                               \
            }                                                                                                 \
        }                                                                                                     \
        for (int r = 0; r < (R); r++) {                                                                       \
            STORE(o + r * ldo, m0, c[r][0]);                                                                  \
            STORE(o + r * ldo + (STEP), m1, c[r][1]);                                                         \
        }                                                                                                     \
    } while (0)

#define GK_AVX2 __attribute__((target("avx2,fma"), always_inline)) static inline
GK_AVX2 __m256 avx2_load(const float *p, __m256i mask) { return _mm256_maskload_ps(p, mask); }
GK_AVX2 void avx2_store(float *p, __m256i mask, __m256 v) { _mm256_maskstore_ps(p, mask, v); }
#define GK_AVX2_ROWS(R) GK_ACCUMULATE_ROWS(R, __m256, avx2_load, avx2_store, _mm256_broadcast_ss, _mm256_fmadd_ps, \
                                           _mm256_loadu_ps, 8)

/// AVX2 + FMA: 4 rows x 16 columns of accumulators per half panel; masked stores at the last column.
__attribute__((target("avx2,fma"))) static void strict_avx2(GK_PRODUCT_PARAMETERS) {
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
            // Whole tiles of 4 rows, then the rest one row at a time: the same chain for every element.
            size_t tiled = rows / 4 * 4;
            for (size_t b = 0; b < tiled; b += 4) {
                float *o = out + b * ldo + first;
                const float *ar = a + b * lda;
                GK_AVX2_ROWS(4);
            }
            for (size_t b = tiled; b < rows; b++) {
                float *o = out + b * ldo + first;
                const float *ar = a + b * lda;
                GK_AVX2_ROWS(1);
            }
        }
    }
}

#define GK_AVX512 __attribute__((target("avx512f,fma"), always_inline)) static inline
GK_AVX512 __m512 avx512_load(const float *p, __mmask16 mask) { return _mm512_maskz_loadu_ps(mask, p); }
GK_AVX512 void avx512_store(float *p, __mmask16 mask, __m512 v) { _mm512_mask_storeu_ps(p, mask, v); }
GK_AVX512 __m512 avx512_broadcast(const float *p) { return _mm512_set1_ps(*p); }
#define GK_AVX512_ROWS(R) GK_ACCUMULATE_ROWS(R, __m512, avx512_load, avx512_store, avx512_broadcast, _mm512_fmadd_ps, \
                                             _mm512_loadu_ps, 16)

/// AVX-512F: 8 rows x 32 columns of accumulators (16 of the 32 zmm registers); masked stores at the last column.
__attribute__((target("avx512f,fma"))) static void strict_avx512(GK_PRODUCT_PARAMETERS) {
    for (size_t p = panel_begin; p < panel_end; p++) {
        const float *w = packed + p * depth * GK_PANEL;
        size_t first = p * GK_PANEL;
        size_t width = columns - first < GK_PANEL ? columns - first : GK_PANEL;
        __mmask16 m0 = width >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << width) - 1);
        __mmask16 m1 = width >= 32 ? (__mmask16)0xFFFF : width > 16 ? (__mmask16)((1u << (width - 16)) - 1) : 0;
        // Whole tiles of 8 rows, then the rest one row at a time: the same chain for every element.
        for (size_t b = 0; b < rows; b += (rows - b >= 8 ? 8 : 1)) {
            float *o = out + b * ldo + first;
            const float *ar = a + b * lda;
            if (rows - b >= 8) {
                GK_AVX512_ROWS(8);
            } else {
                GK_AVX512_ROWS(1);
            }
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
