/*
 * Photo quality measures and the set-relative flags (audit/quality.h).
 * The Laplacian variance here is the only implementation; tests check it
 * against a direct two-pass formula over a plain array.
 */
#include "audit/quality.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

df_quality_options df_quality_options_default(void) {
    df_quality_options o;
    o.z = 2.5;
    o.dark_max = 40.0;
    o.bright_min = 235.0;
    o.blur_ratio = 0.035;
    return o;
}

static float luma(const uint8_t *p) { return 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]; }

double df_quality_laplacian_variance(const float *l, int w, int h) {
    if (w < 3 || h < 3) return 0.0;
    /* One pass with a shifted sum (the shift is the first value) keeps the
     * variance accurate in double even for large planes. */
    double shift = 0, sum = 0, sum2 = 0;
    long n = 0;
    for (int y = 1; y < h - 1; y++) {
        const float *r = l + (size_t)y * w;
        for (int x = 1; x < w - 1; x++) {
            double v = (double)r[x - 1] + r[x + 1] + r[x - w] + r[x + w] - 4.0 * r[x];
            if (n == 0) shift = v;
            double d = v - shift;
            sum += d;
            sum2 += d * d;
            n++;
        }
    }
    double mean = sum / n;
    double var = sum2 / n - mean * mean;
    return var > 0 ? var : 0;
}

double df_quality_variance(const float *x, size_t n) {
    if (n == 0) return 0.0;
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++) mean += x[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    return var / (double)n;
}

df_status df_quality_measure(const df_image *img, df_quality *q, df_error *err) {
    memset(q, 0, sizeof *q);
    if (!img || !img->pixels || img->width < 1 || img->height < 1)
        return df_error_set(err, DF_ERR_INVALID_ARG, "quality: empty image");
    q->width = img->width;
    q->height = img->height;
    size_t n = (size_t)img->width * img->height;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += luma(img->pixels + 3 * i);
    q->brightness = sum / (double)n;

    /* Sharpness at one scale: area-downscale so the short side is DF_QUALITY_SCALE. */
    df_image small = {0, 0, NULL};
    const df_image *use = img;
    int s = img->width < img->height ? img->width : img->height;
    if (s > DF_QUALITY_SCALE) {
        int w = (int)lround((double)img->width * DF_QUALITY_SCALE / s);
        int h = (int)lround((double)img->height * DF_QUALITY_SCALE / s);
        if (w < 1) w = 1;
        if (h < 1) h = 1;
        df_status st = df_image_resize(img, w, h, DF_RESIZE_AREA, &small, err);
        if (st) return st;
        use = &small;
    }
    size_t m = (size_t)use->width * use->height;
    float *l = calloc(m, sizeof *l);
    if (!l) {
        df_image_free(&small);
        return df_error_set(err, DF_ERR_NOMEM, "quality: out of memory for a %dx%d luma plane",
                            use->width, use->height);
    }
    for (size_t i = 0; i < m; i++) l[i] = luma(use->pixels + 3 * i);
    q->sharpness = df_quality_laplacian_variance(l, use->width, use->height) /
                   (df_quality_variance(l, m) + 1.0);
    free(l);
    df_image_free(&small);
    return DF_OK;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double df_quality_median(const double *x, int n) {
    if (n <= 0) return NAN;
    double *c = malloc((size_t)n * sizeof *c);
    if (!c) return NAN;
    memcpy(c, x, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    double m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    free(c);
    return m;
}

/* Median and robust sigma (1.4826 x MAD, at least floor) of v[0..n). */
static void robust(const double *v, int n, double floor_sigma, double *med, double *sigma) {
    *med = df_quality_median(v, n);
    double *d = malloc((size_t)n * sizeof *d);
    if (!d || !isfinite(*med)) {
        free(d);
        *sigma = NAN;
        return;
    }
    for (int i = 0; i < n; i++) d[i] = fabs(v[i] - *med);
    double mad = df_quality_median(d, n);
    free(d);
    *sigma = 1.4826 * mad;
    if (!(*sigma >= floor_sigma)) *sigma = floor_sigma;
}

static double clamp01(double x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

void df_quality_flag(const df_quality *q, int n, const df_quality_options *opt, int *flags,
                     double *scores) {
    df_quality_options o = opt ? *opt : df_quality_options_default();
    memset(flags, 0, (size_t)n * sizeof *flags);
    memset(scores, 0, (size_t)n * 4 * sizeof *scores);
    if (n <= 0) return;
    double *b = malloc((size_t)n * sizeof *b), *s = malloc((size_t)n * sizeof *s);
    double bmed = NAN, bsig = NAN, smed = NAN, ssig = NAN, sharp_med = NAN;
    if (b && s) {
        for (int i = 0; i < n; i++) {
            b[i] = q[i].brightness;
            s[i] = log(q[i].sharpness + 1e-6);
        }
        robust(b, n, 2.0, &bmed, &bsig);   /* 2 grey levels: no spread is no licence */
        robust(s, n, 0.1, &smed, &ssig);
        sharp_med = exp(smed) - 1e-6;
    }
    for (int i = 0; i < n; i++) {
        double *sc = scores + (size_t)i * 4;
        int short_side = q[i].width < q[i].height ? q[i].width : q[i].height;
        if (short_side < DF_QUALITY_MIN_SIDE) {
            flags[i] |= DF_QUALITY_LOW_RES;
            sc[3] = clamp01(1.0 - (double)short_side / DF_QUALITY_MIN_SIDE);
        }
        if (!b || !s || !isfinite(bmed) || !isfinite(smed)) continue;
        double zb = (b[i] - bmed) / bsig, zs = (s[i] - smed) / ssig;
        if (zb < -o.z && b[i] < o.dark_max) {
            flags[i] |= DF_QUALITY_DARK;
            sc[0] = bmed > 0 ? clamp01(1.0 - b[i] / bmed) : 1.0;
        }
        if (zb > o.z && b[i] > o.bright_min) {
            flags[i] |= DF_QUALITY_BRIGHT;
            sc[1] = bmed < 255 ? clamp01((b[i] - bmed) / (255.0 - bmed)) : 1.0;
        }
        if (zs < -o.z && q[i].sharpness < o.blur_ratio * sharp_med) {
            flags[i] |= DF_QUALITY_BLURRY;
            sc[2] = sharp_med > 0 ? clamp01(1.0 - q[i].sharpness / sharp_med) : 1.0;
        }
    }
    free(b);
    free(s);
}
