/*
 * Head layers and the head: dense against a naive reference, finite-
 * difference gradient checks of every layer and of the whole head (both
 * kinds), BatchNorm statistics on a hand-computed example, dropout
 * statistics, softmax-CE numerics, and a short seeded training run that
 * must learn and be bit-reproducible.
 *
 * Gradient checks: the loss is accumulated in double, parameters stay
 * float32, central differences with step H. The error of each element is
 * |analytic - numeric| / max(|analytic|, |numeric|, 1% of the largest
 * analytic gradient); the floor keeps float32 rounding of near-zero
 * gradients from counting as relative error. Bound: 1e-2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/rng.h"
#include "nn/head.h"
#include "nn/layers.h"
#include "optim/adam.h"

#define GRAD_TOL 1e-2

static void fill_uniform(float *x, size_t n, float lo, float hi, df_rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = df_rng_uniform_range(r, lo, hi);
}

/* Values in +-[0.1, 1]: away from 0 so ReLU kinks are further than any
 * finite-difference step. */
static void fill_away_from_zero(float *x, size_t n, df_rng *r) {
    for (size_t i = 0; i < n; i++) {
        float m = df_rng_uniform_range(r, 0.1f, 1.0f);
        x[i] = df_rng_u32(r) & 1 ? m : -m;
    }
}

static double dot_d(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static void check_grad(const char *what, const float *analytic, const double *numeric, size_t n) {
    double gmax = 0.0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(analytic[i]));
    double worst = 0.0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double a = analytic[i], b = numeric[i];
        double den = fmax(fmax(fabs(a), fabs(b)), 0.01 * gmax);
        double e = den > 0.0 ? fabs(a - b) / den : 0.0;
        if (e > worst) {
            worst = e;
            wi = i;
        }
    }
    if (worst > GRAD_TOL || getenv("DF_TEST_VERBOSE"))
        print_message("%s: element %zu analytic %.8g numeric %.8g rel err %.3g\n", what, wi,
                      (double)analytic[wi], numeric[wi], worst);
    assert_true(worst <= GRAD_TOL);
    assert_true(gmax > 0.0); /* a check of all-zero gradients proves nothing */
}

/* ---- Dense ---- */

/* The slow obvious reference: triple loops, double accumulation. */
static void dense_forward_naive(float *out, const float *in, const float *W, const float *b, int N,
                                int I, int O) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < I; i++) s += (double)in[n * I + i] * W[i * O + o];
            out[n * O + o] = (float)s;
        }
}

static void dense_backward_naive(float *d_in, float *dW, float *db, const float *d_out,
                                 const float *in, const float *W, int N, int I, int O) {
    for (int i = 0; i < I; i++)
        for (int o = 0; o < O; o++) {
            double s = 0.0;
            for (int n = 0; n < N; n++) s += (double)in[n * I + i] * d_out[n * O + o];
            dW[i * O + o] += (float)s;
        }
    for (int o = 0; o < O; o++) {
        double s = 0.0;
        for (int n = 0; n < N; n++) s += d_out[n * O + o];
        db[o] += (float)s;
    }
    for (int n = 0; n < N; n++)
        for (int i = 0; i < I; i++) {
            double s = 0.0;
            for (int o = 0; o < O; o++) s += (double)d_out[n * O + o] * W[i * O + o];
            d_in[n * I + i] = (float)s;
        }
}

static void assert_close(const char *what, const float *got, const float *want, size_t n,
                         double rtol, double atol) {
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (d > atol + rtol * fabs(want[i])) {
            print_message("%s: index %zu got %.9g want %.9g\n", what, i, (double)got[i],
                          (double)want[i]);
            fail();
        }
    }
}

static void test_dense_matches_naive(void **state) {
    (void)state;
    /* Odd sizes so that blocked GEMM paths hit their remainders. */
    const int N = 7, I = 67, O = 13;
    df_rng r;
    df_rng_seed(&r, 1, 100);
    float *in = malloc(sizeof(float) * N * I), *W = malloc(sizeof(float) * I * O);
    float b[13], dout[7 * 13];
    fill_uniform(in, N * I, -1, 1, &r);
    fill_uniform(W, I * O, -1, 1, &r);
    fill_uniform(b, O, -1, 1, &r);
    fill_uniform(dout, N * O, -1, 1, &r);
    float out[7 * 13], ref[7 * 13];
    df_dense_forward(out, in, W, b, N, I, O);
    dense_forward_naive(ref, in, W, b, N, I, O);
    /* sgemm sums 67 float products in another order than the double
     * reference: rtol 1e-5 plus an absolute term for sums that cancel. */
    assert_close("dense forward", out, ref, N * O, 1e-5, 1e-5);
    df_dense_forward(out, in, W, NULL, N, I, O);
    dense_forward_naive(ref, in, W, NULL, N, I, O);
    assert_close("dense forward, no bias", out, ref, N * O, 1e-5, 1e-5);

    /* Backward: parameter gradients accumulate onto what is there. */
    float *dW = malloc(sizeof(float) * I * O), *dWr = malloc(sizeof(float) * I * O);
    float *din = malloc(sizeof(float) * N * I), *dinr = malloc(sizeof(float) * N * I);
    float db[13], dbr[13];
    for (int i = 0; i < I * O; i++) dW[i] = dWr[i] = 0.5f;
    for (int o = 0; o < O; o++) db[o] = dbr[o] = -0.25f;
    df_dense_backward(din, dW, db, dout, in, W, N, I, O);
    dense_backward_naive(dinr, dWr, dbr, dout, in, W, N, I, O);
    assert_close("dense dW", dW, dWr, I * O, 1e-5, 1e-5);
    assert_close("dense db", db, dbr, O, 1e-5, 1e-5);
    assert_close("dense d_in", din, dinr, N * I, 1e-5, 1e-5);
    free(in);
    free(W);
    free(dW);
    free(dWr);
    free(din);
    free(dinr);
}

