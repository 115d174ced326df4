/*
 * Engine: every op of engine/net.c against the plain-loop references in
 * engine/reference.c, on odd shapes (13x11 inputs, 5 channels, stride 2,
 * asymmetric pads, depthwise with multiplier 2, 1x1), in chains that make
 * oneDNN pick different formats for neighbouring layers, at batch 1 and 3,
 * and run with a smaller batch than reshaped.
 *
 * Tolerances (|got - ref| <= rtol * |ref| + atol * max|ref|):
 * - fp32 direct: 1e-5 / 1e-5. Only summation order differs from the
 *   double-accumulated reference.
 * - fp32 Winograd F(4x4, 3x3): 0 / 1e-4. The input and output transforms
 *   multiply by constants up to ~10 and sum 36 terms per tile, so the error
 *   is relative to the largest values in a tile, not to each output (an
 *   output near zero can be off by many of its own ulps). Measured: 7e-7.
 * - bf16: 0 / 1e-2 (one layer) and 2e-2 (chains). bf16 keeps 8 mantissa bits
 *   (relative rounding 2^-9 = 2e-3) on inputs, weights and every stored
 *   activation; a K-long dot product of rounded terms with random signs is
 *   off by ~sqrt(K) * 2e-3 * |term| while max|ref| is ~sqrt(K) * |term|, so
 *   ~2e-3 of max|ref| per layer, adding up over a chain. Measured: 2.4e-3
 *   (one conv), 3.4e-3 (chain).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "support/test_support.h"
#include "engine/net.h"
#include "engine/reference.h"

#include <oneapi/dnnl/dnnl.h>

#define MAXT 24

typedef struct tref {
    df_tensor_id id;
    int h, w, c;
    float *ref; /* batch x h x w x c */
} tref;

typedef struct harness {
    df_net *net;
    int batch;
    tref t[MAXT];
    int nt;
    float *owned[MAXT * 2];
    int nowned;
    df_rng rng;
    int notices;
    char last_notice[200];
} harness;

static void on_notice(void *ctx, const char *msg) {
    harness *h = ctx;
    h->notices++;
    snprintf(h->last_notice, sizeof h->last_notice, "%s", msg);
}

static float *rand_buf(harness *h, size_t n, float scale) {
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = df_rng_uniform_range(&h->rng, -scale, scale);
    h->owned[h->nowned++] = p;
    return p;
}

static void h_init_dw(harness *h, df_precision prec, int autotune, df_conv_algo algo, int batch, uint64_t seed,
                      int dw_fusion) {
    memset(h, 0, sizeof *h);
    df_rng_seed(&h->rng, seed, 17);
    df_net_options o = df_net_options_default();
    o.dw_fusion = dw_fusion;
    o.precision = prec;
    o.autotune = autotune;
    o.conv_algo = algo;
    o.notice = on_notice;
    o.notice_ctx = h;
    df_error err;
    assert_int_equal(df_net_create(&o, &h->net, &err), DF_OK);
    h->batch = batch;
}

static void h_init(harness *h, df_precision prec, int autotune, df_conv_algo algo, int batch, uint64_t seed) {
    h_init_dw(h, prec, autotune, algo, batch, seed, 1);
}

static void h_free(harness *h) {
    df_net_destroy(h->net);
    for (int i = 0; i < h->nt; i++) free(h->t[i].ref);
    for (int i = 0; i < h->nowned; i++) free(h->owned[i]);
}

static tref *h_new(harness *h, df_tensor_id id, int hh, int ww, int cc) {
    assert_true(h->nt < MAXT);
    tref *t = &h->t[h->nt++];
    t->id = id;
    t->h = hh;
    t->w = ww;
    t->c = cc;
    t->ref = malloc((size_t)h->batch * hh * ww * cc * sizeof(float));
    assert_non_null(t->ref);
    int eh, ew, ec;
    df_error err;
    assert_int_equal(df_net_tensor_shape(h->net, id, &eh, &ew, &ec, &err), DF_OK);
    assert_int_equal(eh, hh);
    assert_int_equal(ew, ww);
    assert_int_equal(ec, cc);
    return t;
}

static int h_input(harness *h, int hh, int ww, int cc) {
    df_tensor_id id;
    df_error err;
    assert_int_equal(df_net_input(h->net, hh, ww, cc, &id, &err), DF_OK);
    tref *t = h_new(h, id, hh, ww, cc);
    for (size_t i = 0; i < (size_t)h->batch * hh * ww * cc; i++) t->ref[i] = df_rng_uniform_range(&h->rng, -1, 1);
    return h->nt - 1;
}

static int h_conv(harness *h, int in, int out_c, int k, int stride, int pt, int pl, int pb, int pr, int groups,
                  df_activation act, int with_bias) {
    const tref *ti = &h->t[in];
    df_conv2d_desc d = {out_c, k, k, stride, stride, pt, pl, pb, pr, groups, act, NULL, NULL};
    int fan_in = k * k * (ti->c / groups);
    /* Uniform(-s, s) with s = sqrt(3 / fan_in) keeps activations ~unit size. */
    d.weights = rand_buf(h, (size_t)out_c * k * k * (ti->c / groups), sqrtf(3.0f / fan_in));
    d.bias = with_bias ? rand_buf(h, (size_t)out_c, 0.5f) : NULL;
    df_tensor_id id;
    df_error err;
    df_status st = df_net_conv2d(h->net, ti->id, &d, &id, &err);
    if (st) fail_msg("conv2d: %s", err.message);
    int oh = df_ref_out_dim(ti->h, k, stride, pt, pb), ow = df_ref_out_dim(ti->w, k, stride, pl, pr);
    tref *t = h_new(h, id, oh, ow, out_c);
    df_ref_conv2d(h->t[in].ref, h->batch, ti->h, ti->w, ti->c, &d, t->ref);
    return h->nt - 1;
}

