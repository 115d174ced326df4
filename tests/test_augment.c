/*
 * Augmentation: the fast warp against a slow reference written plainly from
 * SPEC 2 (double precision, step by step: centre, zoom, shear, shift,
 * rotate, uncentre, bilinear with clamped neighbours, round, flip), exact
 * cases (identity, integer shifts, flips), and the sampling contract
 * (seeded, per-image streams, ranges).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment/augment.h"
#include "core/rng.h"
#include "image/image.h"

/* Noise plus a smooth ramp: noise catches index errors, the ramp makes
 * sub-pixel weights visible. */
static df_image make_image(int w, int h, uint64_t seed) {
    df_image img = {0};
    df_error err;
    assert_int_equal(df_image_alloc(&img, w, h, &err), DF_OK);
    df_rng rng;
    df_rng_seed(&rng, seed, 99);
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            uint8_t *p = img.pixels + ((size_t)r * w + c) * 3;
            p[0] = (uint8_t)df_rng_below(&rng, 256);
            p[1] = (uint8_t)((r * 255) / (h - 1));
            p[2] = (uint8_t)((c * 7 + r * 3) & 255);
        }
    return img;
}

static const uint8_t *px(const df_image *img, int r, int c) {
    return img->pixels + ((size_t)r * img->width + c) * 3;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* The reference: SPEC 2's mapping applied one step at a time. */
static void reference_warp(const df_image *src, const df_augment_params *p, df_image *dst) {
    const double deg = 3.14159265358979323846 / 180.0;
    int h = src->height, w = src->width;
    double cr = (h - 1) / 2.0, cc = (w - 1) / 2.0;
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            double y = r - cr, x = c - cc;           /* centre */
            y *= p->zx;                               /* zoom: zx scales rows */
            x *= p->zy;
            double ys = y - sin(p->shear * deg) * x;  /* shear */
            double xs = cos(p->shear * deg) * x;
            ys += p->tx;                              /* shift */
            xs += p->ty;
            double th = p->theta * deg;               /* rotation, outermost */
            double r_in = cos(th) * ys - sin(th) * xs + cr;
            double c_in = sin(th) * ys + cos(th) * xs + cc;
            int r0 = (int)floor(r_in), c0 = (int)floor(c_in);
            double fr = r_in - r0, fc = c_in - c0;
            int ra = clampi(r0, 0, h - 1), rb = clampi(r0 + 1, 0, h - 1);
            int ca = clampi(c0, 0, w - 1), cb = clampi(c0 + 1, 0, w - 1);
            int orow = p->flip_v ? h - 1 - r : r, ocol = p->flip_h ? w - 1 - c : c;
            uint8_t *o = dst->pixels + ((size_t)orow * w + ocol) * 3;
            for (int k = 0; k < 3; k++) {
                double v = (1 - fr) * ((1 - fc) * px(src, ra, ca)[k] + fc * px(src, ra, cb)[k]) +
                           fr * ((1 - fc) * px(src, rb, ca)[k] + fc * px(src, rb, cb)[k]);
                o[k] = (uint8_t)floor(v + 0.5);
            }
        }
}

static int max_abs_diff(const df_image *a, const df_image *b) {
    int m = 0;
    size_t n = (size_t)a->width * a->height * 3;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a->pixels[i] - (int)b->pixels[i]);
        if (d > m) m = d;
    }
    return m;
}

static void check_against_reference(const df_image *src, const df_augment_params *p) {
    df_image fast = {0}, ref = {0};
    df_error err;
    assert_int_equal(df_augment_apply(src, p, &fast, &err), DF_OK);
    assert_int_equal(df_image_alloc(&ref, src->width, src->height, &err), DF_OK);
    reference_warp(src, p, &ref);
    int d = max_abs_diff(&fast, &ref);
    if (d > 1)
        print_message("params tx=%g ty=%g shear=%g zx=%g zy=%g theta=%g: max diff %d\n", p->tx,
                      p->ty, p->shear, p->zx, p->zy, p->theta, d);
    assert_true(d <= 1);
    df_image_free(&fast);
    df_image_free(&ref);
}

