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

static double clampd(double v) { return v < 0 ? 0 : (v > 255 ? 255 : v); }
static double grey_of(const double v[3]) { return 0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2]; }

/* The photometric jitter as augment.h words it, one step at a time in
 * double precision on the warped (rounded) image. */
static void reference_jitter(const df_augment_params *p, df_image *img) {
    if (p->contrast == 0 && p->brightness == 0 && p->saturation == 0 && !p->grayscale) return;
    size_t n = (size_t)img->width * img->height;
    double mean = 0;
    for (size_t i = 0; i < n; i++) {
        double v[3] = {img->pixels[3 * i], img->pixels[3 * i + 1], img->pixels[3 * i + 2]};
        mean += grey_of(v);
    }
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double v[3];
        for (int k = 0; k < 3; k++) v[k] = clampd(mean + (1 + p->contrast) * (img->pixels[3 * i + k] - mean));
        for (int k = 0; k < 3; k++) v[k] = clampd((1 + p->brightness) * v[k]);
        double g = grey_of(v);
        for (int k = 0; k < 3; k++) v[k] = clampd(g + (1 + p->saturation) * (v[k] - g));
        if (p->grayscale) {
            g = grey_of(v);
            v[0] = v[1] = v[2] = g;
        }
        for (int k = 0; k < 3; k++) img->pixels[3 * i + k] = (uint8_t)floor(v[k] + 0.5);
    }
}

/* The reference: SPEC 2's mapping applied one step at a time (then the
 * isotropic scale, the constant fill and the jitter, issue 10). */
