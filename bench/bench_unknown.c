/*
 * Compares unknown-photo scores on precomputed features (not a test: prints
 * numbers, asserts nothing).
 *
 *   ./build/bench_unknown DIR
 *
 * DIR holds .npy feature files written by `deepfashion features` (see
 * bench/unknown.sh, which makes them): closet_train_{bottoms,shoes,tops}
 * (the reference), closet_val_* and clothing_val_{t-shirt,shirt,longsleeve,
 * pants,shorts,skirt,shoes} (genuine), clothing_val_hat, clothing_train_hat
 * and imagenet (off-topic). For each score variant: the fraction of genuine
 * photos accepted and of off-topic photos called unknown at the
 * leave-one-out threshold for rate 0.05, and the area under the ROC curve
 * (genuine vs off-topic) as a threshold-free figure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/unknown.h"
#include "formats/npy.h"

typedef struct rows {
    int n, dim;
    float *x;
} rows;

static int add_file(rows *r, const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    df_npy a;
    df_error err;
    if (df_npy_read(path, &a, &err) != DF_OK) {
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    r->dim = (int)a.cols;
    float *x = realloc(r->x, sizeof(float) * ((size_t)r->n + a.rows) * a.cols);
    if (!x) return -1;
    r->x = x;
    memcpy(r->x + (size_t)r->n * a.cols, a.data, sizeof(float) * a.rows * a.cols);
    r->n += (int)a.rows;
    df_npy_free(&a);
    return 0;
}

static double frac_above(const float *s, int n, float t) {
    int k = 0;
    for (int i = 0; i < n; i++) k += s[i] > t;
    return n ? (double)k / n : NAN;
}

/* P(score(off) > score(gen)), ties count half. */
static double auroc(const float *gen, int ng, const float *off, int no) {
    double s = 0.0;
    for (int i = 0; i < ng; i++)
        for (int j = 0; j < no; j++) s += off[j] > gen[i] ? 1.0 : off[j] == gen[i] ? 0.5 : 0.0;
    return s / ((double)ng * no);
}

static void score_all(const df_unknown_detector *d, const rows *r, float *out) {
    for (int i = 0; i < r->n; i++) out[i] = df_unknown_score(d, r->x + (size_t)i * r->dim);
}

/* ---- Class-conditional Gaussian with a shared, shrunk covariance ----
 * (the "Mahalanobis" out-of-distribution score: Lee et al. 2018, on pooled
 * features). Sigma = (1 - a) S + a diag(S), S the pooled within-class
 * covariance; score = min over classes of (x - mu_c)' Sigma^-1 (x - mu_c),
 * computed as |W (x - mu_c)|^2 with W = L^-1, Sigma = L L'. */
typedef struct gauss {
    int F, C;
    double *W;   /* F x F, lower triangular */
    double *wmu; /* C x F: W mu_c */
} gauss;

/* In-place Cholesky of the lower triangle of A (F x F); 0 on success. */
static int cholesky(double *A, int F) {
    for (int j = 0; j < F; j++) {
        double d = A[(size_t)j * F + j];
        for (int k = 0; k < j; k++) d -= A[(size_t)j * F + k] * A[(size_t)j * F + k];
        if (!(d > 0)) return -1;
        d = sqrt(d);
        A[(size_t)j * F + j] = d;
        for (int i = j + 1; i < F; i++) {
            double v = A[(size_t)i * F + j];
            const double *ri = A + (size_t)i * F, *rj = A + (size_t)j * F;
            for (int k = 0; k < j; k++) v -= ri[k] * rj[k];
            A[(size_t)i * F + j] = v / d;
        }
    }
    return 0;
}

