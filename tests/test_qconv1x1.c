/*
 * Exact integer 1x1 convolutions in 16-bit pairs (engine/qconv1x1.h)
 * against the sums written out here (the reference: int64 sums, then the
 * fp32 backend's requantization, the sum as a float times the scale,
 * clamped, rounded to nearest even), bit for bit: both layouts in and out,
 * channels not a multiple of the pair, the vector or the 16-channel block,
 * pixels not a multiple of the 6-row tile, tiles across images, one scale
 * or one per channel, rounding ties, the largest values the fp32 backend
 * admits (sums near 2^24); and the refusals (no AVX2: DF_CPU_ISA=scalar,
 * ctest test_qconv1x1_scalar; weights that are not int16 integers; too
 * little work memory).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "engine/qconv1x1.h"

typedef struct conv_case {
    int batch, hw, c, oc, in_layout, out_layout, per_channel;
    int xmax, wmax; /* |x| and |w| drawn within these */
    float scale;
} conv_case;

static int rand_int(df_rng *r, int lo, int hi) { return lo + (int)df_rng_below(r, (uint32_t)(hi - lo + 1)); }

/* Index of (image n, pixel p, channel k) in a map of c channels. */
static size_t at(int layout, int c, int hw, int n, int p, int k) {
    if (layout == DF_QCONV1X1_BLOCKED8)
        return (((size_t)n * (size_t)(c / 8) + (size_t)(k / 8)) * (size_t)hw + (size_t)p) * 8 + (size_t)(k % 8);
    return ((size_t)n * hw + p) * (size_t)c + (size_t)k;
}

static void reference(const conv_case *cc, const float *x, const float *w, const float *bias, const float *scales,
                      float lo, float hi, float *y) {
    for (int n = 0; n < cc->batch; n++)
        for (int p = 0; p < cc->hw; p++)
            for (int o = 0; o < cc->oc; o++) {
                int64_t s = (int64_t)bias[o];
                for (int k = 0; k < cc->c; k++)
                    s += (int64_t)x[at(cc->in_layout, cc->c, cc->hw, n, p, k)] * (int64_t)w[(size_t)o * cc->c + k];
                float v = (float)s * scales[o];
                v = v < lo ? lo : v > hi ? hi : v;
                y[at(cc->out_layout, cc->oc, cc->hw, n, p, o)] = nearbyintf(v);
            }
}

/* One run with work memory of the size asked for. */
static df_status run_conv(const df_qconv1x1 *cv, const float *x, int in_layout, float *y, int out_layout, int batch,
                          int hw) {
    const size_t bytes = df_qconv1x1_work_bytes(cv, (size_t)batch * (size_t)hw);
    void *work = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    assert_non_null(work);
    df_error err;
    df_status st = df_qconv1x1_run(cv, x, in_layout, y, out_layout, batch, hw, work, bytes, &err);
    free(work);
    return st;
}

