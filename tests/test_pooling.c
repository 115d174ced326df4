/*
 * Poolings of the last map (backbone/pooling.h): names, shapes, the
 * regions against a slow obvious reference, the backward pass as the
 * forward's adjoint and by central differences, and a TFLite backbone
 * pooled by regions giving the reference's features from its own map.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/backbone.h"
#include "backbone/pooling.h"
#include "backbone/tflite_backbone.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "support/test_support.h"
#include "support/tiny_backbone.h"

static void test_names(void **state) {
    (void)state;
    df_error err;
    df_pooling p;
    char name[16];
    assert_int_equal(df_pooling_parse("mean", &p, &err), DF_OK);
    assert_int_equal(p.kind, DF_POOLING_MEAN);
    assert_string_equal(df_pooling_name(&p, name, sizeof name), "mean");
    assert_int_equal(df_pooling_parse("r3s2", &p, &err), DF_OK);
    assert_int_equal(p.kind, DF_POOLING_REGIONS);
    assert_int_equal(p.k, 3);
    assert_int_equal(p.s, 2);
    assert_int_equal(p.or_mean, 0);
    assert_string_equal(df_pooling_name(&p, name, sizeof name), "r3s2");
    assert_int_equal(df_pooling_parse("r16s16", &p, &err), DF_OK);
    static const char *const bad[] = {"", "max", "r3", "r3s", "r0s1", "r3s0", "r17s1", "r3s2x", "r-3s2", "r03s2",
                                      "R3S2", " r3s2"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_equal(df_pooling_parse(bad[k], &p, &err), DF_ERR_INVALID_ARG);
        assert_non_null(strstr(err.message, "r<k>s<s>"));
    }
}

static void test_shapes(void **state) {
    (void)state;
    const df_pooling mean = {DF_POOLING_MEAN, 0, 0, 0}, r3s2 = {DF_POOLING_REGIONS, 3, 2, 0},
                     r4s3 = {DF_POOLING_REGIONS, 4, 3, 0};
    assert_int_equal(df_pooling_dim(&mean, 7, 7, 1280), 1280);
    assert_int_equal(df_pooling_dim(&r3s2, 7, 7, 1280), 9 * 1280);
    assert_int_equal(df_pooling_dim(&r3s2, 6, 6, 5), 4 * 5);
    assert_int_equal(df_pooling_dim(&r3s2, 7, 3, 5), 3 * 5);
    assert_int_equal(df_pooling_dim(&r3s2, 2, 7, 5), 0); /* smaller than a window */
    assert_int_equal(df_pooling_dim(&r4s3, 7, 7, 2), 4 * 2);
    /* tiles: every position covered, none past the edge */
    assert_true(df_pooling_tiles(&r3s2, 7, 7));
    assert_true(df_pooling_tiles(&r3s2, 5, 3));
    assert_false(df_pooling_tiles(&r3s2, 6, 7)); /* the last row left out */
    assert_false(df_pooling_tiles(&r3s2, 2, 2));
    assert_true(df_pooling_tiles(&mean, 6, 7));
}

/* Window (i, j) of p on an H x W x C map at (i * nw + j) * C + c, plainly. */
static float reference(const df_pooling *p, const float *map, int H, int W, int C, int i, int j, int c) {
    const int kh = p->kind == DF_POOLING_REGIONS ? p->k : H, kw = p->kind == DF_POOLING_REGIONS ? p->k : W;
    const int s = p->kind == DF_POOLING_REGIONS ? p->s : 1;
    double sum = 0.0;
    for (int y = 0; y < kh; y++)
        for (int x = 0; x < kw; x++) sum += map[((i * s + y) * W + (j * s + x)) * C + c];
    return (float)(sum / (kh * kw));
}

static void fill(float *x, size_t n, uint64_t seed) {
    df_rng r;
    df_rng_seed(&r, seed, 4);
    for (size_t k = 0; k < n; k++) x[k] = (float)df_rng_below(&r, 2001) / 1000.0f - 0.3f;
}