static int h_pool(harness *h, int in, df_pool_kind kind, int k, int stride, int pt, int pl, int pb, int pr) {
    const tref *ti = &h->t[in];
    df_pool2d_desc d = {kind, k, k, stride, stride, pt, pl, pb, pr};
    df_tensor_id id;
    df_error err;
    if (df_net_pool2d(h->net, ti->id, &d, &id, &err)) fail_msg("pool2d: %s", err.message);
    tref *t = h_new(h, id, df_ref_out_dim(ti->h, k, stride, pt, pb), df_ref_out_dim(ti->w, k, stride, pl, pr), ti->c);
    df_ref_pool2d(h->t[in].ref, h->batch, ti->h, ti->w, ti->c, &d, t->ref);
    return h->nt - 1;
}

static int h_gap(harness *h, int in) {
    const tref *ti = &h->t[in];
    df_tensor_id id;
    df_error err;
    if (df_net_global_avgpool(h->net, ti->id, &id, &err)) fail_msg("gap: %s", err.message);
    tref *t = h_new(h, id, 1, 1, ti->c);
    df_ref_global_avgpool(h->t[in].ref, h->batch, ti->h, ti->w, ti->c, t->ref);
    return h->nt - 1;
}

static int h_add(harness *h, int a, int b, df_activation act) {
    const tref *ta = &h->t[a];
    df_tensor_id id;
    df_error err;
    if (df_net_add(h->net, ta->id, h->t[b].id, act, &id, &err)) fail_msg("add: %s", err.message);
    tref *t = h_new(h, id, ta->h, ta->w, ta->c);
    df_ref_add(ta->ref, h->t[b].ref, (size_t)h->batch * ta->h * ta->w * ta->c, act, t->ref);
    return h->nt - 1;
}

static void compare(const float *got, const float *ref, size_t n, double rtol, double atol_rel, const char *what) {
    double maxref = 0;
    for (size_t i = 0; i < n; i++) maxref = fmax(maxref, fabs(ref[i]));
    double atol = atol_rel * maxref, worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= rtol * fabs(ref[i]) + atol))
            fail_msg("%s: element %zu of %zu: got %.7g, reference %.7g (|diff| %.3g, allowed %.3g, max|ref| %.4g)", what,
                     i, n, got[i], ref[i], d, rtol * fabs(ref[i]) + atol, maxref);
        worst = fmax(worst, d / (maxref > 0 ? maxref : 1));
    }
    print_message("  %s: %zu values, max|diff|/max|ref| = %.2e\n", what, n, worst);
}

/* Sets the output, reshapes to h->batch, runs at full batch and at every
 * smaller batch, and compares. */
static void h_check(harness *h, int out, double rtol, double atol_rel, const char *what) {
    const tref *to = &h->t[out];
    df_error err;
    assert_int_equal(df_net_set_output(h->net, to->id, &err), DF_OK);
    if (df_net_reshape(h->net, h->batch, &err)) fail_msg("reshape: %s", err.message);
    size_t per = (size_t)to->h * to->w * to->c;
    float *got = malloc((size_t)h->batch * per * sizeof *got);
    assert_non_null(got);
    const float *in = h->t[0].ref;
    for (int b = h->batch; b >= 1; b--) {
        memset(got, 0xff, (size_t)h->batch * per * sizeof *got); /* NaN: catches unwritten outputs */
        if (df_net_run(h->net, in, b, got, &err)) fail_msg("run: %s", err.message);
        char name[160];
        snprintf(name, sizeof name, "%s (batch %d of %d)", what, b, h->batch);
        compare(got, to->ref, (size_t)b * per, rtol, atol_rel, name);
    }
    free(got);
}

static const double F32 = 1e-5;

/* ------------------------------------------------------------ single ops */

static void conv_cases(int batch) {
    struct {
        int out_c, k, stride, pt, pl, pb, pr, groups_is_dw, act, bias;
    } cases[] = {
        {7, 3, 2, 1, 0, 2, 1, 0, DF_ACT_RELU, 1},  /* stride 2, asymmetric pads */
        {6, 1, 1, 0, 0, 0, 0, 0, DF_ACT_RELU6, 0}, /* 1x1, no bias */
        {10, 3, 1, 1, 1, 1, 1, 1, DF_ACT_RELU6, 1}, /* depthwise, multiplier 2 */
        {5, 3, 2, 0, 0, 1, 1, 1, DF_ACT_NONE, 1},  /* depthwise stride 2, TFLite SAME pads */
        {16, 5, 1, 2, 2, 2, 2, 0, DF_ACT_NONE, 1}, /* 5x5, "same" */
        {9, 3, 1, 0, 0, 0, 0, 0, DF_ACT_RELU, 1},  /* 3x3 valid (Winograd-eligible) */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        harness h;
        h_init(&h, DF_PRECISION_FP32, 0, DF_CONV_ALGO_DIRECT, batch, 100 + i);
        int x = h_input(&h, 13, 11, 5);
        int y = h_conv(&h, x, cases[i].out_c, cases[i].k, cases[i].stride, cases[i].pt, cases[i].pl, cases[i].pb,
                       cases[i].pr, cases[i].groups_is_dw ? 5 : 1, (df_activation)cases[i].act, cases[i].bias);
        char what[64];
        snprintf(what, sizeof what, "conv case %zu", i);
        h_check(&h, y, F32, F32, what);
        assert_int_equal(df_net_precision(h.net), DF_PRECISION_FP32);
        assert_int_equal(df_net_winograd_layers(h.net), 0);
        h_free(&h);
    }
}

