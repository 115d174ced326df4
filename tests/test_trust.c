/*
 * Trust in a prediction (issue 12): the unknown detector on fixtures where
 * the answer is clear, its threshold rule against a slow sort-and-count
 * reference, temperature scaling (the fitted T minimises the NLL on a grid,
 * T > 1 for overconfident logits), the ECE against a hand computation, the
 * head's class gradient against central finite differences (MLP with BN and
 * standardisation, and LINEAR), Grad-CAM's map gradient against finite
 * differences of the class score with respect to every feature-map value
 * (pooled and flattened heads), the class activation map against a hand
 * computation, the overlay's size, and the model file round trip of the
 * detector and temperature (an older file without them still loads).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "eval/calibration.h"
#include "eval/unknown.h"
#include "formats/model_file.h"
#include "nn/head.h"
#include "report/gradcam.h"
#include "report/report.h"
#include "support/test_support.h"

#define ASSERT_OK(call)                                                            \
    do {                                                                           \
        df_status st_ = (call);                                                    \
        if (st_ != DF_OK) print_message("%s: %s\n", #call, err.message);          \
        assert_int_equal(st_, DF_OK);                                              \
    } while (0)

static void fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi) {
    df_rng r;
    df_rng_seed(&r, seed, 5);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)df_rng_uniform(&r);
}

/* Three clusters of non-negative "features" around orthogonal directions;
 * a probe along a fourth direction is far from all of them. */
enum { DIM = 16, PER = 20 };
static void clusters(float *x, int *labels) {
    fill_uniform(x, (size_t)3 * PER * DIM, 1, 0.0f, 0.05f);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < PER; i++) {
            float *row = x + (size_t)(c * PER + i) * DIM;
            for (int j = 0; j < 4; j++) row[c * 4 + j] += 1.0f;
            labels[c * PER + i] = c;
        }
}

static void test_unknown_clear_cases(void **state) {
    (void)state;
    float x[3 * PER * DIM];
    int labels[3 * PER];
    clusters(x, labels);
    df_unknown_detector *d;
    df_error err;
    float loo[3 * PER];
    ASSERT_OK(df_unknown_fit(x, 3 * PER, DIM, 5, 0, 0.05f, loo, &d, &err));
    assert_int_equal(d->k, 5);
    /* Near cluster 1: accepted; along the unused direction: unknown. */
    float near[DIM], far[DIM];
    fill_uniform(near, DIM, 7, 0.0f, 0.05f);
    memcpy(far, near, sizeof far);
    for (int j = 0; j < 4; j++) near[4 + j] += 1.0f;
    for (int j = 0; j < 4; j++) far[12 + j] += 1.0f;
    float sn = df_unknown_score(d, near), sf = df_unknown_score(d, far);
    assert_true(sn <= d->threshold);
    assert_true(sf > d->threshold);
    assert_true(sf > 0.9f); /* orthogonal to every training row, up to the noise */
    /* A training row scores like its leave-one-out score or lower (it is
     * its own nearest neighbour at distance ~0). */
    assert_true(df_unknown_score(d, x) <= loo[0] + 1e-6f);
    /* Not finite -> NaN. */
    far[3] = NAN;
    assert_true(isnan(df_unknown_score(d, far)));
    df_unknown_destroy(d);
    /* k is clamped to n - 1; bad arguments are errors. */
    ASSERT_OK(df_unknown_fit(x, 3, DIM, 5, 1, 0.0f, NULL, &d, &err));
    assert_int_equal(d->k, 2);
    df_unknown_destroy(d);
    assert_int_equal(df_unknown_fit(x, 1, DIM, 5, 0, 0.05f, NULL, &d, &err), DF_ERR_INVALID_ARG);
    assert_int_equal(df_unknown_fit(x, 10, DIM, 5, 0, 1.0f, NULL, &d, &err), DF_ERR_INVALID_ARG);
}

/* The slow reference: the smallest s such that at least (1 - rate) * n of
 * the scores are <= s. */
