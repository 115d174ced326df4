/*
 * Where batch 1 loses against batch 8 on a CPU without AMX, for the eight
 * 1x1 convolutions MobileNetV2 runs on 7x7 maps (blocks 14-16 and the last
 * one: 960 -> 160, then 160 -> 960 -> 160 twice, 160 -> 960 -> 320,
 * 320 -> 1280; 1.64 M parameters, 6.6 MB in fp32; the depthwise layers
 * between them left out), in the engine, random weights, timed
 *   chain:  as one net, as MobileNetV2 runs them;
 *   hot:    each layer as a net of its own (with its own input and output
 *           reorders), run again and again: its weights stay in L2; the
 *           eight medians summed;
 *   cold:   the same, but both threads read 8 MB of other data before each
 *           run, so the weights (and the small input) come from L3, as in
 *           the chain, where each layer's weights were last read a whole
 *           image (6.6 MB of other weights) ago.
 * cold - hot is what bringing the weights from L3 costs per image, with the
 * bandwidth that implies; chain at batch 1 against batch 8 the whole loss.
 *
 *     [DF_CPU_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2] OMP_NUM_THREADS=2 \
 *         build/bench_weights_b1 [ITERS] [fp32|bf16]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "engine/net.h"

enum { LAYERS = 8, HW = 7, EVICT_FLOATS = 2 << 20 /* 8 MB per thread */ };
static const int CHANNELS[LAYERS + 1] = {960, 160, 960, 160, 960, 160, 960, 320, 1280};

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static void die(const char *what, const df_error *err) {
    fprintf(stderr, "bench_weights_b1: %s: %s\n", what, err ? err->message : "out of memory");
    exit(1);
}

static float *rand_floats(size_t n, float scale, unsigned *seed) {
    float *p = malloc(n * sizeof *p);
    if (!p) die("allocating", NULL);
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        p[i] = scale * ((float)((*seed >> 8) & 0xffff) / 32768.0f - 1.0f);
    }
    return p;
}

/* Layers [first, last) of the chain as one net. */
static df_net *build(int first, int last, int batch, df_precision prec, float *const *w, float *const *b) {
    df_net_options o = df_net_options_default();
    o.precision = prec;
    o.autotune = 0;
    df_net *net;
    df_error err;
    df_tensor_id t;
    if (df_net_create(&o, &net, &err) || df_net_input(net, HW, HW, CHANNELS[first], &t, &err))
        die("creating a net", &err);
    for (int k = first; k < last; k++) {
        df_conv2d_desc d = {CHANNELS[k + 1], 1, 1, 1, 1, 0, 0, 0, 0, 1, DF_ACT_RELU6, w[k], b[k]};
        if (df_net_conv2d(net, t, &d, &t, &err)) die("adding a layer", &err);
    }
    if (df_net_set_output(net, t, &err) || df_net_reshape(net, batch, &err)) die("shaping a net", &err);
    return net;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Both threads read their own EVICT_FLOATS floats: L2 holds other data. */
static float evict(float *const *bufs) {
    float s = 0.0f;
#ifdef _OPENMP
#pragma omp parallel num_threads(2) reduction(+ : s)
    {
        const float *p = bufs[omp_get_thread_num() & 1];
#else
    {
        const float *p = bufs[0];
#endif
        for (size_t i = 0; i < EVICT_FLOATS; i += 16) s += p[i];
    }
    return s;
}

/* Median ms per batch of net over iters runs (after two warm-up runs),
 * with the caches evicted before each run when bufs is given. */
static double median_run(df_net *net, const float *x, float *y, int batch, int iters, float *const *bufs,
                         float *sink) {
    double *t = malloc(sizeof(double) * (size_t)iters);
    if (!t) die("allocating", NULL);
    df_error err;
    for (int it = -2; it < iters; it++) {
        if (bufs) *sink += evict(bufs);
        double t0 = now_ms();
        if (df_net_run(net, x, batch, y, &err)) die("running", &err);
        if (it >= 0) t[it] = now_ms() - t0;
    }
    qsort(t, (size_t)iters, sizeof(double), cmp_double);
    double m = iters % 2 ? t[iters / 2] : 0.5 * (t[iters / 2 - 1] + t[iters / 2]);
    free(t);
    return m;
}

int main(int argc, char **argv) {
    int iters = argc > 1 ? atoi(argv[1]) : 200;
    df_precision prec = argc > 2 && !strcmp(argv[2], "bf16") ? DF_PRECISION_BF16 : DF_PRECISION_FP32;
    if (iters < 1) {
        fprintf(stderr, "usage: bench_weights_b1 [ITERS] [fp32|bf16]\n");
        return 2;
    }
    unsigned seed = 11;
    float *w[LAYERS], *b[LAYERS];
    size_t params = 0;
    for (int k = 0; k < LAYERS; k++) {
        w[k] = rand_floats((size_t)CHANNELS[k] * CHANNELS[k + 1], 0.05f, &seed);
        b[k] = rand_floats((size_t)CHANNELS[k + 1], 0.1f, &seed);
        params += (size_t)CHANNELS[k] * CHANNELS[k + 1] + CHANNELS[k + 1];
    }
    float *bufs[2] = {rand_floats(EVICT_FLOATS, 1.0f, &seed), rand_floats(EVICT_FLOATS, 1.0f, &seed)};
    const double mb = (double)params * (prec == DF_PRECISION_BF16 ? 2 : 4) / 1e6;
    printf("MobileNetV2's eight 1x1 layers on 7x7 maps, %s, %.2f M parameters (%.1f MB), medians of %d runs\n",
           df_precision_name(prec), (double)params / 1e6, mb, iters);
    printf("%5s %10s %10s %10s %12s %10s\n", "batch", "chain", "hot", "cold", "cold - hot", "GB/s");
    float sink = 0.0f;
    static const int BATCHES[] = {1, 8};
    for (size_t bi = 0; bi < sizeof BATCHES / sizeof BATCHES[0]; bi++) {
        const int batch = BATCHES[bi];
        float *x = rand_floats((size_t)batch * HW * HW * CHANNELS[0], 1.0f, &seed);
        float *y = malloc(sizeof(float) * (size_t)batch * HW * HW * 1280);
        if (!y) die("allocating", NULL);
        df_net *chain = build(0, LAYERS, batch, prec, w, b);
        double t_chain = median_run(chain, x, y, batch, iters, NULL, &sink), t_hot = 0.0, t_cold = 0.0;
        df_net_destroy(chain);
        for (int k = 0; k < LAYERS; k++) {
            df_net *one = build(k, k + 1, batch, prec, w, b);
            float *xk = rand_floats((size_t)batch * HW * HW * CHANNELS[k], 1.0f, &seed);
            t_hot += median_run(one, xk, y, batch, iters, NULL, &sink);
            t_cold += median_run(one, xk, y, batch, iters, bufs, &sink);
            df_net_destroy(one);
            free(xk);
        }
        const double gap = (t_cold - t_hot) / batch;
        printf("%5d %10.3f %10.3f %10.3f %12.3f %10.1f\n", batch, t_chain / batch, t_hot / batch, t_cold / batch,
               gap, gap > 0 ? mb / batch / gap : 0.0);
        free(x);
        free(y);
    }
    printf("(ms per image; GB/s: the weights' bytes per image over cold - hot; checksum %g)\n", (double)sink);
    for (int k = 0; k < LAYERS; k++) {
        free(w[k]);
        free(b[k]);
    }
    free(bufs[0]);
    free(bufs[1]);
    return 0;
}