static void test_identity_is_exact_copy(void **state) {
    (void)state;
    df_image src = make_image(37, 23, 1), dst = {0};
    df_augment_params p = df_augment_params_identity();
    df_error err;
    assert_int_equal(df_augment_apply(&src, &p, &dst, &err), DF_OK);
    assert_int_equal(dst.width, 37);
    assert_int_equal(dst.height, 23);
    assert_memory_equal(dst.pixels, src.pixels, (size_t)37 * 23 * 3);
    /* Reusing an allocated destination of the right size. */
    memset(dst.pixels, 0, (size_t)37 * 23 * 3);
    assert_int_equal(df_augment_apply(&src, &p, &dst, &err), DF_OK);
    assert_memory_equal(dst.pixels, src.pixels, (size_t)37 * 23 * 3);
    df_image_free(&dst);
    df_image_free(&src);
}

static void test_integer_shift_moves_pixels(void **state) {
    (void)state;
    df_image src = make_image(31, 29, 2), dst = {0};
    df_augment_params p = df_augment_params_identity();
    p.tx = 3;  /* out(r, c) = in(r + 3, c), rows clamped at the bottom */
    p.ty = -2; /* out(r, c) = in(r, c - 2), columns clamped at the left */
    df_error err;
    assert_int_equal(df_augment_apply(&src, &p, &dst, &err), DF_OK);
    for (int r = 0; r < 29; r++)
        for (int c = 0; c < 31; c++)
            assert_memory_equal(px(&dst, r, c), px(&src, clampi(r + 3, 0, 28), clampi(c - 2, 0, 30)),
                                3);
    df_image_free(&dst);
    df_image_free(&src);
}

static void test_flips(void **state) {
    (void)state;
    df_image src = make_image(20, 13, 3), once = {0}, twice = {0};
    df_augment_params p = df_augment_params_identity();
    p.flip_h = 1;
    df_error err;
    assert_int_equal(df_augment_apply(&src, &p, &once, &err), DF_OK);
    for (int r = 0; r < 13; r++)
        for (int c = 0; c < 20; c++) assert_memory_equal(px(&once, r, c), px(&src, r, 19 - c), 3);
    p.flip_v = 1;
    df_image_free(&once);
    assert_int_equal(df_augment_apply(&src, &p, &once, &err), DF_OK);
    for (int r = 0; r < 13; r++)
        for (int c = 0; c < 20; c++)
            assert_memory_equal(px(&once, r, c), px(&src, 12 - r, 19 - c), 3);
    assert_int_equal(df_augment_apply(&once, &p, &twice, &err), DF_OK);
    assert_memory_equal(twice.pixels, src.pixels, (size_t)20 * 13 * 3);
    df_image_free(&once);
    df_image_free(&twice);

    /* A flip comes after the warp: warp+flip == flip(warp). */
    df_augment_params q = df_augment_params_identity();
    q.zx = 1.13;
    q.shear = 7;
    q.tx = 1.7;
    df_image a = {0}, b = {0};
    assert_int_equal(df_augment_apply(&src, &q, &a, &err), DF_OK);
    q.flip_h = 1;
    assert_int_equal(df_augment_apply(&src, &q, &b, &err), DF_OK);
    for (int r = 0; r < 13; r++)
        for (int c = 0; c < 20; c++) assert_memory_equal(px(&b, r, c), px(&a, r, 19 - c), 3);
    df_image_free(&a);
    df_image_free(&b);
    df_image_free(&src);
}