static float threshold_ref(const float *s, int n, float rate) {
    float best = INFINITY;
    for (int i = 0; i < n; i++) {
        int le = 0;
        for (int j = 0; j < n; j++) le += s[j] <= s[i];
        if ((double)le >= (1.0 - rate) * n - 1e-9 && s[i] < best) best = s[i];
    }
    return best;
}

static void test_unknown_threshold_rule(void **state) {
    (void)state;
    const float rates[] = {0.0f, 0.05f, 0.1f, 0.25f, 0.5f, 0.9f};
    for (int n = 1; n <= 60; n += 7)
        for (int r = 0; r < 6; r++) {
            float s[60];
            fill_uniform(s, (size_t)n, (uint64_t)n, 0.0f, 1.0f);
            float t = df_unknown_threshold(s, n, rates[r]);
            assert_float_equal(t, threshold_ref(s, n, rates[r]), 0.0f);
            int above = 0;
            for (int i = 0; i < n; i++) above += s[i] > t;
            /* At most the stated fraction of held-out genuine photos rejected,
             * and fewer than one photo short of it. */
            assert_true(above <= rates[r] * n + 1e-6);
            assert_true(above > rates[r] * n - 1.0 - 1e-6);
        }
    /* On the detector: the fraction of leave-one-out scores above the
     * fitted threshold is the rate (100 rows, rate 0.05 -> 5). */
    float x[100 * 8];
    fill_uniform(x, sizeof x / sizeof *x, 3, 0.0f, 1.0f);
    float loo[100];
    df_unknown_detector *d;
    df_error err;
    ASSERT_OK(df_unknown_fit(x, 100, 8, 3, 0, 0.05f, loo, &d, &err));
    int above = 0;
    for (int i = 0; i < 100; i++) above += loo[i] > d->threshold;
    assert_int_equal(above, 5);
    df_unknown_destroy(d);
}

/* The slow reference of a leave-one-out score: centre, unit length, every
 * cosine distance in one running double sum, sort, mean of the k smallest. */
static float loo_score_ref(const float *x, int n, int dim, int k, int i) {
    double *u = malloc(sizeof(double) * (size_t)n * (size_t)dim), *dist = malloc(sizeof(double) * (size_t)n);
    for (int r = 0; r < n; r++) {
        double ss = 0.0;
        for (int j = 0; j < dim; j++) ss += (double)x[(size_t)r * dim + j] * x[(size_t)r * dim + j];
        for (int j = 0; j < dim; j++) u[(size_t)r * dim + j] = x[(size_t)r * dim + j] / sqrt(ss);
    }
    int m = 0;
    for (int r = 0; r < n; r++) {
        if (r == i) continue;
        double dot = 0.0;
        for (int j = 0; j < dim; j++) dot += u[(size_t)i * dim + j] * u[(size_t)r * dim + j];
        dist[m++] = 1.0 - dot;
    }
    for (int a = 0; a < m; a++) /* selection sort: slow and obvious */
        for (int b = a + 1; b < m; b++)
            if (dist[b] < dist[a]) {
                double t = dist[a];
                dist[a] = dist[b];
                dist[b] = t;
            }
    double s = 0.0;
    for (int a = 0; a < k; a++) s += dist[a];
    free(u);
    free(dist);
    return (float)(s / k);
}

/* The detector's dot product runs eight sums wide in a fixed order: bit
 * for bit the same under every ISA cap, for lengths with and without a
 * remainder, and within double rounding of one running sum; and the
 * detector's scores (rows split over threads from 256 photos) within float
 * rounding of the reference and the same under every cap. */