/* The kernels of the linear head (df_dense_rows_*): rows by pointers, in
 * no particular order in memory; against the double reference within
 * float rounding, and the same bits under every ISA this CPU has (the
 * plain C version defines the order of the sums). */
static void rows_case(int N, int I, int O, const char *isa, float *out, float *dW, float *db) {
    df_rng r;
    df_rng_seed(&r, 7, (uint64_t)(I * 100 + O));
    float *block = malloc(sizeof(float) * (size_t)(N + 3) * I), *W = malloc(sizeof(float) * (size_t)I * O);
    float *b = malloc(sizeof(float) * O), *dout = malloc(sizeof(float) * (size_t)N * O);
    float *scratch = malloc(sizeof(float) * ((size_t)I * O + (size_t)N * DF_DENSE_GROUP));
    const float **rows = malloc(sizeof *rows * N);
    float *contig = malloc(sizeof(float) * (size_t)N * I), *ref = malloc(sizeof(float) * (size_t)N * O);
    float *dWr = malloc(sizeof(float) * (size_t)I * O), *dbr = malloc(sizeof(float) * O);
    float *din = malloc(sizeof(float) * (size_t)N * I);
    fill_uniform(block, (size_t)(N + 3) * I, -1, 1, &r);
    fill_uniform(W, (size_t)I * O, -1, 1, &r);
    fill_uniform(b, O, -1, 1, &r);
    fill_uniform(dout, (size_t)N * O, -1, 1, &r);
    /* rows taken backwards and from an offset that breaks alignment */
    for (int i = 0; i < N; i++) {
        rows[i] = block + (size_t)(N - 1 - i) * I + 1;
        memcpy(contig + (size_t)i * I, rows[i], sizeof(float) * I);
    }
    for (size_t k = 0; k < (size_t)I * O; k++) dW[k] = dWr[k] = 0.5f;
    for (int o = 0; o < O; o++) db[o] = dbr[o] = -0.25f;
    if (isa) setenv("DF_CPU_ISA", isa, 1);
    df_dense_rows_forward(out, rows, W, b, N, I, O, scratch);
    df_dense_rows_backward(dW, db, dout, rows, N, I, O, scratch);
    unsetenv("DF_CPU_ISA");
    dense_forward_naive(ref, contig, W, b, N, I, O);
    assert_close("dense rows forward", out, ref, (size_t)N * O, 1e-5, 1e-5);
    dense_backward_naive(din, dWr, dbr, dout, contig, W, N, I, O);
    assert_close("dense rows dW", dW, dWr, (size_t)I * O, 1e-5, 1e-5);
    assert_close("dense rows db", db, dbr, O, 1e-5, 1e-5);
    free(block);
    free(W);
    free(b);
    free(dout);
    free(scratch);
    free(rows);
    free(contig);
    free(ref);
    free(dWr);
    free(dbr);
    free(din);
}

static void test_dense_rows_kernels(void **state) {
    (void)state;
    /* in: whole 32-lane blocks and a remainder, shorter than one block,
     * the MobileNet width; out: partial and whole groups of 3 */
    const int ins[] = {67, 1280, 13, 96}, outs[] = {1, 2, 3, 4, 7};
    const char *isas[] = {"scalar", "avx2", NULL};
    for (size_t a = 0; a < sizeof ins / sizeof ins[0]; a++)
        for (size_t c = 0; c < sizeof outs / sizeof outs[0]; c++) {
            const int N = 33, I = ins[a], O = outs[c];
            float *out[3], *dW[3], *db[3];
            for (int k = 0; k < 3; k++) {
                out[k] = malloc(sizeof(float) * (size_t)N * O);
                dW[k] = malloc(sizeof(float) * (size_t)I * O);
                db[k] = malloc(sizeof(float) * O);
                rows_case(N, I, O, isas[k], out[k], dW[k], db[k]);
            }
            for (int k = 1; k < 3; k++) {
                if (memcmp(out[k], out[0], sizeof(float) * (size_t)N * O) ||
                    memcmp(dW[k], dW[0], sizeof(float) * (size_t)I * O) || memcmp(db[k], db[0], sizeof(float) * O)) {
                    print_message("dense rows %d x %d -> %d: %s differs from the plain version\n", N, I, O,
                                  isas[k] ? isas[k] : "native");
                    fail();
                }
            }
            for (int k = 0; k < 3; k++) {
                free(out[k]);
                free(dW[k]);
                free(db[k]);
            }
        }
}

/* L = sum(R * dense(x)) */
static double dense_loss(const float *x, const float *W, const float *b, const float *R, int N,
                         int I, int O) {
    float out[64];
    df_dense_forward(out, x, W, b, N, I, O);
    return dot_d(out, R, (size_t)N * O);
}

static void test_dense_gradients(void **state) {
    (void)state;
    enum { N = 3, I = 5, O = 4 };
    const float H = 1e-2f; /* linear in every input: any step is exact up to rounding */
    df_rng r;
    df_rng_seed(&r, 2, 100);
    float x[N * I], W[I * O], b[O], R[N * O];
    fill_uniform(x, N * I, -1, 1, &r);
    fill_uniform(W, I * O, -1, 1, &r);
    fill_uniform(b, O, -1, 1, &r);
    fill_uniform(R, N * O, -1, 1, &r);
    float dx[N * I], dW[I * O] = {0}, db[O] = {0};
    df_dense_backward(dx, dW, db, R, x, W, N, I, O);
    double num[N * I > I * O ? N * I : I * O];
    float *ps[3] = {x, W, b};
    float *gs[3] = {dx, dW, db};
    size_t ns[3] = {N * I, I * O, O};
    const char *names[3] = {"dense d_in", "dense dW", "dense db"};
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < ns[k]; i++) {
            float keep = ps[k][i];
            ps[k][i] = keep + H;
            double lp = dense_loss(x, W, b, R, N, I, O);
            ps[k][i] = keep - H;
            double lm = dense_loss(x, W, b, R, N, I, O);
            ps[k][i] = keep;
            num[i] = (lp - lm) / (2.0 * H);
        }
        check_grad(names[k], gs[k], num, ns[k]);
    }
}

