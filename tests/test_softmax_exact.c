/*
 * The exact softmax-regression fit: its plain objective's gradient against
 * central differences (the reference), then the fit's result against that
 * reference: the primal gradient at the returned (W, b) is zero (the
 * objective is strictly convex, so that point is the optimum), on rows
 * wider than they are many (the case the Gram matrix is for), narrower
 * (rank F), with repeated rows, in another row order, and all zero (only
 * the bias to fit); and bad arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/rng.h"
#include "optim/softmax_exact.h"

typedef struct problem {
    int n, F, C;
    float *z;
    int *y;
} problem;

/* Labels from a random linear rule plus noise, so the classes overlap a
 * little (finite weights even at small L2). */
static problem make_problem(int n, int F, int C, uint64_t seed) {
    problem p = {n, F, C, malloc(sizeof(float) * (size_t)n * F), malloc(sizeof(int) * (size_t)n)};
    assert_non_null(p.z);
    assert_non_null(p.y);
    df_rng rng;
    df_rng_seed(&rng, seed, 1);
    float *t = malloc(sizeof(float) * (size_t)F * C);
    assert_non_null(t);
    for (int k = 0; k < F * C; k++) t[k] = (float)df_rng_normal(&rng);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < F; j++) p.z[(size_t)i * F + j] = (float)df_rng_normal(&rng);
        int best = 0;
        double bv = -INFINITY;
        for (int c = 0; c < C; c++) {
            double v = 2.0 * df_rng_normal(&rng);
            for (int j = 0; j < F; j++) v += p.z[(size_t)i * F + j] * t[(size_t)j * C + c] / sqrt((double)F);
            if (v > bv) bv = v, best = c;
        }
        p.y[i] = best;
    }
    free(t);
    return p;
}

static void free_problem(problem *p) {
    free(p->z);
    free(p->y);
}

/* Largest |gradient| of the plain objective at (W, b). */
static double primal_grad_max(const problem *p, double l2, const float *W, const float *b) {
    double *gW = malloc(sizeof(double) * (size_t)p->F * p->C), gb[8], m = 0.0;
    assert_non_null(gW);
    df_softmax_objective(p->z, p->y, p->n, p->F, p->C, l2, W, b, gW, gb);
    for (int k = 0; k < p->F * p->C; k++) m = fmax(m, fabs(gW[k]));
    for (int c = 0; c < p->C; c++) m = fmax(m, fabs(gb[c]));
    free(gW);
    return m;
}

static void test_objective_gradient_is_central_differences(void **state) {
    (void)state;
    problem p = make_problem(12, 5, 3, 3);
    float W[15], b[3];
    double gW[15], gb[3], worst = 0.0;
    df_rng rng;
    df_rng_seed(&rng, 9, 1);
    for (int k = 0; k < 15; k++) W[k] = 0.3f * (float)df_rng_normal(&rng);
    for (int c = 0; c < 3; c++) b[c] = 0.2f * (float)df_rng_normal(&rng);
    df_softmax_objective(p.z, p.y, p.n, p.F, p.C, 0.7, W, b, gW, gb);
    for (int k = 0; k < 18; k++) {
        float *x = k < 15 ? &W[k] : &b[k - 15];
        const float keep = *x, h = 1e-2f;
        *x = keep + h;
        const double fp = df_softmax_objective(p.z, p.y, p.n, p.F, p.C, 0.7, W, b, NULL, NULL);
        *x = keep - h;
        const double fm = df_softmax_objective(p.z, p.y, p.n, p.F, p.C, 0.7, W, b, NULL, NULL);
        *x = keep;
        const double num = (fp - fm) / (2.0 * h), ana = k < 15 ? gW[k] : gb[k - 15];
        worst = fmax(worst, fabs(num - ana));
    }
    assert_true(worst < 1e-4);
    free_problem(&p);
}