static void reference_warp(const df_image *src, const df_augment_params *p, df_image *dst) {
    const double deg = 3.14159265358979323846 / 180.0;
    int h = src->height, w = src->width;
    double cr = (h - 1) / 2.0, cc = (w - 1) / 2.0;
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            double y = r - cr, x = c - cc;           /* centre */
            y *= p->zx * (1.0 + p->scale);            /* zoom: zx scales rows */
            x *= p->zy * (1.0 + p->scale);
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
                double v00 = px(src, ra, ca)[k], v01 = px(src, ra, cb)[k];
                double v10 = px(src, rb, ca)[k], v11 = px(src, rb, cb)[k];
                if (p->fill_constant) { /* neighbours outside the photo are the fill */
                    int r0in = r0 >= 0 && r0 < h, r1in = r0 + 1 >= 0 && r0 + 1 < h;
                    int c0in = c0 >= 0 && c0 < w, c1in = c0 + 1 >= 0 && c0 + 1 < w;
                    if (!(r0in && c0in)) v00 = p->fill_value;
                    if (!(r0in && c1in)) v01 = p->fill_value;
                    if (!(r1in && c0in)) v10 = p->fill_value;
                    if (!(r1in && c1in)) v11 = p->fill_value;
                }
                double v = (1 - fr) * ((1 - fc) * v00 + fc * v01) + fr * ((1 - fc) * v10 + fc * v11);
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

/* The warp against the reference warp; then, on the fast warp's own
 * output (a one-level difference in the warp could be stretched by a
 * contrast, gain or saturation above 1), the jitter against the reference
 * jitter. */
static void check_against_reference(const df_image *src, const df_augment_params *p) {
    df_image fast = {0}, ref = {0}, full = {0};
    df_error err;
    df_augment_params warp_only = *p;
    warp_only.contrast = warp_only.brightness = warp_only.saturation = 0, warp_only.grayscale = 0;
    assert_int_equal(df_augment_apply(src, &warp_only, &fast, &err), DF_OK);
    assert_int_equal(df_image_alloc(&ref, src->width, src->height, &err), DF_OK);
    reference_warp(src, &warp_only, &ref);
    int d = max_abs_diff(&fast, &ref);
    if (d > 1)
        print_message("params tx=%g ty=%g shear=%g zx=%g zy=%g theta=%g scale=%g: max diff %d\n", p->tx,
                      p->ty, p->shear, p->zx, p->zy, p->theta, p->scale, d);
    assert_true(d <= 1);
    assert_int_equal(df_augment_apply(src, p, &full, &err), DF_OK);
    reference_jitter(p, &fast);
    d = max_abs_diff(&full, &fast);
    if (d > 1)
        print_message("jitter c=%g b=%g s=%g grey=%d: max diff %d\n", p->contrast, p->brightness, p->saturation,
                      p->grayscale, d);
    assert_true(d <= 1);
    df_image_free(&full);
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

/* src warped by p with the scalar rows and with the AVX2 rows: the same
 * bytes; returns the pixels compared. */
static long warp_both_ways(const df_image *src, const df_augment_params *p) {
    df_error err;
    df_image a = {0}, b = {0};
    assert_int_equal(df_augment_apply_isa(src, p, &a, DF_CPU_ISA_SCALAR, &err), DF_OK);
    assert_int_equal(df_augment_apply_isa(src, p, &b, DF_CPU_ISA_AVX2, &err), DF_OK);
    assert_memory_equal(a.pixels, b.pixels, (size_t)src->width * src->height * 3);
    df_image_free(&a);
    df_image_free(&b);
    return (long)src->width * src->height;
}

/* The AVX2 rows give the scalar warp's bytes exactly (so seeds give the
 * same features on every CPU): sampled wide recipes with and without a
 * constant fill, on sizes with and without a last partial block of eight,
 * photos wholly shifted out (all clamping or all fill), so far out that
 * the vector rows leave blocks to warp_pixel, zooms past the vector rows'
 * limit, the two-column minimum, and both flips. */
static void test_vector_warp_is_the_scalar_warp(void **state) {
    (void)state;
    if (df_cpu_isa_best() < DF_CPU_ISA_AVX2) {
        print_message("no AVX2 here (or DF_CPU_ISA caps it): only the scalar warp runs\n");
        skip();
    }
    static const int sizes[][2] = {{224, 224}, {41, 29}, {8, 3}, {2, 9}, {17, 64}};
    df_augment_config wide = df_augment_config_original();
    wide.rotation_deg = 40, wide.shear_deg = 30, wide.width_shift = 0.6, wide.height_shift = 0.6;
    wide.zoom_in = 0.3, wide.zoom_out = 0.9;
    long compared = 0;
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        df_image src = make_image(sizes[z][0], sizes[z][1], 20 + z);
        for (int i = 0; i < 48; i++) {
            df_augment_params p;
            df_rng rng;
            df_augment_config cfg = wide;
            cfg.fill_constant = i % 2, cfg.fill_value = 37 * i % 256;
            df_rng_seed_for(&rng, 13, DF_STREAM_AUGMENT, (uint64_t)i, z);
            df_augment_sample(&cfg, src.height, src.width, &rng, &p);
            if (i % 8 == 7) p.tx = 3.0 * src.height, p.ty = -2.5 * src.width; /* wholly outside */
            /* blocks 2^20 pixels or more outside (the vector rows hand
             * them to warp_pixel), and 8 or more source pixels per output
             * pixel (scalar rows) */
            if (i % 8 == 5) p.tx = (i % 16 == 5 ? 1.5 : -1.5) * (1 << 20), p.ty = 0.3 * src.width;
            if (i % 8 == 3) p.zx = i % 16 == 3 ? 200.0 : 7.9, p.zy = i % 16 == 3 ? 150.0 : 7.5;
            compared += warp_both_ways(&src, &p);
        }
        df_image_free(&src);
    }
    assert_true(compared > 48L * 224 * 224);
}

/* Axis-aligned warps (no rotation, no shear: the default recipe's) take
 * their own rows on AVX2, each source row blended once: the scalar warp's
 * bytes exactly, on the default recipe's sampled parameters and on wider
 * shifts and zooms, with and without a constant fill, sizes with and
 * without a last partial block of eight (and the two-column minimum),
 * both flips, photos wholly shifted out, zooms that read one source row
 * for many output rows and past the vector rows' limit (the default's
 * zooms near 1 read their pixels by byte shuffles, the large ones by
 * gathers). */
static void test_axis_aligned_warp_is_the_scalar_warp(void **state) {
    (void)state;
    if (df_cpu_isa_best() < DF_CPU_ISA_AVX2) {
        print_message("no AVX2 here (or DF_CPU_ISA caps it): only the scalar warp runs\n");
        skip();
    }
    static const int sizes[][2] = {{224, 224}, {41, 29}, {8, 3}, {2, 9}, {17, 64}};
    df_augment_config cfg = df_augment_config_original();
    cfg.shear_deg = 0.0, cfg.rotation_deg = 0.0, cfg.vertical_flip = 1;
    long compared = 0;
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        df_image src = make_image(sizes[z][0], sizes[z][1], 40 + z);
        for (int i = 0; i < 48; i++) {
            df_augment_params p;
            df_rng rng;
            df_augment_config c = cfg;
            c.width_shift = c.height_shift = i < 16 ? 0.1 : 0.6;
            c.zoom = i < 16 ? 0.1 : 0.5;
            c.fill_constant = i % 2, c.fill_value = 41 * i % 256;
            df_rng_seed_for(&rng, 17, DF_STREAM_AUGMENT, (uint64_t)i, z);
            df_augment_sample(&c, src.height, src.width, &rng, &p);
            assert_true(p.shear == 0.0);
            if (i % 8 == 7) p.tx = 3.0 * src.height, p.ty = -2.5 * src.width; /* wholly outside */
            if (i % 8 == 5) p.zx = 0.05, p.zy = 3.0;                         /* one row for many */
            if (i % 8 == 3) p.zx = i % 16 == 3 ? 200.0 : 7.9, p.zy = i % 16 == 3 ? 150.0 : 7.5;
            compared += warp_both_ways(&src, &p);
        }
        df_image_free(&src);
    }
    assert_true(compared > 48L * 224 * 224);
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

/* Isotropic scale, constant fill and the photometric jitter against the
 * reference, alone and together. */
static void test_extras_match_reference(void **state) {
    (void)state;
    df_image src = make_image(64, 48, 8);
    df_augment_params p;
    p = df_augment_params_identity(), p.scale = 0.5, p.fill_constant = 1, p.fill_value = 255;
    check_against_reference(&src, &p);
    p = df_augment_params_identity(), p.scale = -0.3, p.tx = 3.5;
    check_against_reference(&src, &p);
    p = df_augment_params_identity(), p.scale = 0.7, p.ty = -6.25, p.fill_constant = 1, p.fill_value = 17;
    check_against_reference(&src, &p);
    p = df_augment_params_identity(), p.contrast = 0.4;
    check_against_reference(&src, &p);
    p = df_augment_params_identity(), p.contrast = -0.3, p.brightness = 0.6;
    check_against_reference(&src, &p);
    p = df_augment_params_identity(), p.saturation = -0.8;
    check_against_reference(&src, &p);
    p = df_augment_params_identity(), p.saturation = 0.9, p.grayscale = 1;
    check_against_reference(&src, &p);
    p = df_augment_params_identity(), p.grayscale = 1;
    check_against_reference(&src, &p);
    /* a white frame: outside the photo is exactly the fill */
    p = df_augment_params_identity(), p.scale = 1.0, p.fill_constant = 1, p.fill_value = 255;
    df_image out = {0};
    df_error err;
    assert_int_equal(df_augment_apply(&src, &p, &out, &err), DF_OK);
    for (int k = 0; k < 3; k++) assert_int_equal(px(&out, 0, 0)[k], 255);
    for (int k = 0; k < 3; k++) assert_int_equal(px(&out, 47, 63)[k], 255);
    df_image_free(&out);
    /* everything, sampled from a wide recipe */
    df_augment_config cfg = df_augment_config_original();
    cfg.rotation_deg = 20;
    cfg.zoom_in = 0.3, cfg.zoom_out = 0.8, cfg.fill_constant = 1, cfg.fill_value = 200;
    cfg.brightness = 0.5, cfg.contrast = 0.5, cfg.saturation = 1.0, cfg.grayscale = 0.3;
    df_image odd = make_image(41, 29, 9);
    int greys = 0;
    for (int i = 0; i < 60; i++) {
        df_rng rng;
        df_rng_seed_for(&rng, 12, DF_STREAM_AUGMENT, (uint64_t)i, 0);
        df_augment_sample(&cfg, odd.height, odd.width, &rng, &p);
        greys += p.grayscale;
        check_against_reference(&odd, &p);
    }
    assert_true(greys > 5 && greys < 40);
    df_image_free(&odd);
    df_image_free(&src);
}

/* The additions draw after Keras' eight: with them on, the first eight
 * parameters are those of the same stream with them off; off, they are
 * the identity (so the original recipe's pixels are unchanged). */
static void test_extras_keep_the_streams(void **state) {
    (void)state;
    df_augment_config off = df_augment_config_original(), on = off;
    on.zoom_in = 0.2, on.zoom_out = 0.6, on.fill_constant = 1, on.fill_value = 255;
    on.brightness = 0.3, on.contrast = 0.3, on.saturation = 0.3, on.grayscale = 0.5;
    double lo[4] = {1e9, 1e9, 1e9, 1e9}, hi[4] = {-1e9, -1e9, -1e9, -1e9};
    for (int i = 0; i < 5000; i++) {
        df_rng r1, r2;
        df_augment_params a, b;
        df_rng_seed_for(&r1, 3, DF_STREAM_AUGMENT, (uint64_t)i, 0);
        df_rng_seed_for(&r2, 3, DF_STREAM_AUGMENT, (uint64_t)i, 0);
        df_augment_sample(&off, 224, 224, &r1, &a);
        df_augment_sample(&on, 224, 224, &r2, &b);
        assert_memory_equal(&a, &b, offsetof(df_augment_params, scale));
        assert_true(a.scale == 0 && a.contrast == 0 && a.brightness == 0 && a.saturation == 0);
        assert_true(!a.grayscale && !a.fill_constant);
        assert_true(b.fill_constant == 1 && b.fill_value == 255);
        double v[4] = {b.scale, b.contrast, b.brightness, b.saturation};
        for (int k = 0; k < 4; k++) {
            if (v[k] < lo[k]) lo[k] = v[k];
            if (v[k] > hi[k]) hi[k] = v[k];
        }
    }
    const double want_lo[4] = {-0.2, -0.3, -0.3, -0.3}, want_hi[4] = {0.6, 0.3, 0.3, 0.3};
    for (int k = 0; k < 4; k++) {
        assert_true(lo[k] >= want_lo[k] && hi[k] < want_hi[k]);
        assert_true(lo[k] < want_lo[k] + 0.01 && hi[k] > want_hi[k] - 0.01);
    }
    df_error err;
    on.saturation = 1.5;
    assert_int_equal(df_augment_config_check(&on, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "saturation"));
    on.saturation = 0.3, on.fill_value = 256;
    assert_int_equal(df_augment_config_check(&on, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "fill"));
    on.fill_value = 255, on.zoom_in = 1.0;
    assert_int_equal(df_augment_config_check(&on, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "zoom-in"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_is_exact_copy),
        cmocka_unit_test(test_integer_shift_moves_pixels),
        cmocka_unit_test(test_flips),
        cmocka_unit_test(test_warps_match_reference),
        cmocka_unit_test(test_vector_warp_is_the_scalar_warp),
        cmocka_unit_test(test_axis_aligned_warp_is_the_scalar_warp),
        cmocka_unit_test(test_matrix_matches_spec_formula),
        cmocka_unit_test(test_sampling_is_seeded),
        cmocka_unit_test(test_sampled_ranges),
        cmocka_unit_test(test_config_check_and_bad_args),
        cmocka_unit_test(test_extras_match_reference),
        cmocka_unit_test(test_extras_keep_the_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