/* rows of x with use[i] != 0 (labels y in 0..C-1) -> g; 0 on success. */
static int gauss_fit(const rows *x, const int *y, const int *use, int C, double a, gauss *g) {
    const int F = x->dim;
    double *mu = calloc((size_t)C * F, sizeof(double)), *S = calloc((size_t)F * F, sizeof(double));
    double *z = malloc(sizeof(double) * F);
    int cnt[8] = {0}, n = 0;
    for (int i = 0; i < x->n; i++) {
        if (!use[i]) continue;
        cnt[y[i]]++;
        n++;
        for (int j = 0; j < F; j++) mu[(size_t)y[i] * F + j] += x->x[(size_t)i * F + j];
    }
    for (int c = 0; c < C; c++)
        for (int j = 0; j < F; j++) mu[(size_t)c * F + j] /= cnt[c] ? cnt[c] : 1;
    for (int i = 0; i < x->n; i++) {
        if (!use[i]) continue;
        for (int j = 0; j < F; j++) z[j] = x->x[(size_t)i * F + j] - mu[(size_t)y[i] * F + j];
        for (int r = 0; r < F; r++)
            for (int c = 0; c <= r; c++) S[(size_t)r * F + c] += z[r] * z[c];
    }
    for (int r = 0; r < F; r++)
        for (int c = 0; c <= r; c++) S[(size_t)r * F + c] *= (r == c ? 1.0 : 1.0 - a) / (n - C);
    for (int r = 0; r < F; r++) S[(size_t)r * F + r] += 1e-9; /* dead features */
    int bad = cholesky(S, F);
    /* W = L^-1 by forward substitution, column by column. */
    double *W = calloc((size_t)F * F, sizeof(double));
    for (int c = 0; !bad && c < F; c++)
        for (int r = c; r < F; r++) {
            double v = r == c ? 1.0 : 0.0;
            for (int k = c; k < r; k++) v -= S[(size_t)r * F + k] * W[(size_t)k * F + c];
            W[(size_t)r * F + c] = v / S[(size_t)r * F + r];
        }
    g->F = F;
    g->C = C;
    g->W = W;
    g->wmu = calloc((size_t)C * F, sizeof(double));
    for (int c = 0; c < C; c++)
        for (int r = 0; r < F; r++) {
            double v = 0;
            for (int k = 0; k <= r; k++) v += W[(size_t)r * F + k] * mu[(size_t)c * F + k];
            g->wmu[(size_t)c * F + r] = v;
        }
    free(mu);
    free(S);
    free(z);
    return bad;
}

static float gauss_score(const gauss *g, const float *x, double *wx) {
    const int F = g->F;
    for (int r = 0; r < F; r++) {
        double v = 0;
        const double *w = g->W + (size_t)r * F;
        for (int k = 0; k <= r; k++) v += w[k] * x[k];
        wx[r] = v;
    }
    double best = INFINITY;
    for (int c = 0; c < g->C; c++) {
        double d = 0;
        for (int r = 0; r < F; r++) {
            double t = wx[r] - g->wmu[(size_t)c * F + r];
            d += t * t;
        }
        if (d < best) best = d;
    }
    return (float)best;
}

