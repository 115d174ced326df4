/*
 * How a backbone's last spatial map becomes the feature vector the head
 * sees (issue 10).
 *
 *   mean    the map's mean over its positions: C values, what the
 *           MobileNets' own graphs compute (their MEAN / AVERAGE_POOL_2D)
 *   r<k>s<s>  regions: the mean of each k x k window at stride s, windows
 *           row by row, C values each; window (i, j) of an n x m grid of
 *           windows at (i * m + j) * C + c. r3s2 on MobileNetV2's 7x7x1280
 *           map: 3 x 3 windows of 3 x 3 positions, 11,520 features.
 *
 * Why regions: the mean forgets where in the photo a pattern is; on the
 * closet photos the mean's linear head scores 0.965 / 0.977 on other
 * people's photos (QAT / TF2 MobileNetV2), r3s2's 0.972 / 0.981
 * (bench/pooling_ood.sh, docs/defaults.md "Regions of the 7x7 map"). It is the
 * TFLite op AVERAGE_POOL_2D with a k x k filter, stride s and VALID
 * padding, then a reshape: exported models compute it the same way.
 *
 * A map is H x W x C floats (NHWC: one position's channels together).
 */
#ifndef DF_BACKBONE_POOLING_H
#define DF_BACKBONE_POOLING_H

#include <stddef.h>

#include "core/error.h"

typedef enum df_pooling_kind {
    DF_POOLING_MEAN = 0, /* the graph's own global pooling (the default for a model file without one) */
    DF_POOLING_REGIONS,  /* means of k x k windows at stride s */
} df_pooling_kind;

typedef struct df_pooling {
    df_pooling_kind kind;
    int k, s;    /* regions: window side and stride in map positions, 1..16 */
    /* regions: where the windows do not tile the map (df_pooling_tiles),
     * the graph's own mean instead of an error: the default recipe's r3s2
     * on a model whose map is not 7x7 (e.g. 6x6 at 192 x 192, where a row
     * and a column would be left out). */
    int or_mean;
} df_pooling;

/* "mean" or "r<k>s<s>" (k, s in 1..16). */
df_status df_pooling_parse(const char *s, df_pooling *out, df_error *err) DF_MUST_CHECK;
/* Its name as df_pooling_parse takes it; buf of 16 bytes is enough. */
const char *df_pooling_name(const df_pooling *p, char *buf, size_t size);
/* Windows along a side of n positions (0 when the side is shorter than a
 * window). */
int df_pooling_windows(const df_pooling *p, int n);
/* 1 when the windows cover every position of an H x W map and none
 * reaches past it: side >= k and (side - k) divisible by s (7x7 for r3s2);
 * always for the mean. */
int df_pooling_tiles(const df_pooling *p, int H, int W);
/* Features per image from an H x W x C map: C for the mean, windows(H) x
 * windows(W) x C for regions; 0 when the map is smaller than a window. */
size_t df_pooling_dim(const df_pooling *p, int H, int W, int C);
/* Pools n maps (n x H x W x C, each contiguous) into out (n x
 * df_pooling_dim floats), overwriting it; sums in double. */
void df_pooling_apply(const df_pooling *p, const float *maps, int n, int H, int W, int C, float *out);
/* The backward pass: the gradient on the map (H x W x C, overwritten) of
 * one image from the gradient on its pooled features (df_pooling_dim):
 * each window's gradient spread evenly over its k x k positions (Grad-CAM
 * takes the map's gradient from here). */
void df_pooling_backward(const df_pooling *p, const float *grad_features, int H, int W, int C, float *grad_map);

#endif