static void test_conv_fp32_batch1(void **state) {
    (void)state;
    conv_cases(1);
}

static void test_conv_fp32_batch3(void **state) {
    (void)state;
    conv_cases(3);
}

static void test_pools_fp32(void **state) {
    (void)state;
    for (int batch = 1; batch <= 3; batch += 2) {
        harness h;
        h_init(&h, DF_PRECISION_FP32, 0, DF_CONV_ALGO_DIRECT, batch, 7);
        int x = h_input(&h, 13, 11, 5);
        int a = h_pool(&h, x, DF_POOL_MAX, 3, 2, 1, 0, 1, 2);
        h_check(&h, a, F32, F32, "maxpool 3x3/2 asymmetric pads");
        h_free(&h);

        h_init(&h, DF_PRECISION_FP32, 0, DF_CONV_ALGO_DIRECT, batch, 8);
        x = h_input(&h, 13, 11, 5);
        a = h_pool(&h, x, DF_POOL_AVG, 3, 2, 0, 1, 2, 1);
        h_check(&h, a, F32, F32, "avgpool 3x3/2 excluding padding");
        h_free(&h);

        h_init(&h, DF_PRECISION_FP32, 0, DF_CONV_ALGO_DIRECT, batch, 9);
        x = h_input(&h, 13, 11, 5);
        a = h_pool(&h, x, DF_POOL_MAX, 2, 2, 0, 0, 0, 0);
        h_check(&h, a, F32, F32, "maxpool 2x2/2 (drops the odd row)");
        h_free(&h);

        h_init(&h, DF_PRECISION_FP32, 0, DF_CONV_ALGO_DIRECT, batch, 10);
        x = h_input(&h, 13, 11, 5);
        a = h_gap(&h, x);
        h_check(&h, a, F32, F32, "global average pool");
        h_free(&h);
    }
}

static void test_add_fp32(void **state) {
    (void)state;
    harness h;
    /* Two producers that prefer different formats (plain input vs a blocked
     * conv output), so the add needs a reorder for one side. */
    h_init(&h, DF_PRECISION_FP32, 0, DF_CONV_ALGO_DIRECT, 3, 11);
    int x = h_input(&h, 13, 11, 5);
    int c = h_conv(&h, x, 5, 3, 1, 1, 1, 1, 1, 1, DF_ACT_NONE, 1);
    int y = h_add(&h, c, x, DF_ACT_RELU);
    h_check(&h, y, F32, F32, "add(conv, input) + relu");
    h_free(&h);

    h_init(&h, DF_PRECISION_FP32, 0, DF_CONV_ALGO_DIRECT, 1, 12);
    x = h_input(&h, 13, 11, 5);
    int c1 = h_conv(&h, x, 32, 1, 1, 0, 0, 0, 0, 1, DF_ACT_NONE, 1);
    int c2 = h_conv(&h, x, 32, 3, 1, 1, 1, 1, 1, 1, DF_ACT_NONE, 1);
    y = h_add(&h, c1, c2, DF_ACT_RELU6);
    h_check(&h, y, F32, F32, "add(conv1x1, conv3x3) + relu6");
    h_free(&h);
}

/* ---------------------------------------------------------------- chains */

static void test_chain_mobilenet_like(void **state) {
    (void)state;
    for (int batch = 1; batch <= 3; batch += 2) {
        harness h;
        h_init(&h, DF_PRECISION_FP32, 0, DF_CONV_ALGO_DIRECT, batch, 21);
        int x = h_input(&h, 13, 11, 5);
        int a = h_conv(&h, x, 16, 3, 2, 0, 0, 1, 1, 1, DF_ACT_RELU6, 1);  /* 6x5x16 */
        int e = h_conv(&h, a, 32, 1, 1, 0, 0, 0, 0, 1, DF_ACT_RELU6, 1);  /* expand 1x1 */
        int d = h_conv(&h, e, 32, 3, 1, 1, 1, 1, 1, 32, DF_ACT_RELU6, 1); /* depthwise */
        int p = h_conv(&h, d, 16, 1, 1, 0, 0, 0, 0, 1, DF_ACT_NONE, 1);   /* project */
        int r = h_add(&h, p, a, DF_ACT_NONE);                              /* residual */
        int d2 = h_conv(&h, r, 32, 3, 2, 0, 0, 1, 1, 16, DF_ACT_RELU, 0); /* dw mult 2, stride 2 */
        int q = h_pool(&h, d2, DF_POOL_AVG, 2, 1, 0, 0, 1, 1);
        int g = h_gap(&h, q);
        h_check(&h, g, F32, F32, "mobilenet-like chain");
        h_free(&h);
    }
}

static void test_chain_vgg_like(void **state) {
    (void)state;
    harness h;
    h_init(&h, DF_PRECISION_FP32, 0, DF_CONV_ALGO_DIRECT, 3, 22);
    int x = h_input(&h, 20, 18, 3);
    int c = h_conv(&h, x, 16, 3, 1, 1, 1, 1, 1, 1, DF_ACT_RELU, 1);
    c = h_conv(&h, c, 16, 3, 1, 1, 1, 1, 1, 1, DF_ACT_RELU, 1);
    c = h_pool(&h, c, DF_POOL_MAX, 2, 2, 0, 0, 0, 0);
    c = h_conv(&h, c, 32, 3, 1, 1, 1, 1, 1, 1, DF_ACT_RELU, 1);
    c = h_pool(&h, c, DF_POOL_MAX, 2, 2, 0, 0, 0, 0);
    h_check(&h, c, F32, F32, "vgg-like chain (direct)");
    h_free(&h);
}