static void test_unknown_scores_every_isa(void **state) {
    (void)state;
    const char *isas[] = {"scalar", "avx2", NULL};
    float u[1283], v[1283];
    for (int n = 0; n <= 1283; n += (n < 40 ? 1 : 97)) {
        fill_uniform(u, (size_t)n, 100 + (uint64_t)n, -1.0f, 1.0f);
        fill_uniform(v, (size_t)n, 200 + (uint64_t)n, -1.0f, 1.0f);
        /* Products of floats are exact in double, and sums of products of
         * one magnitude mostly too: spread the magnitudes over 2^+-20 so
         * that the order of the sums shows in the bits. */
        for (int j = 0; j < n; j++) u[j] = ldexpf(u[j], (j * 7) % 41 - 20);
        double d[3], ref = 0.0, mag = 0.0;
        for (int a = 0; a < 3; a++) {
            if (isas[a]) setenv("DF_CPU_ISA", isas[a], 1);
            d[a] = df_unknown_dot(u, v, n);
            unsetenv("DF_CPU_ISA");
        }
        for (int j = 0; j < n; j++) {
            ref += (double)u[j] * v[j];
            mag += fabs((double)u[j] * v[j]);
        }
        assert_memory_equal(&d[1], &d[0], sizeof(double));
        assert_memory_equal(&d[2], &d[0], sizeof(double));
        assert_true(fabs(d[0] - ref) <= 1e-14 * (mag + 1e-300));
    }
    const int dims[] = {1280, 13}, ns[] = {40, 300};
    for (int t = 0; t < 2; t++) {
        const int n = ns[t], dim = dims[t], k = 5;
        float *x = malloc(sizeof(float) * (size_t)n * (size_t)dim), loo[3][300], thr[3];
        fill_uniform(x, (size_t)n * (size_t)dim, 11 + (uint64_t)t, 0.0f, 6.0f);
        for (int a = 0; a < 3; a++) {
            if (isas[a]) setenv("DF_CPU_ISA", isas[a], 1);
            df_unknown_detector *d;
            df_error err;
            ASSERT_OK(df_unknown_fit(x, n, dim, k, 0, 0.05f, loo[a], &d, &err));
            thr[a] = d->threshold;
            df_unknown_destroy(d);
            unsetenv("DF_CPU_ISA");
        }
        for (int a = 1; a < 3; a++) {
            assert_memory_equal(loo[a], loo[0], sizeof(float) * (size_t)n);
            assert_true(thr[a] == thr[0]);
        }
        for (int i = 0; i < n; i += n / 10) assert_float_equal(loo[0][i], loo_score_ref(x, n, dim, k, i), 2e-6f);
        free(x);
    }
}

static void test_temperature(void **state) {
    (void)state;
    enum { N = 200, C = 3 };
    float z[N * C];
    int y[N];
    df_rng r;
    df_rng_seed(&r, 11, 0);
    /* Overconfident logits: the true class wins 70% of the time but by a
     * wide margin always. */
    for (int i = 0; i < N; i++) {
        y[i] = i % C;
        int pred = df_rng_uniform(&r) < 0.7 ? y[i] : (y[i] + 1) % C;
        for (int c = 0; c < C; c++) z[i * C + c] = c == pred ? 8.0f : (float)df_rng_uniform(&r);
    }
    float T;
    df_error err;
    ASSERT_OK(df_calib_fit_temperature(z, y, N, C, &T, &err));
    assert_true(T > 1.5f);
    double best = df_calib_nll(z, y, N, C, T);
    for (double t = 0.1; t < 15.0; t *= 1.05)
        assert_true(best <= df_calib_nll(z, y, N, C, (float)t) + 1e-6);
    /* Calibration lowers the ECE here, and never changes the argmax. */
    float p1[N * C], pt[N * C];
    df_calib_softmax_t(z, N, C, 1.0f, p1);
    df_calib_softmax_t(z, N, C, T, pt);
    df_reliability a, b;
    df_calib_reliability(p1, y, N, C, &a);
    df_calib_reliability(pt, y, N, C, &b);
    assert_true(b.ece < a.ece);
    for (int i = 0; i < N; i++) {
        int m1 = 0, m2 = 0;
        for (int c = 1; c < C; c++) {
            if (p1[i * C + c] > p1[i * C + m1]) m1 = c;
            if (pt[i * C + c] > pt[i * C + m2]) m2 = c;
        }
        assert_int_equal(m1, m2);
    }
    /* A label outside [0, C) and NaN logits are errors. */
    y[0] = 3;
    assert_int_equal(df_calib_fit_temperature(z, y, N, C, &T, &err), DF_ERR_INVALID_ARG);
    y[0] = 0;
    z[4] = NAN;
    assert_int_equal(df_calib_fit_temperature(z, y, N, C, &T, &err), DF_ERR_DATA);
}

