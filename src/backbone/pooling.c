/* Poolings of a backbone's last spatial map (see pooling.h). */
#include "backbone/pooling.h"

#include <stdio.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

enum { MAX_SIDE = 16 };

df_status df_pooling_parse(const char *s, df_pooling *out, df_error *err) {
    if (!strcmp(s, "mean")) {
        *out = (df_pooling){DF_POOLING_MEAN, 0, 0, 0};
        return DF_OK;
    }
    int k = 0, st = 0, used = 0;
    if (sscanf(s, "r%ds%d%n", &k, &st, &used) == 2 && s[used] == '\0' && k >= 1 && k <= MAX_SIDE && st >= 1 &&
        st <= MAX_SIDE && s[1] >= '1' && s[1] <= '9') {
        *out = (df_pooling){DF_POOLING_REGIONS, k, st, 0};
        return DF_OK;
    }
    return df_error_set(err, DF_ERR_INVALID_ARG,
                        "pooling '%s' is not mean or r<k>s<s> (k x k windows at stride s, 1..%d; e.g. r3s2)", s,
                        MAX_SIDE);
}

const char *df_pooling_name(const df_pooling *p, char *buf, size_t size) {
    if (p->kind == DF_POOLING_REGIONS) snprintf(buf, size, "r%ds%d", p->k, p->s);
    else snprintf(buf, size, "mean");
    return buf;
}

int df_pooling_windows(const df_pooling *p, int n) {
    if (p->kind != DF_POOLING_REGIONS) return n > 0 ? 1 : 0;
    return p->k >= 1 && p->s >= 1 && n >= p->k ? (n - p->k) / p->s + 1 : 0;
}

int df_pooling_tiles(const df_pooling *p, int H, int W) {
    if (p->kind != DF_POOLING_REGIONS) return H > 0 && W > 0;
    return p->k >= 1 && p->s >= 1 && H >= p->k && W >= p->k && (H - p->k) % p->s == 0 && (W - p->k) % p->s == 0;
}

size_t df_pooling_dim(const df_pooling *p, int H, int W, int C) {
    if (H < 1 || W < 1 || C < 1) return 0;
    return (size_t)df_pooling_windows(p, H) * (size_t)df_pooling_windows(p, W) * (size_t)C;
}

/* One map's windows; the mean is one window over the whole map. Each
 * window adds its positions in order into a row of double accumulators,
 * POOL_CHANNELS channels at a time, so that the loop runs over contiguous
 * channels and vectorizes; each channel's sum is the same as one channel
 * at a time. A 7x7x1280 map by r3s2 regions is 0.1 M adds, 1.7 M per
 * batch of 16, which channel by channel (strided, scalar) ran on one
 * thread while the backbone's others waited. */
enum { POOL_CHANNELS = 256 };

static void pool_one(int k_h, int k_w, int s, int nh, int nw, const float *map, int W, int C, float *out) {
    const double inv = 1.0 / ((double)k_h * (double)k_w);
    double acc[POOL_CHANNELS];
    for (int i = 0; i < nh; i++)
        for (int j = 0; j < nw; j++) {
            float *o = out + ((size_t)i * (size_t)nw + (size_t)j) * (size_t)C;
            for (int c0 = 0; c0 < C; c0 += POOL_CHANNELS) {
                const int cn = C - c0 < POOL_CHANNELS ? C - c0 : POOL_CHANNELS;
                for (int c = 0; c < cn; c++) acc[c] = 0.0;
                for (int y = i * s; y < i * s + k_h; y++)
                    for (int x = j * s; x < j * s + k_w; x++) {
                        const float *m = map + ((size_t)y * (size_t)W + (size_t)x) * (size_t)C + (size_t)c0;
#pragma omp simd
                        for (int c = 0; c < cn; c++) acc[c] += m[c];
                    }
#pragma omp simd
                for (int c = 0; c < cn; c++) o[c0 + c] = (float)(acc[c] * inv);
            }
        }
}

/* The window shape and grid of p on an H x W map. */
static void geometry(const df_pooling *p, int H, int W, int *k_h, int *k_w, int *s, int *nh, int *nw) {
    const int regions = p->kind == DF_POOLING_REGIONS;
    *k_h = regions ? p->k : H;
    *k_w = regions ? p->k : W;
    *s = regions ? p->s : 1;
    *nh = df_pooling_windows(p, H);
    *nw = df_pooling_windows(p, W);
}

void df_pooling_apply(const df_pooling *p, const float *maps, int n, int H, int W, int C, float *out) {
    int k_h, k_w, s, nh, nw;
    geometry(p, H, W, &k_h, &k_w, &s, &nh, &nw);
    const size_t D = df_pooling_dim(p, H, W, C), M = (size_t)H * (size_t)W * (size_t)C;
    /* images over the threads (each alone: the same bits): after every
     * batch of the feature pass this ran on one thread while the others
     * waited, and its writes are the first touch of the feature cache's
     * pages (44 MB on the closet photos, each new page a fault) */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 1 && !omp_in_parallel())
#endif
    for (int r = 0; r < n; r++) pool_one(k_h, k_w, s, nh, nw, maps + (size_t)r * M, W, C, out + (size_t)r * D);
}

void df_pooling_backward(const df_pooling *p, const float *grad_features, int H, int W, int C, float *grad_map) {
    int k_h, k_w, s, nh, nw;
    geometry(p, H, W, &k_h, &k_w, &s, &nh, &nw);
    memset(grad_map, 0, sizeof(float) * (size_t)H * (size_t)W * (size_t)C);
    const float inv = 1.0f / (float)(k_h * k_w);
    for (int i = 0; i < nh; i++)
        for (int j = 0; j < nw; j++) {
            const float *g = grad_features + ((size_t)i * (size_t)nw + (size_t)j) * (size_t)C;
            for (int y = i * s; y < i * s + k_h; y++)
                for (int x = j * s; x < j * s + k_w; x++) {
                    float *m = grad_map + ((size_t)y * (size_t)W + (size_t)x) * (size_t)C;
                    for (int c = 0; c < C; c++) m[c] += g[c] * inv;
                }
        }
}