static int count_fused(const df_net *net) {
    char desc[8192];
    df_net_describe(net, desc, sizeof desc);
    int n = 0;
    for (const char *q = desc; (q = strstr(q, "(fused into layer")); q++) n++;
    return n;
}

/* Residual adds fused into the convolution before them (oneDNN sum
 * post-op accumulating into the residual's buffer) against the reference,
 * and the adds that must not be fused. */
static void fused_blocks(df_precision prec, int batch, double atol, const char *what) {
    harness h;
    h_init(&h, prec, 0, DF_CONV_ALGO_DIRECT, batch, 61);
    if (df_net_precision(h.net) != prec) {
        h_free(&h);
        return; /* bf16 unsupported: test_bf16 reports the skip */
    }
    int x = h_input(&h, 13, 11, 5);
    int a = h_conv(&h, x, 16, 3, 2, 0, 0, 1, 1, 1, DF_ACT_RELU6, 1);   /* stem, 6x5x16 */
    int e = h_conv(&h, a, 32, 1, 1, 0, 0, 0, 0, 1, DF_ACT_RELU6, 1);   /* expand */
    int d = h_conv(&h, e, 32, 3, 1, 1, 1, 1, 1, 32, DF_ACT_RELU6, 1);  /* depthwise */
    int p = h_conv(&h, d, 16, 1, 1, 0, 0, 0, 0, 1, DF_ACT_NONE, 1);    /* project */
    int r1 = h_add(&h, p, a, DF_ACT_NONE);                              /* fused into p */
    /* Second block on the first one's output (a buffer already shared), the
     * residual as the add's first operand, the conv with its own ReLU and
     * the add with ReLU6 (post-ops: relu, sum, clip). */
    int e2 = h_conv(&h, r1, 24, 1, 1, 0, 0, 0, 0, 1, DF_ACT_RELU6, 0);
    int p2 = h_conv(&h, e2, 16, 3, 1, 1, 1, 1, 1, 1, DF_ACT_RELU, 1);
    int r2 = h_add(&h, r1, p2, DF_ACT_RELU6);                           /* fused into p2 */
    /* Not fusable: the residual r2 is read after the add (by c). */
    int p3 = h_conv(&h, r2, 16, 1, 1, 0, 0, 0, 0, 1, DF_ACT_NONE, 1);
    int r3 = h_add(&h, p3, r2, DF_ACT_NONE);
    int c = h_conv(&h, r2, 16, 1, 1, 0, 0, 0, 0, 1, DF_ACT_NONE, 0);
    /* Not fusable: p4 is also read by the pool. */
    int p4 = h_conv(&h, c, 16, 1, 1, 0, 0, 0, 0, 1, DF_ACT_NONE, 1);
    int r4 = h_add(&h, p4, r3, DF_ACT_RELU);
    int q = h_pool(&h, p4, DF_POOL_MAX, 2, 1, 0, 0, 1, 1);
    int r5 = h_add(&h, r4, q, DF_ACT_NONE);
    h_check(&h, r5, prec == DF_PRECISION_FP32 ? F32 : 0, atol, what);
    assert_int_equal(count_fused(h.net), 2);
    h_free(&h);
}

static void test_fused_add(void **state) {
    (void)state;
    fused_blocks(DF_PRECISION_FP32, 1, F32, "fused residual adds fp32");
    fused_blocks(DF_PRECISION_FP32, 3, F32, "fused residual adds fp32");
    fused_blocks(DF_PRECISION_BF16, 3, 2e-2, "fused residual adds bf16");

    /* A Winograd-eligible 3x3 conv with a fused add, algorithm measured
     * (the timing runs read the zeroed dst) and forced. */
    for (int mode = 0; mode < 2; mode++) {
        harness h;
        h_init(&h, DF_PRECISION_FP32, 1, mode ? DF_CONV_ALGO_WINOGRAD : DF_CONV_ALGO_AUTO, 2, 62);
        int x = h_input(&h, 20, 18, 3);
        int a = h_conv(&h, x, 32, 3, 1, 1, 1, 1, 1, 1, DF_ACT_RELU, 1);
        int b = h_conv(&h, a, 32, 3, 1, 1, 1, 1, 1, 1, DF_ACT_RELU, 1);
        int c = h_conv(&h, b, 32, 3, 1, 1, 1, 1, 1, 1, DF_ACT_NONE, 1);
        int r = h_add(&h, c, a, DF_ACT_RELU);
        int g = h_gap(&h, r);
        h_check(&h, g, 0, 1e-4, mode ? "fused add after winograd (forced)" : "fused add after a 3x3 (measured)");
        assert_int_equal(count_fused(h.net), 1);
        /* A second reshape keeps the fusion and the results. */
        df_error err;
        assert_int_equal(df_net_reshape(h.net, 1, &err), DF_OK);
        float got[32];
        if (df_net_run(h.net, h.t[0].ref, 1, got, &err)) fail_msg("run: %s", err.message);
        compare(got, h.t[g].ref, 32, 0, 1e-4, "fused add after reshape to batch 1");
        h_free(&h);
    }
}

