/* The unknown-photo detector: centred k-nearest-neighbour cosine distance
 * with a leave-one-out threshold (see unknown.h). */
#include "eval/unknown.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"

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

/* u . v in double, summed in one fixed order at every vector width:
 * DF_KNN_LANES running sums (element j into sum j % DF_KNN_LANES), the
 * remainder into sum 0 in order, then the sums pairwise (lane l + w into
 * lane l, w halving). A float times a float is exact in double, so a fused
 * multiply-add rounds as the separate add does: the plain, AVX2 and AVX-512
 * versions give the same bits, and so the same threshold on every CPU
 * (tests/cli_train_same_everywhere.sh). One running sum, as before, waited
 * for the previous add at every element: the detector's fit on 106 photos
 * took 15-18 ms, and it grows with the square of the photos. */
#define DF_KNN_LANES 16
static inline __attribute__((always_inline)) double dot_body(const float *u, const float *v, int n) {
    double acc[DF_KNN_LANES] = {0};
    int j = 0;
    for (; j + DF_KNN_LANES <= n; j += DF_KNN_LANES)
        for (int l = 0; l < DF_KNN_LANES; l++) acc[l] += (double)u[j + l] * (double)v[j + l];
    for (; j < n; j++) acc[0] += (double)u[j] * (double)v[j];
    for (int w = DF_KNN_LANES / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    return acc[0];
}
static double dot_plain(const float *u, const float *v, int n) { return dot_body(u, v, n); }
__attribute__((target("avx2,fma"))) static double dot_avx2(const float *u, const float *v, int n) {
    return dot_body(u, v, n);
}
__attribute__((target("avx512f,avx2,fma"))) static double dot_avx512(const float *u, const float *v, int n) {
    return dot_body(u, v, n);
}

typedef double (*dot_fn)(const float *, const float *, int);

static dot_fn pick_dot(void) {
    const df_cpu_isa isa = df_cpu_isa_best();
    return isa == DF_CPU_ISA_AVX512 ? dot_avx512 : isa == DF_CPU_ISA_AVX2 ? dot_avx2 : dot_plain;
}

double df_unknown_dot(const float *u, const float *v, int n) { return pick_dot()(u, v, n); }

/* Mean cosine distance from unit row u to its k nearest reference rows,
 * skipping row `skip` (-1 = none). */
static float knn_distance(const df_unknown_detector *d, dot_fn dot, const float *u, int skip, float *best) {
    for (int i = 0; i < d->k; i++) best[i] = INFINITY;
    for (int r = 0; r < d->n; r++) {
        if (r == skip) continue;
        keep_smallest(best, d->k, (float)(1.0 - dot(u, d->ref + (size_t)r * d->dim, d->dim)));
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
    best = malloc(sizeof(float) * (size_t)n * (size_t)d->k);
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
    /* Each photo against every other: the rows are independent (the same
     * bits on any number of threads). */
    const dot_fn dot = pick_dot();
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n >= 256)
#endif
    for (int i = 0; i < n; i++)
        scores[i] = knn_distance(d, dot, d->ref + (size_t)i * dim, i, best + (size_t)i * (size_t)d->k);
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
    float s = centre_unit(x, d->mean, d->dim, u) ? knn_distance(d, pick_dot(), u, -1, u + d->dim) : NAN;
    free(u);
    return s;
}

void df_unknown_window_mean(const float *features, size_t feature_dim, int block, float *out) {
    const size_t B = (size_t)block, windows = B ? feature_dim / B : 0;
    for (size_t c = 0; c < B; c++) {
        double s = 0.0;
        for (size_t w = 0; w < windows; w++) s += features[w * B + c];
        out[c] = (float)(s / (double)(windows ? windows : 1));
    }
}

float df_unknown_score_features(const df_unknown_detector *d, const float *features, size_t feature_dim) {
    if (feature_dim == (size_t)d->dim) return df_unknown_score(d, features);
    if (d->dim < 1 || feature_dim % (size_t)d->dim) return NAN;
    float *m = malloc(sizeof(float) * (size_t)d->dim);
    if (!m) return NAN;
    df_unknown_window_mean(features, feature_dim, d->dim, m);
    float s = df_unknown_score(d, m);
    free(m);
    return s;
}
