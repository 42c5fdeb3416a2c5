/* Fused forward + backward of the per-column robust loss sum (reprlab.losses.adaptive_kernel).
 *
 * For x (R rows, D columns, float32, row-major) and per-column constants, one pass computes
 *   s_e1[j]  = sum_i expm1(y_ij),               y = (alpha_j / 2) L,  L = log1p(x^2 k_j)
 *   s_x2p[j] = sum_i x_ij^2 P_ij,               P = (1 + e1) / (1 + u)
 *   s_da[j]  = sum_i d rho / d alpha (x_ij),    three forms as in general._drho_dalpha
 *   gx[i, j] = x_ij P_ij
 * Column sums are accumulated in double. log1p and expm1 are SLEEF's vector functions (the ones
 * torch itself uses, exported by libtorch_cpu); the rest is plain C that the compiler
 * vectorises. Dp, the padded row length, is a multiple of WIDTH. Returns the number of elements whose y exceeds `y_max` (the caller then takes
 * the general path), or 0.
 */
#include <immintrin.h>
#include <stdint.h>

/* The vector width torch's own vectorised CPU kernels use on this machine. */
#ifdef USE_AVX512
#define WIDTH 16
typedef __m512 vec;
__m512 Sleef_log1pf16_u10(__m512);
__m512 Sleef_expm1f16_u10(__m512);
#define VLOAD _mm512_loadu_ps
#define VSTORE _mm512_storeu_ps
#define VLOG1P Sleef_log1pf16_u10
#define VEXPM1 Sleef_expm1f16_u10
#else
#define WIDTH 8
typedef __m256 vec;
__m256 Sleef_log1pf8_u10(__m256);
__m256 Sleef_expm1f8_u10(__m256);
#define VLOAD _mm256_loadu_ps
#define VSTORE _mm256_storeu_ps
#define VLOG1P Sleef_log1pf8_u10
#define VEXPM1 Sleef_expm1f8_u10
#endif

#define NCOEF 15 /* terms of the series near x = 0: h_(N-1) / N!, N = 3 .. 17 */

int adaptive_width(void) { return WIDTH; }

static void log1p_vec(float *v, int64_t n) {
    for (int64_t j = 0; j < n; j += WIDTH) VSTORE(v + j, VLOG1P(VLOAD(v + j)));
}

static void expm1_vec(const float *in, float *out, int64_t n) {
    for (int64_t j = 0; j < n; j += WIDTH) VSTORE(out + j, VEXPM1(VLOAD(in + j)));
}

/* Per-column constants, from alpha (finite, >= the tiny threshold, != 2) and scale (> 0), in
 * double, rounded to float, into `con` (NCON x Dp, padded with harmless values):
 *   k = 1 / (c^2 b), ha = alpha / 2, hm1 = alpha / 2 - 1, M = |alpha| / 2 + 1, quarter_b = b / 4,
 *   half_s = sign(alpha - 2) / 2, far = 1 where b >= 1 (else 0), u1, u2 (the direct form),
 *   b / alpha, and the NCOEF series coefficients h_(N-1) / N! (general._series_coefficients).
 * Returns whether any column takes the direct form (1 < alpha < 3). */