/* ---- ReLU ---- */

static void test_relu_gradients(void **state) {
    (void)state;
    enum { n = 40 };
    const float H = 1e-3f;
    df_rng r;
    df_rng_seed(&r, 3, 100);
    float x[n], R[n], y[n], dx[n], num_in[n];
    double num[n];
    fill_away_from_zero(x, n, &r);
    fill_uniform(R, n, -1, 1, &r);
    df_relu_forward(y, x, n);
    df_relu_backward(dx, R, y, n);
    for (int i = 0; i < n; i++) {
        memcpy(num_in, x, sizeof x);
        num_in[i] = x[i] + H;
        df_relu_forward(y, num_in, n);
        double lp = dot_d(y, R, n);
        num_in[i] = x[i] - H;
        df_relu_forward(y, num_in, n);
        double lm = dot_d(y, R, n);
        num[i] = (lp - lm) / (2.0 * H);
    }
    check_grad("relu d_in", dx, num, n);
    /* In place, as the head uses it. */
    memcpy(y, x, sizeof x);
    df_relu_forward(y, y, n);
    for (int i = 0; i < n; i++) assert_true(y[i] == (x[i] > 0 ? x[i] : 0.0f));
}

/* ---- BatchNorm ---- */

enum { BN_N = 5, BN_F = 3 };

static double bn_loss(const float *x, const float *gamma, const float *beta, const float *R) {
    float out[BN_N * BN_F], xhat[BN_N * BN_F], rstd[BN_F];
    df_batchnorm_cache c = {xhat, rstd};
    df_batchnorm_forward_train(out, &c, x, gamma, beta, NULL, NULL, BN_N, BN_F, 1e-3f, 0.99f);
    return dot_d(out, R, BN_N * BN_F);
}

static void test_batchnorm_gradients(void **state) {
    (void)state;
    const float H = 1e-3f;
    df_rng r;
    df_rng_seed(&r, 4, 100);
    float x[BN_N * BN_F], gamma[BN_F], beta[BN_F], R[BN_N * BN_F];
    fill_uniform(x, BN_N * BN_F, -2, 2, &r);
    fill_uniform(gamma, BN_F, 0.5f, 1.5f, &r);
    fill_uniform(beta, BN_F, -1, 1, &r);
    fill_uniform(R, BN_N * BN_F, -1, 1, &r);
    float out[BN_N * BN_F], xhat[BN_N * BN_F], rstd[BN_F];
    df_batchnorm_cache c = {xhat, rstd};
    df_batchnorm_forward_train(out, &c, x, gamma, beta, NULL, NULL, BN_N, BN_F, 1e-3f, 0.99f);
    float dx[BN_N * BN_F], dg[BN_F] = {0}, dbt[BN_F] = {0};
    df_batchnorm_backward(dx, dg, dbt, R, &c, gamma, BN_N, BN_F);
    double num[BN_N * BN_F];
    float *ps[3] = {x, gamma, beta};
    float *gs[3] = {dx, dg, dbt};
    size_t ns[3] = {BN_N * BN_F, BN_F, BN_F};
    const char *names[3] = {"batchnorm d_in", "batchnorm dgamma", "batchnorm dbeta"};
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < ns[k]; i++) {
            float keep = ps[k][i];
            ps[k][i] = keep + H;
            double lp = bn_loss(x, gamma, beta, R);
            ps[k][i] = keep - H;
            double lm = bn_loss(x, gamma, beta, R);
            ps[k][i] = keep;
            num[i] = (lp - lm) / (2.0 * H);
        }
        check_grad(names[k], gs[k], num, ns[k]);
    }
    /* d_in may alias d_out. */
    float inplace[BN_N * BN_F], dg2[BN_F] = {0}, db2[BN_F] = {0};
    memcpy(inplace, R, sizeof R);
    df_batchnorm_backward(inplace, dg2, db2, inplace, &c, gamma, BN_N, BN_F);
    assert_memory_equal(inplace, dx, sizeof dx);
}

/* x = [[1, 2], [3, 6]]: batch mean (2, 4), biased variance (1, 4).
 * gamma (1, 2), beta (0, 1), eps 1e-3. Training output
 *   (1-2)/sqrt(1.001) = -0.99950037, (3-2)/sqrt(1.001) = 0.99950037,
 *   2 (2-4)/sqrt(4.001) + 1 = -0.99975005, 2 (6-4)/sqrt(4.001) + 1 = 2.99975005.
 * Moving stats after one step from (0, 1) with momentum 0.99:
 *   mean 0.01 * (2, 4) = (0.02, 0.04); variance 0.99 + 0.01 * (1, 4) = (1.0, 1.03)
 *   (the unbiased variance would give 0.99 + 0.01 * (2, 8) = (1.01, 1.07)).
 * Inference with those:
 *   (1-0.02)/sqrt(1.001) = 0.97951037, (3-0.02)/sqrt(1.001) = 2.97851112,
 *   2 (2-0.04)/sqrt(1.031) + 1 = 4.86061714, 2 (6-0.04)/sqrt(1.031) + 1 = 12.73942763. */