static void test_ece_by_hand(void **state) {
    (void)state;
    /* Four photos, two classes: top probabilities 0.9 (right), 0.9 (wrong),
     * 0.6 (right), 1.0 (right). Bins of width 1/15: 0.9 -> bin 13,
     * 0.6 -> bin 9, 1.0 -> bin 14 (the last). ECE = 2/4 * |0.5 - 0.9| +
     * 1/4 * |1 - 0.6| + 1/4 * |1 - 1| = 0.2 + 0.1 = 0.3. */
    const float p[8] = {0.9f, 0.1f, 0.9f, 0.1f, 0.4f, 0.6f, 0.0f, 1.0f};
    const int y[4] = {0, 1, 1, 1};
    df_reliability r;
    df_calib_reliability(p, y, 4, 2, &r);
    assert_int_equal(r.count[13], 2);
    assert_int_equal(r.count[9], 1);
    assert_int_equal(r.count[14], 1);
    assert_float_equal(r.accuracy[13], 0.5, 1e-9);
    assert_float_equal(r.confidence[9], 0.6, 1e-6);
    assert_float_equal(r.ece, 0.3, 1e-6);
}

/* d logit[cls] / dx against central differences of df_head_logits. */
static void check_class_gradient(df_head *h, int D, int C) {
    float x[32], dx[32], xp[32], zp[8], zm[8];
    df_error err;
    fill_uniform(x, (size_t)D, 21, -1.0f, 1.0f);
    for (int cls = 0; cls < C; cls++) {
        ASSERT_OK(df_head_class_gradient(h, x, cls, dx, &err));
        for (int j = 0; j < D; j++) {
            const double eps = 1e-2;
            memcpy(xp, x, sizeof(float) * (size_t)D);
            xp[j] = x[j] + (float)eps;
            ASSERT_OK(df_head_logits(h, xp, 1, zp, &err));
            xp[j] = x[j] - (float)eps;
            ASSERT_OK(df_head_logits(h, xp, 1, zm, &err));
            double fd = ((double)zp[cls] - zm[cls]) / (2 * eps);
            /* Central differences in float32 of O(1) logits: ~1e-4 noise;
             * a ReLU kink within eps would break it, checked loosely. */
            if (fabs(fd - dx[j]) > 2e-3 * (1.0 + fabs(fd)))
                fail_msg("class %d feature %d: analytic %g, finite differences %g", cls, j,
                         (double)dx[j], fd);
        }
    }
    assert_int_equal(df_head_class_gradient(h, x, C, dx, &err), DF_ERR_INVALID_ARG);
}

static void test_head_class_gradient(void **state) {
    (void)state;
    enum { D = 12, C = 3 };
    df_error err;
    df_head_config cfg = df_head_config_default();
    cfg.units = 7;
    cfg.max_batch = 8;
    df_head *h;
    ASSERT_OK(df_head_create(&cfg, D, C, 5, &h, &err));
    /* Non-trivial BN statistics and standardisation. */
    float *mm = df_head_bn_moving_mean(h), *mv = df_head_bn_moving_var(h);
    fill_uniform(mm, 7, 2, -0.2f, 0.2f);
    fill_uniform(mv, 7, 3, 0.5f, 2.0f);
    float *p = df_head_params(h);
    fill_uniform(p, df_head_num_params(h), 4, -0.5f, 0.5f);
    float mean[D], std[D];
    fill_uniform(mean, D, 5, -0.1f, 0.1f);
    fill_uniform(std, D, 6, 0.5f, 2.0f);
    ASSERT_OK(df_head_set_standardisation(h, mean, std, &err));
    check_class_gradient(h, D, C);
    df_head_destroy(h);
    cfg.kind = DF_HEAD_LINEAR;
    ASSERT_OK(df_head_create(&cfg, D, C, 5, &h, &err));
    fill_uniform(df_head_params(h), df_head_num_params(h), 8, -0.5f, 0.5f);
    ASSERT_OK(df_head_set_standardisation(h, mean, std, &err));
    check_class_gradient(h, D, C);
    df_head_destroy(h);
}


