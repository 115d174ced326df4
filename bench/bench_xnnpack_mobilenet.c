/*
 * XNNPACK's own MobileNetV2: the reference point for DeepFashion's int8
 * engine. MobileNetV2 1.0 224 (features, random weights: timing only) built
 * with XNNPACK's subgraph API, as TFLite's XNNPACK delegate builds it, in
 * fp32 or qu8 (uint8 activations and weights, per-tensor scales), run on a
 * pthreadpool of OMP_NUM_THREADS threads; prints the median ms per image,
 * wall clock and process CPU time (all threads).
 *
 *     build/bench_xnnpack_mobilenet fp32|qu8 [BATCH] [ITERS]
 *
 * DF_CPU_ISA=avx2 caps XNNPACK as it caps DeepFashion (core/cpu.h).
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "core/clock.h"
#include "core/cpu.h"

typedef struct g {
    xnn_subgraph_t sg;
    int q;          /* qu8 */
    void **blobs;   /* weights to free */
    int n_blobs;
    unsigned seed;
} g;

static void *blob(g *b, size_t bytes) {
    void *p = malloc(bytes + 16);
    unsigned char *u = p;
    for (size_t i = 0; i < bytes; i++) {
        b->seed = b->seed * 1103515245u + 12345u;
        u[i] = (unsigned char)(b->seed >> 16);
    }
    b->blobs = realloc(b->blobs, (size_t)(b->n_blobs + 1) * sizeof *b->blobs);
    b->blobs[b->n_blobs++] = p;
    return p;
}

/* An activation tensor: ReLU6 outputs [0, 6], linear ones around 0.
 * ext: -1 internal, 0 the input, 1 the output. */
static uint32_t act(g *b, size_t n, size_t h, size_t w, size_t c, int relu6, int ext) {
    size_t dims[4] = {n, h, w, c};
    uint32_t id, eid = ext < 0 ? XNN_INVALID_VALUE_ID : (uint32_t)ext;
    uint32_t flags = ext < 0 ? 0 : ext ? XNN_VALUE_FLAG_EXTERNAL_OUTPUT : XNN_VALUE_FLAG_EXTERNAL_INPUT;
    enum xnn_status s =
        b->q ? xnn_define_quantized_tensor_value(b->sg, xnn_datatype_quint8, relu6 ? 0 : 128,
                                                 relu6 ? 6.0f / 255 : 0.1f, 4, dims, NULL, eid,
                                                 flags, &id)
             : xnn_define_tensor_value(b->sg, xnn_datatype_fp32, 4, dims, NULL, eid, flags, &id);
    if (s != xnn_status_success) {
        fprintf(stderr, "tensor: XNNPACK status %d\n", s);
        exit(1);
    }
    return id;
}

/* conv (groups 1) or depthwise (groups = cin), then the clamp. */
static uint32_t conv(g *b, uint32_t x, size_t n, size_t h, size_t w, size_t cin, size_t cout,
                     int k, int s, int dw, int relu6, size_t *oh, size_t *ow) {
    size_t wd[4] = {dw ? 1 : cout, (size_t)k, (size_t)k, dw ? cout : cin}, bd[1] = {cout};
    size_t nw = wd[0] * wd[1] * wd[2] * wd[3];
    uint32_t wid, bid;
    float in_s = 0.05f;
    if (b->q) {
        uint8_t *wt = blob(b, nw);
        int32_t *bi = blob(b, cout * 4);
        for (size_t i = 0; i < cout; i++) bi[i] %= 1000;
        xnn_define_quantized_tensor_value(b->sg, xnn_datatype_quint8, 128, 0.02f, 4, wd, wt,
                                          XNN_INVALID_VALUE_ID, 0, &wid);
        xnn_define_quantized_tensor_value(b->sg, xnn_datatype_qint32, 0, in_s * 0.02f, 1, bd, bi,
                                          XNN_INVALID_VALUE_ID, 0, &bid);
    } else {
        float *wt = blob(b, nw * 4), *bi = blob(b, cout * 4);
        for (size_t i = 0; i < nw; i++) wt[i] = (float)(((uint32_t *)wt)[i] % 1000) * 1e-4f - 0.05f;
        for (size_t i = 0; i < cout; i++) bi[i] = 0.01f;
        xnn_define_tensor_value(b->sg, xnn_datatype_fp32, 4, wd, wt, XNN_INVALID_VALUE_ID, 0, &wid);
        xnn_define_tensor_value(b->sg, xnn_datatype_fp32, 1, bd, bi, XNN_INVALID_VALUE_ID, 0, &bid);
    }
    int pad = k / 2;
    *oh = (h + 2 * pad - (size_t)k) / (size_t)s + 1;
    *ow = (w + 2 * pad - (size_t)k) / (size_t)s + 1;
    uint32_t y = act(b, n, *oh, *ow, cout, relu6, -1);
    float lo = relu6 ? 0.0f : -1e30f, hi = relu6 ? 6.0f : 1e30f;
    if (b->q && !relu6) {
        lo = -12.8f;
        hi = 12.7f;
    }
    enum xnn_status st =
        dw ? xnn_define_depthwise_convolution_2d(b->sg, pad, pad, pad, pad, k, k, s, s, 1, 1, 1,
                                                 cin, lo, hi, x, wid, bid, y, 0)
           : xnn_define_convolution_2d(b->sg, pad, pad, pad, pad, k, k, s, s, 1, 1, 1, cin, cout,
                                       lo, hi, x, wid, bid, y, 0);
    if (st != xnn_status_success) {
        fprintf(stderr, "convolution: XNNPACK status %d\n", st);
        exit(1);
    }
    return y;
}

