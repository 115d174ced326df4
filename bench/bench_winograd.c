/*
 * Per-layer time of VGG16's 3x3 convolutions (ReLU, SAME padding) in the
 * engine, direct against Winograd, fp32: the engine's own choice of
 * Winograd is oneDNN's on AVX-512 and ours (engine/winograd.c) below it, so
 * run it under DF_CPU_ISA=avx2 to time ours on an AVX-512 machine.
 * Prints the best of ITERS runs in process CPU time (all threads: with
 * OMP_NUM_THREADS=1 the compute time, whatever else the machine runs) and
 * the largest difference between the two outputs relative to the largest
 * output.
 *
 *     DF_CPU_ISA=avx2 OMP_NUM_THREADS=1 build/bench_winograd [BATCH] [ITERS]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/net.h"

static double cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* One conv layer net; runs it, returns the best CPU ms per batch. */
static double run(int h, int c, int k, int n, int iters, df_conv_algo algo, const float *w,
                  const float *b, const float *x, float *y, int *wino) {
    df_net_options o = df_net_options_default();
    o.precision = DF_PRECISION_FP32;
    o.autotune = 0;
    o.conv_algo = algo;
    df_net *net;
    df_error err;
    df_tensor_id in, out;
    df_conv2d_desc d = {0};
    d.out_c = k;
    d.kh = d.kw = 3;
    d.stride_h = d.stride_w = 1;
    d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 1;
    d.groups = 1;
    d.activation = DF_ACT_RELU;
    d.weights = w;
    d.bias = b;
    if (df_net_create(&o, &net, &err) || df_net_input(net, h, h, c, &in, &err) ||
        df_net_conv2d(net, in, &d, &out, &err) || df_net_set_output(net, out, &err) ||
        df_net_reshape(net, n, &err) || df_net_run(net, x, n, y, &err)) {
        fprintf(stderr, "bench_winograd: %s\n", err.message);
        exit(1);
    }
    double best = 1e300;
    for (int i = 0; i < iters; i++) {
        double t = cpu_ms();
        if (df_net_run(net, x, n, y, &err)) {
            fprintf(stderr, "bench_winograd: %s\n", err.message);
            exit(1);
        }
        t = cpu_ms() - t;
        if (t < best) best = t;
    }
    *wino = df_net_winograd_layers(net);
    df_net_destroy(net);
    return best;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4, iters = argc > 2 ? atoi(argv[2]) : 5;
    static const int layers[][3] = {{224, 64, 64},  {112, 64, 128}, {112, 128, 128},
                                    {56, 128, 256}, {56, 256, 256}, {28, 256, 512},
                                    {28, 512, 512}, {14, 512, 512}};
    /* VGG16's 12 convolutions with >= 64 input channels, by shape */
    static const int count[] = {1, 1, 1, 1, 2, 1, 2, 3};
    double sum_d = 0, sum_w = 0;
    printf("batch %d, best of %d, CPU ms per image\n", n, iters);
    printf("| layer (H x W x C -> K) | direct | Winograd | speed-up | max |diff| / max |y| |\n");
    printf("| --- | --- | --- | --- | --- |\n");
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        int h = layers[i][0], c = layers[i][1], k = layers[i][2], wd, ww;
        size_t nw = (size_t)k * 9 * c, nx = (size_t)n * h * h * c, ny = (size_t)n * h * h * k;
        float *w = malloc(nw * sizeof *w), *b = calloc((size_t)k, sizeof *b);
        float *x = malloc(nx * sizeof *x), *y0 = malloc(ny * sizeof *y0), *y1 = malloc(ny * sizeof *y1);
        if (!w || !b || !x || !y0 || !y1) return 1;
        for (size_t j = 0; j < nw; j++) w[j] = (float)((j * 7919) % 1000) * 1e-4f - 0.05f;
        for (size_t j = 0; j < nx; j++) x[j] = (float)((j * 104729) % 4000) * 1e-3f;
        double td = run(h, c, k, n, iters, DF_CONV_ALGO_DIRECT, w, b, x, y0, &wd) / n;
        double tw = run(h, c, k, n, iters, DF_CONV_ALGO_WINOGRAD, w, b, x, y1, &ww) / n;
        double diff = 0, top = 0;
        for (size_t j = 0; j < ny; j++) {
            if (fabs(y0[j] - y1[j]) > diff) diff = fabs(y0[j] - y1[j]);
            if (fabs(y0[j]) > top) top = fabs(y0[j]);
        }
        printf("| %dx%dx%d -> %d%s | %.2f | %.2f%s | %.2fx | %.1e |\n", h, h, c, k,
               count[i] > 1 ? (count[i] == 2 ? " (x2)" : " (x3)") : "", td, tw,
               ww ? "" : " (not Winograd)", td / tw, top > 0 ? diff / top : 0.0);
        sum_d += count[i] * td;
        sum_w += count[i] * tw;
        free(w);
        free(b);
        free(x);
        free(y0);
        free(y1);
    }
    printf("| all 12 | %.1f | %.1f | %.2fx | |\n", sum_d, sum_w, sum_d / sum_w);
    return 0;
}
