/*
 * Augmentation compatible with Keras' ImageDataGenerator (keras-preprocessing
 * 1.1.x get_random_transform + apply_transform), per SPEC section 2.
 *
 * Two steps, as darknet does it: sample the parameters of one image from a
 * seeded stream (df_augment_sample), then apply them (df_augment_apply).
 * Applying composes ONE affine pull matrix (Keras order: rotation, shift,
 * shear, zoom, centred on the image) and does one inverse warp with bilinear
 * sampling and edge clamping (fill_mode "nearest"), then the flips.
 *
 * Differences from Keras, on purpose:
 *  - the centre is the geometric centre ((H-1)/2, (W-1)/2), as Keras 2.9+,
 *    not Keras 1.1.x's H/2 + 0.5 (an off-by-one);
 *  - all eight numbers are always drawn, in a fixed order, even when a range
 *    is 0, so changing one range never changes the others' values;
 *  - the output is uint8 rounded to nearest (Keras keeps float32).
 * Not here: the rescale by 1/255 (the backbone's preprocessing does it),
 * channel shift.
 *
 * Beyond Keras (issue 10: photos unlike the training ones), all off in
 * df_augment_config_original() and df_augment_config_none(), so that with
 * them off every existing stream and pixel is unchanged:
 *  - an isotropic scale s ~ U(1 - zoom_in, 1 + zoom_out) multiplying both
 *    zooms (s > 1: the photo smaller in its frame; s < 1: a random crop);
 *  - a constant fill (fill_constant, fill_value) for what falls outside the
 *    photo instead of repeating its edge (a plain frame around it);
 *  - photometric jitter after the warp, in this order, each clamped to
 *    [0, 255]: contrast c ~ U(1 - contrast, 1 + contrast) about the image's
 *    mean grey, brightness b ~ U(1 - brightness, 1 + brightness) (a gain),
 *    saturation a ~ U(1 - saturation, 1 + saturation) about each pixel's
 *    grey, then with probability grayscale every channel set to the grey;
 *    grey = 0.299 R + 0.587 G + 0.114 B (ITU-R 601). Their five numbers are
 *    drawn after the eight above, so they never change those.
 */
#ifndef DF_AUGMENT_AUGMENT_H
#define DF_AUGMENT_AUGMENT_H

#include <stdint.h>

#include "core/cpu.h"
#include "core/error.h"
#include "core/rng.h"
#include "image/image.h"

typedef struct df_augment_config {
    double width_shift;   /* fraction of W: ty ~ U(-ws, ws) * W (columns), in [0, 1) */
    double height_shift;  /* fraction of H: tx ~ U(-hs, hs) * H (rows), in [0, 1) */
    double shear_deg;     /* shear ~ U(-s, s) DEGREES (Keras' shear_range), in [0, 90) */
    double zoom;          /* zx, zy ~ U(1 - z, 1 + z) independently, in [0, 1) */
    double rotation_deg;  /* theta ~ U(-r, r) degrees, in [0, 180] */
    int horizontal_flip;  /* mirror columns with p = 0.5 */
    int vertical_flip;    /* mirror rows with p = 0.5 */
    double zoom_in;       /* isotropic scale s ~ U(1 - zoom_in, 1 + zoom_out); zoom_in in [0, 1) */
    double zoom_out;      /* in [0, 4] */
    int fill_constant;    /* 1: outside the photo is fill_value (grey level, all channels); 0: its edge */
    int fill_value;       /* 0..255 */
    double brightness;    /* gain ~ U(1 - b, 1 + b), in [0, 1) */
    double contrast;      /* ~ U(1 - c, 1 + c) about the mean grey, in [0, 1) */
    double saturation;    /* ~ U(1 - s, 1 + s) about each pixel's grey, in [0, 1] */
    double grayscale;     /* probability of a grey image, in [0, 1] */
} df_augment_config;

/* The original recipe: shifts 0.2, shear 0.2 degrees, zoom 0.2, both flips,
 * no rotation. */