static double cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "fp32") && strcmp(argv[1], "qu8"))) {
        fprintf(stderr, "usage: bench_xnnpack_mobilenet fp32|qu8 [BATCH] [ITERS]\n");
        return 2;
    }
    size_t n = argc > 2 ? (size_t)atoi(argv[2]) : 1;
    int iters = argc > 3 ? atoi(argv[3]) : 20;
    df_cpu_cap_libraries();
    if (xnn_initialize(NULL) != xnn_status_success) return 1;
    g b = {0};
    b.q = !strcmp(argv[1], "qu8");
    b.seed = 1;
    xnn_create_subgraph(2, 0, &b.sg);
    size_t h = 224, w = 224, oh, ow;
    uint32_t x = act(&b, n, h, w, 3, 0, 0);
    x = conv(&b, x, n, h, w, 3, 32, 3, 2, 0, 1, &h, &w);
    static const int cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    size_t c = 32;
    for (int i = 0; i < 7; i++)
        for (int r = 0; r < cfg[i][2]; r++) {
            int s = r ? 1 : cfg[i][3];
            size_t hid = c * (size_t)cfg[i][0], out = (size_t)cfg[i][1];
            uint32_t y = x;
            size_t yh = h, yw = w;
            if (cfg[i][0] != 1) y = conv(&b, y, n, yh, yw, c, hid, 1, 1, 0, 1, &yh, &yw);
            y = conv(&b, y, n, yh, yw, hid, hid, 3, s, 1, 1, &oh, &ow);
            y = conv(&b, y, n, oh, ow, hid, out, 1, 1, 0, 0, &oh, &ow);
            if (s == 1 && c == out) {
                uint32_t z = act(&b, n, oh, ow, out, 0, -1);
                float lo = b.q ? -12.8f : -1e30f, hi = b.q ? 12.7f : 1e30f;
                xnn_define_add2(b.sg, lo, hi, x, y, z, 0);
                y = z;
            }
            x = y;
            h = oh;
            w = ow;
            c = out;
        }
    x = conv(&b, x, n, h, w, c, 1280, 1, 1, 0, 1, &h, &w);
    uint32_t out = act(&b, n, 1, 1, 1280, 1, 1);
    xnn_define_global_average_pooling_2d(b.sg, 0.0f, 6.0f, x, out, 0);

    int threads = omp_get_max_threads();
    pthreadpool_t pool = threads > 1 ? pthreadpool_create((size_t)threads) : NULL;
    xnn_runtime_t rt;
    enum xnn_status st = xnn_create_runtime_v2(b.sg, pool, 0, &rt);
    if (st != xnn_status_success) {
        fprintf(stderr, "runtime: XNNPACK status %d\n", st);
        return 1;
    }
    size_t esz = b.q ? 1 : 4;
    void *in = calloc(n * 224 * 224 * 3 + 16, esz), *o = calloc(n * 1280 + 16, esz);
    struct xnn_external_value ext[2] = {{0, in}, {1, o}};
    xnn_setup_runtime(rt, 2, ext);
    double *t = malloc((size_t)iters * sizeof *t), *ct = malloc((size_t)iters * sizeof *ct);
    for (int i = 0; i < 2; i++) xnn_invoke_runtime(rt);
    for (int i = 0; i < iters; i++) {
        double t0 = df_clock_seconds(), c0 = cpu_ms();
        xnn_invoke_runtime(rt);
        t[i] = (df_clock_seconds() - t0) * 1e3;
        ct[i] = cpu_ms() - c0;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp);
    qsort(ct, (size_t)iters, sizeof *ct, cmp);
    double med = iters % 2 ? t[iters / 2] : 0.5 * (t[iters / 2 - 1] + t[iters / 2]);
    double cmed = iters % 2 ? ct[iters / 2] : 0.5 * (ct[iters / 2 - 1] + ct[iters / 2]);
    printf("xnnpack mobilenet_v2 %s batch %zu threads %d: median %.2f ms/image %.2f cpu-ms/image\n",
           argv[1], n, threads, med / (double)n, cmed / (double)n);
    xnn_delete_runtime(rt);
    xnn_delete_subgraph(b.sg);
    if (pool) pthreadpool_destroy(pool);
    for (int i = 0; i < b.n_blobs; i++) free(b.blobs[i]);
    free(b.blobs);
    free(in);
    free(o);
    free(t);
    free(ct);
    return 0;
}
