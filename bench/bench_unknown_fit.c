/*
 * The unknown detector's cost (eval/unknown.h): its leave-one-out fit on n
 * photos of 1280 features (what every training run does on the training
 * photos' plain features) and one photo's score (what predict does per
 * photo), against the one-running-sum double dot product the detector had
 * before (the same n x (n - 1) dot products, timed alone: the fit's floor
 * with that loop). Random non-negative rows (ReLU6 features' kind); the two
 * alternate in each of 5 runs; prints the ISA, medians and their ratio:
 *
 *     build/bench_unknown_fit [N]          (default 106, the closet's photos)
 *     DF_CPU_ISA=avx2 OMP_NUM_THREADS=1 build/bench_unknown_fit 1000
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/cpu.h"
#include "core/rng.h"
#include "eval/unknown.h"

enum { DIM = 1280, REPS = 5, SCORES = 200 };

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The dot products of the fit as the detector summed them before. */
static double one_sum_dots(const float *x, int n) {
    volatile double sink = 0.0;
    for (int i = 0; i < n; i++)
        for (int r = 0; r < n; r++) {
            if (r == i) continue;
            double dot = 0.0;
            for (int j = 0; j < DIM; j++) dot += (double)x[(size_t)i * DIM + j] * x[(size_t)r * DIM + j];
            sink += dot;
        }
    return sink;
}

int main(int argc, char **argv) {
    const int n = argc > 1 ? atoi(argv[1]) : 106;
    if (n < 2) {
        fprintf(stderr, "bench_unknown_fit: N must be 2 or more\n");
        return 2;
    }
    float *x = malloc(sizeof(float) * (size_t)n * DIM);
    if (!x) {
        fprintf(stderr, "bench_unknown_fit: out of memory for %d rows\n", n);
        return 1;
    }
    df_rng rng;
    df_rng_seed(&rng, 7, 1);
    for (size_t k = 0; k < (size_t)n * DIM; k++) x[k] = 6.0f * (float)df_rng_uniform(&rng);
    double fit[REPS], old[REPS], score[REPS];
    for (int r = 0; r < REPS; r++) {
        df_unknown_detector *d = NULL;
        df_error err;
        double t0 = df_clock_seconds();
        if (df_unknown_fit(x, n, DIM, DF_UNKNOWN_DEFAULT_K, 0, 0.05f, NULL, &d, &err) != DF_OK) {
            fprintf(stderr, "bench_unknown_fit: %s\n", err.message);
            free(x);
            return 1;
        }
        fit[r] = df_clock_seconds() - t0;
        t0 = df_clock_seconds();
        volatile float s = 0.0f;
        for (int k = 0; k < SCORES; k++) s += df_unknown_score(d, x + (size_t)(k % n) * DIM);
        score[r] = (df_clock_seconds() - t0) / SCORES;
        df_unknown_destroy(d);
        t0 = df_clock_seconds();
        (void)one_sum_dots(x, n);
        old[r] = df_clock_seconds() - t0;
    }
    const double mf = median(fit, REPS), mo = median(old, REPS), ms = median(score, REPS);
    printf("%d photos x %d features, ISA %s: fit %.2f ms, one-sum dot products alone %.2f ms (%.1fx); "
           "score %.4f ms per photo (medians of %d)\n",
           n, DIM, df_cpu_isa_name(df_cpu_isa_best()), 1e3 * mf, 1e3 * mo, mo / mf, 1e3 * ms, REPS);
    free(x);
    return 0;
}