/* A 1x1 convolution and the depthwise 3x3 after it as one primitive
 * (oneDNN's depthwise post-op), against the reference and against the same
 * net unfused. oneDNN 2.6 fuses (as net.c takes it) on AVX2 (ctest
 * test_engine_avx2), and only when the 1x1's output is larger than about
 * twice the L2 caches of the threads, so the blocks are large: 96x96x192
 * fp32 at batch 2 (14 MB; 64x64x256, 8.4 MB, did not fuse on Sapphire
 * Rapids, 2 MB of L2 per core, at 2 threads). Block 1: stride 1, pad 1, ReLU6 both;
 * block 2: stride 2 with TFLite's SAME pads (0 on top and left, 1 below and
 * right), ReLU then none; block 3 is not fusable (the 1x1's output is also
 * read by a pool). Returns the output (batch x 24 x 24 x 24) for comparing
 * fused with unfused. */
static float *dw_blocks(df_precision prec, int dw_fusion, double atol, int *fused) {
    harness h;
    enum { B = 2 };
    h_init_dw(&h, prec, 0, DF_CONV_ALGO_DIRECT, B, 71, dw_fusion);
    if (df_net_precision(h.net) != prec) {
        h_free(&h);
        return NULL;
    }
    int x = h_input(&h, 96, 96, 24);
    int e = h_conv(&h, x, 192, 1, 1, 0, 0, 0, 0, 1, DF_ACT_RELU6, 1);
    int d = h_conv(&h, e, 192, 3, 1, 1, 1, 1, 1, 192, DF_ACT_RELU6, 1);
    int p = h_conv(&h, d, 24, 1, 1, 0, 0, 0, 0, 1, DF_ACT_NONE, 1);
    int r = h_add(&h, p, x, DF_ACT_NONE);
    int e2 = h_conv(&h, r, 192, 1, 1, 0, 0, 0, 0, 1, DF_ACT_RELU, 1);
    int d2 = h_conv(&h, e2, 192, 3, 2, 0, 0, 1, 1, 192, DF_ACT_NONE, 1); /* 48x48 */
    int p2 = h_conv(&h, d2, 24, 1, 1, 0, 0, 0, 0, 1, DF_ACT_NONE, 0);
    int e3 = h_conv(&h, p2, 96, 1, 1, 0, 0, 0, 0, 1, DF_ACT_RELU6, 1);
    int d3 = h_conv(&h, e3, 96, 3, 2, 0, 0, 1, 1, 96, DF_ACT_RELU6, 1);   /* 24x24 */
    int q = h_pool(&h, e3, DF_POOL_MAX, 2, 2, 0, 0, 0, 0);
    int p3 = h_conv(&h, d3, 24, 1, 1, 0, 0, 0, 0, 1, DF_ACT_NONE, 1);
    int q3 = h_conv(&h, q, 24, 1, 1, 0, 0, 0, 0, 1, DF_ACT_NONE, 1);
    int out = h_add(&h, p3, q3, DF_ACT_NONE);
    char what[96];
    snprintf(what, sizeof what, "1x1 + depthwise blocks %s, fusion %s", df_precision_name(prec),
             dw_fusion ? "on" : "off");
    h_check(&h, out, prec == DF_PRECISION_FP32 ? F32 : 0, atol, what);
    *fused = df_net_dw_fused_layers(h.net);
    char desc[8192];
    df_net_describe(h.net, desc, sizeof desc);
    print_message("%s", desc);
    if (!dw_fusion) assert_int_equal(*fused, 0);
    assert_true(*fused <= 2);
    size_t n = (size_t)B * 24 * 24 * 24;
    float *got = malloc(n * sizeof *got);
    assert_non_null(got);
    df_error err;
    if (df_net_run(h.net, h.t[0].ref, B, got, &err)) fail_msg("run: %s", err.message);
    /* A reshape to batch 1 (too small for oneDNN to fuse here) and back. */
    assert_int_equal(df_net_reshape(h.net, 1, &err), DF_OK);
    assert_int_equal(df_net_reshape(h.net, B, &err), DF_OK);
    assert_int_equal(df_net_dw_fused_layers(h.net), *fused);
    float *again = malloc(n * sizeof *again);
    assert_non_null(again);
    if (df_net_run(h.net, h.t[0].ref, B, again, &err)) fail_msg("run: %s", err.message);
    assert_memory_equal(got, again, n * sizeof *got);
    free(again);
    h_free(&h);
    return got;
}

static void test_dw_fusion(void **state) {
    (void)state;
    int n_on = 0, n_off = 0;
    float *on = dw_blocks(DF_PRECISION_FP32, 1, F32, &n_on);
    float *off = dw_blocks(DF_PRECISION_FP32, 0, F32, &n_off);
    int avx2 = dnnl_get_effective_cpu_isa() == dnnl_cpu_isa_avx2;
    print_message("fp32: %d depthwise layers fused (of 2 fusable) on %s\n", n_on, avx2 ? "AVX2" : "this CPU's ISA");
    /* Fusion is taken only where it changes no number (net.c, dw_fused_pd). */
    assert_memory_equal(on, off, (size_t)2 * 24 * 24 * 24 * sizeof(float));
    if (avx2) assert_true(n_on >= 1); /* oneDNN 2.6 fuses these sizes on AVX2 */
    free(on);
    free(off);
    /* bf16 is never fused (net.c, dw_fused_pd: fused and unfused differ there). */
    float *b = dw_blocks(DF_PRECISION_BF16, 1, 2e-2, &n_on);
    if (b) assert_int_equal(n_on, 0);
    else print_message("SKIP: bf16 not supported on this CPU (fp32 checked)\n");
    free(b);
}

