/*
 * Why the temperature fitted on the out-of-fold predictions comes out near
 * 2.5, and which fitting rule calibrates the closet validation photos
 * (issue 12: ECE <= 0.05 after scaling) without undoing the calibration on
 * other people's photos. Not a test: prints tables, asserts nothing.
 *
 *   build/bench_calibration [--shared DIR] [--cache DIR] [--seeds S] [--precision P] [--head KIND]
 *
 * (defaults: ../shared, /tmp/df-calibration-cache, 5 seeds, bf16, the
 * default recipe's linear head; --head mlp is the recipe's MLP, the
 * default before issue 10's one-standard-error rule.)
 *
 * The features are the command line's (the default recipe's backbone
 * options, --precision auto), computed once and kept as .npy files in the
 * cache folder: the 106 closet training photos (plain, and the recipe's 4
 * augmented variants drawn with each seed, as `train --seed s` draws them),
 * the 21 closet validation photos and the 271 clothing validation photos
 * of tops, bottoms and shoes (t-shirt, shirt, longsleeve -> tops; pants,
 * shorts, skirt -> bottoms; shoes; as bench/unknown.sh maps them).
 *
 * For each seed: the final head as df_train trains it from its feature
 * cache (df_fit_head_cached on df_train's stream), the 5-fold out-of-fold
 * logits of the training photos (each fold's head trained as in
 * df_cross_val_predict), and a temperature from each fitting rule; then ECE
 * (15 bins), log loss and Brier score of the final head on the closet
 * validation and the clothing photos at that temperature, per seed, as means
 * over seeds, and as the ECE of all seeds' predictions pooled (5 x 21
 * photos: less noisy than 21). The rules, all fitted on the training
 * photos only:
 *   NLL (main)   what train does (trust.c): log loss of the out-of-fold logits
 *   NLL, fold heads 40 epochs  the same with fold heads trained for as many
 *                optimiser steps as the final head (85 photos make 3 batches
 *                of 32 an epoch, 106 make 4)
 *   Brier        the Brier score of the out-of-fold predictions (bounded per
 *                photo, so a confidently wrong photo weighs less)
 *   NLL + label noise  the likelihood with a fraction eps of the training
 *                labels drawn at random, eps fitted with T (confidently
 *                wrong photos can be explained by eps instead of by T)
 *   NLL x logit-scale ratio  the NLL temperature times the ratio of the
 *                final head's logit scale to the fold heads' (each on its
 *                own training photos), for a final head sharper than the
 *                fold heads
 * "oracle" is the T minimising the closet validation photos' own log loss
 * (a diagnosis, not a rule: it looks at the validation photos). Per seed it
 * also prints the logit scales and the 3 training photos that cost the
 * out-of-fold likelihood most.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/backbone.h"
#include "data/dataset.h"
#include "data/photo.h"
#include "eval/calibration.h"
#include "formats/npy.h"
#include "train/model_select.h"
#include "train/recipe.h"
#include "train/train.h"
#include "support/bench_data.h"

enum { FOLDS = 5, MAX_SEEDS = 10, K_VAR = 4 };

typedef struct set {
    df_dataset *ds;
    int *y;
    float *x; /* n x F plain features */
} set;

static void set_free(set *s) {
    df_dataset_free(s->ds);
    free(s->y);
    free(s->x);
}

static df_status plain_features(df_backbone *bb, const char *cache, const char *name, set *s, df_error *err) {
    const size_t F = df_backbone_feature_dim(bb);
    if (df_bench_cache_read(cache, name, (size_t)s->ds->count, F, &s->x)) return DF_OK;
    df_status st = df_photo_features(bb, s->ds, df_photo_resize(bb, -1), NULL, &s->x, err);
    return st == DF_OK ? df_bench_cache_write(cache, name, (size_t)s->ds->count, F, s->x, err) : st;
}

/* ---- scores ---- */

