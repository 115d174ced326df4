/*
 * The linear head's first layer per training step, the two ways the
 * library has had: OpenBLAS's GEMMs (df_dense_forward / df_dense_backward:
 * a batch of 32 rows of 1280 features copied out of the feature cache,
 * times the layer, and its weight gradient) against the row kernels the
 * head uses now (df_dense_rows_*: the rows read where they lie). The rows
 * are drawn from a cache of 424 (the default recipe's 4 variants x 106
 * photos) in a fixed pseudo-random order. N = 3 is the linear head on
 * three classes; N = 1024, the MLP's hidden layer, times the GEMMs only
 * (the MLP keeps them). The two alternate in each of 5 runs; prints
 * OpenBLAS's kernel set, the medians and their ratio:
 *
 *     OPENBLAS_NUM_THREADS=1 build/bench_head_gemm [N] [STEPS]
 *     OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX build/bench_head_gemm [N] [STEPS]
 *     DF_CPU_ISA=avx2 ...   (the row kernels' AVX2 version)
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/cpu.h"
#include "nn/layers.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { M = 32, K = 1280, CACHE_ROWS = 424, REPS = 5 };

/* Row k of step s: a fixed LCG over the cache, the same for both ways. */
static const float *pick(const float *cache, int s, int k) {
    unsigned v = (unsigned)s * 2654435761u + (unsigned)k * 40503u;
    return cache + (size_t)(v % CACHE_ROWS) * K;
}

int main(int argc, char **argv) {
    const int N = argc > 1 ? atoi(argv[1]) : 3, steps = argc > 2 ? atoi(argv[2]) : 2000;
    if (N < 1 || steps < 1) {
        fprintf(stderr, "usage: bench_head_gemm [N >= 1] [STEPS >= 1]\n");
        return 2;
    }
    float *cache = malloc(sizeof(float) * (size_t)CACHE_ROWS * K), *x = malloc(sizeof(float) * (size_t)M * K);
    float *w = malloc(sizeof(float) * (size_t)K * N), *b = calloc((size_t)N, sizeof(float));
    float *y = malloc(sizeof(float) * (size_t)M * N), *g = malloc(sizeof(float) * (size_t)M * N);
    float *dw = calloc((size_t)K * N, sizeof(float)), *db = calloc((size_t)N, sizeof(float));
    float *scratch = malloc(sizeof(float) * ((size_t)K * N + (size_t)M * DF_DENSE_GROUP));
    if (!cache || !x || !w || !b || !y || !g || !dw || !db || !scratch) {
        fprintf(stderr, "bench_head_gemm: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < (size_t)CACHE_ROWS * K; i++) cache[i] = (float)(i % 17) * 0.1f - 0.8f;
    for (size_t i = 0; i < (size_t)K * N; i++) w[i] = (float)(i % 13) * 0.01f - 0.06f;
    for (size_t i = 0; i < (size_t)M * N; i++) g[i] = (float)(i % 5) * 0.1f - 0.2f;
    const int rows_too = N <= 16; /* the row kernels are for a few classes */
    double gemm[REPS], rows[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = df_clock_seconds();
        for (int s = 0; s < steps; s++) {
            for (int k = 0; k < M; k++) memcpy(x + (size_t)k * K, pick(cache, s, k), sizeof(float) * K);
            df_dense_forward(y, x, w, b, M, K, N);
            df_dense_backward(NULL, dw, db, g, x, w, M, K, N);
        }
        gemm[r] = (df_clock_seconds() - t0) / steps * 1e6;
        rows[r] = 0.0;
        if (!rows_too) continue;
        t0 = df_clock_seconds();
        for (int s = 0; s < steps; s++) {
            const float *p[M];
            for (int k = 0; k < M; k++) p[k] = pick(cache, s, k);
            df_dense_rows_forward(y, p, w, b, M, K, N, scratch);
            df_dense_rows_backward(dw, db, g, p, M, K, N, scratch);
        }
        rows[r] = (df_clock_seconds() - t0) / steps * 1e6;
    }
    qsort(gemm, REPS, sizeof gemm[0], cmp_double);
    qsort(rows, REPS, sizeof rows[0], cmp_double);
    printf("32 rows of a %d-row cache x 1280 -> %d, forward + weight gradient, median us per step (%d runs of %d "
           "steps):\n",
           CACHE_ROWS, N, REPS, steps);
    printf("  OpenBLAS %s kernels, %d thread(s), rows copied first: %.1f (%.1f-%.1f)\n", openblas_get_corename(),
           openblas_get_num_threads(), gemm[REPS / 2], gemm[0], gemm[REPS - 1]);
    if (rows_too)
        printf("  row kernels (%s): %.1f (%.1f-%.1f), %.2fx\n", df_cpu_isa_name(df_cpu_isa_best()), rows[REPS / 2],
               rows[0], rows[REPS - 1], gemm[REPS / 2] / rows[REPS / 2]);
    free(cache);
    free(x);
    free(w);
    free(b);
    free(y);
    free(g);
    free(dw);
    free(db);
    free(scratch);
    return 0;
}