#define NCON (10 + NCOEF)
static int column_constants(const float *alpha, const float *scale, int64_t D, int64_t Dp, float *con) {
    int any_direct = 0;
    for (int64_t j = 0; j < Dp; j++) {
        double a = j < D ? alpha[j] : 1.0, c = j < D ? scale[j] : 1.0;
        double b = a > 2 ? a - 2 : 2 - a, s = a > 2 ? 1.0 : -1.0, m = a / 2;
        double M = (a < 0 ? -a : a) / 2 + 1, r = m / M, ratio = (m - 1) / M;
        int far = b >= 1;
        double sa = far ? 1.0 : a;
        any_direct |= (j < D) && !far;
        con[0 * Dp + j] = (float)(1 / (c * c * b));
        con[1 * Dp + j] = (float)m;
        con[2 * Dp + j] = (float)(m - 1);
        con[3 * Dp + j] = (float)M;
        con[4 * Dp + j] = (float)(b / 4);
        con[5 * Dp + j] = (float)(s / 2);
        con[6 * Dp + j] = (float)far;
        con[7 * Dp + j] = (float)(b / (2 * sa));
        con[8 * Dp + j] = (float)(b * (2 + sa) / (2 * sa * sa));
        con[9 * Dp + j] = (float)(b / a);
        double h = 1, r_power = 1, factorial = 2;
        for (int n = 3; n < 3 + NCOEF; n++) {
            factorial *= n;
            con[(10 + n - 3) * Dp + j] = (float)(h / factorial); /* h_(n-1) / n! */
            r_power *= r;
            h = ratio * h + (n - 1) * r_power;
        }
    }
    return any_direct;
}

/* x: R x D floats (row-major); alpha, scale: D floats; work: (6 + NCON) x Dp floats of scratch
 * (Dp = D rounded up to WIDTH); gx: R x D floats; sums: 3 x Dp doubles; rho, da: R x D floats
 * for the per-element loss and d rho / d alpha, or NULL where not wanted. */