static void gauss_free(gauss *g) {
    free(g->W);
    free(g->wmu);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The same threshold rule as df_unknown_fit, on 5-fold held-out scores
 * (leave-one-out would be 106 covariance fits). */
static float gauss_threshold(const rows *x, const int *y, int C, double a, float rate) {
    int *use = malloc(sizeof(int) * x->n);
    float *held = malloc(sizeof(float) * x->n);
    double *wx = malloc(sizeof(double) * x->dim);
    for (int fold = 0; fold < 5; fold++) {
        for (int i = 0; i < x->n; i++) use[i] = i % 5 != fold;
        gauss g;
        gauss_fit(x, y, use, C, a, &g);
        for (int i = 0; i < x->n; i++)
            if (!use[i]) held[i] = gauss_score(&g, x->x + (size_t)i * x->dim, wx);
        gauss_free(&g);
    }
    qsort(held, (size_t)x->n, sizeof(float), cmp_float);
    int need = (int)ceil((1.0 - rate) * x->n);
    float t = held[need > 0 ? need - 1 : 0];
    free(use);
    free(held);
    free(wx);
    return t;
}

static void gauss_all(const gauss *g, const rows *r, float *out) {
    double *wx = malloc(sizeof(double) * g->F);
    for (int i = 0; i < r->n; i++) out[i] = gauss_score(g, r->x + (size_t)i * r->dim, wx);
    free(wx);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: bench_unknown FEATURE_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    rows train = {0}, cval = {0}, gen = {0}, hats = {0}, objs = {0};
    const char *tr[] = {"closet_train_bottoms", "closet_train_shoes", "closet_train_tops"};
    const char *cv[] = {"closet_val_bottoms", "closet_val_shoes", "closet_val_tops"};
    const char *gn[] = {"clothing_val_t-shirt", "clothing_val_shirt", "clothing_val_longsleeve",
                        "clothing_val_pants", "clothing_val_shorts", "clothing_val_skirt",
                        "clothing_val_shoes"};
    int class_end[3];
    for (int i = 0; i < 3; i++) {
        if (add_file(&train, dir, tr[i]) || add_file(&cval, dir, cv[i])) return 1;
        class_end[i] = train.n;
    }
    for (int i = 0; i < 7; i++)
        if (add_file(&gen, dir, gn[i])) return 1;
    if (add_file(&hats, dir, "clothing_val_hat") || add_file(&hats, dir, "clothing_train_hat") ||
        add_file(&objs, dir, "imagenet"))
        return 1;
    printf("reference %d closet training photos; genuine: %d closet validation, %d clothing; "
           "off-topic: %d hats, %d ImageNet photos\n\n",
           train.n, cval.n, gen.n, hats.n, objs.n);
    printf("| score | k | closet val accepted | clothing accepted | hats unknown | ImageNet unknown | "
           "AUROC clothing vs hats+ImageNet |\n| --- | --- | --- | --- | --- | --- | --- |\n");
    float *sc = malloc(sizeof(float) * (size_t)cval.n), *sg = malloc(sizeof(float) * (size_t)gen.n);
    float *so = malloc(sizeof(float) * (size_t)(hats.n + objs.n));
    const int ks[] = {1, 3, 5, 10};
    for (int centre = 0; centre < 2; centre++)
        for (int ki = 0; ki < 4; ki++) {
            df_unknown_detector *d;
            df_error err;
            if (df_unknown_fit(train.x, train.n, train.dim, ks[ki], centre, 0.05f, NULL, &d, &err) != DF_OK) {
                fprintf(stderr, "%s\n", err.message);
                return 1;
            }
            score_all(d, &cval, sc);
            score_all(d, &gen, sg);
            score_all(d, &hats, so);
            score_all(d, &objs, so + hats.n);
            printf("| %s cosine | %d | %.3f | %.3f | %.3f | %.3f | %.3f |\n", centre ? "centred" : "raw",
                   ks[ki], 1 - frac_above(sc, cval.n, d->threshold), 1 - frac_above(sg, gen.n, d->threshold),
                   frac_above(so, hats.n, d->threshold), frac_above(so + hats.n, objs.n, d->threshold),
                   auroc(sg, gen.n, so, hats.n + objs.n));
            df_unknown_destroy(d);
        }
    int *y = malloc(sizeof(int) * train.n), *all = malloc(sizeof(int) * train.n);
    for (int i = 0, c = 0; i < train.n; i++) {
        while (i >= class_end[c]) c++;
        y[i] = c;
        all[i] = 1;
    }
    const double shrink[] = {0.5, 0.8, 0.95, 0.99};
    for (int si = 0; si < 4; si++) {
        gauss g;
        if (gauss_fit(&train, y, all, 3, shrink[si], &g)) {
            fprintf(stderr, "shrinkage %g: covariance not positive definite\n", shrink[si]);
            gauss_free(&g);
            continue;
        }
        float t = gauss_threshold(&train, y, 3, shrink[si], 0.05f);
        gauss_all(&g, &cval, sc);
        gauss_all(&g, &gen, sg);
        gauss_all(&g, &hats, so);
        gauss_all(&g, &objs, so + hats.n);
        printf("| class Gaussian, shrinkage %.2f (5-fold threshold) | - | %.3f | %.3f | %.3f | %.3f | %.3f |\n",
               shrink[si], 1 - frac_above(sc, cval.n, t), 1 - frac_above(sg, gen.n, t), frac_above(so, hats.n, t),
               frac_above(so + hats.n, objs.n, t), auroc(sg, gen.n, so, hats.n + objs.n));
        gauss_free(&g);
    }
    free(y);
    free(all);
    free(sc);
    free(sg);
    free(so);
    free(train.x);
    free(cval.x);
    free(gen.x);
    free(hats.x);
    free(objs.x);
    return 0;
}