/* The class logit of a map through the head: pooled (pool) or flattened
 * (NULL), pooled here plainly, window by window. */
static float map_score(const df_head *h, const float *map, int H, int W, int K, const df_pooling *pool, int cls) {
    float f[256], z[8];
    df_error err;
    const float *in = map;
    if (pool) {
        const int kh = pool->kind == DF_POOLING_REGIONS ? pool->k : H, kw = pool->kind == DF_POOLING_REGIONS ? pool->k : W;
        const int s = pool->kind == DF_POOLING_REGIONS ? pool->s : 1;
        const int nh = (H - kh) / s + 1, nw = (W - kw) / s + 1;
        for (int i = 0; i < nh; i++)
            for (int j = 0; j < nw; j++)
                for (int k = 0; k < K; k++) {
                    double sum = 0.0;
                    for (int y = i * s; y < i * s + kh; y++)
                        for (int x = j * s; x < j * s + kw; x++) sum += map[(y * W + x) * K + k];
                    f[(i * nw + j) * K + k] = (float)(sum / (kh * kw));
                }
        in = f;
    }
    ASSERT_OK(df_head_logits(h, in, 1, z, &err));
    return z[cls];
}

/* pool NULL: flatten; else the mean or regions (r2s1 on a 3x4 map: 2 x 3
 * overlapping windows). */
static void check_gradcam(const char *pooling) {
    enum { H = 3, W = 4, K = 4, C = 3 };
    df_error err;
    df_pooling p;
    if (pooling) ASSERT_OK(df_pooling_parse(pooling, &p, &err));
    const df_pooling *pool = pooling ? &p : NULL;
    const int D = pool ? (int)df_pooling_dim(pool, H, W, K) : H * W * K;
    df_head_config cfg = df_head_config_default();
    cfg.units = 6;
    df_head *h;
    ASSERT_OK(df_head_create(&cfg, D, C, 9, &h, &err));
    fill_uniform(df_head_params(h), df_head_num_params(h), 10, -0.5f, 0.5f);
    fill_uniform(df_head_bn_moving_var(h), 6, 11, 0.5f, 2.0f);
    float map[H * W * K], grad[H * W * K];
    fill_uniform(map, H * W * K, 12, 0.0f, 2.0f);
    for (int cls = 0; cls < C; cls++) {
        ASSERT_OK(df_gradcam_map_gradient(h, map, H, W, K, pool, cls, grad, &err));
        for (int j = 0; j < H * W * K; j++) {
            const float eps = 1e-2f;
            float keep = map[j];
            map[j] = keep + eps;
            double up = map_score(h, map, H, W, K, pool, cls);
            map[j] = keep - eps;
            double down = map_score(h, map, H, W, K, pool, cls);
            map[j] = keep;
            double fd = (up - down) / (2.0 * eps);
            if (fabs(fd - grad[j]) > 2e-3 * (1.0 + fabs(fd)))
                fail_msg("%s class %d map value %d: analytic %g, finite differences %g", pooling ? pooling : "flat",
                         cls, j, (double)grad[j], fd);
        }
    }
    /* A head that does not fit the map is an error. */
    assert_int_equal(df_gradcam_map_gradient(h, map, H, W, K + 1, pool, 0, grad, &err), DF_ERR_SHAPE);
    df_head_destroy(h);
}

