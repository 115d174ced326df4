/* The unknown-photo detector: centred k-nearest-neighbour cosine distance
 * with a leave-one-out threshold (see unknown.h). */
#include "eval/unknown.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void df_unknown_destroy(df_unknown_detector *d) {
    if (!d) return;
    free(d->mean);
    free(d->ref);
    free(d);
}

static df_unknown_detector *alloc_detector(int n, int dim) {
    df_unknown_detector *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->mean = malloc(sizeof(float) * (size_t)dim);
    d->ref = malloc(sizeof(float) * (size_t)n * (size_t)dim);
    if (!d->mean || !d->ref) {
        df_unknown_destroy(d);
        return NULL;
    }
    d->n = n;
    d->dim = dim;
    return d;
}

/* out = (x - mean) / |x - mean|; a zero row stays zero. Returns 0 when x is
 * not finite. */
static int centre_unit(const float *x, const float *mean, int dim, float *out) {
    double ss = 0.0;
    for (int j = 0; j < dim; j++) {
        float v = x[j] - mean[j];
        if (!isfinite(v)) return 0;
        out[j] = v;
        ss += (double)v * v;
    }
    if (ss > 0.0) {
        float inv = (float)(1.0 / sqrt(ss));
        for (int j = 0; j < dim; j++) out[j] *= inv;
    }
    return 1;
}

/* Inserts v into best[0..k) (ascending distances, k slots); best starts
 * filled with INFINITY. */
static void keep_smallest(float *best, int k, float v) {
    if (!(v < best[k - 1])) return;
    int i = k - 1;
    while (i > 0 && best[i - 1] > v) {
        best[i] = best[i - 1];
        i--;
    }
    best[i] = v;
}

/* Mean cosine distance from unit row u to its k nearest reference rows,
 * skipping row `skip` (-1 = none). */
static float knn_distance(const df_unknown_detector *d, const float *u, int skip, float *best) {
    for (int i = 0; i < d->k; i++) best[i] = INFINITY;
    for (int r = 0; r < d->n; r++) {
        if (r == skip) continue;
        const float *ref = d->ref + (size_t)r * d->dim;
        double dot = 0.0;
        for (int j = 0; j < d->dim; j++) dot += (double)u[j] * ref[j];
        keep_smallest(best, d->k, (float)(1.0 - dot));
    }
    double s = 0.0;
    for (int i = 0; i < d->k; i++) s += best[i];
    return (float)(s / d->k);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

float df_unknown_threshold(const float *scores, int n, float rate) {
    float *s = malloc(sizeof(float) * (size_t)n);
    if (!s) return NAN;
    memcpy(s, scores, sizeof(float) * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_float);
    int need = (int)ceil((1.0 - (double)rate) * n - 1e-9);
    if (need < 1) need = 1;
    if (need > n) need = n;
    float t = s[need - 1];
    free(s);
    return t;
}

df_status df_unknown_fit(const float *x, int n, int dim, int k, int centre, float rate,
                         float *loo_scores, df_unknown_detector **out, df_error *err) {
    *out = NULL;
    if (n < 2 || dim < 1)
        return df_error_set(err, DF_ERR_INVALID_ARG, "unknown detector: needs 2 or more training photos (got %d)", n);
    if (!(rate >= 0.0f && rate < 1.0f))
        return df_error_set(err, DF_ERR_INVALID_ARG, "unknown detector: rate %g is not in [0, 1)", (double)rate);
    if (k < 1) return df_error_set(err, DF_ERR_INVALID_ARG, "unknown detector: k %d < 1", k);
    df_unknown_detector *d = alloc_detector(n, dim);
    float *scores = malloc(sizeof(float) * (size_t)n);
    float *best = NULL;
    if (!d || !scores) goto nomem;
    d->method = DF_UNKNOWN_KNN_COSINE;
    d->k = k < n - 1 ? k : n - 1;
    d->rate = rate;
    best = malloc(sizeof(float) * (size_t)d->k);
    if (!best) goto nomem;
    for (int j = 0; j < dim; j++) {
        double s = 0.0;
        for (int i = 0; i < n; i++) s += x[(size_t)i * dim + j];
        d->mean[j] = centre ? (float)(s / n) : 0.0f;
    }
    for (int i = 0; i < n; i++)
        if (!centre_unit(x + (size_t)i * dim, d->mean, dim, d->ref + (size_t)i * dim)) {
            free(scores);
            free(best);
            df_unknown_destroy(d);
            return df_error_set(err, DF_ERR_DATA, "unknown detector: training row %d is not finite", i);
        }
    for (int i = 0; i < n; i++) scores[i] = knn_distance(d, d->ref + (size_t)i * dim, i, best);
    d->threshold = df_unknown_threshold(scores, n, rate);
    if (loo_scores) memcpy(loo_scores, scores, sizeof(float) * (size_t)n);
    free(scores);
    free(best);
    *out = d;
    return DF_OK;
nomem:
    free(scores);
    free(best);
    df_unknown_destroy(d);
    return df_error_set(err, DF_ERR_NOMEM, "unknown detector: out of memory for %d x %d features", n, dim);
}

df_status df_unknown_from_parts(int method, int k, int n, int dim, const float *mean,
                                const float *ref, float threshold, float rate,
                                df_unknown_detector **out, df_error *err) {
    *out = NULL;
    if (method != DF_UNKNOWN_KNN_COSINE)
        return df_error_set(err, DF_ERR_FORMAT, "unknown detector: method %d is not known", method);
    if (n < 2 || dim < 1 || k < 1 || k >= n)
        return df_error_set(err, DF_ERR_FORMAT, "unknown detector: k %d with %d rows of %d", k, n, dim);
    if (!isfinite(threshold) || !(rate >= 0.0f && rate < 1.0f))
        return df_error_set(err, DF_ERR_FORMAT, "unknown detector: threshold %g, rate %g", (double)threshold,
                            (double)rate);
    df_unknown_detector *d = alloc_detector(n, dim);
    if (!d) return df_error_set(err, DF_ERR_NOMEM, "unknown detector: out of memory");
    d->method = method;
    d->k = k;
    d->threshold = threshold;
    d->rate = rate;
    memcpy(d->mean, mean, sizeof(float) * (size_t)dim);
    memcpy(d->ref, ref, sizeof(float) * (size_t)n * (size_t)dim);
    *out = d;
    return DF_OK;
}

float df_unknown_score(const df_unknown_detector *d, const float *x) {
    float *u = malloc(sizeof(float) * ((size_t)d->dim + (size_t)d->k));
    if (!u) return NAN;
    float s = centre_unit(x, d->mean, d->dim, u) ? knn_distance(d, u, -1, u + d->dim) : NAN;
    free(u);
    return s;
}
