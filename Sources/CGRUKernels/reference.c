// reference.c: the float64 product of the reference cell. Accuracy matters here, not bit-for-bit
// agreement, so the compiler may fuse multiplies and adds; variants per instruction set only for speed.
#include "gru_kernels.h"

#define GK_FLOAT64_PRODUCT(name, attributes)                                                          \
    attributes static void name(size_t rows, size_t depth, size_t columns, const double *a, size_t lda, \
                                const double *w, size_t ldw, double *out, size_t ldo) {               \
        /* A block of 256 columns at a time: each weight row is read once and used for every row of */ \
        /* a, while the block of out stays in cache. */                                              \
        for (size_t n0 = 0; n0 < columns; n0 += 256) {                                                \
            size_t n1 = n0 + 256 < columns ? n0 + 256 : columns;                                      \
            for (size_t k = 0; k < depth; k++) {                                                      \
                const double *wr = w + k * ldw;                                                       \
                for (size_t b = 0; b < rows; b++) {                                                   \
                    const double av = a[b * lda + k];                                                 \
                    double *o = out + b * ldo;                                                        \
                    for (size_t n = n0; n < n1; n++) o[n] += av * wr[n];                              \
                }                                                                                     \
            }                                                                                         \
        }                                                                                             \
    }

GK_FLOAT64_PRODUCT(float64_baseline, )
#if defined(__x86_64__)
GK_FLOAT64_PRODUCT(float64_avx2, __attribute__((target("avx2,fma"))))
GK_FLOAT64_PRODUCT(float64_avx512, __attribute__((target("avx512f,fma"))))
#endif

void gk_float64_accumulate(size_t rows, size_t depth, size_t columns, const double *a, size_t lda,
                           const double *w, size_t ldw, double *out, size_t ldo) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) { float64_avx512(rows, depth, columns, a, lda, w, ldw, out, ldo); return; }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        float64_avx2(rows, depth, columns, a, lda, w, ldw, out, ldo);
        return;
    }
#endif
    float64_baseline(rows, depth, columns, a, lda, w, ldw, out, ldo);
}