static void test_batchnorm_hand_example(void **state) {
    (void)state;
    const float x[4] = {1, 2, 3, 6}, gamma[2] = {1, 2}, beta[2] = {0, 1};
    float mm[2] = {0, 0}, mv[2] = {1, 1};
    float out[4], xhat[4], rstd[2];
    df_batchnorm_cache c = {xhat, rstd};
    df_batchnorm_forward_train(out, &c, x, gamma, beta, mm, mv, 2, 2, 1e-3f, 0.99f);
    const float want_train[4] = {-0.99950037f, -0.99975005f, 0.99950037f, 2.99975005f};
    assert_close("bn train", out, want_train, 4, 1e-6, 1e-6);
    const float want_mm[2] = {0.02f, 0.04f}, want_mv[2] = {1.0f, 1.03f};
    assert_close("bn moving mean", mm, want_mm, 2, 1e-6, 1e-7);
    assert_close("bn moving variance (biased)", mv, want_mv, 2, 1e-6, 1e-7);
    df_batchnorm_forward_infer(out, x, gamma, beta, mm, mv, 2, 2, 1e-3f);
    const float want_inf[4] = {0.97951037f, 4.86061714f, 2.97851112f, 12.73942763f};
    assert_close("bn inference", out, want_inf, 4, 1e-6, 1e-6);

    /* Many steps on the same batch converge to its statistics:
     * 1 - 0.99^1000 = 0.99996. */
    for (int s = 1; s < 1000; s++)
        df_batchnorm_forward_train(out, &c, x, gamma, beta, mm, mv, 2, 2, 1e-3f, 0.99f);
    const float conv_mm[2] = {2, 4}, conv_mv[2] = {1, 4};
    assert_close("bn moving mean converged", mm, conv_mm, 2, 1e-3, 1e-3);
    assert_close("bn moving var converged", mv, conv_mv, 2, 1e-3, 1e-3);
}

/* ---- Dropout ---- */

static void test_dropout_statistics(void **state) {
    (void)state;
    enum { n = 200000 };
    const float p = 0.25f;
    float *mask = malloc(sizeof(float) * n);
    df_rng r;
    df_rng_seed(&r, 5, DF_STREAM_DROPOUT);
    df_dropout_mask(mask, n, p, &r);
    long kept = 0;
    for (int i = 0; i < n; i++) {
        if (mask[i] != 0.0f) {
            assert_true(mask[i] == 1.0f / 0.75f);
            kept++;
        }
    }
    /* Binomial(2e5, 0.75): sd = sqrt(n p q) / n = 0.00097; 0.005 is 5 sd. */
    double frac = (double)kept / n;
    assert_true(fabs(frac - 0.75) < 0.005);
    /* Expected value preserved: mean of mask ~ 1. */
    assert_true(fabs(frac / 0.75 - 1.0) < 0.007);
    /* p = 0 draws nothing and keeps everything. */
    df_rng before = r;
    df_dropout_mask(mask, 10, 0.0f, &r);
    for (int i = 0; i < 10; i++) assert_true(mask[i] == 1.0f);
    assert_memory_equal(&before, &r, sizeof r);
    free(mask);
}

static void test_dropout_gradient_fixed_mask(void **state) {
    (void)state;
    enum { n = 30 };
    const float H = 1e-2f;
    df_rng r;
    df_rng_seed(&r, 6, DF_STREAM_DROPOUT);
    float x[n], R[n], mask[n], y[n], dx[n], xp[n];
    double num[n];
    fill_uniform(x, n, -1, 1, &r);
    fill_uniform(R, n, -1, 1, &r);
    df_dropout_mask(mask, n, 0.5f, &r);
    df_dropout_apply(dx, R, mask, n); /* backward = same op on the gradient */
    for (int i = 0; i < n; i++) {
        memcpy(xp, x, sizeof x);
        xp[i] = x[i] + H;
        df_dropout_apply(y, xp, mask, n);
        double lp = dot_d(y, R, n);
        xp[i] = x[i] - H;
        df_dropout_apply(y, xp, mask, n);
        num[i] = (lp - dot_d(y, R, n)) / (2.0 * H);
    }
    check_grad("dropout d_in", dx, num, n);
}

/* ---- Softmax cross-entropy ---- */

static void test_softmax_ce_gradients(void **state) {
    (void)state;
    enum { N = 4, C = 5 };
    const float H = 1e-3f;
    df_rng r;
    df_rng_seed(&r, 7, 100);
    float z[N * C], d[N * C], probs[N * C];
    const int labels[N] = {0, 3, 4, 3};
    const float cw[C] = {1.0f, 2.0f, 0.5f, 1.5f, 0.25f};
    fill_uniform(z, N * C, -3, 3, &r);
    for (int weighted = 0; weighted < 2; weighted++) {
        const float *w = weighted ? cw : NULL;
        double loss = df_softmax_ce(probs, d, z, labels, w, N, C);
        double num[N * C];
        for (int i = 0; i < N * C; i++) {
            float keep = z[i];
            z[i] = keep + H;
            double lp = df_softmax_ce(NULL, NULL, z, labels, w, N, C);
            z[i] = keep - H;
            double lm = df_softmax_ce(NULL, NULL, z, labels, w, N, C);
            z[i] = keep;
            num[i] = (lp - lm) / (2.0 * H);
        }
        check_grad(weighted ? "softmax-ce weighted" : "softmax-ce", d, num, N * C);
        /* The loss is the mean of -w log p[label], from the probabilities too. */
        double want = 0.0;
        for (int i = 0; i < N; i++) want -= (w ? w[labels[i]] : 1.0) * log(probs[i * C + labels[i]]);
        assert_true(fabs(loss - want / N) < 1e-6);
        float probs2[N * C];
        df_softmax_forward(probs2, z, N, C);
        assert_close("softmax forward vs fused", probs2, probs, N * C, 1e-6, 1e-7);
    }
}

/* Label smoothing: the gradient against finite differences, the loss
 * against -sum_c t_c log p_c from the probabilities, and eps = 0 equal to
 * df_softmax_ce bit for bit. */