/* Fits p at l2 and checks the result is the optimum. */
static void check_optimum(const problem *p, double l2, float *W, float *b, df_softmax_exact_report *rep) {
    df_error err;
    assert_int_equal(df_softmax_fit_exact(p->z, p->y, p->n, p->F, p->C, l2, 1e-6, 5000, W, b, rep, &err), DF_OK);
    assert_true(rep->converged);
    /* W is rounded to float: its gradient is zero to float precision */
    assert_true(primal_grad_max(p, l2, W, b) < 1e-5);
    const double at = df_softmax_objective(p->z, p->y, p->n, p->F, p->C, l2, W, b, NULL, NULL);
    assert_true(fabs(at - rep->objective) < 1e-6 * (1.0 + at));
    /* and nudging it in any direction costs */
    df_rng rng;
    df_rng_seed(&rng, 5, 2);
    for (int t = 0; t < 8; t++) {
        const int k = (int)df_rng_below(&rng, (uint32_t)(p->F * p->C));
        const float keep = W[k];
        W[k] = keep + (t % 2 ? 0.05f : -0.05f);
        assert_true(df_softmax_objective(p->z, p->y, p->n, p->F, p->C, l2, W, b, NULL, NULL) > at);
        W[k] = keep;
    }
}

static void test_wide_rows_reach_the_optimum(void **state) {
    (void)state;
    problem p = make_problem(40, 300, 3, 11);
    float *W = malloc(sizeof(float) * 900), b[3];
    assert_non_null(W);
    const double l2s[3] = {10.0, 1.0, 0.01};
    for (int k = 0; k < 3; k++) {
        df_softmax_exact_report rep;
        check_optimum(&p, l2s[k], W, b, &rep);
        assert_int_equal(rep.rank, 40); /* 40 random rows of 300 span 40 dimensions */
    }
    free(W);
    free_problem(&p);
}

static void test_narrow_and_repeated_rows(void **state) {
    (void)state;
    problem p = make_problem(60, 7, 4, 12);
    float W[28], b[4];
    df_softmax_exact_report rep;
    check_optimum(&p, 0.1, W, b, &rep);
    assert_int_equal(rep.rank, 7); /* the rows span only the 7 features */
    /* every row twice: the same optimum (a mean over the rows) */
    problem d = {120, 7, 4, malloc(sizeof(float) * 840), malloc(sizeof(int) * 120)};
    assert_non_null(d.z);
    assert_non_null(d.y);
    memcpy(d.z, p.z, sizeof(float) * 420);
    memcpy(d.z + 420, p.z, sizeof(float) * 420);
    memcpy(d.y, p.y, sizeof(int) * 60);
    memcpy(d.y + 60, p.y, sizeof(int) * 60);
    float W2[28], b2[4];
    check_optimum(&d, 0.1, W2, b2, &rep);
    for (int k = 0; k < 28; k++) assert_true(fabsf(W[k] - W2[k]) < 1e-4f * (1.0f + fabsf(W[k])));
    free_problem(&d);
    free_problem(&p);
}

static void test_row_order_does_not_matter(void **state) {
    (void)state;
    problem p = make_problem(30, 50, 3, 13), r = {30, 50, 3, malloc(sizeof(float) * 1500), malloc(sizeof(int) * 30)};
    assert_non_null(r.z);
    assert_non_null(r.y);
    for (int i = 0; i < 30; i++) { /* reversed */
        memcpy(r.z + (size_t)i * 50, p.z + (size_t)(29 - i) * 50, sizeof(float) * 50);
        r.y[i] = p.y[29 - i];
    }
    float W[150], b[3], W2[150], b2[3];
    df_softmax_exact_report rep;
    check_optimum(&p, 1.0, W, b, &rep);
    check_optimum(&r, 1.0, W2, b2, &rep);
    for (int k = 0; k < 150; k++) assert_true(fabsf(W[k] - W2[k]) < 1e-5f * (1.0f + fabsf(W[k])));
    free_problem(&r);
    free_problem(&p);
}

/* Rows that are all zero carry nothing: W stays zero and the bias gives
 * each class its share of the labels (the unpenalised optimum), on the
 * Gram way (rank 0) and on the primal. */
static void test_zero_rows_fit_the_class_shares(void **state) {
    (void)state;
    enum { N = 12, F = 15, C = 3 };
    float z[N * F] = {0}, W[F * C], b[C];
    int y[N] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
    df_softmax_exact_report rep;
    df_error err;
    for (int primal = 0; primal < 2; primal++) {
        assert_int_equal(primal ? df_softmax_fit_primal(z, y, N, F, C, 1.0, 1e-6, 500, W, b, &rep, &err)
                                : df_softmax_fit_exact(z, y, N, F, C, 1.0, 1e-6, 500, W, b, &rep, &err),
                         DF_OK);
        assert_int_equal(rep.rank, primal ? F : 0);
        assert_true(rep.converged);
        for (int k = 0; k < F * C; k++) assert_true(W[k] == 0.0f);
        double se = 0.0;
        for (int c = 0; c < C; c++) se += exp(b[c]);
        assert_true(fabs(exp(b[0]) / se - 0.5) < 1e-5);
        assert_true(fabs(exp(b[1]) / se - 0.25) < 1e-5);
    }
}

