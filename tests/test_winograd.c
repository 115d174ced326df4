/*
 * Our Winograd F(4x4, 3x3) (engine/winograd.h) against the direct reference
 * (engine/reference.h), per layer and for each build of its transforms
 * (AVX-512, AVX2, baseline); then inside the engine on a CPU capped to AVX2
 * (DF_CPU_ISA=avx2, set before oneDNN starts: oneDNN then has no Winograd
 * and the engine uses ours), and VGG16 end to end against direct
 * convolutions (cosine >= 0.999).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backbone/vgg16.h"
#include "core/cpu.h"
#include "core/rng.h"
#include "engine/net.h"
#include "engine/reference.h"
#include "engine/winograd.h"
#include "support/shared_photos.h"

typedef struct layer_case {
    int n, h, w, c, k, pad_lo, pad_hi;
    df_activation act;
} layer_case;

/* Max |winograd - direct| over max |direct|, and the max error relative to
 * the sum of |x| |w| behind each output (the scale of rounding errors). */
static void check_layer(const layer_case *lc, uint64_t seed, const char *isa) {
    df_rng r;
    df_rng_seed(&r, seed, 3);
    size_t nw = (size_t)lc->k * 9 * lc->c, nx = (size_t)lc->n * lc->h * lc->w * lc->c;
    float *wt = malloc(nw * sizeof *wt), *b = malloc((size_t)lc->k * sizeof *b);
    float *x = malloc(nx * sizeof *x);
    assert_true(wt && b && x);
    float he = sqrtf(6.0f / (9.0f * (float)lc->c));
    for (size_t i = 0; i < nw; i++) wt[i] = df_rng_uniform_range(&r, -he, he);
    for (int i = 0; i < lc->k; i++) b[i] = df_rng_uniform_range(&r, -0.5f, 0.5f);
    for (size_t i = 0; i < nx; i++) x[i] = df_rng_uniform_range(&r, 0.0f, 4.0f); /* post-ReLU */
    df_conv2d_desc d;
    memset(&d, 0, sizeof d);
    d.out_c = lc->k;
    d.kh = d.kw = 3;
    d.stride_h = d.stride_w = 1;
    d.pad_top = d.pad_left = lc->pad_lo;
    d.pad_bottom = d.pad_right = lc->pad_hi;
    d.groups = 1;
    d.activation = lc->act;
    d.weights = wt;
    d.bias = b;
    int oh = df_ref_out_dim(lc->h, 3, 1, lc->pad_lo, lc->pad_hi);
    int ow = df_ref_out_dim(lc->w, 3, 1, lc->pad_lo, lc->pad_hi);
    size_t ny = (size_t)lc->n * oh * ow * lc->k;
    float *y = malloc(ny * sizeof *y), *ref = malloc(ny * sizeof *ref);
    assert_true(y && ref);
    df_wino *wg;
    df_error err;
    assert_int_equal(df_wino_create(&d, lc->c, &wg, &err), DF_OK);
    assert_string_equal(df_wino_isa(wg), isa);
    void *ws = NULL;
    assert_int_equal(posix_memalign(&ws, 64, df_wino_workspace_bytes(wg)), 0);
    for (size_t i = 0; i < ny; i++) y[i] = NAN; /* every output must be written */
    assert_int_equal(df_wino_run(wg, x, lc->n, lc->h, lc->w, y, ws, &err), DF_OK);
    df_ref_conv2d(x, lc->n, lc->h, lc->w, lc->c, &d, ref);
    double worst = 0, top = 0;
    for (size_t i = 0; i < ny; i++) {
        assert_false(isnan(y[i]));
        double e = fabs((double)y[i] - ref[i]);
        if (e > worst) worst = e;
        if (fabs(ref[i]) > top) top = fabs(ref[i]);
    }
    print_message("%s %dx%dx%dx%d -> %d, pad %d/%d: max error %.2e of max |y| %.2f (%.1e)\n", isa,
                  lc->n, lc->h, lc->w, lc->c, lc->k, lc->pad_lo, lc->pad_hi, worst, top,
                  worst / top);
    assert_true(worst <= 2e-5 * top);
    free(ws);
    df_wino_destroy(wg);
    free(wt);
    free(b);
    free(x);
    free(y);
    free(ref);
}

static const layer_case CASES[] = {
    {2, 14, 14, 64, 64, 1, 1, DF_ACT_RELU},   {1, 9, 13, 16, 24, 1, 1, DF_ACT_NONE},
    {3, 7, 5, 32, 8, 0, 0, DF_ACT_RELU6},     {1, 28, 28, 128, 256, 1, 1, DF_ACT_RELU},
    {1, 6, 6, 512, 512, 1, 1, DF_ACT_RELU},   {2, 5, 11, 8, 16, 2, 0, DF_ACT_NONE},
};