static void test_gradcam_gradient(void **state) {
    (void)state;
    check_gradcam("mean");
    check_gradcam("r2s1");
    check_gradcam(NULL);
}

static void test_gradcam_cam_and_overlay(void **state) {
    (void)state;
    /* 1 x 2 map, 2 channels. grad: channel 0 mean 1, channel 1 mean -1
     * (alpha = mean over the 2 positions). cam = relu(a0 A0 + a1 A1):
     * position 0: 1*3 - 1*1 = 2; position 1: 1*1 - 1*2 = -1 -> 0; then /2. */
    const float map[4] = {3, 1, 1, 2};
    const float grad[4] = {1, -1, 1, -1};
    float cam[2];
    df_gradcam_cam(map, grad, 1, 2, 2, cam);
    assert_float_equal(cam[0], 1.0f, 1e-6f);
    assert_float_equal(cam[1], 0.0f, 0.0f);
    /* Nothing for the class: all zero, no division by zero. */
    const float neg[4] = {-1, -1, -1, -1};
    df_gradcam_cam(map, neg, 1, 2, 2, cam);
    assert_true(cam[0] == 0.0f && cam[1] == 0.0f);
    /* The overlay has the photo's size, whatever the map's. */
    df_image img, out;
    df_error err;
    ASSERT_OK(df_image_alloc(&img, 37, 91, &err));
    memset(img.pixels, 128, (size_t)37 * 91 * 3);
    const float c2[2] = {1.0f, 0.0f};
    ASSERT_OK(df_gradcam_overlay(&img, c2, 1, 2, &out, &err));
    assert_int_equal(out.width, 37);
    assert_int_equal(out.height, 91);
    /* Left edge hot (red over grey), right edge cold (blue over grey). */
    const uint8_t *l = out.pixels + (size_t)45 * 37 * 3, *r = l + 36 * 3;
    assert_true(l[0] > l[2]);
    assert_true(r[2] > r[0]);
    df_image_free(&img);
    df_image_free(&out);
}

/* The reliability diagram renders from bins (and says "no data" without). */
static void test_reliability_figure(void **state) {
    (void)state;
    const float p[8] = {0.9f, 0.1f, 0.9f, 0.1f, 0.4f, 0.6f, 0.0f, 1.0f};
    const int y[4] = {0, 1, 1, 1};
    df_reliability r;
    df_calib_reliability(p, y, 4, 2, &r);
    df_report_data d;
    df_report_data_init(&d);
    df_png with = {0}, without = {0};
    df_error err;
    ASSERT_OK(df_figure_reliability(&d, "empty", 1.0, &without, &err));
    d.n_calib_bins = DF_CALIB_BINS;
    d.calib_count = r.count;
    d.calib_confidence = r.confidence;
    d.calib_accuracy = r.accuracy;
    d.ece = r.ece;
    d.temperature = 1.5;
    ASSERT_OK(df_figure_reliability(&d, "bins", 1.0, &with, &err));
    assert_true(with.size > 1000 && without.size > 100);
    assert_true(with.width != without.width || with.height != without.height);
    df_png_free(&with);
    df_png_free(&without);
}