static double brier(const float *logits, const int *y, int n, int C, float T) {
    float p[16];
    double s = 0.0;
    for (int i = 0; i < n; i++) {
        df_calib_softmax_t(logits + (size_t)i * C, 1, C, T, p);
        for (int c = 0; c < C; c++) s += (p[c] - (c == y[i])) * (p[c] - (c == y[i]));
    }
    return s / n;
}

static double ece_at(const float *logits, const int *y, int n, int C, float T) {
    float *p = malloc(sizeof(float) * (size_t)n * (size_t)C);
    df_calib_softmax_t(logits, n, C, T, p);
    df_reliability r;
    df_calib_reliability(p, y, n, C, &r);
    free(p);
    return r.ece;
}

typedef double (*objective)(const float *logits, const int *y, int n, int C, float T, const void *ctx);

/* Golden-section search of log T in [log 0.05, log 20]. */
static float minimise_t(objective f, const float *logits, const int *y, int n, int C, const void *ctx) {
    const double g = (sqrt(5.0) - 1.0) / 2.0;
    double a = log(0.05), b = log(20.0), c = b - g * (b - a), d = a + g * (b - a);
    double fc = f(logits, y, n, C, (float)exp(c), ctx), fd = f(logits, y, n, C, (float)exp(d), ctx);
    while (b - a > 1e-4) {
        if (fc <= fd) {
            b = d, d = c, fd = fc, c = b - g * (b - a);
            fc = f(logits, y, n, C, (float)exp(c), ctx);
        } else {
            a = c, c = d, fc = fd, d = a + g * (b - a);
            fd = f(logits, y, n, C, (float)exp(d), ctx);
        }
    }
    return (float)exp((a + b) / 2.0);
}

static double obj_nll(const float *z, const int *y, int n, int C, float T, const void *ctx) {
    (void)ctx;
    return df_calib_nll(z, y, n, C, T);
}

static double obj_brier(const float *z, const int *y, int n, int C, float T, const void *ctx) {
    (void)ctx;
    return brier(z, y, n, C, T);
}

/* Negative log-likelihood with a fraction eps of labels replaced at random
 * (uniform over the C classes): -log((1 - eps) p_y + eps / C). */
static double obj_noisy(const float *z, const int *y, int n, int C, float T, const void *ctx) {
    const double eps = *(const double *)ctx;
    float p[16];
    double s = 0.0;
    for (int i = 0; i < n; i++) {
        df_calib_softmax_t(z + (size_t)i * C, 1, C, T, p);
        s -= log((1.0 - eps) * p[y[i]] + eps / C);
    }
    return s / n;
}

/* Maximum likelihood over (eps, T), eps on a grid of 0.005 in [0, 0.3]. */
static float fit_noisy(const float *z, const int *y, int n, int C, double *eps_out) {
    double best = INFINITY;
    float bestT = 1.0f;
    for (int k = 0; k <= 60; k++) {
        double eps = 0.005 * k;
        float T = minimise_t(obj_noisy, z, y, n, C, &eps);
        double v = obj_noisy(z, y, n, C, T, &eps);
        if (v < best) best = v, bestT = T, *eps_out = eps;
    }
    return bestT;
}

/* ---- one seed ---- */

typedef struct rule_scores {
    double T, ece_v, nll_v, brier_v, ece_o, nll_o, brier_o;
} rule_scores;

enum { R_NONE, R_NLL, R_NLL40, R_BRIER, R_NOISY, R_SCALED, R_ORACLE, N_RULES };
static const char *const RULE_NAMES[N_RULES] = {"none (T = 1)", "NLL (main)", "NLL, fold heads 40 epochs",
                                                "Brier", "NLL + label noise", "NLL x logit-scale ratio",
                                                "oracle (val NLL)"};

static df_status logits_of(const df_head *h, const float *x, int n, int C, float **out, df_error *err) {
    *out = malloc(sizeof(float) * (size_t)n * (size_t)C);
    if (!*out) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    return df_head_logits(h, x, n, *out, err);
}

