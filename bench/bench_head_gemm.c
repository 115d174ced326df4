/*
 * The head's two GEMMs per training step through OpenBLAS, as
 * df_dense_forward / df_dense_backward call them: a batch of 32 rows of
 * 1280 features times the first layer (forward), and the layer's weight
 * gradient (x^T times the output gradient). N = 3 is the linear head on
 * three classes, N = 1024 the MLP's hidden layer. Prints OpenBLAS's kernel
 * set and the median microseconds per step, so runs with and without
 * OPENBLAS_CORETYPE compare the kernel sets on one CPU:
 *
 *     OPENBLAS_NUM_THREADS=1 build/bench_head_gemm [N] [STEPS]
 *     OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX build/bench_head_gemm [N] [STEPS]
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const int M = 32, K = 1280, N = argc > 1 ? atoi(argv[1]) : 3, steps = argc > 2 ? atoi(argv[2]) : 2000;
    if (N < 1 || steps < 1) {
        fprintf(stderr, "usage: bench_head_gemm [N >= 1] [STEPS >= 1]\n");
        return 2;
    }
    enum { REPS = 5 };
    float *x = malloc(sizeof(float) * (size_t)M * K), *w = malloc(sizeof(float) * (size_t)K * N);
    float *y = malloc(sizeof(float) * (size_t)M * N), *g = malloc(sizeof(float) * (size_t)M * N);
    float *dw = calloc((size_t)K * N, sizeof(float));
    if (!x || !w || !y || !g || !dw) {
        fprintf(stderr, "bench_head_gemm: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < (size_t)M * K; i++) x[i] = (float)(i % 17) * 0.1f - 0.8f;
    for (size_t i = 0; i < (size_t)K * N; i++) w[i] = (float)(i % 13) * 0.01f - 0.06f;
    for (size_t i = 0; i < (size_t)M * N; i++) g[i] = (float)(i % 5) * 0.1f - 0.2f;
    double us[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = df_clock_seconds();
        for (int s = 0; s < steps; s++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, x, K, w, N, 0.0f, y, N);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, x, K, g, N, 1.0f, dw, N);
        }
        us[r] = (df_clock_seconds() - t0) / steps * 1e6;
    }
    qsort(us, REPS, sizeof us[0], cmp_double);
    printf("OpenBLAS %s kernels, %d thread(s): 32 x 1280 x %d forward + weight gradient: median %.1f us per step "
           "(%d runs of %d steps, %.1f-%.1f)\n",
           openblas_get_corename(), openblas_get_num_threads(), N, us[REPS / 2], REPS, steps, us[0], us[REPS - 1]);
    free(x);
    free(w);
    free(y);
    free(g);
    free(dw);
    return 0;
}
