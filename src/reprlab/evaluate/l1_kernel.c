/* Exact L1 distances between rows of uint8 vectors, with the SAD instructions (vpsadbw).
 *
 * q: nq rows, x: nx rows, each `d` bytes long with `d` a multiple of 64 (rows zero-padded:
 * equal padding adds nothing to |a - b|). out[i * ldo + j] = sum_t |q[i][t] - x[j][t]| as
 * float, exact while d * 255 < 2^24. Tiles of 4 queries x 2 data rows share each load;
 * the data are streamed in panels that stay in the L2 cache.
 */
#include <immintrin.h>
#include <stdint.h>

#ifdef __AVX512BW__
typedef __m512i vec;
#define WIDTH 64
#define LOAD(p) _mm512_loadu_si512((const void *)(p))
#define SAD(a, b) _mm512_sad_epu8(a, b)
#define ADD(a, b) _mm512_add_epi64(a, b)
#define ZERO() _mm512_setzero_si512()
static inline int64_t total(vec v) { return _mm512_reduce_add_epi64(v); }
#else
typedef __m256i vec;
#define WIDTH 32
#define LOAD(p) _mm256_loadu_si256((const __m256i *)(p))
#define SAD(a, b) _mm256_sad_epu8(a, b)
#define ADD(a, b) _mm256_add_epi64(a, b)
#define ZERO() _mm256_setzero_si256()
static inline int64_t total(vec v) {
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return _mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1);
}
#endif

#define PANEL 256 /* data rows per panel: 256 x 832 bytes stay in L2 */

static void one(const uint8_t *a, const uint8_t *b, int64_t d, float *out) {
    vec s = ZERO();
    for (int64_t t = 0; t < d; t += WIDTH) s = ADD(s, SAD(LOAD(a + t), LOAD(b + t)));
    *out = (float)total(s);
}

int64_t l1_width(void) { return WIDTH; }

void l1_u8(const uint8_t *q, int64_t nq, const uint8_t *x, int64_t nx, int64_t d, float *out,
           int64_t ldo) {
    for (int64_t j0 = 0; j0 < nx; j0 += PANEL) {
        int64_t j1 = j0 + PANEL < nx ? j0 + PANEL : nx;
        int64_t i = 0;
        for (; i + 4 <= nq; i += 4) {
            const uint8_t *q0 = q + i * d, *q1 = q0 + d, *q2 = q1 + d, *q3 = q2 + d;
            int64_t j = j0;
            for (; j + 2 <= j1; j += 2) {
                const uint8_t *x0 = x + j * d, *x1 = x0 + d;
                vec s00 = ZERO(), s01 = ZERO(), s10 = ZERO(), s11 = ZERO();
                vec s20 = ZERO(), s21 = ZERO(), s30 = ZERO(), s31 = ZERO();
                for (int64_t t = 0; t < d; t += WIDTH) {
                    vec a = LOAD(x0 + t), b = LOAD(x1 + t), v;
                    v = LOAD(q0 + t); s00 = ADD(s00, SAD(v, a)); s01 = ADD(s01, SAD(v, b));
                    v = LOAD(q1 + t); s10 = ADD(s10, SAD(v, a)); s11 = ADD(s11, SAD(v, b));
                    v = LOAD(q2 + t); s20 = ADD(s20, SAD(v, a)); s21 = ADD(s21, SAD(v, b));
                    v = LOAD(q3 + t); s30 = ADD(s30, SAD(v, a)); s31 = ADD(s31, SAD(v, b));
                }
                float *o = out + i * ldo + j;
                o[0] = (float)total(s00); o[1] = (float)total(s01);
                o[ldo] = (float)total(s10); o[ldo + 1] = (float)total(s11);
                o[2 * ldo] = (float)total(s20); o[2 * ldo + 1] = (float)total(s21);
                o[3 * ldo] = (float)total(s30); o[3 * ldo + 1] = (float)total(s31);
            }
            for (; j < j1; j++)
                for (int64_t r = 0; r < 4; r++) one(q + (i + r) * d, x + j * d, d, out + (i + r) * ldo + j);
        }
        for (; i < nq; i++)
            for (int64_t j = j0; j < j1; j++) one(q + i * d, x + j * d, d, out + i * ldo + j);
    }
}