/* Mean over photos of the top logit minus the mean logit: the logits' scale. */
static double logit_scale(const float *z, int n, int C) {
    double s = 0.0;
    for (int i = 0; i < n; i++) {
        double m = -INFINITY, mean = 0.0;
        for (int c = 0; c < C; c++) {
            m = fmax(m, z[(size_t)i * C + c]);
            mean += z[(size_t)i * C + c] / C;
        }
        s += m - mean;
    }
    return s / n;
}

/* Out-of-fold logits of the training photos (N x C) from heads with opt's settings. */
static df_status oof_logits(const float *var, const set *tr, int C, size_t F, const df_train_options *opt,
                            const int *fold_of, float *oof, double *own_scale, df_error *err) {
    const int N = tr->ds->count;
    *own_scale = 0.0;
    df_head_candidate cand = df_head_candidate_from_options(opt);
    int *idx = malloc(sizeof(int) * (size_t)N);
    float *rows = malloc(sizeof(float) * (size_t)N * F), *z = malloc(sizeof(float) * (size_t)N * (size_t)C);
    df_status st = idx && rows && z ? DF_OK : df_error_set(err, DF_ERR_NOMEM, "out of memory");
    for (int f = 0; st == DF_OK && f < FOLDS; f++) {
        int nt = 0, nh = 0;
        for (int i = 0; i < N; i++)
            if (fold_of[i] != f) idx[nt++] = i;
        df_head *h = NULL;
        const df_cached_stream stream = {.kind = DF_STREAM_FOLDS, .id = ((uint64_t)1 << 32) + (uint64_t)f};
        st = df_fit_head_cached(var, K_VAR, tr->y, N, F, idx, nt, C, &cand, opt, &stream, &h, err);
        for (int t = 0; st == DF_OK && t < nt; t++)
            memcpy(rows + (size_t)t * F, tr->x + (size_t)idx[t] * F, F * sizeof(float));
        if (st == DF_OK) st = df_head_logits(h, rows, nt, z, err);
        if (st == DF_OK) *own_scale += logit_scale(z, nt, C) / FOLDS;
        for (int i = 0; st == DF_OK && i < N; i++)
            if (fold_of[i] == f) memcpy(rows + (size_t)nh++ * F, tr->x + (size_t)i * F, F * sizeof(float));
        if (st == DF_OK) st = df_head_logits(h, rows, nh, z, err);
        for (int i = 0, t = 0; st == DF_OK && i < N; i++)
            if (fold_of[i] == f) memcpy(oof + (size_t)i * C, z + (size_t)t++ * C, (size_t)C * sizeof(float));
        df_head_destroy(h);
    }
    free(idx);
    free(rows);
    free(z);
    return st;
}

/* The 3 out-of-fold photos that cost the log likelihood most at T. */
static void print_worst(const float *oof, const set *tr, int C, float T) {
    const int N = tr->ds->count;
    double total = df_calib_nll(oof, tr->y, N, C, T) * N;
    int picked[3] = {-1, -1, -1};
    for (int k = 0; k < 3 && k < N; k++) {
        double wl = -1.0;
        for (int i = 0; i < N; i++) {
            double l = df_calib_nll(oof + (size_t)i * C, tr->y + i, 1, C, T);
            if (l > wl && i != picked[0] && i != picked[1]) wl = l, picked[k] = i;
        }
        const int w = picked[k];
        const char *p = strrchr(tr->ds->items[w].path, '/');
        printf("    worst %d: %s (%s) loss %.2f = %.0f%% of the total\n", k + 1, p ? p + 1 : tr->ds->items[w].path,
               tr->ds->class_names[tr->y[w]], wl, 100.0 * wl / total);
    }
}

/* Pooled over seeds: each rule's probabilities on a set, [rule][seed][photo][class]. */
typedef struct pool {
    int seeds, n;
    float *p;
} pool;

static float *pool_at(const pool *pl, int rule, int seed, int C) {
    return pl->p + (((size_t)rule * pl->seeds + (size_t)seed) * (size_t)pl->n) * (size_t)C;
}

