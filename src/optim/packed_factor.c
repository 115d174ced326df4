/* Float triangles applied to double vectors (see packed_factor.h). */
#include "optim/packed_factor.h"

#include <immintrin.h>
#include <math.h>

/* The classes one pass over four lines serves: 4 x 3 accumulators and
 * the four lines' values fit AVX2's sixteen registers. */
enum { GROUP = 3 };

/* ---- the plain loops: the reference, and the kernels' order ---------- */

/* Lane t of four partial sums takes the entries j = t mod 4 below len4;
 * the lanes add as (0 + 1) + (2 + 3), then the rest of the line in order. */
static double dot_plain(const float *x, int len, const double *b) {
    const int len4 = len & ~3;
    double l[4] = {0.0, 0.0, 0.0, 0.0};
    for (int j = 0; j < len4; j += 4)
        for (int t = 0; t < 4; t++) l[t] = fma((double)x[j + t], b[j + t], l[t]);
    double s = (l[0] + l[1]) + (l[2] + l[3]);
    for (int j = len4; j < len; j++) s = fma((double)x[j], b[j], s);
    return s;
}

static void axpy_plain(const float *x, int len, double a, double *y) {
    for (int j = 0; j < len; j++) y[j] = fma(a, (double)x[j], y[j]);
}

/* ---- AVX2: the same sums, four doubles at a time --------------------- */

#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma")))

AVX2 static inline double lanes_sum(__m256d v, const float *x, int len4, int len, const double *b) {
    double l[4];
    _mm256_storeu_pd(l, v);
    double s = (l[0] + l[1]) + (l[2] + l[3]);
    for (int j = len4; j < len; j++) s = fma((double)x[j], b[j], s);
    return s;
}

/* One line's dot products with m (1 .. GROUP) vectors B + c ldb, its lane
 * sums acc taken up to `from` (a multiple of four): the chunks left, then
 * the lanes added and the rest of the line, into out[c]. */
__attribute__((target("avx2,fma"), always_inline)) static inline void row_finish(__m256d *acc, const float *x, int from,
                                                                               int len, const double *B, size_t ldb,
                                                                               int m, double *out) {
    const int len4 = len & ~3;
    for (int j = from; j < len4; j += 4) {
        const __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(x + j));
#pragma GCC unroll 3
        for (int c = 0; c < m; c++) acc[c] = _mm256_fmadd_pd(v, _mm256_loadu_pd(B + (size_t)c * ldb + j), acc[c]);
    }
    for (int c = 0; c < m; c++) out[c] = lanes_sum(acc[c], x, len4, len, B + (size_t)c * ldb);
}

/* The chunks of four below the shortest line's len4: where R lines share
 * each chunk of B. */
static inline int shared_len(const int *len, int R, int align) {
    int s = len[0] & ~(align - 1);
    for (int k = 1; k < R; k++) s = (len[k] & ~(align - 1)) < s ? len[k] & ~(align - 1) : s;
    return s;
}

/* Lines x[0 .. R) (R 1 or 4) against m (1 .. GROUP) vectors B + c ldb:
 * out[k C + c]. The lines share their chunks of four below the shortest's
 * len4 (B's chunk read once for R lines), then each goes on alone. R and
 * m are constants where inlined. */
__attribute__((target("avx2,fma"), always_inline)) static inline void dots_block(const float *const *x,
                                                                               const int *len, int R,
                                                                               const double *B, size_t ldb, int m,
                                                                               int C, double *out) {
    __m256d acc[4][GROUP];
    const int shared = shared_len(len, R, 4);
#pragma GCC unroll 4
    for (int k = 0; k < R; k++)
#pragma GCC unroll 3
        for (int c = 0; c < m; c++) acc[k][c] = _mm256_setzero_pd();
    for (int j = 0; j < shared; j += 4) {
#pragma GCC unroll 4
        for (int k = 0; k < R; k++) {
            const __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(x[k] + j));
#pragma GCC unroll 3
            for (int c = 0; c < m; c++)
                acc[k][c] = _mm256_fmadd_pd(v, _mm256_loadu_pd(B + (size_t)c * ldb + j), acc[k][c]);
        }
    }
    for (int k = 0; k < R; k++) row_finish(acc[k], x[k], shared, len[k], B, ldb, m, out + (size_t)k * C);
}

/* Y + c ldy += sum over the lines k in order of a[k C + c] x[k]: each
 * entry takes the lines one after the other, as R calls of one line. */