static void test_against_reference(void **state) {
    (void)state;
    static const char *const names[] = {"mean", "r3s2", "r2s1", "r4s3", "r7s1", "r1s1"};
    enum { N = 3, H = 7, W = 5, C = 6 };
    float maps[N * H * W * C];
    fill(maps, sizeof maps / sizeof maps[0], 1);
    for (size_t q = 0; q < sizeof names / sizeof names[0]; q++) {
        df_pooling p;
        df_error err;
        assert_int_equal(df_pooling_parse(names[q], &p, &err), DF_OK);
        const size_t D = df_pooling_dim(&p, H, W, C);
        if (!D) continue; /* r7s1 is wider than this map: nothing to pool */
        float *out = malloc(sizeof(float) * N * D);
        assert_non_null(out);
        df_pooling_apply(&p, maps, N, H, W, C, out);
        const int nh = df_pooling_windows(&p, H), nw = df_pooling_windows(&p, W);
        assert_int_equal((size_t)nh * nw * C, D);
        for (int n = 0; n < N; n++)
            for (int i = 0; i < nh; i++)
                for (int j = 0; j < nw; j++)
                    for (int c = 0; c < C; c++) {
                        const float want = reference(&p, maps + n * H * W * C, H, W, C, i, j, c);
                        const float got = out[(size_t)n * D + (size_t)(i * nw + j) * C + c];
                        if (fabsf(got - want) > 1e-6f)
                            fail_msg("%s image %d window (%d, %d) channel %d: %g, reference %g", names[q], n, i, j,
                                     c, (double)got, (double)want);
                    }
        free(out);
    }
    /* one window over a square map is the mean */
    const df_pooling whole = {DF_POOLING_REGIONS, 5, 1, 0}, mean = {DF_POOLING_MEAN, 0, 0, 0};
    float a[C], b[C];
    df_pooling_apply(&whole, maps, 1, 5, 5, C, a);
    df_pooling_apply(&mean, maps, 1, 5, 5, C, b);
    assert_memory_equal(a, b, sizeof a);
}

/* Pooling is linear, so the backward pass must be its adjoint:
 * <pool(m), g> = <m, backward(g)> for every m and g; and the gradient of
 * a smooth function of the features by central differences. */
static void test_backward(void **state) {
    (void)state;
    enum { H = 7, W = 7, C = 3 };
    static const char *const names[] = {"mean", "r3s2", "r2s1", "r4s3"};
    for (size_t q = 0; q < sizeof names / sizeof names[0]; q++) {
        df_pooling p;
        df_error err;
        assert_int_equal(df_pooling_parse(names[q], &p, &err), DF_OK);
        const size_t D = df_pooling_dim(&p, H, W, C);
        float m[H * W * C], gm[H * W * C], *f = malloc(sizeof(float) * D), *g = malloc(sizeof(float) * D);
        assert_true(f && g);
        fill(m, H * W * C, 2 + q);
        fill(g, D, 20 + q);
        df_pooling_apply(&p, m, 1, H, W, C, f);
        df_pooling_backward(&p, g, H, W, C, gm);
        double lhs = 0.0, rhs = 0.0;
        for (size_t d = 0; d < D; d++) lhs += (double)f[d] * g[d];
        for (int k = 0; k < H * W * C; k++) rhs += (double)m[k] * gm[k];
        if (fabs(lhs - rhs) > 1e-5 * (1.0 + fabs(lhs))) fail_msg("%s: <pool m, g> %g, <m, back g> %g", names[q], lhs, rhs);
        /* L(m) = sum_d g_d * pool(m)_d^2 / 2: dL/dm = backward(g * pool(m)) */
        float *gf = malloc(sizeof(float) * D);
        assert_non_null(gf);
        for (size_t d = 0; d < D; d++) gf[d] = g[d] * f[d];
        df_pooling_backward(&p, gf, H, W, C, gm);
        for (int k = 0; k < H * W * C; k += 5) {
            const float keep = m[k], eps = 1e-2f;
            double L[2];
            for (int side = 0; side < 2; side++) {
                m[k] = keep + (side ? -eps : eps);
                df_pooling_apply(&p, m, 1, H, W, C, f);
                L[side] = 0.0;
                for (size_t d = 0; d < D; d++) L[side] += 0.5 * g[d] * (double)f[d] * f[d];
            }
            m[k] = keep;
            const double fd = (L[0] - L[1]) / (2.0 * eps);
            if (fabs(fd - gm[k]) > 1e-3 * (1.0 + fabs(fd)))
                fail_msg("%s value %d: analytic %g, central differences %g", names[q], k, (double)gm[k], fd);
        }
        df_pooling_apply(&p, m, 1, H, W, C, f);
        free(gf);
        free(f);
        free(g);
    }
}

/* The tiny pooled backbone (a 16x16x8 map, then its global mean): pooled
 * by regions it gives the reference's windows of the map the backbone cut
 * at the map returns, r16s1 (one window) its own mean; r3s2 (7 x 7
 * windows, not tiling 16 x 16) is allowed when asked for, and with
 * or_mean falls back to the graph's own feature; a pooling wider than the
 * map is an error; not with a cut, not on VGG16. */
