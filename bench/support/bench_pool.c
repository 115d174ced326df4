/* See bench_pool.h. */
#include "support/bench_pool.h"

#include <math.h>
#include <string.h>

/* In the power means' order (mean <= GeM 2 <= 3 <= 4 <= max, channel by
 * channel, for maps >= 0), then the concatenation, then the regions. */
static const df_bench_pool POOLS[] = {
    {"mean", DF_BENCH_POOL_MEAN, 1.0, 0, 0},       {"gem2", DF_BENCH_POOL_GEM, 2.0, 0, 0},
    {"gem3", DF_BENCH_POOL_GEM, 3.0, 0, 0},        {"gem4", DF_BENCH_POOL_GEM, 4.0, 0, 0},
    {"max", DF_BENCH_POOL_MAX, 0.0, 0, 0},         {"meanmax", DF_BENCH_POOL_MEANMAX, 0.0, 0, 0},
    {"r7s1", DF_BENCH_POOL_REGIONS, 0.0, 7, 1},    {"r4s3", DF_BENCH_POOL_REGIONS, 0.0, 4, 3},
    {"r3s2", DF_BENCH_POOL_REGIONS, 0.0, 3, 2},    {"r4s1", DF_BENCH_POOL_REGIONS, 0.0, 4, 1},
};

const df_bench_pool *df_bench_pools(int *n) {
    *n = (int)(sizeof POOLS / sizeof POOLS[0]);
    return POOLS;
}

const df_bench_pool *df_bench_pool_find(const char *tag) {
    for (size_t k = 0; k < sizeof POOLS / sizeof POOLS[0]; k++)
        if (!strcmp(POOLS[k].tag, tag)) return &POOLS[k];
    return NULL;
}

/* The side of a square map of HW positions, or 0. */
static size_t side(size_t HW) {
    size_t h = 0;
    while ((h + 1) * (h + 1) <= HW) h++;
    return h * h == HW ? h : 0;
}

/* Windows per row (and per column) of a regions pooling on a map of HW
 * positions; 0 when there are none. */
static size_t windows(const df_bench_pool *p, size_t HW) {
    const size_t h = side(HW);
    return h >= (size_t)p->k && p->k > 0 && p->s > 0 ? (h - (size_t)p->k) / (size_t)p->s + 1 : 0;
}

size_t df_bench_pool_dim(const df_bench_pool *p, size_t HW, size_t C) {
    if (p->kind == DF_BENCH_POOL_REGIONS) return windows(p, HW) * windows(p, HW) * C;
    return p->kind == DF_BENCH_POOL_MEANMAX ? 2 * C : C;
}

/* One map's regions: window (i, j)'s C means at out + (i * n + j) * C. */
static void pool_regions(const df_bench_pool *p, const float *map, size_t HW, size_t C, float *out) {
    const size_t h = side(HW), n = windows(p, HW), k = (size_t)p->k;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            for (size_t c = 0; c < C; c++) {
                double acc = 0.0;
                for (size_t y = i * (size_t)p->s; y < i * (size_t)p->s + k; y++)
                    for (size_t x = j * (size_t)p->s; x < j * (size_t)p->s + k; x++) acc += map[(y * h + x) * C + c];
                out[(i * n + j) * C + c] = (float)(acc / (double)(k * k));
            }
}

/* x^p, by multiplication for the integer exponents measured. */
static double power(double x, double p) {
    if (p == 2.0) return x * x;
    if (p == 3.0) return x * x * x;
    if (p == 4.0) return (x * x) * (x * x);
    return pow(x, p);
}

/* One map's channel c: the mean, the max, or GeM's (mean x^p)^(1/p). */
static double pool_channel(const float *map, size_t HW, size_t C, size_t c, df_bench_pool_kind kind, double p) {
    double acc = kind == DF_BENCH_POOL_MAX ? -INFINITY : 0.0;
    for (size_t i = 0; i < HW; i++) {
        const double x = map[i * C + c];
        if (kind == DF_BENCH_POOL_MAX) acc = x > acc ? x : acc;
        else if (kind == DF_BENCH_POOL_GEM) acc += power(x > 0.0 ? x : 0.0, p);
        else acc += x;
    }
    if (kind == DF_BENCH_POOL_MAX) return acc;
    return kind == DF_BENCH_POOL_GEM ? pow(acc / (double)HW, 1.0 / p) : acc / (double)HW;
}

void df_bench_pool_maps(const df_bench_pool *p, const float *maps, size_t n, size_t HW, size_t C, float *out) {
    const size_t D = df_bench_pool_dim(p, HW, C);
    for (size_t r = 0; r < n; r++) {
        const float *map = maps + r * HW * C;
        float *o = out + r * D;
        if (p->kind == DF_BENCH_POOL_REGIONS) {
            pool_regions(p, map, HW, C, o);
            continue;
        }
        for (size_t c = 0; c < C; c++) {
            if (p->kind == DF_BENCH_POOL_MEANMAX) {
                o[c] = (float)pool_channel(map, HW, C, c, DF_BENCH_POOL_MEAN, 1.0);
                o[C + c] = (float)pool_channel(map, HW, C, c, DF_BENCH_POOL_MAX, 0.0);
            } else {
                o[c] = (float)pool_channel(map, HW, C, c, p->kind, p->p);
            }
        }
    }
}