df_augment_config df_augment_config_original(void);
/* Everything off: sampling always gives the identity. */
df_augment_config df_augment_config_none(void);
/* Checks the ranges above; names the offending field. */
df_status df_augment_config_check(const df_augment_config *cfg, df_error *err);
/* 1 when any op beyond Keras' (zoom in/out, constant fill, photometric
 * jitter, grey) is on: what model settings and reports then list. */
int df_augment_config_beyond_keras(const df_augment_config *cfg);

/* One image's parameters, in pixels and degrees. The identity is
 * {0, 0, 0, 1, 1, 0, 0, 0} with every field after flip_v zero (a compound
 * literal naming only the first eight is a pure warp). */
typedef struct df_augment_params {
    double tx;     /* row shift (pixels): out(r, c) = in(r + tx, c) for a pure shift */
    double ty;     /* column shift (pixels) */
    double shear;  /* degrees */
    double zx;     /* row zoom (> 1 zooms out) */
    double zy;     /* column zoom */
    double theta;  /* rotation, degrees */
    int flip_h;    /* mirror columns after the warp */
    int flip_v;    /* mirror rows after the warp */
    double scale;  /* isotropic zoom factor minus 1: both zooms times (1 + scale) */
    int fill_constant;   /* outside the photo: fill_value (1) or the nearest edge pixel (0) */
    int fill_value;      /* 0..255 */
    double contrast;     /* factor minus 1 (0: unchanged) */
    double brightness;   /* gain minus 1 */
    double saturation;   /* factor minus 1 */
    int grayscale;       /* 1: every channel set to the pixel's grey, last */
} df_augment_params;

df_augment_params df_augment_params_identity(void);

/* Draws, in this order, eight numbers from rng: theta, tx, ty, shear, zx,
 * zy, flip_h, flip_v (each one df_rng_uniform; a flip is u < 0.5; Keras'
 * order), then five more: scale, contrast, brightness, saturation,
 * grayscale (u < grayscale); fill is copied from cfg. Shifts are scaled by h (tx) and w (ty), the size of the image the
 * parameters will be applied to. cfg must pass df_augment_config_check.
 * For training, seed rng per image with
 *     df_rng_seed_for(&rng, seed, DF_STREAM_AUGMENT, image_index, epoch)
 * so the result does not depend on thread count or order. */
void df_augment_sample(const df_augment_config *cfg, int h, int w, df_rng *rng,
                       df_augment_params *out);

/* The pull mapping: for an output pixel (r, c),
 *     r_in = m[0] * r + m[1] * c + m[2]
 *     c_in = m[3] * r + m[4] * c + m[5]
 * i.e. M = R(theta) T(tx, ty) S(shear) Z(zx s, zy s) (s = 1 + scale) conjugated by the centring
 * translation, exactly keras-preprocessing's apply_affine_transform. Without
 * rotation this is SPEC 2's
 *     r_in = zx (r - cr) - zy sin(s) (c - cc) + tx + cr
 *     c_in = zy cos(s) (c - cc) + ty + cc. */
void df_augment_matrix(const df_augment_params *p, int h, int w, double m[6]);

/* Warps src into dst with p (flips included), then applies p's photometric
 * jitter (see the top of this file). dst: if dst->pixels is NULL it
 * is allocated here with src's size (the caller frees it with
 * df_image_free); otherwise it must already be src's size and is
 * overwritten (a training loop reuses one buffer). src and dst must not
 * share pixels. Identity parameters copy src exactly; otherwise the result
 * is within one grey level of the exact (double precision) bilinear value
 * rounded to nearest: the warp runs in fixed point for speed; with
 * photometric jitter, within one grey level of the exact (double) jitter
 * of the warped image (single precision, a table per image). */
df_status df_augment_apply(const df_image *src, const df_augment_params *p, df_image *dst,
                           df_error *err) DF_MUST_CHECK;
/* The same with the warp's kernel chosen for isa instead of the CPU
 * (df_cpu_isa_best): every kernel gives the same bytes (tests compare the
 * AVX2 rows with the scalar ones). */
df_status df_augment_apply_isa(const df_image *src, const df_augment_params *p, df_image *dst, df_cpu_isa isa,
                               df_error *err) DF_MUST_CHECK;

#endif
