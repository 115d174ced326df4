/*
 * The one-standard-error rule (df_choose_one_se) on synthetic fold scores,
 * df_mean_se against the textbook formula, and a fold's head
 * (df_fit_head_cached) against the plain fitting loop. No backbone, no
 * photos.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "train/fit.h"

#include "train/model_select.h"
#include "train/recipe.h"

/* The textbook standard error of the mean: sqrt(sum (x - m)^2 / (n - 1)) / sqrt(n). */
static void test_mean_se(void **state) {
    (void)state;
    const double x[5] = {0.8, 0.9, 1.0, 0.9, 0.85};
    double m, se;
    df_mean_se(x, 5, &m, &se);
    assert_float_equal(m, 0.89, 1e-12);
    double ss = 0.0;
    for (int i = 0; i < 5; i++) ss += (x[i] - 0.89) * (x[i] - 0.89);
    assert_float_equal(se, sqrt(ss / 4.0) / sqrt(5.0), 1e-12);
    df_mean_se(x, 1, &m, &se);
    assert_float_equal(m, 0.8, 0);
    assert_float_equal(se, 0.0, 0);
}

/* A clear winner: the best is far above everyone else's band, so it is
 * chosen even though it comes last (most complex). */
static void test_clear_winner(void **state) {
    (void)state;
    const double s[3 * 5] = {
        0.60, 0.62, 0.58, 0.61, 0.59, /* simplest */
        0.70, 0.72, 0.69, 0.71, 0.68, /* */
        0.95, 0.96, 0.94, 0.95, 0.95, /* most complex, clearly best */
    };
    df_one_se_choice ch = df_choose_one_se(s, NULL, 3, 5);
    assert_int_equal(ch.best, 2);
    assert_int_equal(ch.chosen, 2);
    assert_float_equal(ch.best_mean, 0.95, 1e-12);
    assert_true(ch.threshold < 0.95 && ch.threshold > 0.94);
}

/* Within one SE of the best: the simplest such candidate wins, not the best,
 * and one just outside the band is passed over. */
static void test_one_se_band(void **state) {
    (void)state;
    /* Best: candidate 3, mean 0.92, fold sd 0.0566 -> SE 0.0253, threshold 0.8947. */
    const double s[4 * 5] = {
        0.89, 0.89, 0.89, 0.89, 0.88, /* mean 0.888: just outside the band */
        0.90, 0.91, 0.89, 0.90, 0.90, /* mean 0.900: on the threshold, inside */
        0.91, 0.91, 0.91, 0.91, 0.91, /* mean 0.910: inside, but more complex than 1 */
        0.92, 1.00, 0.84, 0.92, 0.92, /* mean 0.920: the best */
    };
    df_one_se_choice ch = df_choose_one_se(s, NULL, 4, 5);
    assert_int_equal(ch.best, 3);
    double m, se;
    df_mean_se(s + 15, 5, &m, &se);
    assert_float_equal(ch.best_se, se, 1e-12);
    assert_float_equal(ch.threshold, m - se, 1e-12);
    assert_float_equal(se, sqrt(0.0128 / 4.0) / sqrt(5.0), 1e-9);
    assert_int_equal(ch.chosen, 1);
    /* Narrow the best's folds (SE 0): only the best itself is in the band. */
    const double narrow[2 * 5] = {0.90, 0.91, 0.89, 0.90, 0.90, 0.92, 0.92, 0.92, 0.92, 0.92};
    ch = df_choose_one_se(narrow, NULL, 2, 5);
    assert_int_equal(ch.best, 1);
    assert_int_equal(ch.chosen, 1);
}

/* Ties: equal best means go to the lower mean loss for "best" (which sets
 * the threshold), and the chosen one is still the simplest in the band. */
static void test_ties(void **state) {
    (void)state;
    const double s[3 * 4] = {
        0.75, 0.75, 0.75, 0.75, /* the same mean as the others, no spread */
        0.50, 1.00, 0.75, 0.75, /* same mean, wide folds */
        0.75, 0.75, 0.75, 0.75, /* same as 0 */
    };
    const double loss[3 * 4] = {0.6, 0.6, 0.6, 0.6, 0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.4, 0.4};
    df_one_se_choice ch = df_choose_one_se(s, loss, 3, 4);
    assert_int_equal(ch.best, 2);          /* tie on accuracy, lowest loss */
    assert_float_equal(ch.best_se, 0, 0);  /* its folds do not vary */
    assert_int_equal(ch.chosen, 0);        /* the simplest candidate with that mean */
    /* Without losses, a tie goes to the earlier candidate. */
    ch = df_choose_one_se(s, NULL, 3, 4);
    assert_int_equal(ch.best, 0);
    assert_int_equal(ch.chosen, 0);
    /* Means that differ only by rounding (sums in a different order) tie. */
    const double r[2 * 3] = {0.1, 0.2, 0.3, 0.3, 0.2, 0.1};
    ch = df_choose_one_se(r, NULL, 2, 3);
    assert_int_equal(ch.best, 0);
    assert_int_equal(ch.chosen, 0);
    /* One candidate: it is chosen. */
    ch = df_choose_one_se(s, NULL, 1, 4);
    assert_int_equal(ch.best, 0);
    assert_int_equal(ch.chosen, 0);
}

