/* The unknown detector and the temperature, fitted at the end of training
 * (see trust.h). */
#include "train/trust.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/blas_threads.h"
#include "core/clock.h"
#include "data/photo.h"
#include "eval/calibration.h"
#include "eval/unknown.h"
#include "train/fit.h"
#include "train/model_select.h"

df_trust_options df_trust_options_default(void) {
    df_trust_options o = {.unknown_rate = 0.05f, .folds = 5};
    return o;
}

/* Out-of-fold probabilities -> log-probabilities (the logits up to a
 * per-row constant, which the softmax ignores), clamped away from log 0. */
static void log_probs(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = logf(p[i] > 1e-30f ? p[i] : 1e-30f);
}

/* The detector on the clean rows, or on their windows' means (blocks of
 * `block` features; eval/unknown.h df_unknown_window_mean). */
static df_status fit_unknown(const float *clean, int N, size_t F, int block, float rate, df_unknown_detector **unknown,
                             df_error *err) {
    if ((size_t)block == F) return df_unknown_fit(clean, N, block, DF_UNKNOWN_DEFAULT_K, 0, rate, NULL, unknown, err);
    if (block < 1 || F % (size_t)block)
        return df_error_set(err, DF_ERR_INVALID_ARG, "unknown detector: %zu features are not blocks of %d", F, block);
    float *rows = malloc(sizeof(float) * (size_t)N * (size_t)block);
    if (!rows) return df_error_set(err, DF_ERR_NOMEM, "unknown detector: out of memory");
    for (int i = 0; i < N; i++) df_unknown_window_mean(clean + (size_t)i * F, F, block, rows + (size_t)i * (size_t)block);
    df_status st = df_unknown_fit(rows, N, block, DF_UNKNOWN_DEFAULT_K, 0, rate, NULL, unknown, err);
    free(rows);
    return st;
}

df_status df_trust_fit_features(const float *variants, int K, const float *clean, const int *labels, int N, int C,
                                size_t F, int block, const df_train_options *opt, const df_trust_options *to,
                                df_unknown_detector **unknown, float *temperature, df_trust_report *rep,
                                df_error *err) {
    *unknown = NULL;
    *temperature = 0.0f;
    double t0 = df_clock_seconds();
    df_trust_report r = {.unknown_threshold = NAN};
    int folds = to->folds < N ? to->folds : N;
    if (folds < 2) return df_error_set(err, DF_ERR_DATA, "calibration needs at least 2 training photos, got %d", N);
    int *fold_of = malloc(sizeof(int) * (size_t)N);
    float *oof = malloc(sizeof(float) * (size_t)N * (size_t)C);
    if (!fold_of || !oof) {
        free(fold_of);
        free(oof);
        return df_error_set(err, DF_ERR_NOMEM, "calibration: out of memory");
    }
    df_head_candidate cand = df_head_candidate_from_options(opt);
    if (cand.head.max_batch < opt->batch_size) cand.head.max_batch = opt->batch_size;
    df_status st = df_stratified_folds(labels, N, C, folds, opt->seed, fold_of, err);
    if (st == DF_OK)
        st = df_cross_val_predict(variants, K, clean, labels, N, C, F, fold_of, folds, &cand, opt, oof, err);
    if (st == DF_OK) {
        df_reliability rel;
        df_calib_reliability(oof, labels, N, C, &rel);
        r.oof_ece_before = rel.ece;
        int correct = 0;
        for (int i = 0; i < N; i++) {
            int best = 0;
            for (int c = 1; c < C; c++)
                if (oof[(size_t)i * C + c] > oof[(size_t)i * C + best]) best = c;
            correct += best == labels[i];
        }
        r.oof_accuracy = (double)correct / N;
        log_probs(oof, (size_t)N * C);
        st = df_calib_fit_temperature(oof, labels, N, C, &r.temperature, err);
    }
    if (st == DF_OK) {
        df_calib_softmax_t(oof, N, C, r.temperature, oof);
        df_reliability rel;
        df_calib_reliability(oof, labels, N, C, &rel);
        r.oof_ece_after = rel.ece;
    }
    if (st == DF_OK && to->unknown_rate >= 0.0f) {
        st = fit_unknown(clean, N, F, block, to->unknown_rate, unknown, err);
        if (st == DF_OK) r.unknown_threshold = (*unknown)->threshold;
    }
    free(fold_of);
    free(oof);
    if (st != DF_OK) return st;
    *temperature = r.temperature;
    r.seconds = df_clock_seconds() - t0;
    if (rep) *rep = r;
    return DF_OK;
}

/* The detector and the temperature for df_trust_fit, left in *unknown and
 * *temperature (the caller's). */
