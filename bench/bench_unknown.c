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
    for (int i = 0; i < 3; i++)
        if (add_file(&train, dir, tr[i]) || add_file(&cval, dir, cv[i])) return 1;
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