static df_status run_seed(df_backbone *bb, const char *cache, const df_recipe *rc, int seed, const set *tr,
                          const set *va, const set *ood, rule_scores out[N_RULES], pool *pv, pool *po,
                          df_error *err) {
    const int N = tr->ds->count, C = tr->ds->num_classes;
    const size_t F = df_backbone_feature_dim(bb);
    df_train_options opt = rc->train;
    opt.seed = (uint64_t)seed;
    char name[64];
    snprintf(name, sizeof name, "closet_train_var_seed%d_%s", seed,
             df_precision_name(df_backbone_precision(bb)));
    float *var = NULL, *oof = malloc(sizeof(float) * (size_t)N * (size_t)C);
    float *oof40 = malloc(sizeof(float) * (size_t)N * (size_t)C), *zv = NULL, *zo = NULL, *zt = NULL;
    int *fold_of = malloc(sizeof(int) * (size_t)N);
    df_head *h = NULL;
    df_status st = oof && oof40 && fold_of ? DF_OK : df_error_set(err, DF_ERR_NOMEM, "out of memory");
    if (st == DF_OK && !df_bench_cache_read(cache, name, (size_t)K_VAR * N, F, &var)) {
        st = df_train_feature_variants(bb, tr->ds, &opt, K_VAR, &var, NULL, err);
        if (st == DF_OK) st = df_bench_cache_write(cache, name, (size_t)K_VAR * N, F, var, err);
    }
    df_head_candidate cand = df_head_candidate_from_options(&opt);
    const df_cached_stream own = {DF_TRAIN_STREAM_VARIANT, 0, 1};
    if (st == DF_OK) st = df_fit_head_cached(var, K_VAR, tr->y, N, F, NULL, 0, C, &cand, &opt, &own, &h, err);
    if (st == DF_OK) st = logits_of(h, va->x, va->ds->count, C, &zv, err);
    if (st == DF_OK) st = logits_of(h, ood->x, ood->ds->count, C, &zo, err);
    if (st == DF_OK) st = logits_of(h, tr->x, N, C, &zt, err);
    if (st == DF_OK) st = df_stratified_folds(tr->y, N, C, FOLDS, opt.seed, fold_of, err);
    double fold_scale = 0.0, fold_scale40 = 0.0;
    if (st == DF_OK) st = oof_logits(var, tr, C, F, &opt, fold_of, oof, &fold_scale, err);
    df_train_options o40 = opt;
    o40.epochs = opt.epochs * 4 / 3; /* 4 batches of 32 per epoch on 106 photos, 3 on 85 */
    if (st == DF_OK) st = oof_logits(var, tr, C, F, &o40, fold_of, oof40, &fold_scale40, err);
    if (st == DF_OK) {
        double eps = 0.0;
        out[R_NONE].T = 1.0;
        out[R_NLL].T = minimise_t(obj_nll, oof, tr->y, N, C, NULL);
        out[R_NLL40].T = minimise_t(obj_nll, oof40, tr->y, N, C, NULL);
        out[R_BRIER].T = minimise_t(obj_brier, oof, tr->y, N, C, NULL);
        out[R_NOISY].T = fit_noisy(oof, tr->y, N, C, &eps);
        out[R_SCALED].T = out[R_NLL].T * logit_scale(zt, N, C) / fold_scale;
        out[R_ORACLE].T = minimise_t(obj_nll, zv, va->y, va->ds->count, C, NULL);
        int correct = 0;
        for (int i = 0; i < N; i++) {
            int b = 0;
            for (int c = 1; c < C; c++)
                if (oof[(size_t)i * C + c] > oof[(size_t)i * C + b]) b = c;
            correct += b == tr->y[i];
        }
        printf("seed %d: out-of-fold accuracy %.3f; logit scale (top - mean): out-of-fold %.2f, fold heads on their "
               "training photos %.2f (40 epochs: %.2f), final head on the training photos %.2f, on closet validation "
               "%.2f, on clothing %.2f; label-noise fit eps = %.3f\n",
               seed, (double)correct / N, logit_scale(oof, N, C), fold_scale, fold_scale40, logit_scale(zt, N, C),
               logit_scale(zv, va->ds->count, C), logit_scale(zo, ood->ds->count, C), eps);
        print_worst(oof, tr, C, 1.0f);
        for (int r = 0; r < N_RULES; r++) {
            float T = (float)out[r].T;
            out[r].ece_v = ece_at(zv, va->y, va->ds->count, C, T);
            out[r].nll_v = df_calib_nll(zv, va->y, va->ds->count, C, T);
            out[r].brier_v = brier(zv, va->y, va->ds->count, C, T);
            out[r].ece_o = ece_at(zo, ood->y, ood->ds->count, C, T);
            out[r].nll_o = df_calib_nll(zo, ood->y, ood->ds->count, C, T);
            out[r].brier_o = brier(zo, ood->y, ood->ds->count, C, T);
            df_calib_softmax_t(zv, va->ds->count, C, T, pool_at(pv, r, seed - 1, C));
            df_calib_softmax_t(zo, ood->ds->count, C, T, pool_at(po, r, seed - 1, C));
            printf("  %-26s T %5.2f  closet val ECE %.3f NLL %.3f Brier %.3f | clothing ECE %.3f NLL %.3f "
                   "Brier %.3f\n",
                   RULE_NAMES[r], (double)T, out[r].ece_v, out[r].nll_v, out[r].brier_v, out[r].ece_o, out[r].nll_o,
                   out[r].brier_o);
        }
        fflush(stdout);
    }
    df_head_destroy(h);
    free(var);
    free(oof);
    free(oof40);
    free(zv);
    free(zo);
    free(zt);
    free(fold_of);
    return st;
}