__attribute__((target("avx2,fma"), always_inline)) static inline void axpys_block(const float *const *x,
                                                                                const int *len, int R,
                                                                                const double *a, double *Y,
                                                                                size_t ldy, int m, int C) {
    const int shared = shared_len(len, R, 4);
    __m256d av[4][GROUP];
    const float *xk[4]; /* local: the stores to Y cannot reach them, so they stay in registers */
#pragma GCC unroll 4
    for (int k = 0; k < R; k++) {
        xk[k] = x[k];
#pragma GCC unroll 3
        for (int c = 0; c < m; c++) av[k][c] = _mm256_set1_pd(a[(size_t)k * C + c]);
    }
    for (int j = 0; j < shared; j += 4) {
        __m256d v[4];
#pragma GCC unroll 4
        for (int k = 0; k < R; k++) v[k] = _mm256_cvtps_pd(_mm_loadu_ps(xk[k] + j));
#pragma GCC unroll 3
        for (int c = 0; c < m; c++) {
            double *y = Y + (size_t)c * ldy + j;
            __m256d s = _mm256_loadu_pd(y);
#pragma GCC unroll 4
            for (int k = 0; k < R; k++) s = _mm256_fmadd_pd(av[k][c], v[k], s);
            _mm256_storeu_pd(y, s);
        }
    }
    for (int k = 0; k < R; k++) {
        const int len4 = len[k] & ~3;
        for (int j = shared; j < len4; j += 4) {
            const __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(x[k] + j));
#pragma GCC unroll 3
            for (int c = 0; c < m; c++) {
                double *y = Y + (size_t)c * ldy + j;
                _mm256_storeu_pd(y, _mm256_fmadd_pd(av[k][c], v, _mm256_loadu_pd(y)));
            }
        }
        for (int c = 0; c < m; c++) {
            double *y = Y + (size_t)c * ldy;
            for (int j = len4; j < len[k]; j++) y[j] = fma(a[(size_t)k * C + c], (double)x[k][j], y[j]);
        }
    }
}

/* ---- AVX-512: two lines' lanes in one register, the same sums -------- */

/* Chunk j of lines a and b, four doubles each, as one register's halves. */
__attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma"), always_inline)) static inline __m512d
pair_chunk(const float *a, const float *b) {
    return _mm512_cvtps_pd(_mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(a)), _mm_loadu_ps(b), 1));
}

/* Four lines: lines 0 and 1 share registers, 2 and 3 others, each half
 * the four lanes the AVX2 kernel keeps for its line, so each line's sums
 * are its bits there; B's chunk broadcast to both halves. */
__attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma"), always_inline)) static inline void
dots4_block512(const float *const *x, const int *len, const double *B, size_t ldb, int m, int C, double *out) {
    __m512d acc[2][GROUP];
    const int shared = shared_len(len, 4, 4);
#pragma GCC unroll 3
    for (int c = 0; c < m; c++) acc[0][c] = acc[1][c] = _mm512_setzero_pd();
    for (int j = 0; j < shared; j += 4) {
        const __m512d v0 = pair_chunk(x[0] + j, x[1] + j), v1 = pair_chunk(x[2] + j, x[3] + j);
#pragma GCC unroll 3
        for (int c = 0; c < m; c++) {
            const __m512d b = _mm512_broadcast_f64x4(_mm256_loadu_pd(B + (size_t)c * ldb + j));
            acc[0][c] = _mm512_fmadd_pd(v0, b, acc[0][c]);
            acc[1][c] = _mm512_fmadd_pd(v1, b, acc[1][c]);
        }
    }
    for (int k = 0; k < 4; k++) {
        __m256d a4[GROUP];
        for (int c = 0; c < m; c++)
            a4[c] = k % 2 ? _mm512_extractf64x4_pd(acc[k / 2][c], 1) : _mm512_castpd512_pd256(acc[k / 2][c]);
        row_finish(a4, x[k], shared, len[k], B, ldb, m, out + (size_t)k * C);
    }
}

/* Eight entries a step where the lines share them, then AVX2's block for
 * the rest: each entry's sum is elementwise, the same in any width. */
__attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma"), always_inline)) static inline void
axpys_block512(const float *const *x, const int *len, int R, const double *a, double *Y, size_t ldy, int m, int C) {
    const int shared = shared_len(len, R, 8);
    __m512d av[4][GROUP];
    const float *xk[4];
#pragma GCC unroll 4
    for (int k = 0; k < R; k++) {
        xk[k] = x[k];
#pragma GCC unroll 3
        for (int c = 0; c < m; c++) av[k][c] = _mm512_set1_pd(a[(size_t)k * C + c]);
    }
    for (int j = 0; j < shared; j += 8) {
        __m512d v[4];
#pragma GCC unroll 4
        for (int k = 0; k < R; k++) v[k] = _mm512_cvtps_pd(_mm256_loadu_ps(xk[k] + j));
#pragma GCC unroll 3
        for (int c = 0; c < m; c++) {
            double *y = Y + (size_t)c * ldy + j;
            __m512d s = _mm512_loadu_pd(y);
#pragma GCC unroll 4
            for (int k = 0; k < R; k++) s = _mm512_fmadd_pd(av[k][c], v[k], s);
            _mm512_storeu_pd(y, s);
        }
    }
    const float *rest[4];
    int rest_len[4];
    for (int k = 0; k < R; k++) {
        rest[k] = x[k] + shared;
        rest_len[k] = len[k] - shared;
    }
    axpys_block(rest, rest_len, R, a, Y + shared, ldy, m, C);
}

/* The kernels for R lines (1 or 4) and any C, by groups of classes; the
 * switches give the inlined blocks constant R and m. */
#define FOR_GROUPS(BLOCK, R)                                                                                           \
    for (int c0 = 0; c0 < C; c0 += GROUP) switch (C - c0 < GROUP ? C - c0 : GROUP) {                                  \
        case 1: BLOCK(R, 1); break;                                                                                    \
        case 2: BLOCK(R, 2); break;                                                                                    \
        default: BLOCK(R, GROUP); break;                                                                               \
        }

#define DOTS(R, M) dots_block(x, len, R, B + (size_t)c0 * ldb, ldb, M, C, out + c0)
#define DOTS512(R, M) dots4_block512(x, len, B + (size_t)c0 * ldb, ldb, M, C, out + c0)
#define AXPYS(R, M) axpys_block(x, len, R, a + c0, Y + (size_t)c0 * ldy, ldy, M, C)
#define AXPYS512(R, M) axpys_block512(x, len, R, a + c0, Y + (size_t)c0 * ldy, ldy, M, C)

AVX2 static void dots_avx2(const float *const *x, const int *len, int R, const double *B, size_t ldb, int C,
                           double *out) {
    if (R == 4) FOR_GROUPS(DOTS, 4)
    else FOR_GROUPS(DOTS, 1)
}

AVX512 static void dots4_avx512(const float *const *x, const int *len, const double *B, size_t ldb, int C,
                                double *out) {
    FOR_GROUPS(DOTS512, 4)
}

AVX2 static void axpys_avx2(const float *const *x, const int *len, int R, const double *a, double *Y, size_t ldy,
                            int C) {
    if (R == 4) FOR_GROUPS(AXPYS, 4)
    else FOR_GROUPS(AXPYS, 1)
}

AVX512 static void axpys_avx512(const float *const *x, const int *len, int R, const double *a, double *Y,
                                size_t ldy, int C) {
    if (R == 4) FOR_GROUPS(AXPYS512, 4)
    else FOR_GROUPS(AXPYS512, 1)
}

void df_line_dots(const float *x, int len, const double *B, size_t ldb, int C, double *out, df_cpu_isa isa) {
    if (isa >= DF_CPU_ISA_AVX2) { /* one line: AVX-512 would have only one lane set to fill */
        dots_avx2(&x, &len, 1, B, ldb, C, out);
        return;
    }
    for (int c = 0; c < C; c++) out[c] = dot_plain(x, len, B + (size_t)c * ldb);
}

void df_lines4_dots(const float *const x[4], const int len[4], const double *B, size_t ldb, int C, double *out,
                    df_cpu_isa isa) {
    if (isa >= DF_CPU_ISA_AVX512) {
        dots4_avx512(x, len, B, ldb, C, out);
        return;
    }
    if (isa == DF_CPU_ISA_AVX2) {
        dots_avx2(x, len, 4, B, ldb, C, out);
        return;
    }
    for (int k = 0; k < 4; k++)
        for (int c = 0; c < C; c++) out[(size_t)k * C + c] = dot_plain(x[k], len[k], B + (size_t)c * ldb);
}

void df_line_axpys(const float *x, int len, const double *a, double *Y, size_t ldy, int C, df_cpu_isa isa) {
    if (isa >= DF_CPU_ISA_AVX512) {
        axpys_avx512(&x, &len, 1, a, Y, ldy, C);
        return;
    }
    if (isa == DF_CPU_ISA_AVX2) {
        axpys_avx2(&x, &len, 1, a, Y, ldy, C);
        return;
    }
    for (int c = 0; c < C; c++) axpy_plain(x, len, a[c], Y + (size_t)c * ldy);
}