/* The two ways to the optimum meet: wide rows fitted on the Gram matrix
 * and on the primal give the same W and b, and more rows than
 * DF_SOFTMAX_EXACT_MAX_GRAM_ROWS go the primal way (rank F). */
static void test_gram_and_primal_agree(void **state) {
    (void)state;
    problem p = make_problem(40, 300, 3, 15);
    float *W = malloc(sizeof(float) * 900), *W2 = malloc(sizeof(float) * 900), b[3], b2[3];
    assert_true(W && W2);
    df_softmax_exact_report rep, rep2;
    df_error err;
    assert_int_equal(df_softmax_fit_exact(p.z, p.y, p.n, p.F, p.C, 0.3, 1e-8, 5000, W, b, &rep, &err), DF_OK);
    assert_int_equal(df_softmax_fit_primal(p.z, p.y, p.n, p.F, p.C, 0.3, 1e-8, 5000, W2, b2, &rep2, &err), DF_OK);
    assert_int_equal(rep.rank, 40);
    assert_int_equal(rep2.rank, 300);
    assert_true(fabs(rep.objective - rep2.objective) < 1e-9 * (1.0 + rep.objective));
    for (int k = 0; k < 900; k++) assert_true(fabsf(W[k] - W2[k]) < 1e-5f * (1.0f + fabsf(W[k])));
    for (int c = 0; c < 3; c++) assert_true(fabsf(b[c] - b2[c]) < 1e-5f * (1.0f + fabsf(b[c])));
    free(W);
    free(W2);
    free_problem(&p);
    problem big = make_problem(DF_SOFTMAX_EXACT_MAX_GRAM_ROWS + 1, 6000, 2, 16);
    float *Wb = malloc(sizeof(float) * 12000), bb[2];
    assert_non_null(Wb);
    check_optimum(&big, 10.0, Wb, bb, &rep);
    assert_int_equal(rep.rank, 6000);
    free(Wb);
    free_problem(&big);
}

/* Rows that span fewer dimensions than they are many, on the Gram way:
 * 40 rows in the span of 10 (each base row scaled 1..4 and, as augmented
 * variants nearly are, repeated). The pivoted Cholesky factor stops at
 * rank 10 and the fit is still the primal's optimum. */
static void test_gram_way_rank_deficient(void **state) {
    (void)state;
    problem base = make_problem(10, 300, 3, 19);
    problem p = {40, 300, 3, malloc(sizeof(float) * 40 * 300), malloc(sizeof(int) * 40)};
    assert_true(p.z && p.y);
    for (int i = 0; i < 40; i++) {
        for (int j = 0; j < 300; j++) p.z[(size_t)i * 300 + j] = (float)(1 + i / 10) * base.z[(size_t)(i % 10) * 300 + j];
        p.y[i] = base.y[i % 10];
    }
    float *W = malloc(sizeof(float) * 900), *W2 = malloc(sizeof(float) * 900), b[3], b2[3];
    assert_true(W && W2);
    df_softmax_exact_report rep, rep2;
    df_error err;
    assert_false(df_softmax_exact_uses_primal(p.n, p.F));
    check_optimum(&p, 0.5, W, b, &rep);
    assert_int_equal(rep.rank, 10);
    assert_int_equal(df_softmax_fit_primal(p.z, p.y, p.n, p.F, p.C, 0.5, 1e-8, 5000, W2, b2, &rep2, &err), DF_OK);
    assert_true(fabs(rep.objective - rep2.objective) < 1e-8 * (1.0 + rep.objective));
    for (int k = 0; k < 900; k++) assert_true(fabsf(W[k] - W2[k]) < 1e-4f * (1.0f + fabsf(W[k])));
    free(W);
    free(W2);
    free_problem(&p);
    free_problem(&base);
}

/* A row a hair from another (one feature 1e-5 apart): the plain Cholesky
 * factorisation succeeds, but with a pivot of about 1e-10, below the rank
 * tolerance (1e-12 of the largest diagonal entry, ~300 here), so the fit
 * takes the pivoted factor, which stops at rank 10 of 11 rows, and is
 * still the optimum. Rows exactly repeated (the test above) make the
 * plain factorisation fail outright instead. */
