/*
 * Photo quality for the audit (deepfashion audit): how bright a photo is,
 * how sharp, how large, and which photos stand out as too dark, too bright
 * or blurry against the set's own distribution.
 *
 * Brightness is the mean Rec. 601 luma (0..255). Sharpness is the variance
 * of the 4-neighbour Laplacian of the luma (the "variance of the Laplacian"
 * focus measure, Pech-Pacheco et al. 2000) divided by the variance of the
 * luma itself plus 1, so a darker or flatter copy of a photo is not taken
 * for a blurred one; both are taken after an area downscale to a short side
 * of DF_QUALITY_SCALE pixels, so photos of different sizes are compared at
 * one scale. A photo is flagged when it is an outlier of the
 * set (a robust z-score: distance from the median in units of
 * 1.4826 x median absolute deviation) AND past an absolute bound, so a set
 * of uniformly dark photos does not flag half of itself and a set with a
 * tiny spread does not flag ordinary photos.
 *
 * Not here: decoding (image/), duplicates (audit/dupes.h).
 */
#ifndef DF_AUDIT_QUALITY_H
#define DF_AUDIT_QUALITY_H

#include "core/error.h"
#include "image/image.h"

/* Short side the sharpness is measured at (larger photos are area-downscaled). */
#define DF_QUALITY_SCALE 256
/* Photos with a short side below this are low resolution (the backbones' input). */
#define DF_QUALITY_MIN_SIDE 224

typedef struct df_quality {
    int width, height;  /* upright size of the photo as stored */
    double brightness;  /* mean luma, 0..255 */
    double sharpness;   /* var(Laplacian of luma) / (var(luma) + 1) at DF_QUALITY_SCALE */
} df_quality;

/* Measures img (upright, any size >= 1x1). */
df_status df_quality_measure(const df_image *img, df_quality *q, df_error *err) DF_MUST_CHECK;

/* Variance of the 4-neighbour Laplacian (up + down + left + right - 4 x
 * centre) over the interior pixels of a w x h luma plane (0 when w or h < 3). */
double df_quality_laplacian_variance(const float *luma, int w, int h);

/* Population variance of x[0..n) (two passes; 0 when n == 0). */
double df_quality_variance(const float *x, size_t n);

typedef struct df_quality_options {
    /* Defaults measured on the closet and clothing photos with planted dark
     * and blurred copies (bench/audit_planted.sh; README, "Audit"). */
    double z;              /* robust z-score beyond which a photo stands out; default 2.5 */
    double dark_max;       /* dark only below this mean luma; default 40 (of 255) */
    double bright_min;     /* bright only above this mean luma; default 235 */
    double blur_ratio;     /* blurry only below this fraction of the median sharpness; default 0.035 */
} df_quality_options;

df_quality_options df_quality_options_default(void);

enum { DF_QUALITY_DARK = 1, DF_QUALITY_BRIGHT = 2, DF_QUALITY_BLURRY = 4, DF_QUALITY_LOW_RES = 8 };

/* Flags each of n photos (a bit set of DF_QUALITY_*) and gives a score in
 * [0, 1] per flag (how far past the set's median: dark 1 - b / median,
 * bright (b - median) / (255 - median), blurry 1 - s / median, low
 * resolution 1 - short side / 224). scores: n x 4 in the order dark,
 * bright, blurry, low_res; 0 where not flagged. Blurry is judged on
 * log(sharpness), whose spread is closer to symmetric. */
void df_quality_flag(const df_quality *q, int n, const df_quality_options *opt, int *flags,
                     double *scores);

/* Median of x[0..n) (n >= 1; the mean of the middle two for even n).
 * x is not changed. Returns NAN when n == 0 or out of memory. */
double df_quality_median(const double *x, int n);

#endif
