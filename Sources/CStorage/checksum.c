// checksum.c: CRC-32C with the crc32 instruction: three independent streams over the bulk of a buffer
// (the instruction's latency is three cycles and its throughput one a cycle), combined by multiplying a
// stream's state by x^(8*len) mod P over GF(2) (a raw CRC is linear: the state after A B is A's state
// shifted past len(B) zero bytes, xor B's state from zero), then eight bytes at a time for the rest.
#include "storage.h"
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#include <cpuid.h>

int gc_crc32c_hardware(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c & bit_SSE4_2) ? 1 : 0;
}

// a * b mod P, both reflected (bit 31 is x^0), as zlib's multmodp.
static uint32_t multiply(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (int i = 0; i < 32; i++) {
        if (a & 0x80000000u) product ^= b;
        a <<= 1;
        b = (b >> 1) ^ ((b & 1) ? 0x82F63B78u : 0);
    }
    return product;
}

static uint32_t power(size_t bits) {          // x^bits mod P, reflected
    uint32_t result = 0x80000000u, square = 0x40000000u;  // 1 and x
    while (bits) {
        if (bits & 1) result = multiply(result, square);
        square = multiply(square, square);
        bits >>= 1;
    }
    return result;
}

__attribute__((target("sse4.2")))
static uint32_t serial(uint32_t state, const unsigned char *p, size_t count) {
    uint64_t crc = state;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = _mm_crc32_u64(crc, word);
        p += 8;
        count -= 8;
    }
    uint32_t crc32 = (uint32_t)crc;
    while (count--) crc32 = _mm_crc32_u8(crc32, *p++);
    return crc32;
}

enum { STRIPE = 8192 };                        // bytes per stream per round

__attribute__((target("sse4.2")))
uint32_t gc_crc32c_extend(uint32_t state, const void *bytes, size_t count) {
    static uint32_t stripeShift = 0;           // x^(8*STRIPE) mod P: computed on first use (a benign race: same value)
    const unsigned char *p = bytes;
    if (count >= 3 * STRIPE) {
        if (!stripeShift) stripeShift = power(8 * STRIPE);
        while (count >= 3 * STRIPE) {
            uint64_t a = state, b = 0, c = 0;
            for (size_t i = 0; i < STRIPE; i += 8) {
                uint64_t x, y, z;
                memcpy(&x, p + i, 8);
                memcpy(&y, p + STRIPE + i, 8);
                memcpy(&z, p + 2 * STRIPE + i, 8);
                a = _mm_crc32_u64(a, x);
                b = _mm_crc32_u64(b, y);
                c = _mm_crc32_u64(c, z);
            }
            // state(A B C) = shift(shift(a) ^ b) ^ c, each shift past one stripe.
            uint32_t ab = multiply((uint32_t)a, stripeShift) ^ (uint32_t)b;
            state = multiply(ab, stripeShift) ^ (uint32_t)c;
            p += 3 * STRIPE;
            count -= 3 * STRIPE;
        }
    }
    return serial(state, p, count);
}

#else

int gc_crc32c_hardware(void) { return 0; }
uint32_t gc_crc32c_extend(uint32_t state, const void *bytes, size_t count) { (void)bytes; (void)count; return state; }

#endif