/* Winograd forced on every eligible layer, then left to measurement. */
static void test_winograd(void **state) {
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        harness h;
        h_init(&h, DF_PRECISION_FP32, 1, mode == 0 ? DF_CONV_ALGO_WINOGRAD : DF_CONV_ALGO_AUTO, 3, 23);
        /* A 3-channel 5x5 convolution first (not Winograd-eligible): its
         * direct kernel prefers NHWC output while the Winograd layer after
         * it wants nChw16c, so the producer refit (it writes its consumer's
         * format, with its own input reorder redone) runs too. */
        int x = h_input(&h, 20, 18, 3);
        int c = h_conv(&h, x, 16, 5, 1, 2, 2, 2, 2, 1, DF_ACT_RELU, 1);
        c = h_conv(&h, c, 32, 3, 1, 1, 1, 1, 1, 1, DF_ACT_RELU, 1);
        c = h_conv(&h, c, 32, 3, 1, 1, 1, 1, 1, 1, DF_ACT_RELU, 1);
        c = h_pool(&h, c, DF_POOL_MAX, 2, 2, 0, 0, 0, 0);
        c = h_conv(&h, c, 64, 3, 1, 1, 1, 1, 1, 1, DF_ACT_NONE, 1);
        h_check(&h, c, 0, 1e-4, mode == 0 ? "vgg-like chain (winograd forced)" : "vgg-like chain (autotuned)");
        int wl = df_net_winograd_layers(h.net);
        char desc[4096];
        df_net_describe(h.net, desc, sizeof desc);
        print_message("%s", desc);
        if (mode == 0) {
            if (wl == 0) {
                print_message("SKIP: oneDNN offers no Winograd convolution on this CPU\n");
                h_free(&h);
                skip();
            }
            assert_int_equal(wl, 3);
            assert_non_null(strstr(desc, "writes the next layer's format"));
        }
        /* A second reshape reuses the measured choice. */
        df_error err;
        assert_int_equal(df_net_reshape(h.net, 1, &err), DF_OK);
        assert_int_equal(df_net_winograd_layers(h.net), wl);
        h_free(&h);
    }
}

static void test_bf16(void **state) {
    (void)state;
    harness h;
    h_init(&h, DF_PRECISION_BF16, 1, DF_CONV_ALGO_AUTO, 3, 31);
    if (df_net_precision(h.net) != DF_PRECISION_BF16) {
        assert_int_equal(h.notices, 1);
        assert_non_null(strstr(h.last_notice, "bf16 is not supported"));
        print_message("SKIP: %s\n", h.last_notice);
        h_free(&h);
        skip();
    }
    int x = h_input(&h, 13, 11, 5);
    int c = h_conv(&h, x, 24, 3, 2, 1, 0, 2, 1, 1, DF_ACT_NONE, 1);
    h_check(&h, c, 0, 1e-2, "bf16 conv (K = 45)");
    assert_int_equal(df_net_precision(h.net), DF_PRECISION_BF16);
    h_free(&h);

    h_init(&h, DF_PRECISION_BF16, 1, DF_CONV_ALGO_AUTO, 3, 32);
    x = h_input(&h, 13, 11, 5);
    int a = h_conv(&h, x, 16, 3, 2, 0, 0, 1, 1, 1, DF_ACT_RELU6, 1);
    int e = h_conv(&h, a, 32, 1, 1, 0, 0, 0, 0, 1, DF_ACT_RELU6, 1);
    int d = h_conv(&h, e, 32, 3, 1, 1, 1, 1, 1, 32, DF_ACT_RELU6, 1);
    int p = h_conv(&h, d, 16, 1, 1, 0, 0, 0, 0, 1, DF_ACT_NONE, 1);
    int r = h_add(&h, p, a, DF_ACT_RELU);
    int q = h_pool(&h, r, DF_POOL_MAX, 3, 2, 1, 1, 1, 1);
    int q2 = h_pool(&h, q, DF_POOL_AVG, 2, 1, 0, 0, 1, 1);
    int g = h_gap(&h, q2);
    h_check(&h, g, 0, 2e-2, "bf16 mobilenet-like chain");
    assert_int_equal(df_net_winograd_layers(h.net), 0); /* no bf16 Winograd in oneDNN 2.6 */
    h_free(&h);
}

/* The races' rule on made-up batch times, with a 10% margin (int8 had
 * one until 2026-12-03; now none: the last checks), bf16 15% faster than
 * fp32, and one sample each settles a race only when the ratio is 25% away
 * from that bar. */
