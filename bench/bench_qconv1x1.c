/*
 * The integer engine's fp32 backend on CPUs without VNNI: MobileNetV2's
 * 1x1 layers (random uint8 weights, maps in oneDNN's blocked layout as the
 * engine keeps them) on our 16-bit pair kernels (engine/qconv1x1.c)
 * against oneDNN's fp32 kernels, alternating, ITERS runs each. Printed per
 * layer: the median and best wall-clock ms of each, their ratio (oneDNN /
 * ours) and whether the outputs are the same bits; then the totals of the
 * medians weighted by how often MobileNetV2 has each layer.
 *
 * With a model: the whole integer engine, two backbones (--precision int8)
 * built with DF_QF32_1X1=onednn and with the engine's rule, run
 * alternately on the same batch; printed: each one's median ms per image,
 * the median of the per-round ratios, and whether the features are the
 * same bits. LAYER=K runs only the table's row K (from 0), for profiles.
 * Either way the exit status is 1 when any outputs differ.
 *
 *     DF_CPU_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=2 \
 *         build/bench_qconv1x1 [BATCH] [ITERS] [MODEL.tflite]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/backbone.h"
#include "core/clock.h"
#include "core/rng.h"
#include "engine/qnet_f32.h"

static double now_ms(void) { return df_clock_seconds() * 1e3; }

static void die(const char *what, const df_error *err) {
    fprintf(stderr, "bench_qconv1x1: %s: %s\n", what, err ? err->message : "out of memory");
    exit(1);
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct layer {
    int hw, c, oc, count;
} layer;

/* MobileNetV2 1.0 224's 1x1 layers (the first expansion, 16 -> 96 at
 * 112x112, included), with how many it has of each. */
static const layer LAYERS[] = {
    {112, 32, 16, 1}, {112, 16, 96, 1}, {56, 96, 24, 1},  {56, 24, 144, 2},  {56, 144, 24, 1},
    {28, 144, 32, 1}, {28, 32, 192, 3}, {28, 192, 32, 2}, {14, 192, 64, 1},  {14, 64, 384, 4},
    {14, 384, 64, 3}, {14, 384, 96, 1}, {14, 96, 576, 3}, {14, 576, 96, 2},  {7, 576, 160, 1},
    {7, 160, 960, 3}, {7, 960, 160, 2}, {7, 960, 320, 1}, {7, 320, 1280, 1}};

/* The whole engine, oneDNN's 1x1 kernels against the rule's. */
static int whole_net(const char *model, int batch, int iters) {
    df_error err;
    df_backbone *bb[2];
    df_backbone_options o = df_backbone_options_default();
    o.precision = DF_PRECISION_INT8;
    o.max_batch = batch;
    for (int v = 0; v < 2; v++) {
        if (v) unsetenv("DF_QF32_1X1");
        else setenv("DF_QF32_1X1", "onednn", 1);
        if (df_backbone_open("tflite", model, &o, &bb[v], &err)) die(model, &err);
    }
    int ih, iw;
    df_backbone_input_size(bb[0], &ih, &iw);
    const size_t nin = (size_t)batch * ih * iw * 3, dim = df_backbone_feature_dim(bb[0]);
    float *x = malloc(nin * sizeof *x);
    float *f[2] = {malloc(dim * batch * sizeof(float)), malloc(dim * batch * sizeof(float))};
    double *t[2] = {malloc(sizeof(double) * (size_t)iters), malloc(sizeof(double) * (size_t)iters)};
    double *ratio = malloc(sizeof(double) * (size_t)iters);
    if (!x || !f[0] || !f[1] || !t[0] || !t[1] || !ratio) die("buffers", NULL);
    df_rng rng;
    df_rng_seed(&rng, 7, 1);
    for (size_t k = 0; k < nin; k++) x[k] = df_rng_uniform_range(&rng, -1.0f, 1.0f);
    for (int v = 0; v < 2; v++)
        for (int i = 0; i < 2; i++)
            if (df_backbone_run(bb[v], x, batch, f[v], &err)) die("warm-up", &err);
    for (int i = 0; i < iters; i++) {
        for (int v = 0; v < 2; v++) {
            const double t0 = now_ms();
            if (df_backbone_run(bb[v], x, batch, f[v], &err)) die("run", &err);
            t[v][i] = (now_ms() - t0) / batch;
        }
        ratio[i] = t[0][i] / t[1][i];
    }
    const int same = !memcmp(f[0], f[1], dim * batch * sizeof(float));
    for (int v = 0; v < 2; v++) qsort(t[v], (size_t)iters, sizeof(double), cmp_double);
    qsort(ratio, (size_t)iters, sizeof(double), cmp_double);
    printf("%s, batch %d, %d rounds: oneDNN's 1x1 %.3f ms/image, the rule's %.3f ms/image (medians); "
           "median ratio %.3fx; features the same bits: %s\n",
           model, batch, iters, t[0][iters / 2], t[1][iters / 2], ratio[iters / 2], same ? "yes" : "NO");
    for (int v = 0; v < 2; v++) {
        df_backbone_destroy(bb[v]);
        free(f[v]);
        free(t[v]);
    }
    free(x);
    free(ratio);
    return same ? 0 : 1;
}