static void test_warps_match_reference(void **state) {
    (void)state;
    df_image src = make_image(64, 48, 4);
    df_augment_params p;
    /* zoom only, in and out, each axis alone */
    p = df_augment_params_identity(), p.zx = 1.2;
    check_against_reference(&src, &p);
    p = df_augment_params_identity(), p.zy = 0.8;
    check_against_reference(&src, &p);
    /* shear only (large enough to move pixels by several columns) */
    p = df_augment_params_identity(), p.shear = 15;
    check_against_reference(&src, &p);
    p = df_augment_params_identity(), p.shear = -0.2;
    check_against_reference(&src, &p);
    /* fractional shift */
    p = df_augment_params_identity(), p.tx = -5.25, p.ty = 9.5;
    check_against_reference(&src, &p);
    /* rotation only */
    p = df_augment_params_identity(), p.theta = 30;
    check_against_reference(&src, &p);
    p = df_augment_params_identity(), p.theta = -90;
    check_against_reference(&src, &p);
    /* everything, flips included */
    p = (df_augment_params){.tx = 4.3, .ty = -7.1, .shear = -12, .zx = 0.87, .zy = 1.16,
                            .theta = 17, .flip_h = 1, .flip_v = 1};
    check_against_reference(&src, &p);
    /* many sampled parameter sets from a wide recipe, on an odd-sized image */
    df_image odd = make_image(33, 57, 5);
    df_augment_config cfg = df_augment_config_original();
    cfg.rotation_deg = 40;
    cfg.shear_deg = 20;
    for (int i = 0; i < 40; i++) {
        df_rng rng;
        df_rng_seed_for(&rng, 11, DF_STREAM_AUGMENT, (uint64_t)i, 0);
        df_augment_sample(&cfg, odd.height, odd.width, &rng, &p);
        check_against_reference(&odd, &p);
    }
    df_image_free(&odd);
    df_image_free(&src);
}

/* The matrix equals SPEC 2's formula (no rotation) at sample points. */
static void test_matrix_matches_spec_formula(void **state) {
    (void)state;
    const double deg = 3.14159265358979323846 / 180.0;
    df_augment_params p = {.tx = 3.5, .ty = -8, .shear = 0.15, .zx = 0.9, .zy = 1.1};
    int h = 224, w = 200;
    double m[6];
    df_augment_matrix(&p, h, w, m);
    double cr = (h - 1) / 2.0, cc = (w - 1) / 2.0;
    for (int r = 0; r < h; r += 37)
        for (int c = 0; c < w; c += 41) {
            double ri = p.zx * (r - cr) - p.zy * sin(p.shear * deg) * (c - cc) + p.tx + cr;
            double ci = p.zy * cos(p.shear * deg) * (c - cc) + p.ty + cc;
            assert_true(fabs(m[0] * r + m[1] * c + m[2] - ri) < 1e-9);
            assert_true(fabs(m[3] * r + m[4] * c + m[5] - ci) < 1e-9);
        }
}

static void test_sampling_is_seeded(void **state) {
    (void)state;
    df_augment_config cfg = df_augment_config_original();
    df_augment_params a, b;
    df_rng r1, r2;
    df_rng_seed_for(&r1, 42, DF_STREAM_AUGMENT, 7, 3);
    df_rng_seed_for(&r2, 42, DF_STREAM_AUGMENT, 7, 3);
    df_augment_sample(&cfg, 224, 224, &r1, &a);
    df_augment_sample(&cfg, 224, 224, &r2, &b);
    assert_memory_equal(&a, &b, sizeof a);
    /* Another image, epoch or seed gives other parameters. */
    uint64_t alt[3][3] = {{42, 8, 3}, {42, 7, 4}, {43, 7, 3}};
    for (int k = 0; k < 3; k++) {
        df_rng_seed_for(&r2, alt[k][0], DF_STREAM_AUGMENT, alt[k][1], alt[k][2]);
        df_augment_sample(&cfg, 224, 224, &r2, &b);
        assert_true(a.tx != b.tx && a.ty != b.ty && a.zx != b.zx && a.shear != b.shear);
    }
    /* Order of processing does not matter: per-image streams. */
    df_augment_params fwd[10], rev[10];
    for (int i = 0; i < 10; i++) {
        df_rng_seed_for(&r1, 5, DF_STREAM_AUGMENT, (uint64_t)i, 0);
        df_augment_sample(&cfg, 224, 224, &r1, &fwd[i]);
    }
    for (int i = 9; i >= 0; i--) {
        df_rng_seed_for(&r1, 5, DF_STREAM_AUGMENT, (uint64_t)i, 0);
        df_augment_sample(&cfg, 224, 224, &r1, &rev[i]);
    }
    assert_memory_equal(fwd, rev, sizeof fwd);
    /* Same seed, same pixels. */
    df_image src = make_image(224, 224, 6), o1 = {0}, o2 = {0};
    df_error err;
    assert_int_equal(df_augment_apply(&src, &fwd[3], &o1, &err), DF_OK);
    assert_int_equal(df_augment_apply(&src, &rev[3], &o2, &err), DF_OK);
    assert_memory_equal(o1.pixels, o2.pixels, (size_t)224 * 224 * 3);
    df_image_free(&o1);
    df_image_free(&o2);
    df_image_free(&src);
}