static void test_backbone_regions(void **state) {
    (void)state;
    char *dir = df_test_tempdir();
    char *path = df_test_write_tiny_pooled_backbone(dir);
    df_error err;
    df_backbone_options o = df_backbone_options_default();
    o.precision = DF_PRECISION_FP32;
    o.max_batch = 2;
    df_backbone *map_bb, *own, *whole, *r84;
    o.cut_tensor = DF_TFLITE_CUT_FEATURE_MAP;
    assert_int_equal(df_backbone_open("tflite", path, &o, &map_bb, &err), DF_OK);
    o.cut_tensor = NULL;
    assert_int_equal(df_backbone_open("tflite", path, &o, &own, &err), DF_OK);
    assert_int_equal(df_pooling_parse("r16s1", &o.pooling, &err), DF_OK);
    assert_int_equal(df_backbone_open("tflite", path, &o, &whole, &err), DF_OK);
    assert_int_equal(df_pooling_parse("r8s4", &o.pooling, &err), DF_OK);
    assert_int_equal(df_backbone_open("tflite", path, &o, &r84, &err), DF_OK);
    assert_int_equal(df_backbone_feature_dim(map_bb), 16 * 16 * 8);
    assert_int_equal(df_backbone_feature_dim(own), 8);
    assert_int_equal(df_backbone_feature_dim(whole), 8);
    assert_int_equal(df_backbone_feature_dim(r84), 3 * 3 * 8);
    assert_int_equal(df_backbone_window_dim(r84), 8);
    assert_int_equal(df_backbone_window_dim(own), 8);
    enum { N = 5 }; /* more than max_batch: run in pieces */
    const size_t in = 32 * 32 * 3;
    float *x = malloc(sizeof(float) * N * in), *map = malloc(sizeof(float) * N * 16 * 16 * 8);
    float a[N * 8], b[N * 8], c[N * 72], want[72];
    assert_true(x && map);
    fill(x, N * in, 9);
    assert_int_equal(df_backbone_run(map_bb, x, N, map, &err), DF_OK);
    assert_int_equal(df_backbone_run(own, x, N, a, &err), DF_OK);
    assert_int_equal(df_backbone_run(whole, x, N, b, &err), DF_OK);
    assert_int_equal(df_backbone_run(r84, x, N, c, &err), DF_OK);
    for (int k = 0; k < N * 8; k++) assert_true(fabsf(a[k] - b[k]) <= 1e-5f * (1.0f + fabsf(a[k])));
    const df_pooling r84p = {DF_POOLING_REGIONS, 8, 4, 0};
    for (int n = 0; n < N; n++) {
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                for (int ch = 0; ch < 8; ch++)
                    want[(i * 3 + j) * 8 + ch] = reference(&r84p, map + (size_t)n * 16 * 16 * 8, 16, 16, 8, i, j, ch);
        for (int k = 0; k < 72; k++) assert_true(fabsf(c[n * 72 + k] - want[k]) <= 1e-6f);
    }
    df_backbone *other = NULL;
    assert_int_equal(df_pooling_parse("r3s2", &o.pooling, &err), DF_OK);
    assert_int_equal(df_backbone_open("tflite", path, &o, &other, &err), DF_OK);
    assert_int_equal(df_backbone_feature_dim(other), 7 * 7 * 8);
    df_backbone_destroy(other);
    o.pooling.or_mean = 1;
    assert_int_equal(df_backbone_open("tflite", path, &o, &other, &err), DF_OK);
    assert_int_equal(df_backbone_pooling(other).kind, DF_POOLING_MEAN);
    assert_int_equal(df_backbone_feature_dim(other), 8);
    df_backbone_destroy(other);
    o.pooling.or_mean = 0;
    assert_int_equal(df_pooling_parse("r16s2", &o.pooling, &err), DF_OK);
    o.pooling.k = 16;
    assert_int_equal(df_backbone_open("tflite", path, &o, &other, &err), DF_OK); /* exactly the map */
    df_backbone_destroy(other);
    o.pooling.k = 17; /* wider than the map */
    assert_int_equal(df_backbone_open("tflite", path, &o, &other, &err), DF_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "cannot be pooled"));
    assert_int_equal(df_pooling_parse("r3s2", &o.pooling, &err), DF_OK);
    o.cut_tensor = "pooled";
    assert_int_equal(df_backbone_open("tflite", path, &o, &other, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "cut"));
    o.cut_tensor = NULL;
    assert_int_equal(df_backbone_open("vgg16", path, &o, &other, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "TFLite"));
    df_backbone_destroy(map_bb);
    df_backbone_destroy(own);
    df_backbone_destroy(whole);
    df_backbone_destroy(r84);
    free(x);
    free(map);
    free(path);
    df_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_backward),
        cmocka_unit_test(test_backbone_regions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
