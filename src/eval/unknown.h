/*
 * "None of these": how unlike the training photos a photo is, and the
 * threshold above which predict calls it unknown.
 *
 * Score (method KNN_COSINE): the mean cosine distance, 1 - cos, from the
 * photo's backbone features to its k nearest training photos' features
 * (0 = same direction; MobileNetV2's pooled features are non-negative, so at
 * most 1). Fitting may centre the features on the training mean first; on
 * the closet photos that measured worse (hats called unknown: 26% centred
 * against 86% raw at k = 5, bench/bench_unknown, README "None of these"),
 * so training uses the raw cosine with k = 5 (DF_UNKNOWN_DEFAULT_K).
 *
 * Threshold: each training photo is scored leave-one-out (its own row is not
 * a neighbour), and the threshold is the (1 - rate) quantile of those
 * scores (lower interpolation: the smallest score with at least
 * ceil((1 - rate) * n) scores at or below it), so a fraction rate of the
 * held-out genuine photos scores above it. A photo is unknown when its score
 * is strictly above the threshold.
 *
 * Pure arrays in and out; nothing here reads files or prints. Scoring is a
 * plain loop over the n reference rows (n * dim multiply-adds per photo):
 * tens of microseconds for the closet photos.
 */
#ifndef DF_EVAL_UNKNOWN_H
#define DF_EVAL_UNKNOWN_H

#include "core/error.h"

typedef enum df_unknown_method { DF_UNKNOWN_KNN_COSINE = 1 } df_unknown_method;

enum { DF_UNKNOWN_DEFAULT_K = 5 };

typedef struct df_unknown_detector {
    int method;       /* df_unknown_method */
    int k;            /* neighbours averaged, 1 <= k < n */
    int n, dim;       /* reference rows and their length */
    float *mean;      /* dim: subtracted before the cosine (zeros: raw cosine), owned */
    float *ref;       /* n x dim: centred, unit-length training rows, owned */
    float threshold;  /* score > threshold => unknown */
    float rate;       /* the fraction of held-out genuine photos set to be rejected */
} df_unknown_detector;

/* Fits on n training rows x (n x dim; n >= 2): mean (zeros when centre is
 * 0: the raw cosine, kept for the comparison in bench/), normalised reference
 * rows, leave-one-out scores and the threshold for rate in [0, 1).
 * k is clamped to n - 1. loo_scores (n floats) receives the leave-one-out
 * scores when non-NULL. *out owned by the caller (df_unknown_destroy). */
df_status df_unknown_fit(const float *x, int n, int dim, int k, int centre, float rate, float *loo_scores,
                         df_unknown_detector **out, df_error *err) DF_MUST_CHECK;

/* Builds a detector from stored parts (the model file): copies mean (dim)
 * and ref (n x dim, already centred and normalised as fit leaves them). */
df_status df_unknown_from_parts(int method, int k, int n, int dim, const float *mean,
                                const float *ref, float threshold, float rate,
                                df_unknown_detector **out, df_error *err) DF_MUST_CHECK;

void df_unknown_destroy(df_unknown_detector *d);

/* Score of one feature row x (dim floats); NaN when x is not finite. */
float df_unknown_score(const df_unknown_detector *d, const float *x);

/* Features pooled by regions (backbone/pooling.h) are one block of
 * `block` values (the map's channels) per window; the detector is fitted
 * on, and scores, their mean over the windows (each channel's mean over
 * the map, positions where windows overlap counting more): its reference
 * rows stay n x channels, as on the graph's own mean, not n x windows x
 * channels (9x for r3s2: 4.9 MB more for the 106 closet photos, 160 MB for
 * 3,409, in the model file and in exported models). out: block floats.
 * feature_dim must be a multiple of block (1 block: a copy). */
void df_unknown_window_mean(const float *features, size_t feature_dim, int block, float *out);
/* df_unknown_score of a photo's features as the head sees them
 * (feature_dim values): directly when feature_dim == d->dim, else their
 * df_unknown_window_mean; NaN when feature_dim is not a multiple of
 * d->dim. */
float df_unknown_score_features(const df_unknown_detector *d, const float *features, size_t feature_dim);

/* The detector's dot product u . v of n floats, in double: the same bits
 * under every ISA (DF_CPU_ISA) and vector width. */
double df_unknown_dot(const float *u, const float *v, int n);

/* The threshold rule on its own: the (1 - rate) quantile of scores[0..n)
 * as described above (n >= 1, rate in [0, 1)). scores is not modified. */
float df_unknown_threshold(const float *scores, int n, float rate);

#endif