void df_lines4_axpys(const float *const x[4], const int len[4], const double *a, double *Y, size_t ldy, int C,
                     df_cpu_isa isa) {
    if (isa >= DF_CPU_ISA_AVX512) {
        axpys_avx512(x, len, 4, a, Y, ldy, C);
        return;
    }
    if (isa == DF_CPU_ISA_AVX2) {
        axpys_avx2(x, len, 4, a, Y, ldy, C);
        return;
    }
    for (int k = 0; k < 4; k++)
        for (int c = 0; c < C; c++) axpy_plain(x[k], len[k], a[(size_t)k * C + c], Y + (size_t)c * ldy);
}

size_t df_packed_col(int n, int j) { return (size_t)j * (size_t)n - (size_t)j * (size_t)(j - 1) / 2; }

void df_packed_from(const double *L, int n, size_t ld, float *Lp) {
    for (int j = 0; j < n; j++) {
        float *col = Lp + df_packed_col(n, j);
        for (int i = j; i < n; i++) col[i - j] = (float)L[(size_t)j * ld + i];
    }
}

/* L's entry (i, j), i >= j. */
static double at(const float *Lp, int n, int i, int j) { return (double)Lp[df_packed_col(n, j) + (size_t)(i - j)]; }

/* Forward substitution four columns at a time: inside the 4 x 4 diagonal
 * block column by column, then the four columns below it off the rows
 * below in one pass. Each entry of U takes the columns in order, as
 * column-by-column substitution would. Classes CHUNK at a time. */
enum { CHUNK = 64 };

void df_packed_solve(const float *Lp, int n, double *U, size_t ldu, int C, df_cpu_isa isa) {
    for (int j = 0; j < n; j += 4) {
        const int w = n - j < 4 ? n - j : 4;
        double neg[4 * CHUNK];
        for (int c0 = 0; c0 < C; c0 += CHUNK) {
            const int m = C - c0 < CHUNK ? C - c0 : CHUNK;
            for (int k = 0; k < w; k++)
                for (int c = 0; c < m; c++) {
                    double *u = U + (size_t)(c0 + c) * ldu;
                    u[j + k] /= at(Lp, n, j + k, j + k);
                    for (int i = j + k + 1; i < j + w; i++) u[i] = fma(-u[j + k], at(Lp, n, i, j + k), u[i]);
                    neg[k * m + c] = -u[j + k];
                }
            if (j + 4 >= n) continue; /* the last block: nothing below */
            const float *cols[4];
            int len[4];
            for (int k = 0; k < 4; k++) {
                cols[k] = Lp + df_packed_col(n, j + k) + (4 - k);
                len[k] = n - j - 4;
            }
            df_lines4_axpys(cols, len, neg, U + (size_t)c0 * ldu + j + 4, ldu, m, isa);
        }
    }
}

/* Back substitution with L^T (row j of L^T is column j of L), four
 * columns at a time from the bottom: their products with the solution
 * below the block in one pass, then inside the block from its last
 * column, x_k = (u_k - that product - L's block entries below k times
 * their x, in order) / L_kk. */
void df_packed_solve_t(const float *Lp, int n, double *U, size_t ldu, int C, df_cpu_isa isa) {
    for (int hi = n; hi > 0; hi -= 4) {
        const int lo = hi - 4 > 0 ? hi - 4 : 0;
        double s[4 * CHUNK];
        for (int c0 = 0; c0 < C; c0 += CHUNK) {
            const int m = C - c0 < CHUNK ? C - c0 : CHUNK;
            const double *below = U + (size_t)c0 * ldu + hi;
            for (int t = 0; t < 4 * m; t++) s[t] = 0.0;
            if (hi < n && hi - lo == 4) {
                const float *cols[4];
                int len[4];
                for (int k = 0; k < 4; k++) {
                    cols[k] = Lp + df_packed_col(n, lo + k) + (hi - lo - k);
                    len[k] = n - hi;
                }
                df_lines4_dots(cols, len, below, ldu, m, s, isa);
            } else if (hi < n) {
                for (int k = lo; k < hi; k++)
                    df_line_dots(Lp + df_packed_col(n, k) + (hi - k), n - hi, below, ldu, m, s + (size_t)(k - lo) * m,
                                 isa);
            }
            for (int k = hi - 1; k >= lo; k--)
                for (int c = 0; c < m; c++) {
                    double *u = U + (size_t)(c0 + c) * ldu;
                    double v = u[k] - s[(k - lo) * m + c];
                    for (int i = k + 1; i < hi; i++) v = fma(-at(Lp, n, i, k), u[i], v);
                    u[k] = v / at(Lp, n, k, k);
                }
        }
    }
}