/* --head auto's list is ordered simplest first: every linear candidate
 * before every MLP, among the linear ones a stronger L2 first, and at the
 * same L2 the lower learning rate first. */
static void test_default_candidates_simplest_first(void **state) {
    (void)state;
    df_train_options o = df_train_options_default();
    df_head_candidate c[DF_HEAD_SEARCH_MAX];
    int n = df_head_candidates_default(&o, c);
    assert_true(n >= 2 && n <= DF_HEAD_SEARCH_MAX);
    int seen_mlp = 0;
    for (int i = 0; i < n; i++) {
        if (c[i].head.kind == DF_HEAD_MLP) seen_mlp = 1;
        else assert_false(seen_mlp);
        if (i > 0 && c[i].head.kind == DF_HEAD_LINEAR && c[i - 1].head.kind == DF_HEAD_LINEAR)
            assert_true(c[i].head.l2 < c[i - 1].head.l2 ||
                        (c[i].head.l2 == c[i - 1].head.l2 && c[i].adam.lr > c[i - 1].adam.lr));
    }
    assert_true(seen_mlp);
    /* The default recipe's own head is among them. */
    int found = 0;
    for (int i = 0; i < n; i++)
        found |= c[i].head.kind == o.head.kind && c[i].head.l2 == o.head.l2 && c[i].adam.lr == o.adam.lr;
    assert_true(found);
}

/* The default recipe fits the linear head exactly on TFLite features
 * pooled by r3s2 regions with L2 10 (on the mean's features, VGG16's or
 * after a cut: L2 1); asking for Adam's settings asks for Adam (L2 1 over
 * 300 epochs at 1e-3 on the mean), unless --solver exact is said too;
 * --head mlp brings the MLP's own L2 (0), learning rate (1e-3) and epochs
 * (30) unless they are given, --head auto its 30 epochs; --recipe
 * original keeps the notebook's. */