int64_t adaptive_columns(
    const float *restrict x, int64_t R, int64_t D, int64_t Dp,
    const float *restrict alpha, const float *restrict scale, float y_max,
    float *restrict work, float *restrict gx, double *restrict sums,
    float *restrict rho, float *restrict da)
{
    float *restrict con = work + 6 * Dp;
    int any_direct = column_constants(alpha, scale, D, Dp, con);
    char direct_chunk[Dp / WIDTH + 1];
    for (int64_t j = 0; j < Dp; j += WIDTH) {
        direct_chunk[j / WIDTH] = 0;
        for (int64_t i = j; i < j + WIDTH; i++) direct_chunk[j / WIDTH] |= con[6 * Dp + i] == 0.0f;
    }
    const float *restrict k = con, *restrict ha = con + Dp, *restrict hm1 = con + 2 * Dp;
    const float *restrict M = con + 3 * Dp, *restrict quarter_b = con + 4 * Dp;
    const float *restrict half_s = con + 5 * Dp, *restrict far = con + 6 * Dp;
    const float *restrict u1 = con + 7 * Dp, *restrict u2 = con + 8 * Dp;
    const float *restrict b_over_a = con + 9 * Dp, *restrict coef = con + 10 * Dp;
    double *restrict s_e1 = sums, *restrict s_x2p = sums + Dp, *restrict s_da = sums + 2 * Dp;
    float *restrict u = work, *restrict L = work + Dp, *restrict y = work + 2 * Dp;
    float *restrict e1 = work + 3 * Dp, *restrict pm1 = work + 4 * Dp, *restrict dr = work + 5 * Dp;
    int64_t overflow = 0;
    for (int64_t j = 0; j < Dp; j++) { s_e1[j] = 0; s_x2p[j] = 0; s_da[j] = 0; u[j] = 0; pm1[j] = 0; }
    for (int64_t i = 0; i < R; i++) {
        const float *restrict xi = x + i * D;
        float *restrict gi = gx + i * D;
        for (int64_t j = 0; j < D; j++) u[j] = xi[j] * xi[j] * k[j];
        for (int64_t j = 0; j < Dp; j++) L[j] = u[j];
        log1p_vec(L, Dp);
        for (int64_t j = 0; j < Dp; j++) y[j] = ha[j] * L[j];
        expm1_vec(y, e1, Dp);
        if (any_direct) { /* only the vectors that hold a column of the direct form */
            for (int64_t j = 0; j < Dp; j++) pm1[j] = hm1[j] * L[j];
            for (int64_t j = 0; j < Dp; j += WIDTH)
                if (direct_chunk[j / WIDTH]) expm1_vec(pm1 + j, pm1 + j, WIDTH);
        }
#pragma GCC ivdep /* the row buffers, gx and the column sums never overlap */
        for (int64_t j = 0; j < D; j++) {
            float Lj = L[j], uj = u[j], yj = y[j], e = e1[j], E = e + 1.0f, xj = xi[j];
            overflow += yj > y_max;
            float P = E / (1.0f + uj);
            float xp = xj * P;
            gi[j] = xp;
            s_e1[j] += e;
            s_x2p[j] += xj * xp;
            /* series near x = 0: (b / 4) L^3 sum h_(N-1) / N! t^(N-3), t = M L */
            float t = M[j] * Lj;
            float S = coef[(NCOEF - 1) * Dp + j];
#pragma GCC unroll 16
            for (int n = NCOEF - 2; n >= 0; n--) S = S * t + coef[n * Dp + j];
            float d_series = quarter_b[j] * Lj * Lj * Lj * S;
            /* |alpha - 2| >= 1: (s / 2) [E (L - w) - L^2 exprel'(y)] */
            float Ls = Lj; /* L - w: series below 0.5, else L - u / (1 + u) */
            float lw_series = 1.0f / 6227020800.0f; /* 1 / 13! ... down to 1 / 2! (alternating) */
            lw_series = lw_series * -Ls + 1.0f / 479001600.0f;
            lw_series = lw_series * -Ls + 1.0f / 39916800.0f;
            lw_series = lw_series * -Ls + 1.0f / 3628800.0f;
            lw_series = lw_series * -Ls + 1.0f / 362880.0f;
            lw_series = lw_series * -Ls + 1.0f / 40320.0f;
            lw_series = lw_series * -Ls + 1.0f / 5040.0f;
            lw_series = lw_series * -Ls + 1.0f / 720.0f;
            lw_series = lw_series * -Ls + 1.0f / 120.0f;
            lw_series = lw_series * -Ls + 1.0f / 24.0f;
            lw_series = lw_series * -Ls + 1.0f / 6.0f;
            lw_series = lw_series * -Ls + 0.5f;
            float lmw = Lj < 0.5f ? Lj * Lj * lw_series : Lj - uj / (1.0f + uj);
            float ep = 14.0f / 1307674368000.0f; /* exprel'(y) = sum n y^(n-1) / (n+1)!, n <= 14 */
            ep = ep * yj + 13.0f / 87178291200.0f;
            ep = ep * yj + 12.0f / 6227020800.0f;
            ep = ep * yj + 11.0f / 479001600.0f;
            ep = ep * yj + 10.0f / 39916800.0f;
            ep = ep * yj + 9.0f / 3628800.0f;
            ep = ep * yj + 8.0f / 362880.0f;
            ep = ep * yj + 7.0f / 40320.0f;
            ep = ep * yj + 6.0f / 5040.0f;
            ep = ep * yj + 5.0f / 720.0f;
            ep = ep * yj + 4.0f / 120.0f;
            ep = ep * yj + 3.0f / 24.0f;
            ep = ep * yj + 2.0f / 6.0f;
            ep = ep * yj + 0.5f;
            float g_small = E * lmw - Lj * Lj * ep;
            float ly = Lj / yj;
            float g_large = E * (lmw - ly * Lj * (yj - 1.0f) / yj) - ly * ly;
            float g = (yj < 0.5f && yj > -0.5f) ? g_small : g_large;
            float d_far = half_s[j] * g;
            /* 1 < alpha < 3: u1 E L - u2 e1 + (s / 2) expm1(L (alpha/2 - 1)) */
            float d_direct = E * (u1[j] * Lj - u2[j]) + u2[j] + half_s[j] * pm1[j];
            float d = t <= 1.5f ? d_series : (far[j] != 0.0f ? d_far : d_direct);
            s_da[j] += d;
            dr[j] = d;
        }
        if (rho)
            for (int64_t j = 0; j < D; j++) rho[i * D + j] = e1[j] * b_over_a[j];
        if (da)
            for (int64_t j = 0; j < D; j++) da[i * D + j] = dr[j];
    }
    return overflow;
}