static df_status trust_compute(df_backbone *bb, const df_dataset *train, const df_train_options *opt,
                               const df_trust_options *to, df_unknown_detector **unknown, float *temperature,
                               df_trust_report *rep, df_error *err) {
    *unknown = NULL;
    *temperature = 0.0f;
    const int N = train->count, C = train->num_classes;
    const size_t F = df_backbone_feature_dim(bb);
    float *variants = NULL, *clean = NULL;
    int *labels = malloc(sizeof(int) * (size_t)(N > 0 ? N : 1));
    if (!labels) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    for (int i = 0; i < N; i++) labels[i] = train->items[i].label;
    int K;
    df_status st;
    df_resize_method resize = df_photo_resize(bb, opt->resize);
    const float *given = NULL; /* the caller's clean features (borrowed) */
    if (opt->feature_variants && opt->feature_cache > 0) {
        K = opt->feature_cache;
        given = opt->feature_clean;
        st = given ? DF_OK : df_photo_features(bb, train, resize, &opt->progress, &clean, err);
    } else {
        K = !opt->augment ? 1 : opt->feature_cache > 0 ? opt->feature_cache : 4;
        st = df_train_feature_variants(bb, train, opt, K, &variants, &clean, err);
    }
    if (st == DF_OK)
        st = df_trust_fit_features(variants ? variants : opt->feature_variants, K, given ? given : clean, labels, N,
                                   C, F, (int)df_backbone_window_dim(bb), opt, to, unknown, temperature, rep, err);
    free(labels);
    free(variants);
    free(clean);
    return st;
}

static void trust_store(df_model *model, df_unknown_detector *unknown, float temperature) {
    df_unknown_destroy(model->unknown);
    model->unknown = unknown;
    model->temperature = temperature;
}

df_status df_trust_fit(df_backbone *bb, const df_dataset *train, const df_train_options *opt,
                       const df_trust_options *to, df_model *model, df_trust_report *rep, df_error *err) {
    df_unknown_detector *u = NULL;
    float T = 0.0f;
    df_status st = trust_compute(bb, train, opt, to, &u, &T, rep, err);
    if (st == DF_OK) trust_store(model, u, T);
    return st;
}

/* Side by side when nothing in either needs the backbone or a BLAS: the
 * features cached (variants, plain and the validation photos': the
 * backbone's passes would get one thread beside the calibration), a linear
 * head (its kernels are single-threaded, and the calibration's folds would
 * take OpenBLAS's threads from an MLP's GEMMs). */
static int side_by_side(const df_train_options *opt, const df_dataset *val) {
#ifdef _OPENMP
    return opt->feature_variants && opt->feature_cache > 0 && opt->feature_clean &&
           (!val || val->count == 0 || opt->val_features) && opt->head.kind == DF_HEAD_LINEAR &&
           omp_get_max_threads() > 1 && !omp_in_parallel();
#else
    (void)opt;
    (void)val;
    return 0;
#endif
}

df_status df_train_and_trust(df_backbone *bb, const df_dataset *train, const df_dataset *val,
                             const df_train_options *opt, const df_trust_options *to, df_train_result *res,
                             df_trust_report *rep, int *overlapped, df_error *err) {
    df_unknown_detector *u = NULL;
    float T = 0.0f;
    df_status st = DF_OK, st_trust = DF_OK;
    df_error trust_err;
    df_error_clear(&trust_err);
    /* An exact fit's head and the calibration's folds fit blocks of one
     * Gram matrix: made here once, on all the cores (train/fit.h). */
    df_train_options shared_opt = *opt;
    df_exact_rows *rows = NULL;
    const df_head_candidate cand = df_head_candidate_from_options(opt);
    if (df_head_candidate_shares_rows(&cand, opt) && opt->feature_variants && opt->feature_cache > 0 &&
        !opt->exact_rows) {
        st = df_exact_rows_create(opt->feature_variants, opt->feature_cache, train->count,
                                  df_backbone_feature_dim(bb), &rows, err);
        if (st != DF_OK) return st;
        shared_opt.exact_rows = rows;
        opt = &shared_opt;
    }
    *overlapped = side_by_side(opt, val);
    if (*overlapped) {
        /* The head's training on this thread; the calibration a task the
         * other threads take, its folds tasks in turn (train/model_select.c),
         * so all the cores have a head to fit. Each fit has its own streams:
         * the same bits as one after the other. Each fit's OpenBLAS calls
         * on its own thread, set here before the threads start: set only
         * inside, by the calibration, the head's first calls on the other
         * thread could still be threaded, and a pool stopped there would
         * take its threads from under them. */
        const int blas_threads = df_blas_threads();
        if (blas_threads > 1) df_blas_threads_set(1);
#ifdef _OPENMP
#pragma omp parallel
#pragma omp single
#endif
        {
#ifdef _OPENMP
#pragma omp task shared(st_trust, u, T, trust_err)
#endif
            st_trust = trust_compute(bb, train, opt, to, &u, &T, rep, &trust_err);
            st = df_train(bb, train, val, opt, res, err);
        }
        if (blas_threads > 1) df_blas_threads_set(blas_threads);
    } else {
        st = df_train(bb, train, val, opt, res, err);
        if (st == DF_OK) st_trust = trust_compute(bb, train, opt, to, &u, &T, rep, &trust_err);
    }
    df_exact_rows_destroy(rows);
    if (st == DF_OK && st_trust != DF_OK) {
        *err = trust_err;
        st = st_trust;
    }
    if (st != DF_OK) {
        df_unknown_destroy(u);
        return st;
    }
    trust_store(res->model, u, T);
    return DF_OK;
}