static void test_model_round_trip(void **state) {
    (void)state;
    static const char *const NAMES[3] = {"bottoms", "shoes", "tops"};
    char *dir = df_test_tempdir();
    char path[512];
    snprintf(path, sizeof path, "%s/model.h5", dir);
    df_error err;
    df_head_config cfg = df_head_config_default();
    cfg.kind = DF_HEAD_LINEAR;
    df_model *m, *back;
    ASSERT_OK(df_model_create(&cfg, DIM, 3, NAMES, 1, &m, &err));
    snprintf(m->meta.backbone_kind, sizeof m->meta.backbone_kind, "tflite");
    snprintf(m->meta.preprocess, sizeof m->meta.preprocess, "tflite");
    snprintf(m->meta.resize_method, sizeof m->meta.resize_method, "bilinear");
    m->meta.input_h = m->meta.input_w = 224;
    /* Without trust fields (as files before issue 12): loads with none. */
    ASSERT_OK(df_model_save(m, path, &err));
    ASSERT_OK(df_model_load(path, &back, &err));
    assert_null(back->unknown);
    assert_true(back->temperature == 0.0f);
    df_model_destroy(back);
    /* With both. */
    float x[3 * PER * DIM];
    int labels[3 * PER];
    clusters(x, labels);
    ASSERT_OK(df_unknown_fit(x, 3 * PER, DIM, 5, 1, 0.05f, NULL, &m->unknown, &err));
    m->temperature = 1.75f;
    ASSERT_OK(df_model_save(m, path, &err));
    ASSERT_OK(df_model_load(path, &back, &err));
    assert_non_null(back->unknown);
    assert_true(back->temperature == 1.75f);
    const df_unknown_detector *a = m->unknown, *b = back->unknown;
    assert_int_equal(a->k, b->k);
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->method, b->method);
    assert_true(a->threshold == b->threshold && a->rate == b->rate);
    assert_memory_equal(a->mean, b->mean, sizeof(float) * DIM);
    assert_memory_equal(a->ref, b->ref, sizeof(float) * 3 * PER * DIM);
    assert_true(df_unknown_score(a, x + DIM) == df_unknown_score(b, x + DIM));
    df_model_destroy(back);
    /* Temperature alone. */
    df_unknown_destroy(m->unknown);
    m->unknown = NULL;
    ASSERT_OK(df_model_save(m, path, &err));
    ASSERT_OK(df_model_load(path, &back, &err));
    assert_null(back->unknown);
    assert_true(back->temperature == 1.75f);
    df_model_destroy(back);
    df_model_destroy(m);
    df_test_rmtree(dir);
    free(dir);
}

/* Features pooled by regions: the detector sees each channel's mean over
 * the windows; scoring the whole feature vector is scoring that mean; a
 * length that is not whole windows scores NaN. */
static void test_unknown_window_mean(void **state) {
    (void)state;
    enum { WIN = 4, CH = 3, N = 6 };
    float feats[N][WIN * CH], means[N][CH];
    for (int i = 0; i < N; i++)
        for (int w = 0; w < WIN; w++)
            for (int c = 0; c < CH; c++) feats[i][w * CH + c] = (float)((i * 7 + w * 3 + c * 5) % 11) + 0.5f;
    for (int i = 0; i < N; i++) {
        df_unknown_window_mean(feats[i], WIN * CH, CH, means[i]);
        for (int c = 0; c < CH; c++) {
            double s = 0.0;
            for (int w = 0; w < WIN; w++) s += feats[i][w * CH + c];
            assert_float_equal(means[i][c], (float)(s / WIN), 1e-6f);
        }
    }
    df_unknown_detector *d;
    df_error err;
    ASSERT_OK(df_unknown_fit(&means[0][0], N, CH, 2, 0, 0.2f, NULL, &d, &err));
    for (int i = 0; i < N; i++) {
        const float a = df_unknown_score_features(d, feats[i], WIN * CH), b = df_unknown_score(d, means[i]);
        assert_memory_equal(&a, &b, sizeof a);
        assert_memory_equal(&b, (float[]){df_unknown_score_features(d, means[i], CH)}, sizeof b);
    }
    assert_true(isnan(df_unknown_score_features(d, feats[0], WIN * CH - 1)));
    df_unknown_destroy(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_clear_cases),
        cmocka_unit_test(test_unknown_window_mean),
        cmocka_unit_test(test_unknown_threshold_rule),
        cmocka_unit_test(test_unknown_scores_every_isa),
        cmocka_unit_test(test_temperature),
        cmocka_unit_test(test_ece_by_hand),
        cmocka_unit_test(test_head_class_gradient),
        cmocka_unit_test(test_gradcam_gradient),
        cmocka_unit_test(test_gradcam_cam_and_overlay),
        cmocka_unit_test(test_reliability_figure),
        cmocka_unit_test(test_model_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