static void run_cases(const char *isa) {
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) check_layer(&CASES[i], 40 + i, isa);
}

/* Each build of the transforms (the cap reaches our kernels at create). */
static void test_layers_each_isa(void **state) {
    (void)state;
    setenv("DF_CPU_ISA", "scalar", 1);
    run_cases("scalar");
    setenv("DF_CPU_ISA", "avx2", 1);
    if (df_cpu_isa_best() == DF_CPU_ISA_AVX2) run_cases("avx2");
    else print_message("SKIP: this CPU has no AVX2 + FMA\n");
    unsetenv("DF_CPU_ISA");
    if (df_cpu_isa_best() == DF_CPU_ISA_AVX512) run_cases("avx512");
    else print_message("SKIP: this CPU has no AVX-512\n");
    setenv("DF_CPU_ISA", "avx2", 1); /* back to the process's cap (main) */
}

static void test_errors(void **state) {
    (void)state;
    float w[9 * 8 * 8] = {0};
    df_conv2d_desc d;
    memset(&d, 0, sizeof d);
    d.out_c = 8;
    d.kh = d.kw = 3;
    d.stride_h = d.stride_w = 1;
    d.groups = 1;
    d.weights = w;
    df_wino *wg;
    df_error err;
    assert_int_equal(df_wino_create(&d, 3, &wg, &err), DF_ERR_INVALID_ARG); /* 3 channels */
    d.stride_h = 2;
    assert_int_equal(df_wino_create(&d, 8, &wg, &err), DF_ERR_INVALID_ARG);
    d.stride_h = 1;
    assert_int_equal(df_wino_create(&d, 8, &wg, &err), DF_OK);
    assert_int_equal(df_wino_run(wg, w, 1, 2, 2, w, NULL, &err), DF_ERR_SHAPE); /* 0x0 output */
    df_wino_destroy(wg);
    df_wino_destroy(NULL);
}


/* VGG16 (random He weights, 112 x 112 to keep it short) with every
 * eligible convolution on our Winograd, against direct convolutions. */
static void test_vgg16_end_to_end(void **state) {
    (void)state;
    if (df_cpu_isa_best() != DF_CPU_ISA_AVX2) {
        print_message("SKIP: needs a CPU with AVX2 (capped to it)\n");
        skip();
    }
    enum { N = 2, S = 112 };
    df_vgg16_source src = {NULL, 7, S, S};
    df_backbone *bb[2];
    df_error err;
    for (int k = 0; k < 2; k++) {
        df_backbone_options o = df_backbone_options_default();
        o.precision = DF_PRECISION_FP32;
        o.autotune = 0;
        o.conv_algo = k ? DF_CONV_ALGO_WINOGRAD : DF_CONV_ALGO_DIRECT;
        o.max_batch = N;
        df_status st = df_vgg16_open_source(&src, &o, &bb[k], &err);
        if (st) print_message("%s\n", err.message);
        assert_int_equal(st, DF_OK);
    }
    assert_int_equal(df_net_winograd_layers(df_vgg16_net(bb[0])), 0);
    /* conv1_1 has 3 input channels: direct; the other 12 are ours */
    assert_int_equal(df_net_winograd_layers(df_vgg16_net(bb[1])), 12);
    size_t per = (size_t)S * S * 3, dim = df_backbone_feature_dim(bb[0]);
    float *x = malloc(N * per * sizeof *x), *f[2];
    assert_non_null(x);
    df_rng r;
    df_rng_seed(&r, 9, 1);
    for (size_t i = 0; i < N * per; i++) x[i] = df_rng_uniform_range(&r, -120.0f, 130.0f);
    for (int k = 0; k < 2; k++) {
        f[k] = malloc(N * dim * sizeof(float));
        assert_non_null(f[k]);
        assert_int_equal(df_backbone_run(bb[k], x, N, f[k], &err), DF_OK);
    }
    for (int i = 0; i < N; i++) {
        double c = df_test_cosine(f[0] + i * dim, f[1] + i * dim, dim);
        print_message("VGG16 %dx%d image %d: df_test_cosine(winograd, direct) = %.7f\n", S, S, i, c);
        assert_true(c >= 0.999);
    }
    for (int k = 0; k < 2; k++) {
        free(f[k]);
        df_backbone_destroy(bb[k]);
    }
    free(x);
}

int main(void) {
    /* Before oneDNN's first use: it then has no Winograd, and the engine
     * takes ours wherever it is asked for Winograd. */
    setenv("DF_CPU_ISA", "avx2", 1);
    df_cpu_cap_libraries();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layers_each_isa),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_vgg16_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