static void test_softmax_ce_smooth(void **state) {
    (void)state;
    enum { N = 4, C = 5 };
    const float H = 1e-3f, eps = 0.2f;
    df_rng r;
    df_rng_seed(&r, 8, 100);
    float z[N * C], d[N * C], probs[N * C], d0[N * C], p0[N * C];
    const int labels[N] = {1, 0, 4, 1};
    const float cw[C] = {1.0f, 2.0f, 0.5f, 1.5f, 0.25f};
    fill_uniform(z, N * C, -3, 3, &r);
    for (int weighted = 0; weighted < 2; weighted++) {
        const float *w = weighted ? cw : NULL;
        double loss = df_softmax_ce_smooth(probs, d, z, labels, w, N, C, eps);
        double num[N * C];
        for (int i = 0; i < N * C; i++) {
            float keep = z[i];
            z[i] = keep + H;
            double lp = df_softmax_ce_smooth(NULL, NULL, z, labels, w, N, C, eps);
            z[i] = keep - H;
            double lm = df_softmax_ce_smooth(NULL, NULL, z, labels, w, N, C, eps);
            z[i] = keep;
            num[i] = (lp - lm) / (2.0 * H);
        }
        check_grad(weighted ? "softmax-ce smooth weighted" : "softmax-ce smooth", d, num, N * C);
        double want = 0.0;
        for (int i = 0; i < N; i++)
            for (int c = 0; c < C; c++) {
                double t = (c == labels[i] ? 1.0 - eps : 0.0) + eps / C;
                want -= (w ? w[labels[i]] : 1.0) * t * log(probs[i * C + c]);
            }
        assert_true(fabs(loss - want / N) < 1e-6);
        double l0 = df_softmax_ce(p0, d0, z, labels, w, N, C);
        double l0s = df_softmax_ce_smooth(probs, d, z, labels, w, N, C, 0.0f);
        assert_true(l0 == l0s);
        assert_memory_equal(d0, d, sizeof d);
        assert_memory_equal(p0, probs, sizeof probs);
    }
}

static void test_softmax_ce_huge_logits(void **state) {
    (void)state;
    enum { N = 4, C = 3 };
    const float z[N * C] = {1e30f, -1e30f, 0.0f,   /* certain class 0 */
                            3e38f, -3e38f, 3e38f,  /* tie at the float max */
                            -1e4f, -1e4f, -1e4f,   /* uniform, far from 0 */
                            88.0f, 89.0f, -104.0f}; /* exp overflows/underflows in float */
    const int labels[N] = {1, 0, 2, 1};
    float probs[N * C], d[N * C];
    double loss = df_softmax_ce(probs, d, z, labels, NULL, N, C);
    assert_true(isfinite(loss));
    for (int i = 0; i < N * C; i++) {
        assert_true(isfinite(probs[i]) && isfinite(d[i]));
        assert_true(probs[i] >= 0.0f && probs[i] <= 1.0f);
    }
    /* Row by row: 2 * 1e30f; log 2; log 3; log(1 + e^-1 + e^-193). The
     * tie at 3e38 is the case where logsumexp - z_y would lose log 2. */
    const double want[N] = {2.0 * (double)1e30f, log(2.0), log(3.0), log1p(exp(-1.0))};
    for (int i = 0; i < N; i++) {
        double li = df_softmax_ce(NULL, NULL, z + i * C, labels + i, NULL, 1, C);
        assert_true(fabs(li - want[i]) <= 1e-12 * want[i]);
    }
    assert_true(probs[0] == 1.0f && probs[1] == 0.0f);
    assert_true(fabs(probs[3] - 0.5f) < 1e-7 && fabs(probs[5] - 0.5f) < 1e-7);
    assert_true(fabs(probs[6] - 1.0f / 3.0f) < 1e-7);
    float p2[N * C];
    df_softmax_forward(p2, z, N, C);
    for (int i = 0; i < N * C; i++) assert_true(isfinite(p2[i]));
}

/* ---- Global average pool, L2 ---- */

static void test_gap_and_l2_gradients(void **state) {
    (void)state;
    enum { N = 2, HW = 9, C = 4 };
    const float H = 1e-2f;
    df_rng r;
    df_rng_seed(&r, 8, 100);
    float x[N * HW * C], R[N * C], y[N * C], dx[N * HW * C];
    double num[N * HW * C];
    fill_uniform(x, N * HW * C, -1, 1, &r);
    fill_uniform(R, N * C, -1, 1, &r);
    df_gap_forward(y, x, N, HW, C);
    /* The mean of channel 2 of sample 1, by hand. */
    double m = 0.0;
    for (int k = 0; k < HW; k++) m += x[(1 * HW + k) * C + 2];
    assert_true(fabs(y[1 * C + 2] - m / HW) < 1e-6);
    df_gap_backward(dx, R, N, HW, C);
    for (int i = 0; i < N * HW * C; i++) {
        float keep = x[i];
        x[i] = keep + H;
        df_gap_forward(y, x, N, HW, C);
        double lp = dot_d(y, R, N * C);
        x[i] = keep - H;
        df_gap_forward(y, x, N, HW, C);
        x[i] = keep;
        num[i] = (lp - dot_d(y, R, N * C)) / (2.0 * H);
    }
    check_grad("gap d_in", dx, num, N * HW * C);

    float w[10], dw[10] = {0};
    fill_uniform(w, 10, -1, 1, &r);
    const float lambda = 0.03f;
    df_l2_backward(dw, w, 10, lambda);
    double num2[10];
    for (int i = 0; i < 10; i++) {
        float keep = w[i];
        w[i] = keep + H;
        double lp = df_l2_forward(w, 10, lambda);
        w[i] = keep - H;
        double lm = df_l2_forward(w, 10, lambda);
        w[i] = keep;
        num2[i] = (lp - lm) / (2.0 * H);
    }
    check_grad("l2 dw", dw, num2, 10);
    assert_true(fabs(df_l2_forward(w, 10, lambda) - lambda * dot_d(w, w, 10)) < 1e-9);
    /* a long vector (the blocked sums and a remainder) against the plain sum */
    enum { LONG = 100003 };
    float *big = malloc(LONG * sizeof *big);
    assert_non_null(big);
    for (int i = 0; i < LONG; i++) big[i] = (float)sin(0.37 * i) * (1.0f + (float)(i % 7));
    double plain = 0.0;
    for (int i = 0; i < LONG; i++) plain += (double)big[i] * big[i];
    assert_true(fabs(df_l2_forward(big, LONG, lambda) - lambda * plain) <= 1e-12 * lambda * plain);
    free(big);
}

/* ---- The whole head ---- */

enum { HN = 6, HD = 7, HC = 3 };