static void test_race_rule(void **state) {
    (void)state;
    int clear;
    assert_true(df_race_pick(50, 100, 0.10, &clear)); /* int8 twice as fast */
    assert_true(clear);
    assert_false(df_race_pick(171.6, 120.1, 0.10, &clear)); /* AVX2: fp32 1.4x faster */
    assert_true(clear);
    assert_true(df_race_pick(85, 100, 0.10, &clear)); /* wins, but closely */
    assert_false(clear);
    assert_false(df_race_pick(100, 100, 0.10, &clear)); /* a tie stays with the incumbent */
    assert_false(clear);
    assert_false(df_race_pick(90, 100, 0.10, &clear)); /* exactly at the bar: not faster enough */
    assert_false(clear);
    assert_false(df_race_pick(112, 100, 0.10, &clear)); /* within 25% above the bar */
    assert_false(clear);
    assert_false(df_race_pick(113, 100, 0.10, &clear));
    assert_true(clear);
    assert_true(df_race_pick(71, 100, 0.10, &clear));
    assert_true(clear);
    assert_true(df_race_pick(73, 100, 0.10, &clear));
    assert_false(clear);
    /* bf16 against fp32 */
    assert_false(df_race_pick(88, 100, 0.15, &clear)); /* 12% faster is not enough */
    assert_false(clear);
    assert_true(df_race_pick(84, 100, 0.15, &clear));
    assert_false(clear);
    assert_true(df_race_pick(60, 100, 0.15, &clear));
    assert_true(clear);
    /* int8 against the float engine today: the faster, a tie to the float one */
    assert_true(df_race_pick(91.2, 100, 0.0, &clear)); /* AMX, uint8 model, batch 16: 21.8 vs 23.9 ms */
    assert_false(clear);
    assert_false(df_race_pick(100, 100, 0.0, &clear));
    assert_false(df_race_pick(110.8, 100, 0.0, &clear)); /* capped to AVX2: fp32 10% faster */
    assert_false(clear);
    assert_true(df_race_pick(79, 100, 0.0, &clear));
    assert_true(clear);
    assert_false(df_race_pick(191, 162, 0.15, &clear)); /* no AMX: bf16 slower on MobileNetV2 */
    assert_true(clear);
}

static int cpu_has(dnnl_cpu_isa_t want) {
    return ((unsigned)dnnl_get_effective_cpu_isa() & (unsigned)want) == (unsigned)want;
}

/* Builds and checks the auto-precision net; returns the resolved precision
 * and leaves the last notice in notice_out. */
static df_precision auto_chain(char *notice_out, size_t size) {
    harness h;
    h_init(&h, DF_PRECISION_AUTO, 1, DF_CONV_ALGO_AUTO, 2, 41);
    int x = h_input(&h, 20, 18, 8);
    int c = h_conv(&h, x, 16, 3, 1, 1, 1, 1, 1, 1, DF_ACT_RELU, 1);
    c = h_conv(&h, c, 16, 3, 1, 1, 1, 1, 1, 1, DF_ACT_RELU, 1);
    c = h_gap(&h, c);
    h_check(&h, c, 0, 2e-2, "auto precision chain");
    df_precision p = df_net_precision(h.net);
    assert_true(p == DF_PRECISION_FP32 || p == DF_PRECISION_BF16);
    snprintf(notice_out, size, "%s", h.last_notice);
    df_error err;
    assert_int_equal(df_net_reshape(h.net, 1, &err), DF_OK);
    assert_int_equal(df_net_precision(h.net), p); /* the choice sticks */
    h_free(&h);
    return p;
}

/* Child with DNNL_MAX_CPU_ISA=AVX512_CORE_BF16 (bf16 without AMX): auto
 * measures, and keeps bf16 only when it was 15% faster. */
static int auto_measured_child(void) {
    char note[200];
    df_precision p = auto_chain(note, sizeof note);
    double ms32, ms16;
    printf("child: %s\n", note);
    if (sscanf(note, "precision auto: fp32 %lf ms, bf16 %lf ms", &ms32, &ms16) != 2) return 1;
    /* The notice rounds to 3 significant digits (at most 0.5% either way),
     * so a race that close to the 15% margin may legitimately go either
     * way; outside that band the rule must have been applied. */
    const double r = 0.005;
    int surely_bf16 = ms16 * (1 + r) < 0.85 * ms32 * (1 - r);
    int surely_fp32 = ms16 * (1 - r) >= 0.85 * ms32 * (1 + r);
    printf("child: resolved %s (bf16 %s)\n", df_precision_name(p),
           surely_bf16 ? "required" : surely_fp32 ? "forbidden" : "within rounding of the margin");
    if (surely_bf16) return p == DF_PRECISION_BF16 ? 0 : 1;
    if (surely_fp32) return p == DF_PRECISION_FP32 ? 0 : 1;
    return 0;
}

static void test_auto_precision(void **state) {
    (void)state;
    char note[200];
    df_precision p = auto_chain(note, sizeof note);
    print_message("  auto resolved to %s: %s\n", df_precision_name(p), note);
    if (cpu_has(dnnl_cpu_isa_avx512_core_amx)) {
        /* AMX: bf16 without measuring, so every run agrees. */
        assert_int_equal(p, DF_PRECISION_BF16);
        assert_non_null(strstr(note, "has AMX; fp32 not measured"));
    }
    if (!cpu_has(dnnl_cpu_isa_avx512_core_bf16)) {
        assert_int_equal(p, DF_PRECISION_FP32);
        print_message("SKIP (measured auto): no bf16 on this CPU\n");
        return;
    }
    char self[4096], cmd[4200], out[2048];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    snprintf(cmd, sizeof cmd, "DNNL_MAX_CPU_ISA=AVX512_CORE_BF16 '%s' auto-measured-child", self);
    int rc = df_test_run(cmd, out, sizeof out);
    print_message("%s", out);
    assert_int_equal(rc, 0);
}

/* Run in a child process with DNNL_MAX_CPU_ISA=AVX512_CORE (oneDNN latches
 * the ISA at its first use, so this cannot happen in-process): asking for
 * bf16 must give one notice and a correct fp32 net. */