static void test_default_recipe_heads(void **state) {
    (void)state;
    df_error err;
    df_recipe r;
    char name[16];
    assert_int_equal(df_recipe_start("default", 106, "tflite", &r, &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_int_equal(r.train.head.kind, DF_HEAD_LINEAR);
    assert_true(r.train.exact_fit);
    assert_string_equal(df_pooling_name(&r.backbone.pooling, name, sizeof name), "r3s2");
    assert_float_equal(r.train.head.l2, 10.0f, 0);
    assert_int_equal(r.train.feature_cache, 8);
    /* fewer variants as the photos grow (rows within 4,096), at least 4,
     * unless given */
    const struct {
        int photos;
        const char *given;
        int want;
    } variants[] = {{512, NULL, 8}, {513, NULL, 7}, {700, NULL, 5}, {1024, NULL, 4}, {3068, NULL, 4},
                    {3068, "8", 8}, {106, "2", 2}, {106, "0", 0}};
    for (size_t k = 0; k < sizeof variants / sizeof variants[0]; k++) {
        assert_int_equal(df_recipe_start("default", variants[k].photos, "tflite", &r, &err), DF_OK);
        if (variants[k].given) assert_int_equal(df_recipe_set(&r, "feature-cache", variants[k].given, &err), DF_OK);
        assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
        assert_int_equal(r.train.feature_cache, variants[k].want);
    }
    assert_int_equal(df_recipe_start("original", 106, "tflite", &r, &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_int_equal(r.train.feature_cache, 0);

    assert_int_equal(df_recipe_start("default", 106, "tflite", &r, &err), DF_OK);
    assert_int_equal(df_recipe_set(&r, "pooling", "mean", &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_true(r.train.exact_fit);
    assert_float_equal(r.train.head.l2, 1.0f, 0);
    /* the default L2 as 1 / photos (a fixed prior on the weights), unless given */
    assert_int_equal(df_recipe_start("default", 3180, "tflite", &r, &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_float_equal(r.train.head.l2, 10.0f * 106 / 3180, 1e-6f);
    assert_int_equal(df_recipe_start("default", 53, "tflite", &r, &err), DF_OK);
    assert_int_equal(df_recipe_set(&r, "pooling", "mean", &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_float_equal(r.train.head.l2, 2.0f, 1e-6f);
    assert_int_equal(df_recipe_start("default", 3180, "tflite", &r, &err), DF_OK);
    assert_int_equal(df_recipe_set(&r, "l2", "10", &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_float_equal(r.train.head.l2, 10.0f, 0);
    assert_int_equal(df_recipe_start("default", 106, "tflite", &r, &err), DF_OK);
    assert_int_equal(df_recipe_set(&r, "cut", "#3", &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_int_equal(r.backbone.pooling.kind, DF_POOLING_MEAN);
    assert_float_equal(r.train.head.l2, 1.0f, 0);
    assert_int_equal(df_recipe_start("default", 106, "vgg16", &r, &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_int_equal(r.backbone.pooling.kind, DF_POOLING_MEAN);
    assert_true(r.train.exact_fit);
    assert_float_equal(r.train.head.l2, 1.0f, 0);
    assert_int_equal(df_recipe_set(&r, "pooling", "r2s1x", &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "--pooling"));

    /* Adam's settings ask for Adam; with --solver exact they are refused */
    static const char *const adam_flags[][2] = {{"lr", "1e-3"}, {"epochs", "300"}, {"batch", "16"},
                                               {"steps-per-epoch", "2"}, {"weight-decay", "0.01"},
                                               {"early-stop", "5"}, {"class-weight", "balanced"}};
    for (size_t k = 0; k < sizeof adam_flags / sizeof adam_flags[0]; k++) {
        assert_int_equal(df_recipe_start("default", 106, "tflite", &r, &err), DF_OK);
        assert_int_equal(df_recipe_set(&r, adam_flags[k][0], adam_flags[k][1], &err), DF_OK);
        assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
        assert_false(r.train.exact_fit);
        assert_int_equal(df_recipe_set(&r, "solver", "exact", &err), DF_OK);
        assert_int_equal(df_recipe_finish(&r, &err), DF_ERR_INVALID_ARG);
        assert_non_null(strstr(err.message, adam_flags[k][0]));
    }
    assert_int_equal(df_recipe_start("default", 106, "tflite", &r, &err), DF_OK);
    assert_int_equal(df_recipe_set(&r, "solver", "adam", &err), DF_OK);
    assert_int_equal(df_recipe_set(&r, "pooling", "mean", &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_false(r.train.exact_fit);
    assert_float_equal(r.train.head.l2, 1.0f, 0);
    assert_float_equal(r.train.adam.lr, 1e-3f, 0);
    assert_int_equal(r.train.epochs, 300);
    assert_int_equal(df_recipe_set(&r, "solver", "newton", &err), DF_ERR_INVALID_ARG);
    /* the exact fit is for a linear head on cached variants */
    assert_int_equal(df_recipe_start("default", 106, "tflite", &r, &err), DF_OK);
    assert_int_equal(df_recipe_set(&r, "feature-cache", "0", &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_false(r.train.exact_fit);
    assert_int_equal(df_recipe_set(&r, "solver", "exact", &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "--feature-cache 0"));
    assert_int_equal(df_recipe_start("default", 106, "tflite", &r, &err), DF_OK);
    assert_int_equal(df_recipe_set(&r, "head", "mlp", &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_false(r.train.exact_fit);

    assert_int_equal(df_recipe_start("default", 106, "tflite", &r, &err), DF_OK);
    assert_int_equal(df_recipe_set(&r, "head", "auto", &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_int_equal(r.train.epochs, 30);

    assert_int_equal(df_recipe_start("default", 106, "tflite", &r, &err), DF_OK);
    assert_int_equal(df_recipe_set(&r, "epochs", "7", &err), DF_OK);
    assert_int_equal(df_recipe_set(&r, "head", "mlp", &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_int_equal(r.train.epochs, 7);

    assert_int_equal(df_recipe_start("default", 106, "tflite", &r, &err), DF_OK);
    assert_int_equal(df_recipe_set(&r, "head", "mlp", &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_int_equal(r.train.head.kind, DF_HEAD_MLP);
    assert_int_equal(r.train.head.units, 1024);
    assert_float_equal(r.train.head.l2, 0.0f, 0);
    assert_float_equal(r.train.adam.lr, 1e-3f, 0);
    assert_int_equal(r.train.epochs, 30);

    assert_int_equal(df_recipe_start("default", 106, "tflite", &r, &err), DF_OK);
    assert_int_equal(df_recipe_set(&r, "head", "mlp", &err), DF_OK);
    assert_int_equal(df_recipe_set(&r, "lr", "0.005", &err), DF_OK);
    assert_int_equal(df_recipe_set(&r, "l2", "0.02", &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_float_equal(r.train.head.l2, 0.02f, 0);
    assert_float_equal(r.train.adam.lr, 0.005f, 0);

    /* The original is the notebook: MLP, no L2, Adam 1e-5, batch 30, 45 epochs, n // 30 steps. */
    assert_int_equal(df_recipe_start("original", 106, "tflite", &r, &err), DF_OK);
    assert_int_equal(df_recipe_finish(&r, &err), DF_OK);
    assert_int_equal(r.train.head.kind, DF_HEAD_MLP);
    assert_float_equal(r.train.head.l2, 0.0f, 0);
    assert_float_equal(r.train.adam.lr, 1e-5f, 0);
    assert_int_equal(r.train.batch_size, 30);
    assert_int_equal(r.train.epochs, 45);
    assert_int_equal(r.train.steps_per_epoch, 3);
    assert_int_equal(r.train.feature_cache, 0);
    assert_false(r.train.exact_fit);
    assert_int_equal(r.backbone.pooling.kind, DF_POOLING_MEAN);
    assert_float_equal(r.train.augment_config.shear_deg, 0.2, 0);
    assert_int_equal(r.train.augment_config.vertical_flip, 1);
}


/* A linear head fitted on some photos' cached variants (df_fit_head_cached,
 * which standardises its copy of those rows once, up front) is bit for bit
 * the head the plain loop trains from the whole cache, standardising each
 * batch. */
static void test_fold_head_matches_plain_loop(void **state) {
    (void)state;
    enum { K = 2, N = 12, F = 8, C = 3, EPOCHS = 5 };
    float variants[K * N * F];
    int labels[N];
    const int idx[] = {0, 2, 3, 5, 7, 8, 10, 11};
    const int n_idx = (int)(sizeof idx / sizeof idx[0]);
    df_rng r;
    df_rng_seed(&r, 5, 1);
    for (int i = 0; i < N; i++) labels[i] = i % C;
    for (int k = 0; k < K * N * F; k++) variants[k] = 3.0f * df_rng_normal(&r) + (float)(k % F);
    df_head_candidate cand;
    memset(&cand, 0, sizeof cand);
    cand.head = df_head_config_default();
    cand.head.kind = DF_HEAD_LINEAR;
    cand.head.l2 = 0.1f;
    cand.head.max_batch = 4;
    cand.adam = df_adam_config_default();
    cand.adam.lr = 1e-2f;
    df_train_options o = df_train_options_default();
    o.epochs = EPOCHS;
    o.batch_size = 4;
    o.steps_per_epoch = 0;
    o.seed = 7;
    o.class_weight_balanced = 0;
    const df_cached_stream stream = {.kind = 3, .id = 1, .epoch_first = 0};
    df_error err;
    df_head *fold;
    assert_int_equal(df_fit_head_cached(variants, K, labels, N, F, idx, n_idx, C, &cand, &o, &stream, &fold, &err),
                     DF_OK);

    df_head *plain;
    assert_int_equal(df_head_create(&cand.head, F, C, o.seed, &plain, &err), DF_OK);
    float rows[K * N * F];
    for (int k = 0; k < K; k++)
        for (int t = 0; t < n_idx; t++)
            memcpy(rows + ((size_t)k * n_idx + t) * F, variants + ((size_t)k * N + (size_t)idx[t]) * F,
                   F * sizeof(float));
    assert_int_equal(df_head_fit_standardisation(plain, rows, K * n_idx, &err), DF_OK);
    df_adam *adam;
    assert_int_equal(df_adam_create(&cand.adam, df_head_num_params(plain), &adam, &err), DF_OK);
    df_cached_source src;
    df_cached_source_init(&src, variants, K, N, F, idx, n_idx, labels, o.seed, stream.kind, stream.id,
                          stream.epoch_first);
    assert_int_equal(src.base.standardised, 0);
    df_fit_plan plan = {.batch_size = o.batch_size, .batches = df_fit_batches(n_idx, o.batch_size, 0), .seed = o.seed};
    for (int e = 0; e < EPOCHS; e++) {
        df_epoch_sums sums = {0};
        int interrupted;
        assert_int_equal(df_fit_epoch(plain, adam, &src.base, &plan, e, &sums, &interrupted, &err), DF_OK);
    }
    assert_int_equal(df_head_num_params(fold), df_head_num_params(plain));
    assert_memory_equal(df_head_params_const(fold), df_head_params_const(plain),
                        df_head_num_params(plain) * sizeof(float));
    df_adam_destroy(adam);
    df_head_destroy(plain);
    df_head_destroy(fold);
}

/* The exact linear head's folds (df_cross_val_predict) share the rows:
 * each fold's head is standardised with the statistics of all the
 * photos' variants and fitted on a block of one Gram matrix. The same
 * out-of-fold probabilities as each fold fitted plainly (its rows copied
 * and standardised with those statistics, df_fit_linear_exact), on the
 * Gram way (60 rows of 200 features) and on the primal (60 rows of 8). */
static void test_exact_folds_share_the_rows(void **state) {
    (void)state;
    enum { K = 2, N = 30, C = 3, FOLDS = 3 };
    const int widths[2] = {200, 8};
    for (int w = 0; w < 2; w++) {
        const int F = widths[w];
        float *variants = malloc(sizeof(float) * K * N * F), *clean = malloc(sizeof(float) * N * F);
        float *rows = malloc(sizeof(float) * K * N * F), oof[N * C], ref[N * C];
        int labels[N], fold_of[N], y[K * N];
        assert_true(variants && clean && rows);
        df_rng r;
        df_rng_seed(&r, 21, (uint64_t)w);
        for (int i = 0; i < N; i++) labels[i] = i % C;
        for (int k = 0; k < K * N * F; k++) {
            const int photo = (k / F) % N;
            variants[k] = 2.0f * (float)df_rng_normal(&r) + (k % F == labels[photo] ? 1.5f : 0.0f) + 0.1f * (float)(k % F);
        }
        for (int k = 0; k < N * F; k++) clean[k] = variants[k];
        df_head_candidate cand;
        memset(&cand, 0, sizeof cand);
        cand.head = df_head_config_default();
        cand.head.kind = DF_HEAD_LINEAR;
        cand.head.l2 = 0.5f;
        cand.exact = 1;
        df_train_options o = df_train_options_default();
        o.class_weight_balanced = 0;
        df_error err;
        assert_int_equal(df_stratified_folds(labels, N, C, FOLDS, 3, fold_of, &err), DF_OK);
        assert_int_equal(df_cross_val_predict(variants, K, clean, labels, N, C, F, fold_of, FOLDS, &cand, &o, oof, &err),
                         DF_OK);
        df_head *stats, *h;
        assert_int_equal(df_head_create(&cand.head, F, C, 0, &stats, &err), DF_OK);
        assert_int_equal(df_head_fit_standardisation(stats, variants, K * N, &err), DF_OK);
        for (int f = 0; f < FOLDS; f++) {
            int n = 0;
            for (int k = 0; k < K; k++)
                for (int i = 0; i < N; i++)
                    if (fold_of[i] != f) {
                        memcpy(rows + (size_t)n * F, variants + ((size_t)k * N + i) * F, sizeof(float) * F);
                        y[n++] = labels[i];
                    }
            assert_int_equal(df_head_create(&cand.head, F, C, 0, &h, &err), DF_OK);
            assert_int_equal(df_head_set_standardisation(h, df_head_std_mean(stats), df_head_std_std(stats), &err), DF_OK);
            df_head_standardise(h, rows, (size_t)n, rows);
            assert_int_equal(df_fit_linear_exact(h, rows, y, n, NULL, NULL, &err), DF_OK);
            for (int i = 0; i < N; i++)
                if (fold_of[i] == f) assert_int_equal(df_head_predict(h, clean + (size_t)i * F, 1, ref + i * C, &err), DF_OK);
            df_head_destroy(h);
        }
        for (int k = 0; k < N * C; k++) assert_true(fabsf(oof[k] - ref[k]) < 1e-4f);
        df_head_destroy(stats);
        free(variants);
        free(clean);
        free(rows);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mean_se),
        cmocka_unit_test(test_clear_winner),
        cmocka_unit_test(test_one_se_band),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_default_candidates_simplest_first),
        cmocka_unit_test(test_default_recipe_heads),
        cmocka_unit_test(test_fold_head_matches_plain_loop),
        cmocka_unit_test(test_exact_folds_share_the_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