static double head_loss(df_head *h, const float *x, const int *y, const float *cw,
                        const df_rng *mask_rng) {
    df_rng r = *mask_rng; /* the same dropout mask every evaluation */
    double loss;
    df_error err;
    assert_int_equal(df_head_compute_gradients(h, x, y, HN, cw, &r, &loss, NULL, &err), DF_OK);
    return loss;
}

static void head_fd_check(const df_head_config *cfg, int standardise, const float *cw,
                          const char *what) {
    df_error err;
    df_head *h;
    assert_int_equal(df_head_create(cfg, HD, HC, 11, &h, &err), DF_OK);
    df_rng r;
    df_rng_seed(&r, 12, 100);
    float x[HN * HD];
    fill_uniform(x, HN * HD, -2, 2, &r);
    const int y[HN] = {0, 1, 2, 1, 0, 2};
    if (standardise) {
        float mean[HD], sd[HD];
        fill_uniform(mean, HD, -0.5f, 0.5f, &r);
        fill_uniform(sd, HD, 0.5f, 2.0f, &r);
        assert_int_equal(df_head_set_standardisation(h, mean, sd, &err), DF_OK);
    }
    /* Non-trivial BN parameters and biases, so their gradients are generic. */
    float *p = df_head_params(h);
    size_t np = df_head_num_params(h);
    for (size_t i = 0; i < np; i++) p[i] += df_rng_uniform_range(&r, -0.3f, 0.3f);
    df_rng mask_rng;
    df_rng_seed(&mask_rng, 13, DF_STREAM_DROPOUT);

    head_loss(h, x, y, cw, &mask_rng);
    float *analytic = malloc(sizeof(float) * np);
    memcpy(analytic, df_head_grads(h), sizeof(float) * np);
    double *num = malloc(sizeof(double) * np);
    const float H = 2e-3f;
    for (size_t i = 0; i < np; i++) {
        float keep = p[i];
        p[i] = keep + H;
        double lp = head_loss(h, x, y, cw, &mask_rng);
        p[i] = keep - H;
        double lm = head_loss(h, x, y, cw, &mask_rng);
        p[i] = keep;
        num[i] = (lp - lm) / (2.0 * H);
    }
    check_grad(what, analytic, num, np);
    free(analytic);
    free(num);
    df_head_destroy(h);
}

static void test_head_gradients(void **state) {
    (void)state;
    df_head_config c = df_head_config_default();
    c.units = 5;
    c.max_batch = HN;
    c.l2 = 0.01f;
    head_fd_check(&c, 0, NULL, "mlp head (bn, dropout 0.25, l2)");
    const float cw[HC] = {0.5f, 2.0f, 1.25f};
    head_fd_check(&c, 1, cw, "mlp head (standardised, class weights)");
    c.batchnorm = 0;
    c.dropout = 0.0f;
    c.l2 = 0.0f;
    head_fd_check(&c, 0, NULL, "mlp head (no bn, no dropout)");
    df_head_config lin = df_head_config_default();
    lin.kind = DF_HEAD_LINEAR;
    lin.l2 = 0.05f;
    lin.max_batch = HN;
    head_fd_check(&lin, 1, NULL, "linear head (standardised, l2)");
}

static void test_head_layout_and_init(void **state) {
    (void)state;
    df_error err;
    df_head *h;
    df_head_config c = df_head_config_default();
    c.units = 16;
    assert_int_equal(df_head_create(&c, 40, 3, 99, &h, &err), DF_OK);
    size_t want = 40 * 16 + 16 + 16 + 16 + 16 * 3 + 3;
    assert_int_equal(df_head_num_params(h), want);
    df_head_tensor t[DF_HEAD_MAX_TENSORS];
    int nt = df_head_tensors(h, t);
    assert_int_equal(nt, 8);
    assert_string_equal(t[0].weight, "dense/kernel:0");
    assert_string_equal(t[5].weight, "batch_normalization/moving_variance:0");
    assert_string_equal(t[7].weight, "dense_1/bias:0");
    /* Tensors tile the flat block in order: trainable ones back to back. */
    size_t off = 0, sum = 0;
    for (int i = 0; i < nt; i++) {
        size_t n = (size_t)t[i].shape[0] * (t[i].rank == 2 ? (size_t)t[i].shape[1] : 1);
        if (!t[i].trainable) continue;
        assert_ptr_equal(t[i].data, df_head_params(h) + off);
        off += n;
        sum += n;
    }
    assert_int_equal(sum, want);
    /* Glorot limit sqrt(6 / (40 + 16)) = 0.3273; values spread over it. */
    float lim = sqrtf(6.0f / 56.0f), mx = 0;
    for (int i = 0; i < 40 * 16; i++) {
        assert_true(fabsf(t[0].data[i]) <= lim);
        mx = fmaxf(mx, fabsf(t[0].data[i]));
    }
    assert_true(mx > 0.9f * lim);
    for (int j = 0; j < 16; j++) {
        assert_true(t[1].data[j] == 0.0f && t[2].data[j] == 1.0f && t[3].data[j] == 0.0f);
        assert_true(t[4].data[j] == 0.0f && t[5].data[j] == 1.0f);
    }
    const uint8_t *dm = df_head_decay_mask(h);
    assert_int_equal(dm[0], 1);
    assert_int_equal(dm[40 * 16], 0);
    assert_int_equal(dm[want - 1], 0);
    assert_int_equal(dm[want - 4], 1);
    /* Same seed, same weights; another seed, others. */
    df_head *h2;
    assert_int_equal(df_head_create(&c, 40, 3, 99, &h2, &err), DF_OK);
    assert_memory_equal(df_head_params(h), df_head_params(h2), sizeof(float) * want);
    df_head_destroy(h2);
    assert_int_equal(df_head_create(&c, 40, 3, 100, &h2, &err), DF_OK);
    assert_true(memcmp(df_head_params(h), df_head_params(h2), sizeof(float) * want) != 0);
    df_head_destroy(h2);
    df_head_destroy(h);

    /* Bad configs are statuses with a message. */
    c.dropout = 1.0f;
    assert_int_equal(df_head_create(&c, 40, 3, 1, &h, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "dropout"));
    c = df_head_config_default();
    assert_int_equal(df_head_create(&c, 40, 1, 1, &h, &err), DF_ERR_INVALID_ARG);
    assert_null(h);
    df_head_destroy(NULL);
}