static void test_gram_way_tiny_pivot_takes_the_pivoted_factor(void **state) {
    (void)state;
    problem p = make_problem(11, 300, 3, 23);
    memcpy(p.z + (size_t)10 * 300, p.z, sizeof(float) * 300);
    p.z[(size_t)10 * 300 + 7] += 1e-5f;
    p.y[10] = p.y[0];
    float *W = malloc(sizeof(float) * 900), b[3];
    assert_non_null(W);
    df_softmax_exact_report rep;
    check_optimum(&p, 0.5, W, b, &rep);
    assert_int_equal(rep.rank, 10);
    free(W);
    free_problem(&p);
}

/* A fold's fit on a block of the Gram matrix of all the rows (as the
 * cross-validation's folds share one) is the fit on a copy of its rows:
 * 27 of 40 rows, not in order, the same W and b. Rows out of range are
 * an error. */
static void test_fit_on_rows_of_a_shared_gram(void **state) {
    (void)state;
    problem p = make_problem(40, 300, 3, 20);
    enum { M = 27 };
    int idx[M], y[M];
    float *sub = malloc(sizeof(float) * M * 300), *W = malloc(sizeof(float) * 900), *W2 = malloc(sizeof(float) * 900);
    float b[3], b2[3];
    assert_true(sub && W && W2);
    for (int i = 0; i < M; i++) {
        idx[i] = (i * 7 + 3) % 40; /* 7 is prime to 40: distinct rows, shuffled */
        y[i] = p.y[idx[i]];
        memcpy(sub + (size_t)i * 300, p.z + (size_t)idx[i] * 300, sizeof(float) * 300);
    }
    double *K = NULL;
    df_softmax_exact_report rep, rep2;
    df_error err;
    const df_softmax_rows rows = {p.z, NULL, NULL};
    assert_int_equal(df_softmax_gram(&rows, 40, 300, &K, &err), DF_OK);
    assert_int_equal(df_softmax_fit_exact_rows(&rows, 40, 300, K, idx, M, y, 3, 0.3, 1e-8, 5000, NULL, W, b, &rep, &err),
                     DF_OK);
    assert_int_equal(df_softmax_fit_exact(sub, y, M, 300, 3, 0.3, 1e-8, 5000, W2, b2, &rep2, &err), DF_OK);
    assert_int_equal(rep.rank, M);
    assert_true(rep.converged);
    assert_true(fabs(rep.objective - rep2.objective) < 1e-10 * (1.0 + rep.objective));
    for (int k = 0; k < 900; k++) assert_true(fabsf(W[k] - W2[k]) < 1e-5f * (1.0f + fabsf(W[k])));
    for (int c = 0; c < 3; c++) assert_true(fabsf(b[c] - b2[c]) < 1e-5f * (1.0f + fabsf(b[c])));
    idx[5] = 40;
    assert_int_equal(df_softmax_fit_exact_rows(&rows, 40, 300, K, idx, M, y, 3, 0.3, 1e-8, 5000, NULL, W, b, &rep, &err),
                     DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "row 5 is 40 of 40"));
    free(K);
    /* (checked before any row is read) */
    assert_int_equal(df_softmax_gram(&rows, DF_SOFTMAX_EXACT_MAX_GRAM_ROWS + 1, 300, &K, &err), DF_ERR_INVALID_ARG);
    assert_null(K);
    free(sub);
    free(W);
    free(W2);
    free_problem(&p);
}

/* Rows like standardised photo features (a few shared factors of falling
 * variance in every feature, plus noise) make the Gram way ill-conditioned:
 * L-BFGS from a scaled identity needed 148 iterations on 400 photos'
 * real rows. Started from the Hessian's inverse at even probabilities it
 * needs a few dozen; here at most 20 (11 when written; 32 from the scaled
 * identity), the optimum checked as always. */