static void test_sampled_ranges(void **state) {
    (void)state;
    df_augment_config cfg = df_augment_config_original();
    double lo[5] = {1e9, 1e9, 1e9, 1e9, 1e9}, hi[5] = {-1e9, -1e9, -1e9, -1e9, -1e9};
    int nh = 0, nv = 0, n = 20000;
    for (int i = 0; i < n; i++) {
        df_rng rng;
        df_augment_params p;
        df_rng_seed_for(&rng, 1, DF_STREAM_AUGMENT, (uint64_t)i, 0);
        df_augment_sample(&cfg, 200, 100, &rng, &p);
        double v[5] = {p.tx, p.ty, p.shear, p.zx, p.zy};
        for (int k = 0; k < 5; k++) {
            if (v[k] < lo[k]) lo[k] = v[k];
            if (v[k] > hi[k]) hi[k] = v[k];
        }
        assert_true(p.theta == 0.0);
        nh += p.flip_h;
        nv += p.flip_v;
    }
    /* tx in [-0.2 H, 0.2 H) with H = 200, ty with W = 100, shear in degrees. */
    const double want_lo[5] = {-40, -20, -0.2, 0.8, 0.8}, want_hi[5] = {40, 20, 0.2, 1.2, 1.2};
    for (int k = 0; k < 5; k++) {
        double span = want_hi[k] - want_lo[k];
        assert_true(lo[k] >= want_lo[k] && hi[k] < want_hi[k]);
        /* and the whole range is used */
        assert_true(lo[k] < want_lo[k] + 0.005 * span && hi[k] > want_hi[k] - 0.005 * span);
    }
    assert_true(nh > n * 0.48 && nh < n * 0.52);
    assert_true(nv > n * 0.48 && nv < n * 0.52);

    /* The "none" recipe gives the identity, flips off. */
    df_augment_config none = df_augment_config_none();
    df_rng rng;
    df_rng_seed(&rng, 3, 4);
    for (int i = 0; i < 100; i++) {
        df_augment_params p, id = df_augment_params_identity();
        df_augment_sample(&none, 224, 224, &rng, &p);
        assert_true(p.tx == 0 && p.ty == 0 && p.shear == 0 && p.theta == 0);
        assert_true(p.zx == 1 && p.zy == 1 && !p.flip_h && !p.flip_v);
        (void)id;
    }
}

static void test_config_check_and_bad_args(void **state) {
    (void)state;
    df_error err;
    df_augment_config c = df_augment_config_original();
    assert_int_equal(df_augment_config_check(&c, &err), DF_OK);
    c.zoom = 1.0;
    assert_int_equal(df_augment_config_check(&c, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "zoom"));
    c = df_augment_config_original();
    c.width_shift = -0.1;
    assert_int_equal(df_augment_config_check(&c, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "width shift"));
    c = df_augment_config_original();
    c.rotation_deg = NAN;
    assert_int_equal(df_augment_config_check(&c, &err), DF_ERR_INVALID_ARG);

    df_image src = make_image(8, 8, 7), dst = {0};
    assert_int_equal(df_image_alloc(&dst, 9, 8, &err), DF_OK);
    df_augment_params p = df_augment_params_identity();
    assert_int_equal(df_augment_apply(&src, &p, &dst, &err), DF_ERR_SHAPE);
    p.zx = INFINITY;
    df_image fresh = {0};
    assert_int_equal(df_augment_apply(&src, &p, &fresh, &err), DF_ERR_INVALID_ARG);
    df_image_free(&fresh);
    df_image_free(&dst);
    df_image_free(&src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_is_exact_copy),
        cmocka_unit_test(test_integer_shift_moves_pixels),
        cmocka_unit_test(test_flips),
        cmocka_unit_test(test_warps_match_reference),
        cmocka_unit_test(test_matrix_matches_spec_formula),
        cmocka_unit_test(test_sampling_is_seeded),
        cmocka_unit_test(test_sampled_ranges),
        cmocka_unit_test(test_config_check_and_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