static void test_head_predict_dropout_identity(void **state) {
    (void)state;
    df_error err;
    df_head_config c = df_head_config_default();
    c.units = 8;
    df_head *a, *b;
    assert_int_equal(df_head_create(&c, 10, 3, 5, &a, &err), DF_OK);
    c.dropout = 0.0f;
    assert_int_equal(df_head_create(&c, 10, 3, 5, &b, &err), DF_OK);
    df_rng r;
    df_rng_seed(&r, 1, 1);
    float x[100 * 10], pa[100 * 3], pb[100 * 3];
    fill_uniform(x, 100 * 10, -1, 1, &r);
    /* Inference: dropout is the identity, so the 0.25 head predicts exactly
     * what the 0.0 head with the same weights does; rows sum to 1. */
    assert_int_equal(df_head_predict(a, x, 100, pa, &err), DF_OK);
    assert_int_equal(df_head_predict(b, x, 100, pb, &err), DF_OK);
    assert_memory_equal(pa, pb, sizeof pa);
    for (int i = 0; i < 100; i++) assert_true(fabs(pa[3 * i] + pa[3 * i + 1] + pa[3 * i + 2] - 1) < 1e-6);
    /* Labels out of range and oversize batches are refused. */
    int y[2] = {0, 3};
    double loss;
    assert_int_equal(df_head_compute_gradients(a, x, y, 2, NULL, &r, &loss, NULL, &err),
                     DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "label 3"));
    int y40[40] = {0};
    assert_int_equal(df_head_compute_gradients(a, x, y40, 40, NULL, &r, &loss, NULL, &err),
                     DF_ERR_INVALID_ARG);
    df_head_destroy(a);
    df_head_destroy(b);
}

static void test_balanced_class_weights(void **state) {
    (void)state;
    /* 6 + 3 + 1 samples, 4 classes (one absent): w = 10 / (4 * count). */
    int y[10] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 2};
    float w[4];
    df_error err;
    assert_int_equal(df_head_balanced_class_weights(y, 10, 4, w, &err), DF_OK);
    assert_true(fabsf(w[0] - 10.0f / 24.0f) < 1e-7f);
    assert_true(fabsf(w[1] - 10.0f / 12.0f) < 1e-7f);
    assert_true(w[2] == 2.5f && w[3] == 0.0f);
    y[3] = 4;
    assert_int_equal(df_head_balanced_class_weights(y, 10, 4, w, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "label 4 of sample 3"));
}

/* ---- A short seeded training run ---- */

enum { BLOB_N = 60, BLOB_D = 70, BLOB_C = 3, STEPS = 50, BATCH = 20 }; /* D: whole vector blocks and a remainder */

static void make_blobs(float *x, int *y) {
    df_rng r;
    df_rng_seed(&r, 2024, 100);
    float centres[BLOB_C][BLOB_D];
    for (int c = 0; c < BLOB_C; c++)
        for (int j = 0; j < BLOB_D; j++) centres[c][j] = 2.0f * df_rng_normal(&r);
    for (int i = 0; i < BLOB_N; i++) {
        y[i] = i % BLOB_C;
        for (int j = 0; j < BLOB_D; j++) x[i * BLOB_D + j] = centres[y[i]][j] + df_rng_normal(&r);
    }
}

/* Trains STEPS minibatches of BATCH; losses[] receives every step's loss;
 * returns the final training-set accuracy from predict. prestd: the rows
 * are standardised once up front (df_head_standardise) and trained with
 * df_head_train_step_standardised, as a feature cache is. */
static double train_blobs(const df_head_config *cfg, float lr, uint64_t seed, double *losses, int prestd) {
    float x[BLOB_N * BLOB_D], xs[BLOB_N * BLOB_D];
    int y[BLOB_N];
    make_blobs(x, y);
    df_error err;
    df_head *h;
    assert_int_equal(df_head_create(cfg, BLOB_D, BLOB_C, seed, &h, &err), DF_OK);
    if (cfg->kind == DF_HEAD_LINEAR)
        assert_int_equal(df_head_fit_standardisation(h, x, BLOB_N, &err), DF_OK);
    df_head_standardise(h, x, BLOB_N, xs);
    const float *rows = prestd ? xs : x;
    df_adam_config ac = df_adam_config_default();
    ac.lr = lr;
    df_adam *adam;
    assert_int_equal(df_adam_create(&ac, df_head_num_params(h), &adam, &err), DF_OK);
    df_rng drop, shuf;
    df_rng_seed(&drop, seed, DF_STREAM_DROPOUT);
    df_rng_seed(&shuf, seed, DF_STREAM_SHUFFLE);
    int order[BLOB_N];
    for (int i = 0; i < BLOB_N; i++) order[i] = i;
    float bx[BATCH * BLOB_D];
    int by[BATCH];
    for (int s = 0; s < STEPS; s++) {
        int b0 = (s * BATCH) % BLOB_N;
        if (b0 == 0) df_rng_shuffle(&shuf, order, BLOB_N);
        for (int k = 0; k < BATCH; k++) {
            memcpy(bx + k * BLOB_D, rows + order[b0 + k] * BLOB_D, sizeof(float) * BLOB_D);
            by[k] = y[order[b0 + k]];
        }
        int correct;
        assert_int_equal(prestd ? df_head_train_step_standardised(h, bx, by, BATCH, NULL, adam, &drop, &losses[s],
                                                                  &correct, &err)
                                : df_head_train_step(h, bx, by, BATCH, NULL, adam, &drop, &losses[s], &correct, &err),
                         DF_OK);
        assert_true(correct >= 0 && correct <= BATCH);
    }
    assert_int_equal(adam->t, STEPS);
    float probs[BLOB_N * BLOB_C];
    assert_int_equal(df_head_predict(h, x, BLOB_N, probs, &err), DF_OK);
    int correct = 0;
    for (int i = 0; i < BLOB_N; i++) {
        int best = 0;
        for (int c = 1; c < BLOB_C; c++)
            if (probs[i * BLOB_C + c] > probs[i * BLOB_C + best]) best = c;
        correct += best == y[i];
    }
    df_adam_destroy(adam);
    df_head_destroy(h);
    return (double)correct / BLOB_N;
}