static void check_case(const conv_case *cc, uint64_t seed) {
    df_rng r;
    df_rng_seed(&r, seed, 3);
    const size_t nx = (size_t)cc->batch * cc->hw * cc->c, ny = (size_t)cc->batch * cc->hw * cc->oc;
    float *x = malloc(nx * sizeof *x), *w = malloc((size_t)cc->oc * cc->c * sizeof *w);
    float *bias = malloc((size_t)cc->oc * sizeof *bias), *scales = malloc((size_t)cc->oc * sizeof *scales);
    float *want = malloc(ny * sizeof *want), *got = malloc(ny * sizeof *got);
    assert_true(x && w && bias && scales && want && got);
    for (size_t k = 0; k < nx; k++) x[k] = (float)rand_int(&r, -cc->xmax, cc->xmax);
    for (size_t k = 0; k < (size_t)cc->oc * cc->c; k++) w[k] = (float)rand_int(&r, -cc->wmax, cc->wmax);
    for (int o = 0; o < cc->oc; o++) {
        bias[o] = (float)rand_int(&r, -5000, 5000);
        scales[o] = cc->per_channel ? cc->scale * (float)rand_int(&r, 1, 8) : cc->scale;
    }
    const float lo = -100.0f, hi = 120.0f;
    reference(cc, x, w, bias, scales, lo, hi, want);
    const df_qconv1x1_desc d = {.c = cc->c, .oc = cc->oc, .weights = w, .bias = bias, .scale = cc->scale,
                                .scales = cc->per_channel ? scales : NULL, .clip_lo = lo, .clip_hi = hi};
    df_qconv1x1 *cv = NULL;
    df_error err;
    df_status st = df_qconv1x1_create(&d, &cv, &err);
    if (!df_qconv1x1_available()) {
        assert_int_equal(st, DF_ERR_UNSUPPORTED);
    } else {
        assert_int_equal(st, DF_OK);
        const size_t bytes = df_qconv1x1_work_bytes(cv, (size_t)cc->batch * cc->hw);
        void *work = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        assert_non_null(work);
        memset(got, 0xff, ny * sizeof *got); /* NaN where nothing is written */
        assert_int_equal(df_qconv1x1_run(cv, x, cc->in_layout, got, cc->out_layout, cc->batch, cc->hw, work, bytes,
                                         &err),
                         DF_OK);
        size_t bad = 0, first = ny;
        for (size_t k = 0; k < ny; k++)
            if (memcmp(&got[k], &want[k], sizeof(float))) bad++, first = first < k ? first : k;
        if (bad)
            print_message("%d x %d pixels, %d -> %d channels, layouts %d -> %d: %zu of %zu differ, first [%zu] %g "
                          "against %g\n", cc->batch, cc->hw, cc->c, cc->oc, cc->in_layout, cc->out_layout, bad, ny,
                          first, (double)got[first], (double)want[first]);
        assert_int_equal(bad, 0);
        /* too little work memory: refused, nothing written */
        memcpy(got, want, ny * sizeof *got);
        assert_int_equal(df_qconv1x1_run(cv, x, cc->in_layout, got, cc->out_layout, cc->batch, cc->hw, work,
                                         bytes - 1, &err),
                         DF_ERR_INVALID_ARG);
        assert_memory_equal(got, want, ny * sizeof *got);
        free(work);
    }
    df_qconv1x1_destroy(cv);
    free(x);
    free(w);
    free(bias);
    free(scales);
    free(want);
    free(got);
}

static void test_shapes_and_layouts(void **state) {
    (void)state;
    enum { NHWC = DF_QCONV1X1_NHWC, B8 = DF_QCONV1X1_BLOCKED8 };
    const conv_case cases[] = {
        /* MobileNetV2's 7x7 and 14x14 layers, blocked as the engine keeps them */
        {1, 49, 960, 320, B8, B8, 0, 255, 255, 1.0f / 4096},
        {2, 49, 320, 1280, B8, NHWC, 0, 255, 255, 1.0f / 4096},
        {3, 196, 576, 96, B8, B8, 1, 255, 255, 1.0f / 8192},
        /* 24 channels out: a half-empty block of 16; 5 pixels: one
         * part-filled tile; 7 x 13 pixels: tiles across images */
        {1, 5, 144, 24, B8, B8, 0, 100, 100, 0.01f},
        {7, 13, 64, 40, B8, B8, 1, 100, 100, 0.01f},
        {4, 3, 8, 8, B8, NHWC, 0, 255, 255, 0.05f},
        /* NHWC with channels not a multiple of 8 or 2, out not of 8 */
        {2, 11, 13, 13, NHWC, NHWC, 0, 255, 255, 0.03f},
        {1, 17, 1, 3, NHWC, NHWC, 1, 255, 127, 0.1f},
        {3, 7, 23, 17, NHWC, NHWC, 0, 50, 200, 0.02f},
        /* the larger maps the batch-1 rule takes (56x56: 24 -> 144) */
        {1, 3136, 24, 144, B8, B8, 0, 255, 255, 1.0f / 4096},
        /* whole tiles whose rows span images: in NHWC they are regular
         * (evenly spaced) tiles over several images at once (3 pixels), in
         * blocked they are not (4 and 9 pixels) */
        {5, 3, 16, 16, NHWC, NHWC, 0, 255, 255, 0.05f},
        {3, 4, 16, 32, NHWC, B8, 1, 255, 255, 0.05f},
        {4, 9, 32, 16, B8, B8, 0, 255, 255, 0.02f},
        /* ties: a scale of 1/2 on integer sums gives x.5 (nearest even) */
        {2, 25, 16, 32, NHWC, B8, 0, 20, 20, 0.5f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i], 100 + i);
}

/* Ties only, checked explicitly: the outputs must include both even and
 * odd neighbours of x.5 rounded to the even one. */
