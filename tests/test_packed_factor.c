/*
 * Float triangles applied to double vectors (optim/packed_factor.h): the
 * line kernels against sums written out here (the reference) and their
 * AVX2 and AVX-512 versions (those the CPU has) bit for bit against the
 * plain loops, four lines at once
 * bit for bit as four single lines, the packing, and the triangular
 * solves by their residuals (L X - U in double from the packed floats)
 * and the same bits with every ISA; lengths with remainders and
 * shorter than a vector, 1 to 70 right-hand sides (past the solves'
 * chunk of 64), and sizes not a multiple of the blocks of four.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/rng.h"
#include "optim/packed_factor.h"

/* The vector ISAs this CPU can run, after the plain loops (DF_CPU_ISA
 * caps them as it caps the product). */
static int isas(df_cpu_isa *out) {
    int n = 0;
    out[n++] = DF_CPU_ISA_SCALAR;
    if (df_cpu_isa_best() >= DF_CPU_ISA_AVX2) out[n++] = DF_CPU_ISA_AVX2;
    if (df_cpu_isa_best() >= DF_CPU_ISA_AVX512) out[n++] = DF_CPU_ISA_AVX512;
    return n;
}

static void fill(df_rng *rng, double *v, size_t n) {
    for (size_t k = 0; k < n; k++) v[k] = df_rng_normal(rng);
}

static void fill_f(df_rng *rng, float *v, size_t n) {
    for (size_t k = 0; k < n; k++) v[k] = (float)df_rng_normal(rng);
}

static const int lens[] = {0, 1, 3, 4, 5, 8, 17, 64, 257};
static const int classes[] = {1, 2, 3, 4, 5, 7};

static void test_line_kernels(void **state) {
    (void)state;
    df_rng rng;
    df_rng_seed(&rng, 5, 1);
    for (size_t a = 0; a < sizeof lens / sizeof *lens; a++)
        for (size_t b = 0; b < sizeof classes / sizeof *classes; b++) {
            const int len = lens[a], C = classes[b];
            const size_t ld = (size_t)len + 3;
            float *x = malloc(sizeof(float) * ((size_t)len + 1));
            double *B = malloc(sizeof(double) * ld * C), *Y = malloc(sizeof(double) * ld * C),
                   *Y2 = malloc(sizeof(double) * ld * C), out[8], out2[8], coef[8];
            assert_true(x && B && Y && Y2);
            fill_f(&rng, x, (size_t)len);
            fill(&rng, B, ld * C);
            fill(&rng, Y, ld * C);
            fill(&rng, coef, (size_t)C);
            memcpy(Y2, Y, sizeof(double) * ld * C);
            df_line_dots(x, len, B, ld, C, out, DF_CPU_ISA_SCALAR);
            for (int c = 0; c < C; c++) { /* the reference: the plain sum, to rounding */
                double ref = 0.0, mag = 0.0;
                for (int j = 0; j < len; j++) {
                    ref += (double)x[j] * B[(size_t)c * ld + j];
                    mag += fabs((double)x[j] * B[(size_t)c * ld + j]);
                }
                assert_true(fabs(out[c] - ref) <= 1e-14 * (mag + 1.0));
            }
            df_line_axpys(x, len, coef, Y, ld, C, DF_CPU_ISA_SCALAR);
            for (int c = 0; c < C; c++)
                for (size_t j = 0; j < ld; j++) {
                    const double want = j < (size_t)len ? fma(coef[c], (double)x[j], Y2[c * ld + j]) : Y2[c * ld + j];
                    assert_true(Y[c * ld + j] == want);
                }
            df_cpu_isa isa[3];
            for (int t = 1, m = isas(isa); t < m; t++) {
                double *Y3 = malloc(sizeof(double) * ld * C);
                assert_non_null(Y3);
                memcpy(Y3, Y2, sizeof(double) * ld * C);
                df_line_dots(x, len, B, ld, C, out2, isa[t]);
                assert_memory_equal(out, out2, sizeof(double) * C);
                df_line_axpys(x, len, coef, Y3, ld, C, isa[t]);
                assert_memory_equal(Y, Y3, sizeof(double) * ld * C);
                free(Y3);
            }
            free(x);
            free(B);
            free(Y);
            free(Y2);
        }
}

/* Four lines at once give each line's own bits (the lines of a
 * trapezoidal block: lengths a row apart; and lengths far apart, one
 * empty). */