static void check_training(const df_head_config *cfg, float lr, const char *what) {
    double l1[STEPS], l2[STEPS], l3[STEPS];
    double acc = train_blobs(cfg, lr, 42, l1, 0);
    double first = (l1[0] + l1[1] + l1[2]) / 3, last = (l1[47] + l1[48] + l1[49]) / 3;
    print_message("%s: loss %.4f -> %.4f over %d steps, train accuracy %.3f\n", what, first, last,
                  STEPS, acc);
    assert_true(last < 0.25 * first);
    assert_true(acc >= 0.95);
    /* Same seed: bit-identical loss sequence. Another seed: a different one. */
    train_blobs(cfg, lr, 42, l2, 0);
    assert_memory_equal(l1, l2, sizeof l1);
    train_blobs(cfg, lr, 43, l3, 0);
    assert_true(memcmp(l1, l3, sizeof l1) != 0);
    /* Rows standardised once up front: the very same steps. */
    train_blobs(cfg, lr, 42, l2, 1);
    assert_memory_equal(l1, l2, sizeof l1);
}

static void test_training_learns_and_is_reproducible(void **state) {
    (void)state;
    df_head_config mlp = df_head_config_default();
    mlp.units = 32;
    mlp.max_batch = BATCH;
    check_training(&mlp, 1e-2f, "mlp (32 units, bn, dropout 0.25)");
    df_head_config lin = df_head_config_default();
    lin.kind = DF_HEAD_LINEAR;
    lin.l2 = 1e-3f;
    lin.max_batch = BATCH;
    check_training(&lin, 5e-2f, "linear (standardised, l2 1e-3)");
    /* The linear head's sums run in one order on every CPU: plain C and
     * each vector width train the same steps. */
    double native[STEPS], other[STEPS];
    train_blobs(&lin, 5e-2f, 42, native, 0);
    const char *isas[] = {"scalar", "avx2"};
    for (int k = 0; k < 2; k++) {
        setenv("DF_CPU_ISA", isas[k], 1);
        train_blobs(&lin, 5e-2f, 42, other, 0);
        unsetenv("DF_CPU_ISA");
        assert_memory_equal(native, other, sizeof native);
    }
}

/* The standardisation's statistics and the standardised rows against the
 * plain two passes in double, on rows many enough to be split over the
 * threads (column blocks of 512 with a remainder; rows for the copy): the
 * same sums in the same order, so equal to the bit, on one thread and on
 * three. */
static void test_standardisation_matches_naive(void **state) {
    (void)state;
    enum { N = 300, D = 4100 }; /* 1.23 M values: past the threads' threshold */
    float *x = malloc(sizeof(float) * N * D), *xs = malloc(sizeof(float) * N * D);
    double *mean = calloc(D, sizeof(double)), *ss = calloc(D, sizeof(double));
    assert_true(x && xs && mean && ss);
    df_rng rng;
    df_rng_seed(&rng, 77, 1);
    for (int k = 0; k < N * D; k++) x[k] = (float)(3.0 * df_rng_normal(&rng) + (k % D) * 0.01);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) mean[j] += x[(size_t)i * D + j];
    for (int j = 0; j < D; j++) mean[j] /= N;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            const double d = x[(size_t)i * D + j] - mean[j];
            ss[j] += d * d;
        }
    df_head_config cfg = df_head_config_default();
    cfg.kind = DF_HEAD_LINEAR;
#ifdef _OPENMP
    const int had = omp_get_max_threads();
#endif
    for (int threads = 1; threads <= 3; threads += 2) {
#ifdef _OPENMP
        omp_set_num_threads(threads);
#endif
        df_head *h = NULL;
        df_error err;
        assert_int_equal(df_head_create(&cfg, D, 3, 0, &h, &err), DF_OK);
        assert_int_equal(df_head_fit_standardisation(h, x, N, &err), DF_OK);
        const float *m = df_head_std_mean(h), *sd = df_head_std_std(h);
        for (int j = 0; j < D; j++) {
            assert_true(m[j] == (float)mean[j]);
            assert_true(sd[j] == (float)sqrt(ss[j] / N));
        }
        df_head_standardise(h, x, N, xs);
        for (int k = 0; k < N * D; k++) assert_true(xs[k] == (x[k] - m[k % D]) / sd[k % D]);
        df_head_destroy(h);
    }
#ifdef _OPENMP
    omp_set_num_threads(had);
#endif
    free(x);
    free(xs);
    free(mean);
    free(ss);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_matches_naive),
        cmocka_unit_test(test_standardisation_matches_naive),
        cmocka_unit_test(test_dense_rows_kernels),
        cmocka_unit_test(test_dense_gradients),
        cmocka_unit_test(test_relu_gradients),
        cmocka_unit_test(test_batchnorm_gradients),
        cmocka_unit_test(test_batchnorm_hand_example),
        cmocka_unit_test(test_dropout_statistics),
        cmocka_unit_test(test_dropout_gradient_fixed_mask),
        cmocka_unit_test(test_softmax_ce_gradients),
        cmocka_unit_test(test_softmax_ce_smooth),
        cmocka_unit_test(test_softmax_ce_huge_logits),
        cmocka_unit_test(test_gap_and_l2_gradients),
        cmocka_unit_test(test_head_gradients),
        cmocka_unit_test(test_head_layout_and_init),
        cmocka_unit_test(test_head_predict_dropout_identity),
        cmocka_unit_test(test_balanced_class_weights),
        cmocka_unit_test(test_training_learns_and_is_reproducible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