static void test_rounding_ties_to_even(void **state) {
    (void)state;
    if (!df_qconv1x1_available()) skip();
    /* one input channel of value 1, weights 1, 3, 5, 7 with a scale of 1/2:
     * 0.5, 1.5, 2.5, 3.5 -> 0, 2, 2, 4 */
    const float w[4] = {1, 3, 5, 7}, x[1] = {1};
    const df_qconv1x1_desc d = {.c = 1, .oc = 4, .weights = w, .scale = 0.5f, .clip_lo = -10, .clip_hi = 10};
    df_qconv1x1 *cv;
    df_error err;
    assert_int_equal(df_qconv1x1_create(&d, &cv, &err), DF_OK);
    float y[4];
    assert_int_equal(run_conv(cv, x, DF_QCONV1X1_NHWC, y, DF_QCONV1X1_NHWC, 1, 1), DF_OK);
    const float want[4] = {0, 2, 2, 4};
    assert_memory_equal(y, want, sizeof want);
    df_qconv1x1_destroy(cv);
}

/* The largest sums the fp32 backend admits: 256 channels of 255 x +-255
 * (16,646,400, within 2^24), every pair at vpmaddwd's largest. */
static void test_largest_sums(void **state) {
    (void)state;
    if (!df_qconv1x1_available()) skip();
    enum { C = 256, OC = 16 };
    float *w = malloc(sizeof(float) * C * OC), x[2 * C], y[2 * OC], want[2 * OC];
    assert_non_null(w);
    for (int o = 0; o < OC; o++)
        for (int k = 0; k < C; k++) w[o * C + k] = o % 2 ? -255.0f : 255.0f;
    for (int k = 0; k < 2 * C; k++) x[k] = k < C ? 255.0f : -255.0f;
    for (int p = 0; p < 2; p++)
        for (int o = 0; o < OC; o++) /* +-16,646,400 / 65536 = +-254.0027 */
            want[p * OC + o] = (o % 2) == p ? 254.0f : -254.0f;
    const df_qconv1x1_desc d = {.c = C, .oc = OC, .weights = w, .scale = 1.0f / 65536, .clip_lo = -1000,
                                .clip_hi = 1000};
    df_qconv1x1 *cv;
    df_error err;
    assert_int_equal(df_qconv1x1_create(&d, &cv, &err), DF_OK);
    assert_int_equal(run_conv(cv, x, DF_QCONV1X1_NHWC, y, DF_QCONV1X1_NHWC, 1, 2), DF_OK);
    assert_memory_equal(y, want, sizeof want);
    free(w);
    df_qconv1x1_destroy(cv);
}

static void test_refusals(void **state) {
    (void)state;
    df_qconv1x1 *cv = NULL;
    df_error err;
    const float half[2] = {0.5f, 1.0f}, big[2] = {1.0f, 40000.0f}, ok[2] = {1.0f, -2.0f}, bias[1] = {0.25f};
    df_qconv1x1_desc d = {.c = 2, .oc = 1, .weights = half, .scale = 1.0f, .clip_lo = -1, .clip_hi = 1};
    assert_int_equal(df_qconv1x1_create(&d, &cv, &err), DF_ERR_UNSUPPORTED);
    assert_null(cv);
    d.weights = big;
    assert_int_equal(df_qconv1x1_create(&d, &cv, &err), DF_ERR_UNSUPPORTED);
    d.weights = ok;
    d.bias = bias;
    assert_int_equal(df_qconv1x1_create(&d, &cv, &err), DF_ERR_UNSUPPORTED);
    d.bias = NULL;
    d.c = 0;
    assert_int_not_equal(df_qconv1x1_create(&d, &cv, &err), DF_OK);
    assert_null(cv);
    d.c = 2;
    assert_int_equal(df_qconv1x1_create(&d, &cv, &err), df_qconv1x1_available() ? DF_OK : DF_ERR_UNSUPPORTED);
    if (cv) { /* a blocked layout needs channels in whole blocks of 8 */
        float x[2] = {1, 1}, y[1];
        assert_int_equal(run_conv(cv, x, DF_QCONV1X1_BLOCKED8, y, DF_QCONV1X1_NHWC, 1, 1), DF_ERR_INVALID_ARG);
    }
    df_qconv1x1_destroy(cv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes_and_layouts),
        cmocka_unit_test(test_rounding_ties_to_even),
        cmocka_unit_test(test_largest_sums),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