static void test_four_lines_are_four_lines(void **state) {
    (void)state;
    static const int sets[3][4] = {{9, 10, 11, 12}, {100, 0, 37, 64}, {257, 258, 259, 260}};
    df_rng rng;
    df_rng_seed(&rng, 6, 1);
    df_cpu_isa isa[3];
    const int n_isa = isas(isa);
    for (int s = 0; s < 3; s++)
        for (size_t b = 0; b < sizeof classes / sizeof *classes; b++)
            for (int t = 0; t < n_isa; t++) {
                const int C = classes[b];
                const size_t ld = 261;
                float *rows = malloc(sizeof(float) * 4 * ld);
                double *B = malloc(sizeof(double) * ld * C), *Y = malloc(sizeof(double) * ld * C),
                       *Y2 = malloc(sizeof(double) * ld * C), out[4 * 8], one[8], coef[4 * 8];
                assert_true(rows && B && Y && Y2);
                fill_f(&rng, rows, 4 * ld);
                fill(&rng, B, ld * C);
                fill(&rng, Y, ld * C);
                fill(&rng, coef, 4 * (size_t)C);
                memcpy(Y2, Y, sizeof(double) * ld * C);
                const float *x[4] = {rows, rows + ld, rows + 2 * ld, rows + 3 * ld};
                df_lines4_dots(x, sets[s], B, ld, C, out, isa[t]);
                for (int k = 0; k < 4; k++) { /* and against the plain single line */
                    df_line_dots(x[k], sets[s][k], B, ld, C, one, DF_CPU_ISA_SCALAR);
                    assert_memory_equal(out + k * C, one, sizeof(double) * C);
                }
                df_lines4_axpys(x, sets[s], coef, Y, ld, C, isa[t]);
                for (int k = 0; k < 4; k++)
                    df_line_axpys(x[k], sets[s][k], coef + k * C, Y2, ld, C, DF_CPU_ISA_SCALAR);
                assert_memory_equal(Y, Y2, sizeof(double) * ld * C);
                free(rows);
                free(B);
                free(Y);
                free(Y2);
            }
}

static void test_packing(void **state) {
    (void)state;
    const int n = 7;
    double L[49];
    for (int k = 0; k < 49; k++) L[k] = k + 0.5;
    float Lp[28];
    assert_int_equal(df_packed_col(n, 0), 0);
    assert_int_equal(df_packed_col(n, 1), 7);
    assert_int_equal(df_packed_col(n, n), 28);
    df_packed_from(L, n, 7, Lp);
    for (int j = 0; j < n; j++)
        for (int i = j; i < n; i++) assert_true(Lp[df_packed_col(n, j) + (size_t)(i - j)] == (float)L[j * 7 + i]);
}

/* L's entry (i, j) of the packed floats, in double. */
static double at(const float *Lp, int n, int i, int j) { return (double)Lp[df_packed_col(n, j) + (size_t)(i - j)]; }

static void test_solves(void **state) {
    (void)state;
    static const int sizes[] = {1, 3, 4, 5, 13, 64, 131};
    static const int rhs[] = {1, 3, 70};
    df_rng rng;
    df_rng_seed(&rng, 7, 1);
    for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++)
        for (size_t b = 0; b < sizeof rhs / sizeof *rhs; b++) {
            const int n = sizes[a], C = rhs[b];
            double *L = malloc(sizeof(double) * (size_t)n * n), *U = malloc(sizeof(double) * (size_t)n * C);
            double *X = malloc(sizeof(double) * (size_t)n * C), *X2 = malloc(sizeof(double) * (size_t)n * C);
            float *Lp = malloc(sizeof(float) * df_packed_col(n, n));
            assert_true(L && U && X && X2 && Lp);
            /* a Cholesky-like factor: a dominant diagonal, entries below of either sign */
            for (int j = 0; j < n; j++)
                for (int i = j; i < n; i++) L[(size_t)j * n + i] = i == j ? 2.0 + fabs(df_rng_normal(&rng)) : 0.3 * df_rng_normal(&rng);
            df_packed_from(L, n, (size_t)n, Lp);
            fill(&rng, U, (size_t)n * C);
            for (int trans = 0; trans < 2; trans++) {
                memcpy(X, U, sizeof(double) * (size_t)n * C);
                if (trans) df_packed_solve_t(Lp, n, X, (size_t)n, C, DF_CPU_ISA_SCALAR);
                else df_packed_solve(Lp, n, X, (size_t)n, C, DF_CPU_ISA_SCALAR);
                for (int c = 0; c < C; c++) /* the residual: (L or L^T) x - u, L from the floats */
                    for (int i = 0; i < n; i++) {
                        double r = -U[(size_t)c * n + i], mag = fabs(U[(size_t)c * n + i]);
                        const int j0 = trans ? i : 0, j1 = trans ? n : i + 1;
                        for (int j = j0; j < j1; j++) {
                            const double l = trans ? at(Lp, n, j, i) : at(Lp, n, i, j);
                            r += l * X[(size_t)c * n + j];
                            mag += fabs(l * X[(size_t)c * n + j]);
                        }
                        assert_true(fabs(r) <= 1e-13 * mag);
                    }
                df_cpu_isa isa[3];
                for (int t = 1, m = isas(isa); t < m; t++) {
                    memcpy(X2, U, sizeof(double) * (size_t)n * C);
                    if (trans) df_packed_solve_t(Lp, n, X2, (size_t)n, C, isa[t]);
                    else df_packed_solve(Lp, n, X2, (size_t)n, C, isa[t]);
                    assert_memory_equal(X, X2, sizeof(double) * (size_t)n * C);
                }
            }
            free(L);
            free(U);
            free(X);
            free(X2);
            free(Lp);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_kernels),
        cmocka_unit_test(test_four_lines_are_four_lines),
        cmocka_unit_test(test_packing),
        cmocka_unit_test(test_solves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
