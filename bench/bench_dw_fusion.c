/*
 * MobileNetV2's expand / depthwise pairs (1x1 + ReLU6, then depthwise 3x3 +
 * ReLU6 with TFLite's SAME pads) in the engine, each as a two-layer net
 * with the depthwise fusion (engine/net.h, dw_fusion) on and off, random
 * weights. The two nets run alternately, ITERS times each; printed per pair:
 * whether oneDNN fused it, the best wall-clock and the best process CPU time
 * (all threads) of each, their ratio, and the largest difference between
 * the two outputs relative to the largest output. Totals weight each pair
 * by how often MobileNetV2 has it (16 pairs in all).
 *
 *     [DF_CPU_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2] OMP_NUM_THREADS=2 \
 *         build/bench_dw_fusion [BATCH] [ITERS] [fp32|bf16]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/net.h"

static double clock_ms(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static void die(const char *what, const df_error *err) {
    fprintf(stderr, "bench_dw_fusion: %s: %s\n", what, err->message);
    exit(1);
}

typedef struct pair {
    int hw, in_c, mid_c, stride, count;
} pair;

/* MobileNetV2 1.0 224: blocks 1-16 (block 0 has no expansion). */
static const pair PAIRS[] = {{112, 16, 96, 2, 1}, {56, 24, 144, 1, 1}, {56, 24, 144, 2, 1},
                             {28, 32, 192, 1, 2}, {28, 32, 192, 2, 1}, {14, 64, 384, 1, 4},
                             {14, 96, 576, 1, 2}, {14, 96, 576, 2, 1}, {7, 160, 960, 1, 3}};

static float *rand_floats(size_t n, float scale, unsigned *seed) {
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_dw_fusion: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        p[i] = scale * ((float)((*seed >> 8) & 0xffff) / 32768.0f - 1.0f);
    }
    return p;
}

static df_net *build(const pair *pr, int batch, df_precision prec, int fusion, const float *w1, const float *b1,
                     const float *w2, const float *b2) {
    df_net_options o = df_net_options_default();
    o.precision = prec;
    o.autotune = 0;
    o.dw_fusion = fusion;
    df_net *net;
    df_error err;
    df_tensor_id in, mid, out;
    int s = pr->stride, oh = (pr->hw + s - 1) / s, pad = (oh - 1) * s + 3 - pr->hw; /* TFLite SAME */
    df_conv2d_desc e = {pr->mid_c, 1, 1, 1, 1, 0, 0, 0, 0, 1, DF_ACT_RELU6, w1, b1};
    df_conv2d_desc d = {pr->mid_c, 3, 3, s, s, pad / 2, pad / 2, pad - pad / 2, pad - pad / 2,
                        pr->mid_c, DF_ACT_RELU6, w2, b2};
    if (df_net_create(&o, &net, &err)) die("creating a net", &err);
    if (df_net_input(net, pr->hw, pr->hw, pr->in_c, &in, &err) || df_net_conv2d(net, in, &e, &mid, &err) ||
        df_net_conv2d(net, mid, &d, &out, &err) || df_net_set_output(net, out, &err) ||
        df_net_reshape(net, batch, &err))
        die("building a pair", &err);
    return net;
}

int main(int argc, char **argv) {
    int batch = argc > 1 ? atoi(argv[1]) : 8, iters = argc > 2 ? atoi(argv[2]) : 30;
    df_precision prec = argc > 3 && !strcmp(argv[3], "bf16") ? DF_PRECISION_BF16 : DF_PRECISION_FP32;
    if (batch < 1 || iters < 1) {
        fprintf(stderr, "usage: bench_dw_fusion [BATCH] [ITERS] [fp32|bf16]\n");
        return 2;
    }
    printf("batch %d, %d runs each (alternating), %s; best wall ms / best CPU ms per batch\n", batch, iters,
           df_precision_name(prec));
    printf("%-22s %5s %9s %9s %6s %9s %9s %6s %9s\n", "pair (hw, c -> c, s)", "fused", "wall on", "wall off",
           "ratio", "cpu on", "cpu off", "ratio", "max diff");
    double tot[4] = {0, 0, 0, 0};
    unsigned seed = 7;
    for (size_t k = 0; k < sizeof PAIRS / sizeof PAIRS[0]; k++) {
        const pair *pr = &PAIRS[k];
        size_t nin = (size_t)batch * pr->hw * pr->hw * pr->in_c;
        int oh = (pr->hw + pr->stride - 1) / pr->stride;
        size_t nout = (size_t)batch * oh * oh * pr->mid_c;
        float *x = rand_floats(nin, 1.0f, &seed), *w1 = rand_floats((size_t)pr->mid_c * pr->in_c, 0.3f, &seed);
        float *b1 = rand_floats((size_t)pr->mid_c, 0.3f, &seed), *w2 = rand_floats((size_t)pr->mid_c * 9, 0.3f, &seed);
        float *b2 = rand_floats((size_t)pr->mid_c, 0.3f, &seed);
        float *y[2] = {malloc(nout * sizeof(float)), malloc(nout * sizeof(float))};
        df_net *net[2] = {build(pr, batch, prec, 1, w1, b1, w2, b2), build(pr, batch, prec, 0, w1, b1, w2, b2)};
        if (!y[0] || !y[1]) {
            fprintf(stderr, "bench_dw_fusion: out of memory\n");
            return 1;
        }
        double best_wall[2] = {1e300, 1e300}, best_cpu[2] = {1e300, 1e300};
        df_error err;
        for (int it = 0; it <= iters; it++)
            for (int v = 0; v < 2; v++) {
                int m = it % 2 ? 1 - v : v; /* alternate which goes first */
                double w0 = clock_ms(CLOCK_MONOTONIC), c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
                if (df_net_run(net[m], x, batch, y[m], &err)) die("running", &err);
                double w = clock_ms(CLOCK_MONOTONIC) - w0, c = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
                if (it == 0) continue; /* warm-up */
                if (w < best_wall[m]) best_wall[m] = w;
                if (c < best_cpu[m]) best_cpu[m] = c;
            }
        double mx = 0, diff = 0;
        for (size_t i = 0; i < nout; i++) {
            mx = fmax(mx, fabs(y[1][i]));
            diff = fmax(diff, fabs(y[0][i] - y[1][i]));
        }
        char name[64], times[16] = "";
        if (pr->count > 1) snprintf(times, sizeof times, " (x%d)", pr->count);
        snprintf(name, sizeof name, "%d, %d -> %d, s%d%s", pr->hw, pr->in_c, pr->mid_c, pr->stride, times);
        printf("%-22s %5s %9.3f %9.3f %6.3f %9.3f %9.3f %6.3f %9.2e\n", name,
               df_net_dw_fused_layers(net[0]) ? "yes" : "no", best_wall[0], best_wall[1],
               best_wall[1] / best_wall[0], best_cpu[0], best_cpu[1], best_cpu[1] / best_cpu[0],
               diff / (mx > 0 ? mx : 1));
        tot[0] += pr->count * best_wall[0];
        tot[1] += pr->count * best_wall[1];
        tot[2] += pr->count * best_cpu[0];
        tot[3] += pr->count * best_cpu[1];
        for (int v = 0; v < 2; v++) {
            df_net_destroy(net[v]);
            free(y[v]);
        }
        free(x);
        free(w1);
        free(b1);
        free(w2);
        free(b2);
    }
    printf("%-22s %5s %9.3f %9.3f %6.3f %9.3f %9.3f %6.3f\n", "all 16 pairs", "", tot[0], tot[1], tot[1] / tot[0],
           tot[2], tot[3], tot[3] / tot[2]);
    return 0;
}