static void test_gram_way_few_iterations(void **state) {
    (void)state;
    enum { N = 160, F = 400, C = 3, LATENT = 16 };
    problem p = {N, F, C, malloc(sizeof(float) * N * F), malloc(sizeof(int) * N)};
    float *mix = malloc(sizeof(float) * LATENT * F), *W = malloc(sizeof(float) * F * C), b[C];
    assert_true(p.z && p.y && mix && W);
    df_rng rng;
    df_rng_seed(&rng, 23, 1);
    for (int k = 0; k < LATENT * F; k++) mix[k] = (float)df_rng_normal(&rng);
    for (int i = 0; i < N; i++) {
        double s[LATENT], v[C] = {0};
        for (int k = 0; k < LATENT; k++) {
            s[k] = df_rng_normal(&rng) * 3.0 / (1.0 + k);
            v[k % C] += s[k];
        }
        p.y[i] = 0;
        for (int c = 1; c < C; c++)
            if (v[c] > v[p.y[i]]) p.y[i] = c;
        for (int j = 0; j < F; j++) {
            double x = 0.5 * df_rng_normal(&rng);
            for (int k = 0; k < LATENT; k++) x += s[k] * mix[(size_t)k * F + j];
            p.z[(size_t)i * F + j] = (float)(x / 4.0);
        }
    }
    df_softmax_exact_report rep;
    check_optimum(&p, 5.0, W, b, &rep); /* the default's strength: 10 at 106 photos, as 1 / photos */
    print_message("%d L-BFGS iterations\n", rep.iterations);
    assert_true(rep.iterations <= 20);
    free(mix);
    free(W);
    free_problem(&p);
}

/* A stop flag ends the fit with DF_ERR_INTERRUPTED and leaves W and b as
 * they were, on the Gram way and on the primal; clear, the same fit as
 * df_softmax_fit_exact. */
static void test_stop_flag(void **state) {
    (void)state;
    problem wide = make_problem(20, 60, 3, 17), tall = make_problem(5000, 8, 3, 18);
    const problem *ps[2] = {&wide, &tall};
    for (int k = 0; k < 2; k++) {
        const problem *p = ps[k];
        float W[180], b[3], W2[180], b2[3];
        for (int j = 0; j < p->F * p->C; j++) W[j] = 7.0f;
        b[0] = b[1] = b[2] = 7.0f;
        volatile sig_atomic_t stop = 1;
        df_error err;
        df_softmax_exact_report rep;
        assert_int_equal(df_softmax_fit_exact_until(p->z, p->y, p->n, p->F, p->C, 1.0, 1e-6, 500, &stop, W, b, &rep, &err),
                         DF_ERR_INTERRUPTED);
        assert_non_null(strstr(err.message, "interrupted"));
        for (int j = 0; j < p->F * p->C; j++) assert_true(W[j] == 7.0f);
        stop = 0;
        assert_int_equal(df_softmax_fit_exact_until(p->z, p->y, p->n, p->F, p->C, 1.0, 1e-6, 500, &stop, W, b, &rep, &err),
                         DF_OK);
        assert_int_equal(df_softmax_fit_exact(p->z, p->y, p->n, p->F, p->C, 1.0, 1e-6, 500, W2, b2, &rep, &err), DF_OK);
        assert_memory_equal(W, W2, sizeof(float) * (size_t)p->F * p->C);
        assert_memory_equal(b, b2, sizeof b);
    }
    free_problem(&wide);
    free_problem(&tall);
}

/* Which way a size takes: the Gram matrix while it is the smaller and
 * fits (n <= F and n <= 4,096 rows), the primal beyond either bound (the
 * 106 closet photos' 424 rows of 11,520 features the Gram way; the 3,068
 * clothing photos' 12,272 rows the primal). */
static void test_which_way(void **state) {
    (void)state;
    assert_false(df_softmax_exact_uses_primal(424, 11520));
    assert_false(df_softmax_exact_uses_primal(1280, 1280));
    assert_true(df_softmax_exact_uses_primal(1281, 1280));
    assert_false(df_softmax_exact_uses_primal(DF_SOFTMAX_EXACT_MAX_GRAM_ROWS, 11520));
    assert_true(df_softmax_exact_uses_primal(DF_SOFTMAX_EXACT_MAX_GRAM_ROWS + 1, 11520));
    assert_true(df_softmax_exact_uses_primal(12272, 11520));
}

/* The weights z^T Q at the end of the Gram way: the AVX2 kernel against
 * the plain loop (DF_CPU_ISA=scalar), on a width that leaves a remainder
 * after its groups of eight and with a rank below the rows (Q's rows past
 * the rank are zero and skipped): 20 live rows, more than the kernel's
 * 16 at a time, and 3, 5 and 6 classes (its class groups of 4 ending in
 * groups of 3, 1 and 2). Both sum in double in the same order, so the
 * float weights agree to rounding. Each is also the optimum. */