/* MobileNetV2's 1x1 layers one by one, oneDNN's kernels against ours. */
static int per_layer(int batch, int iters) {
    df_error err;
    df_qdnnl *e = NULL;
    if (df_qdnnl_create(&e, &err)) die("oneDNN", &err);
    printf("batch %d, %d runs each, alternating; ms per batch\n", batch, iters);
    printf("%-16s %9s %9s %9s %9s %7s %s\n", "layer", "oneDNN", "best", "ours", "best", "ratio", "same bits");
    double tot[2] = {0.0, 0.0};
    int all_same = 1;
    df_rng rng;
    df_rng_seed(&rng, 1, 1);
    const char *only = getenv("LAYER"); /* one layer, by its row (from 0), for perf */
    for (size_t l = 0; l < sizeof LAYERS / sizeof LAYERS[0]; l++) {
        if (only && *only && (size_t)atoi(only) != l) continue;
        const layer *L = &LAYERS[l];
        const size_t nin = (size_t)batch * L->hw * L->hw * L->c, nout = (size_t)batch * L->hw * L->hw * L->oc;
        uint8_t *w = malloc((size_t)L->oc * L->c);
        int32_t *bias = malloc(sizeof *bias * (size_t)L->oc);
        float *x = malloc(sizeof *x * nin), *y[2] = {malloc(sizeof(float) * nout), malloc(sizeof(float) * nout)};
        double *t[2] = {malloc(sizeof(double) * (size_t)iters), malloc(sizeof(double) * (size_t)iters)};
        if (!w || !bias || !x || !y[0] || !y[1] || !t[0] || !t[1]) die("buffers", NULL);
        for (size_t k = 0; k < (size_t)L->oc * L->c; k++) w[k] = (uint8_t)df_rng_below(&rng, 256);
        for (int k = 0; k < L->oc; k++) bias[k] = (int32_t)df_rng_below(&rng, 4096) - 2048;
        for (size_t k = 0; k < nin; k++) x[k] = (float)((int)df_rng_below(&rng, 128) - 64);
        const float ws = 0.02f;
        const df_qconv_desc d = {.out_c = L->oc, .kh = 1, .kw = 1, .stride_h = 1, .stride_w = 1, .weights = w,
                                 .bias = bias, .weight_scale = &ws, .weight_zero_point = 128,
                                 .out = {.scale = 0.5f, .zero_point = 0}, .out_min = 0, .out_max = 255};
        const df_qparams in = {.scale = 0.05f, .zero_point = 64};
        df_qf32_conv *cv[2];
        for (int v = 0; v < 2; v++) {
            setenv("DF_QF32_1X1", v ? "own" : "onednn", 1);
            if (df_qf32_conv_create(e, DF_QTYPE_U8, L->hw, L->hw, L->c, in, &d, &cv[v], &err)) die("create", &err);
            if (df_qf32_conv_setup(e, cv[v], batch, x, DF_QF32_BLOCKED8, y[v], DF_QF32_BLOCKED8, &err))
                die("setup", &err);
            if (df_qf32_conv_run(e, cv[v], &err)) die("warm-up", &err);
        }
        for (int i = 0; i < iters; i++)
            for (int v = 0; v < 2; v++) {
                const double t0 = now_ms();
                if (df_qf32_conv_run(e, cv[v], &err)) die("run", &err);
                t[v][i] = now_ms() - t0;
            }
        const int same = !memcmp(y[0], y[1], sizeof(float) * nout);
        all_same &= same;
        double med[2], best[2];
        for (int v = 0; v < 2; v++) {
            qsort(t[v], (size_t)iters, sizeof(double), cmp_double);
            med[v] = t[v][iters / 2];
            best[v] = t[v][0];
            tot[v] += med[v] * L->count;
        }
        char name[32];
        snprintf(name, sizeof name, "%d:%d->%dx%d", L->hw, L->c, L->oc, L->count);
        printf("%-16s %9.4f %9.4f %9.4f %9.4f %6.2fx %s (%s)\n", name, med[0], best[0], med[1], best[1],
               med[0] / med[1], same ? "yes" : "NO", df_qf32_conv_impl(cv[1]));
        for (int v = 0; v < 2; v++) {
            df_qf32_conv_destroy(cv[v]);
            free(y[v]);
            free(t[v]);
        }
        free(w);
        free(bias);
        free(x);
    }
    printf("total (medians x count) %9.4f ms oneDNN, %9.4f ms ours: %.2fx\n", tot[0], tot[1], tot[0] / tot[1]);
    df_qdnnl_destroy(e);
    return all_same ? 0 : 1;
}

int main(int argc, char **argv) {
    const int batch = argc > 1 ? atoi(argv[1]) : 1, iters = argc > 2 ? atoi(argv[2]) : 50;
    if (batch < 1 || iters < 1) {
        fprintf(stderr, "usage: bench_qconv1x1 [BATCH] [ITERS] [MODEL.tflite]\n");
        return 2;
    }
    return argc > 3 ? whole_net(argv[3], batch, iters) : per_layer(batch, iters);
}
