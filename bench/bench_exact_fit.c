/*
 * The exact fit's cost (optim/softmax_exact.h) on the Gram way: what the
 * default recipe runs six times per training (the head, then the
 * calibration's five folds on 4/5 of the rows). Random standardised rows
 * of 11,520 features (the regions' width) in 3 classes from a noisy linear
 * rule, the closet's 848 rows (106 photos x 8 variants; 424 with the 4
 * variants of the default until 2026-12-04) and a 400-photo
 * set's 3,200 (1,600); the Gram matrix once (its time printed), then REPS
 * fits on it (df_softmax_fit_exact_rows, as training's head and folds
 * fit blocks of one): the median and the range, the L-BFGS
 * iterations and the objective (the same problem, so two builds must agree
 * on it to the printed digits). Only the public API, so that a build of an
 * earlier commit runs the same file for a paired comparison:
 *
 *     OPENBLAS_NUM_THREADS=1 build/bench_exact_fit [N ...]   (default 848 3200)
 *
 * pN fits N rows on the primal instead (df_softmax_fit_primal, tol 1e-4:
 * what training runs beyond 4,096 rows); a suffix xC gives C classes
 * (default 3; the clothing set has 10): p5000x10.
 *
 * One BLAS thread is how training runs it (the fits side by side, one a
 * core); without the variable OpenBLAS takes every core.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/cpu.h"
#include "core/rng.h"
#include "optim/softmax_exact.h"

enum { F = 11520, MAX_C = 16, REPS = 5 };

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* n rows like standardised photo features: LATENT shared factors of
 * falling variance (a photo's content) mixed into every feature, plus
 * noise, the labels a noisy rule on the factors: ill-conditioned as real
 * rows are, which is what makes L-BFGS iterate (on the closet's real rows
 * 38 iterations at 424 rows, 148 on 400 clothing photos' 1,600). */
enum { LATENT = 64 };
static void make_rows(int n, int C, float *z, int *y) {
    df_rng rng;
    df_rng_seed(&rng, 42, 7);
    float *mix = malloc(sizeof(float) * LATENT * F);
    double s[LATENT];
    if (!mix) abort();
    double var = 0.25; /* each feature's variance, to scale it to 1 */
    for (int k = 0; k < LATENT; k++) var += 9.0 / ((1.0 + k) * (1.0 + k));
    for (int k = 0; k < LATENT * F; k++) mix[k] = (float)df_rng_normal(&rng);
    for (int i = 0; i < n; i++) {
        double v[MAX_C] = {0};
        for (int k = 0; k < LATENT; k++) {
            s[k] = df_rng_normal(&rng) * 3.0 / (1.0 + k);
            v[k % C] += s[k];
        }
        y[i] = 0;
        for (int c = 0; c < C; c++) {
            v[c] += 0.5 * df_rng_normal(&rng);
            if (v[c] > v[y[i]]) y[i] = c;
        }
        for (int j = 0; j < F; j++) {
            double x = 0.5 * df_rng_normal(&rng);
            for (int k = 0; k < LATENT; k++) x += s[k] * mix[(size_t)k * F + j];
            z[(size_t)i * F + j] = (float)(x / sqrt(var));
        }
    }
    free(mix);
}

static int bench_rows(int n, int C, int primal) {
    float *z = malloc(sizeof(float) * (size_t)n * F), *W = malloc(sizeof(float) * (size_t)F * C), b[MAX_C];
    int *y = malloc(sizeof(int) * (size_t)n);
    if (!z || !W || !y) {
        fprintf(stderr, "bench_exact_fit: out of memory for %d rows\n", n);
        free(z);
        free(W);
        free(y);
        return 1;
    }
    make_rows(n, C, z, y);
    /* the default head's L2 (train.h): 10 at the closet's 106 photos, as
     * 1 / photos (4 rows a photo) */
    const double l2 = 10.0 * 106.0 / (n / 4.0);
    double t[REPS], gram = 0.0;
    df_softmax_exact_report rep = {0};
    df_error err;
    double *K = NULL; /* the Gram way: the matrix once, then the fits on it (as training's head and folds) */
    int *idx = malloc(sizeof(int) * (size_t)n), rc = 0;
    const df_softmax_rows rows = {z, NULL, NULL};
    for (int i = 0; idx && i < n; i++) idx[i] = i;
    if (!idx) {
        fprintf(stderr, "bench_exact_fit: out of memory for %d rows\n", n);
        rc = 1;
    } else if (!primal) {
        const double t0 = df_clock_seconds();
        if (df_softmax_gram(&rows, n, F, &K, &err) != DF_OK) rc = 1;
        gram = df_clock_seconds() - t0;
    }
    for (int r = 0; !rc && r < REPS; r++) {
        const double t0 = df_clock_seconds();
        if ((primal ? df_softmax_fit_primal(z, y, n, F, C, l2, 1e-4, 5000, W, b, &rep, &err)
                    : df_softmax_fit_exact_rows(&rows, n, F, K, idx, n, y, C, l2, 1e-6, 5000, NULL, W, b, &rep,
                                                &err)) != DF_OK)
            rc = 1;
        t[r] = df_clock_seconds() - t0;
    }
    if (rc && idx) fprintf(stderr, "bench_exact_fit: %s\n", err.message);
    if (!rc) {
        qsort(t, REPS, sizeof *t, cmp_double);
        printf("%5d rows x %d features, %d classes%s: median %.3f s (%.3f-%.3f) over %d fits; %d L-BFGS iterations, "
               "rank %d, objective %.8f",
               n, F, C, primal ? " (primal, tol 1e-4)" : "", t[REPS / 2], t[0], t[REPS - 1], REPS, rep.iterations,
               rep.rank, rep.objective);
        if (!primal) printf("; on a Gram matrix made once in %.3f s", gram);
        printf("\n");
    }
    free(K);
    free(idx);
    free(z);
    free(W);
    free(y);
    return rc;
}

int main(int argc, char **argv) {
    const char *threads = getenv("OPENBLAS_NUM_THREADS");
    printf("exact fit, Gram way; ISA %s; OpenBLAS %s kernels, threads %s\n", df_cpu_isa_name(df_cpu_isa_best()), openblas_get_corename(),
           threads ? threads : "(all cores)");
    int rc = 0;
    if (argc < 2) {
        rc |= bench_rows(848, 3, 0);
        rc |= bench_rows(3200, 3, 0);
    }
    for (int k = 1; k < argc; k++) {
        const int primal = argv[k][0] == 'p', n = atoi(argv[k] + primal);
        const char *x = strchr(argv[k], 'x');
        const int C = x ? atoi(x + 1) : 3;
        if (C < 2 || C > MAX_C) {
            fprintf(stderr, "bench_exact_fit: classes must be 2..%d, got '%s'\n", MAX_C, argv[k]);
            return 2;
        }
        if (n < 2 || (!primal && n > DF_SOFTMAX_EXACT_MAX_GRAM_ROWS) || n > 100000) {
            fprintf(stderr, "bench_exact_fit: rows must be 2..%d (pN: 2..100000 on the primal), got '%s'\n",
                    DF_SOFTMAX_EXACT_MAX_GRAM_ROWS, argv[k]);
            return 2;
        }
        rc |= bench_rows(n, C, primal);
    }
    return rc;
}