static void test_gram_way_weights_kernels_agree(void **state) {
    (void)state;
    const int classes[3] = {3, 5, 6};
    for (int t = 0; t < 3; t++) {
        const int C = classes[t], F = 303, n = 30;
        problem p = make_problem(n, F, C, 21 + (uint64_t)t);
        for (int i = 20; i < n; i++) /* rank 20: ten rows repeat earlier ones */
            memcpy(p.z + (size_t)i * F, p.z + (size_t)(i - 20) * F, sizeof(float) * F), p.y[i] = p.y[i - 20];
        float *W = malloc(sizeof(float) * F * C), *W2 = malloc(sizeof(float) * F * C), b[6], b2[6];
        assert_true(W && W2);
        df_softmax_exact_report rep, rep2;
        check_optimum(&p, 0.5, W, b, &rep);
        assert_int_equal(rep.rank, 20);
        const char *had = getenv("DF_CPU_ISA");
        char *keep = had ? strdup(had) : NULL;
        setenv("DF_CPU_ISA", "scalar", 1);
        check_optimum(&p, 0.5, W2, b2, &rep2);
        if (keep) setenv("DF_CPU_ISA", keep, 1);
        else unsetenv("DF_CPU_ISA");
        free(keep);
        assert_int_equal(rep2.iterations, rep.iterations);
        for (int k = 0; k < F * C; k++) assert_true(fabsf(W[k] - W2[k]) <= 1e-6f * (1.0f + fabsf(W[k])));
        for (int c = 0; c < C; c++) assert_true(b[c] == b2[c]);
        free(W);
        free(W2);
        free_problem(&p);
    }
}

/* The Gram matrix's lower triangle against the rows' products summed in
 * double (its reference), for fewer rows than it has bands (some empty)
 * and more, over feature blocks with a remainder; on one thread and on
 * three the same bits (its bands depend only on the rows); on six (one
 * OpenBLAS call per block instead of the bands) within the same bound. */
static void test_gram_matrix_on_any_threads(void **state) {
    (void)state;
    const int sizes[2] = {5, 61}, F = 1100;
#ifdef _OPENMP
    const int had = omp_get_max_threads();
#endif
    for (int t = 0; t < 2; t++) {
        const int n = sizes[t];
        problem p = make_problem(n, F, 3, 30 + (uint64_t)t);
        double *K1 = NULL, *K3 = NULL;
        df_error err;
#ifdef _OPENMP
        omp_set_num_threads(1);
#endif
        const df_softmax_rows rows = {p.z, NULL, NULL};
        assert_int_equal(df_softmax_gram(&rows, n, F, &K1, &err), DF_OK);
#ifdef _OPENMP
        omp_set_num_threads(3);
#endif
        assert_int_equal(df_softmax_gram(&rows, n, F, &K3, &err), DF_OK);
#ifdef _OPENMP
        omp_set_num_threads(6);
#endif
        double *K6 = NULL;
        assert_int_equal(df_softmax_gram(&rows, n, F, &K6, &err), DF_OK);
        for (int j = 0; j < n; j++)
            for (int i = j; i < n; i++) {
                double ref = 0.0, mag = 0.0;
                for (int k = 0; k < F; k++) {
                    const double v = (double)p.z[(size_t)i * F + k] * p.z[(size_t)j * F + k];
                    ref += v;
                    mag += fabs(v);
                }
                const double got = K1[(size_t)j * n + i];
                assert_true(fabs(got - ref) <= 1e-13 * mag);
                assert_true(memcmp(&got, &K3[(size_t)j * n + i], sizeof got) == 0);
                assert_true(fabs(K6[(size_t)j * n + i] - ref) <= 1e-13 * mag);
            }
        free(K1);
        free(K3);
        free(K6);
        free_problem(&p);
    }
#ifdef _OPENMP
    omp_set_num_threads(had);
#endif
}

/* Rows standardised where they are read (df_softmax_rows' mean and sd)
 * against the same rows standardised first, as df_head_standardise does
 * ((x - mean) / sd in float): the Gram matrix and the fit on a block of it
 * the same bits, on a width that leaves a remainder after the W kernel's
 * groups of four. */