int main(int argc, char **argv) {
    const char *shared = getenv("DF_SHARED_DIR") ? getenv("DF_SHARED_DIR") : "../shared";
    const char *cache = "/tmp/df-calibration-cache";
    int seeds = 5;
    const char *precision = "bf16", *head = "linear";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--shared")) shared = argv[i + 1];
        else if (!strcmp(argv[i], "--cache")) cache = argv[i + 1];
        else if (!strcmp(argv[i], "--seeds")) seeds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--precision")) precision = argv[i + 1];
        else if (!strcmp(argv[i], "--head")) head = argv[i + 1];
    }
    if (seeds < 1 || seeds > MAX_SEEDS) seeds = 5;
    df_error err = {0};
    set tr = {0}, va = {0}, ood = {0};
    df_recipe rc;
    df_backbone *bb = NULL;
    char dir[1024];
    df_scan_options so = df_scan_options_default();
    snprintf(dir, sizeof dir, "%s/datasets/closet/train", shared);
    df_status st = df_dataset_scan(dir, &so, &tr.ds, &err);
    snprintf(dir, sizeof dir, "%s/datasets/closet/validation", shared);
    if (st == DF_OK) st = df_dataset_scan(dir, &so, &va.ds, &err);
    if (st == DF_OK) st = df_bench_mapped_clothing(shared, tr.ds, 0, &ood.ds, &err);
    if (st == DF_OK && tr.ds->num_classes > 16) /* brier() and obj_noisy() keep one row on the stack */
        st = df_error_set(&err, DF_ERR_DATA, "%s: %d classes, this bench handles up to 16", dir, tr.ds->num_classes);
    if (st == DF_OK) st = df_recipe_start("default", tr.ds->count, "tflite", &rc, &err);
    if (st == DF_OK) st = df_recipe_set(&rc, "precision", precision, &err);
    if (st == DF_OK) st = df_recipe_set(&rc, "head", head, &err);
    if (st == DF_OK) st = df_recipe_finish(&rc, &err);
    if (st == DF_OK) {
        tr.y = df_bench_labels(tr.ds), va.y = df_bench_labels(va.ds), ood.y = df_bench_labels(ood.ds);
        snprintf(dir, sizeof dir, "%s/models/mobilenet_v2_1.0_224_quant.tflite", shared);
        df_backbone_options bo = rc.backbone;
        bo.max_batch = 16;
        st = df_backbone_open("tflite", dir, &bo, &bb, &err);
    }
    if (st == DF_OK) {
        printf("# %s head; precision %s; %d training, %d closet validation, %d clothing photos; cache %s\n",
               head, df_precision_name(df_backbone_precision(bb)), tr.ds->count, va.ds->count, ood.ds->count, cache);
        char name[64];
        snprintf(name, sizeof name, "closet_train_%s", precision);
        st = plain_features(bb, cache, name, &tr, &err);
        snprintf(name, sizeof name, "closet_val_%s", precision);
        if (st == DF_OK) st = plain_features(bb, cache, name, &va, &err);
        snprintf(name, sizeof name, "clothing_val_%s", precision);
        if (st == DF_OK) st = plain_features(bb, cache, name, &ood, &err);
    }
    rule_scores all[MAX_SEEDS][N_RULES];
    pool pv = {seeds, va.ds ? va.ds->count : 0, NULL}, po = {seeds, ood.ds ? ood.ds->count : 0, NULL};
    const int C = tr.ds ? tr.ds->num_classes : 0;
    if (st == DF_OK) {
        pv.p = malloc(sizeof(float) * N_RULES * (size_t)seeds * (size_t)pv.n * (size_t)C);
        po.p = malloc(sizeof(float) * N_RULES * (size_t)seeds * (size_t)po.n * (size_t)C);
        if (!pv.p || !po.p) st = df_error_set(&err, DF_ERR_NOMEM, "out of memory");
    }
    for (int s = 0; st == DF_OK && s < seeds; s++)
        st = run_seed(bb, cache, &rc, s + 1, &tr, &va, &ood, all[s], &pv, &po, &err);
    if (st == DF_OK) {
        printf("\nmean over seeds 1-%d:\n", seeds);
        for (int r = 0; r < N_RULES; r++) {
            rule_scores m = {0};
            for (int s = 0; s < seeds; s++) {
                m.T += all[s][r].T / seeds, m.ece_v += all[s][r].ece_v / seeds;
                m.nll_v += all[s][r].nll_v / seeds, m.brier_v += all[s][r].brier_v / seeds;
                m.ece_o += all[s][r].ece_o / seeds, m.nll_o += all[s][r].nll_o / seeds;
                m.brier_o += all[s][r].brier_o / seeds;
            }
            printf("  %-26s T %5.2f  closet val ECE %.3f NLL %.3f Brier %.3f | clothing ECE %.3f NLL %.3f Brier "
                   "%.3f\n",
                   RULE_NAMES[r], m.T, m.ece_v, m.nll_v, m.brier_v, m.ece_o, m.nll_o, m.brier_o);
        }
        printf("\nECE of the seeds' predictions pooled (%d x %d closet validation, %d x %d clothing photos):\n", seeds,
               pv.n, seeds, po.n);
        int *yv = malloc(sizeof(int) * (size_t)seeds * (size_t)pv.n);
        int *yo = malloc(sizeof(int) * (size_t)seeds * (size_t)po.n);
        for (int s = 0; yv && yo && s < seeds; s++) {
            memcpy(yv + (size_t)s * pv.n, va.y, sizeof(int) * (size_t)pv.n);
            memcpy(yo + (size_t)s * po.n, ood.y, sizeof(int) * (size_t)po.n);
        }
        for (int r = 0; yv && yo && r < N_RULES; r++) {
            df_reliability a, b;
            df_calib_reliability(pool_at(&pv, r, 0, C), yv, seeds * pv.n, C, &a);
            df_calib_reliability(pool_at(&po, r, 0, C), yo, seeds * po.n, C, &b);
            printf("  %-26s closet val ECE %.3f | clothing ECE %.3f\n", RULE_NAMES[r], a.ece, b.ece);
        }
        free(yv);
        free(yo);
    }
    free(pv.p);
    free(po.p);
    df_backbone_destroy(bb);
    set_free(&tr);
    set_free(&va);
    set_free(&ood);
    if (st != DF_OK) {
        fprintf(stderr, "bench_calibration: %s\n", err.message);
        return 1;
    }
    return 0;
}
