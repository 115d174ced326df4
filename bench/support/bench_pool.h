/* Poolings of a backbone's last spatial feature map (issue 10: is the
 * graph's own MEAN the best summary of MobileNetV2's 7x7x1280 map for
 * photos unlike the training ones?): global ones, and the means of square
 * windows side by side (regions: where in the photo a pattern is). A map
 * is HW x C floats, NHWC (the channels of one position together), as the
 * TFLite backbone cut at DF_TFLITE_CUT_FEATURE_MAP returns it; regions
 * need a square map. */
#ifndef DF_BENCH_POOL_H
#define DF_BENCH_POOL_H

#include <stddef.h>

typedef enum df_bench_pool_kind {
    DF_BENCH_POOL_MEAN,    /* average over the positions (the graph's MEAN) */
    DF_BENCH_POOL_MAX,     /* maximum over the positions */
    DF_BENCH_POOL_GEM,     /* generalised mean (mean of max(x,0)^p)^(1/p) */
    DF_BENCH_POOL_MEANMAX, /* the mean's C values, then the max's C */
    DF_BENCH_POOL_REGIONS, /* the mean of each k x k window at stride s, row by row, C values each */
} df_bench_pool_kind;

typedef struct df_bench_pool {
    const char *tag; /* cache and --pool name: mean, max, gem2, gem3, gem4, meanmax, r<k>s<s> */
    df_bench_pool_kind kind;
    double p;        /* GeM's exponent */
    int k, s;        /* regions: window and stride, in map positions */
} df_bench_pool;

/* The poolings the bench measures (a constant table: mean, gem2, gem3,
 * gem4, max, meanmax, then the regions r7s1 (one window over a 7x7 map:
 * the mean again, a check), r4s3, r3s2, r4s1); *n their count. */
const df_bench_pool *df_bench_pools(int *n);
/* The pooling named tag, or NULL. */
const df_bench_pool *df_bench_pool_find(const char *tag);
/* Values per photo after pooling a map of HW positions and C channels: C,
 * 2C for meanmax, C per window for regions (0 when the map is not square
 * or smaller than a window). */
size_t df_bench_pool_dim(const df_bench_pool *p, size_t HW, size_t C);
/* Pools n maps (n x HW x C, each map contiguous) into out (n x
 * df_bench_pool_dim rows), overwriting it; sums in double. */
void df_bench_pool_maps(const df_bench_pool *p, const float *maps, size_t n, size_t HW, size_t C, float *out);

#endif