static void test_rows_standardised_where_read(void **state) {
    (void)state;
    enum { N = 36, F = 301, M = 29 };
    problem p = make_problem(N, F, 3, 40);
    float *raw = malloc(sizeof(float) * N * F), *mean = malloc(sizeof(float) * F), *sd = malloc(sizeof(float) * F);
    float *W = malloc(sizeof(float) * F * 3), *W2 = malloc(sizeof(float) * F * 3), b[3], b2[3];
    assert_true(raw && mean && sd && W && W2);
    for (int j = 0; j < F; j++) {
        mean[j] = 0.37f * (float)(j % 7) - 1.0f;
        sd[j] = 0.5f + 0.013f * (float)(j % 11);
    }
    for (int i = 0; i < N; i++) /* raw rows whose standardisation is near p.z */
        for (int j = 0; j < F; j++) raw[i * F + j] = p.z[i * F + j] * sd[j] + mean[j];
    for (int i = 0; i < N; i++) /* p.z: exactly what df_head_standardise would write */
        for (int j = 0; j < F; j++) p.z[i * F + j] = (raw[i * F + j] - mean[j]) / sd[j];
    const df_softmax_rows plain = {p.z, NULL, NULL}, read = {raw, mean, sd};
    double *K = NULL, *K2 = NULL;
    df_error err;
    assert_int_equal(df_softmax_gram(&plain, N, F, &K, &err), DF_OK);
    assert_int_equal(df_softmax_gram(&read, N, F, &K2, &err), DF_OK);
    for (int j = 0; j < N; j++)
        for (int i = j; i < N; i++) assert_memory_equal(&K[j * N + i], &K2[j * N + i], sizeof(double));
    int idx[M], y[M];
    for (int i = 0; i < M; i++) {
        idx[i] = (i * 5 + 2) % N;
        y[i] = p.y[idx[i]];
    }
    df_softmax_exact_report rep, rep2;
    assert_int_equal(df_softmax_fit_exact_rows(&plain, N, F, K, idx, M, y, 3, 0.3, 1e-8, 5000, NULL, W, b, &rep, &err),
                     DF_OK);
    assert_int_equal(df_softmax_fit_exact_rows(&read, N, F, K2, idx, M, y, 3, 0.3, 1e-8, 5000, NULL, W2, b2, &rep2, &err),
                     DF_OK);
    assert_true(rep.converged);
    assert_int_equal(rep.iterations, rep2.iterations);
    assert_memory_equal(W, W2, sizeof(float) * F * 3);
    assert_memory_equal(b, b2, sizeof b);
    free(K);
    free(K2);
    free(raw);
    free(mean);
    free(sd);
    free(W);
    free(W2);
    free_problem(&p);
}

static void test_bad_arguments(void **state) {
    (void)state;
    problem p = make_problem(10, 4, 3, 14);
    float W[12], b[3];
    df_error err;
    assert_int_equal(df_softmax_fit_exact(p.z, p.y, p.n, p.F, p.C, 0.0, 1e-8, 100, W, b, NULL, &err),
                     DF_ERR_INVALID_ARG);
    assert_int_equal(df_softmax_fit_exact(p.z, p.y, p.n, p.F, 1, 1.0, 1e-8, 100, W, b, NULL, &err),
                     DF_ERR_INVALID_ARG);
    p.y[4] = 3;
    assert_int_equal(df_softmax_fit_exact(p.z, p.y, p.n, p.F, p.C, 1.0, 1e-8, 100, W, b, NULL, &err),
                     DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "row 4"));
    free_problem(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_objective_gradient_is_central_differences),
        cmocka_unit_test(test_wide_rows_reach_the_optimum),
        cmocka_unit_test(test_narrow_and_repeated_rows),
        cmocka_unit_test(test_row_order_does_not_matter),
        cmocka_unit_test(test_zero_rows_fit_the_class_shares),
        cmocka_unit_test(test_gram_and_primal_agree),
        cmocka_unit_test(test_gram_way_rank_deficient),
        cmocka_unit_test(test_gram_way_tiny_pivot_takes_the_pivoted_factor),
        cmocka_unit_test(test_fit_on_rows_of_a_shared_gram),
        cmocka_unit_test(test_gram_way_few_iterations),
        cmocka_unit_test(test_stop_flag),
        cmocka_unit_test(test_which_way),
        cmocka_unit_test(test_gram_way_weights_kernels_agree),
        cmocka_unit_test(test_gram_matrix_on_any_threads),
        cmocka_unit_test(test_rows_standardised_where_read),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