static int bf16_fallback_child(void) {
    harness h;
    h_init(&h, DF_PRECISION_BF16, 0, DF_CONV_ALGO_DIRECT, 2, 51);
    int ok = h.notices == 1 && strstr(h.last_notice, "bf16 is not supported on this CPU; using fp32") &&
             df_net_precision(h.net) == DF_PRECISION_FP32;
    int x = h_input(&h, 13, 11, 5);
    int c = h_conv(&h, x, 8, 3, 2, 1, 1, 1, 1, 1, DF_ACT_RELU, 1);
    h_check(&h, c, F32, F32, "bf16 request on a CPU without bf16");
    ok = ok && df_net_precision(h.net) == DF_PRECISION_FP32;
    printf("child: notices %d, \"%s\", precision %s\n", h.notices, h.last_notice,
           df_precision_name(df_net_precision(h.net)));
    h_free(&h);
    return ok ? 0 : 1;
}

static void test_bf16_fallback_notice(void **state) {
    (void)state;
    char self[4096], cmd[4200], out[2048];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    snprintf(cmd, sizeof cmd, "DNNL_MAX_CPU_ISA=AVX512_CORE '%s' bf16-fallback-child", self);
    int rc = df_test_run(cmd, out, sizeof out);
    print_message("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "precision fp32"));
}

/* ------------------------------------------------------------------ API */

static void test_errors(void **state) {
    (void)state;
    df_net *net;
    df_error err;
    df_net_options o = df_net_options_default();
    o.precision = DF_PRECISION_FP32;
    assert_int_equal(df_net_create(&o, &net, &err), DF_OK);
    float w[5 * 9 * 5] = {0}, x[13 * 11 * 5] = {0}, y[1000];
    df_tensor_id in, out;
    assert_int_equal(df_net_input(net, 13, 11, 5, &in, &err), DF_OK);
    assert_int_equal(df_net_input(net, 13, 11, 5, &out, &err), DF_ERR_INVALID_ARG);

    df_conv2d_desc d = {5, 3, 3, 1, 1, 1, 1, 1, 1, 2, DF_ACT_NONE, w, NULL};
    assert_int_equal(df_net_conv2d(net, in, &d, &out, &err), DF_ERR_SHAPE);
    assert_non_null(strstr(err.message, "groups 2"));
    d.groups = 1;
    d.kh = 20;
    assert_int_equal(df_net_conv2d(net, in, &d, &out, &err), DF_ERR_SHAPE);
    d.kh = 3;
    assert_int_equal(df_net_conv2d(net, 99, &d, &out, &err), DF_ERR_INVALID_ARG);
    df_pool2d_desc pd = {DF_POOL_AVG, 2, 2, 2, 2, 2, 0, 0, 0};
    assert_int_equal(df_net_pool2d(net, in, &pd, &out, &err), DF_ERR_SHAPE);
    assert_non_null(strstr(err.message, "smaller than the kernel"));

    assert_int_equal(df_net_run(net, x, 1, y, &err), DF_ERR_INVALID_ARG);
    assert_int_equal(df_net_reshape(net, 1, &err), DF_ERR_INVALID_ARG); /* no output */
    assert_int_equal(df_net_conv2d(net, in, &d, &out, &err), DF_OK);
    df_tensor_id a;
    assert_int_equal(df_net_pool2d(net, out, &(df_pool2d_desc){DF_POOL_MAX, 2, 2, 2, 2, 0, 0, 0, 0}, &a, &err),
                     DF_OK);
    assert_int_equal(df_net_add(net, in, a, DF_ACT_NONE, &out, &err), DF_ERR_SHAPE);
    assert_int_equal(df_net_set_output(net, a, &err), DF_OK);
    assert_int_equal(df_net_reshape(net, 0, &err), DF_ERR_INVALID_ARG);
    assert_int_equal(df_net_reshape(net, 2, &err), DF_OK);
    assert_int_equal(df_net_batch(net), 2);
    assert_true(df_net_workspace_bytes(net) > 0);
    assert_int_equal(df_net_run(net, x, 3, y, &err), DF_ERR_INVALID_ARG);
    assert_int_equal(df_net_conv2d(net, in, &d, &out, &err), DF_ERR_INVALID_ARG); /* frozen */
    assert_int_equal(df_net_run(net, x, 1, y, &err), DF_OK);
    /* 13x11x5 conv 3x3 same = 2 * 13*11*5 * 9*5 MACs */
    assert_true(fabs(df_net_flops_per_image(net) - 2.0 * 13 * 11 * 5 * 45) < 0.5);
    char buf[40];
    df_net_describe(net, buf, sizeof buf);
    assert_int_equal(strlen(buf), sizeof buf - 1);
    df_net_destroy(net);
    df_net_destroy(NULL);

    df_precision p;
    assert_int_equal(df_precision_parse("bf16", &p, &err), DF_OK);
    assert_int_equal(p, DF_PRECISION_BF16);
    assert_string_equal(df_precision_name(p), "bf16");
    assert_int_equal(df_precision_parse("fp16", &p, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "fp16"));
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "bf16-fallback-child")) return bf16_fallback_child();
    if (argc == 2 && !strcmp(argv[1], "auto-measured-child")) return auto_measured_child();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_fp32_batch1),
        cmocka_unit_test(test_conv_fp32_batch3),
        cmocka_unit_test(test_pools_fp32),
        cmocka_unit_test(test_add_fp32),
        cmocka_unit_test(test_chain_mobilenet_like),
        cmocka_unit_test(test_chain_vgg_like),
        cmocka_unit_test(test_fused_add),
        cmocka_unit_test(test_dw_fusion),
        cmocka_unit_test(test_winograd),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_race_rule),
        cmocka_unit_test(test_auto_precision),
        cmocka_unit_test(test_bf16_fallback_notice),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
