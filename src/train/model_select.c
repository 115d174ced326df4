/* Head selection by stratified k-fold cross-validation (see model_select.h). */
#include "train/model_select.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/blas_threads.h"
#include "core/clock.h"
#include "core/rng.h"
#include "eval/metrics.h"
#include "train/fit.h"

/* epochs: the candidate's own (0: the base options'). */
static void add_candidate(df_head_candidate *out, int *n, const df_train_options *base, df_head_kind kind,
                          float l2, float lr, int epochs) {
    df_head_candidate *c = &out[(*n)++];
    memset(c, 0, sizeof *c);
    c->head = df_head_config_default(); /* MLP 1024, BN, dropout 0.25 */
    c->head.kind = kind;
    c->head.l2 = l2;
    c->head.max_batch = base->batch_size > c->head.max_batch ? base->batch_size : c->head.max_batch;
    c->adam = base->adam;
    c->adam.lr = lr;
    c->epochs = epochs;
    if (kind == DF_HEAD_LINEAR && epochs > 0)
        snprintf(c->name, sizeof c->name, "linear l2=%g lr=%g %d epochs", (double)l2, (double)lr, epochs);
    else if (kind == DF_HEAD_LINEAR)
        snprintf(c->name, sizeof c->name, "linear l2=%g lr=%g", (double)l2, (double)lr);
    else
        snprintf(c->name, sizeof c->name, "mlp%d bn dropout=%g l2=%g lr=%g", c->head.units, (double)c->head.dropout,
                 (double)l2, (double)lr);
}

int df_head_candidates_default(const df_train_options *base, df_head_candidate out[DF_HEAD_SEARCH_MAX]) {
    int n = 0;
    /* Simplest / most regularised first (the one-standard-error rule walks
     * this order): the linear head before the MLP; a stronger L2 first. The
     * linear heads are fitted to their optimum (issue 10: the rule over
     * these exact fits chose L2 10 on the closet photos, and it held on
     * other people's); with class weights, which the exact fit has not,
     * Adam's: at the same L2 the lower learning rate (fewer effective
     * steps) first. */
    if (!base->class_weight_balanced) {
        static const float l2s[] = {10.0f, 3.0f, 1.0f, 0.3f, 0.1f, 0.03f, 0.01f};
        for (size_t k = 0; k < sizeof l2s / sizeof l2s[0]; k++) {
            add_candidate(out, &n, base, DF_HEAD_LINEAR, l2s[k], base->adam.lr, 0);
            out[n - 1].exact = 1;
            snprintf(out[n - 1].name, sizeof out[n - 1].name, "linear l2=%g exact", (double)l2s[k]);
        }
    } else {
        add_candidate(out, &n, base, DF_HEAD_LINEAR, DF_TRAIN_DEFAULT_LINEAR_L2, DF_TRAIN_DEFAULT_LINEAR_LR,
                      DF_TRAIN_DEFAULT_LINEAR_EPOCHS);
        add_candidate(out, &n, base, DF_HEAD_LINEAR, 0.1f, 1e-2f, 0);
        add_candidate(out, &n, base, DF_HEAD_LINEAR, 0.03f, 1e-2f, 0);
        add_candidate(out, &n, base, DF_HEAD_LINEAR, 0.01f, 1e-2f, 0);
        add_candidate(out, &n, base, DF_HEAD_LINEAR, 1e-3f, 1e-3f, 0);
        add_candidate(out, &n, base, DF_HEAD_LINEAR, 1e-3f, 1e-2f, 0);
    }
    add_candidate(out, &n, base, DF_HEAD_MLP, 0.01f, DF_TRAIN_DEFAULT_MLP_LR, 0);
    add_candidate(out, &n, base, DF_HEAD_MLP, 0.0f, DF_TRAIN_DEFAULT_MLP_LR, 0);
    return n;
}

df_status df_stratified_folds(const int *labels, int n, int C, int folds, uint64_t seed, int *fold_of,
                              df_error *err) {
    if (folds < 2 || folds > n)
        return df_error_set(err, DF_ERR_INVALID_ARG, "%d folds for %d photos: need 2 <= folds <= photos", folds,
                            n);
    int *members = malloc(sizeof(int) * (size_t)n);
    if (!members) return df_error_set(err, DF_ERR_NOMEM, "out of memory for %d photos", n);
    int next = 0;
    for (int c = 0; c < C; c++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (labels[i] == c) members[m++] = i;
        df_rng rng;
        df_rng_seed_for(&rng, seed, DF_STREAM_FOLDS, (uint64_t)c, 0);
        df_rng_shuffle(&rng, members, m);
        for (int j = 0; j < m; j++) fold_of[members[j]] = (next + j) % folds;
        next = (next + m) % folds;
    }
    free(members);
    return DF_OK;
}

int df_head_candidate_shares_rows(const df_head_candidate *cand, const df_train_options *base) {
    return cand->exact && cand->head.kind == DF_HEAD_LINEAR && !base->class_weight_balanced;
}

df_head_candidate df_head_candidate_from_options(const df_train_options *o) {
    df_head_candidate c;
    memset(&c, 0, sizeof c);
    c.head = o->head;
    if (c.head.max_batch < o->batch_size) c.head.max_batch = o->batch_size;
    c.adam = o->adam;
    c.exact = o->exact_fit;
    snprintf(c.name, sizeof c.name, "%s%s", df_head_kind_name(o->head.kind), c.exact ? " exact" : "");
    return c;
}

/* A candidate fitted exactly: rows (K x n, variant-major, from the photos'
 * variants) standardised in place, each row labelled by its photo. */
static df_status fit_exact(df_head *head, float *rows, int K, int n, const int *photo_labels,
                           const df_train_options *o, df_error *err) {
    if (!rows) return df_error_set(err, DF_ERR_INVALID_ARG, "the exact fit is for the linear head");
    if (o->class_weight_balanced)
        return df_error_set(err, DF_ERR_INVALID_ARG, "the exact fit has no class weights (use --solver adam)");
    int *y = malloc(sizeof(int) * (size_t)K * (size_t)(n ? n : 1));
    if (!y) return df_error_set(err, DF_ERR_NOMEM, "out of memory for %d x %d labels", K, n);
    for (int k = 0; k < K; k++)
        for (int t = 0; t < n; t++) y[(size_t)k * n + t] = photo_labels[t];
    df_head_standardise(head, rows, (size_t)K * (size_t)n, rows);
    df_status st = df_fit_linear_exact(head, rows, y, K * n, o->stop_flag, NULL, err);
    free(y);
    return st;
}

/* The rows a fold's head is fitted on (see df_fit_head_cached). */
typedef struct fold_rows {
    const float *variants; /* K x N x F, the shared cache */
    float *rows;           /* K x n_train x F, this fold's copy (linear heads), or NULL */
    int K, N;
    size_t F;
    const int *train_idx;
    int n_train;
    const int *labels, *fold_labels; /* per photo of the cache / of the fold */
    int C;
} fold_rows;

/* A candidate fitted by Adam through the fitting loop over the rows'
 * variants, its own epochs or o's. */
static df_status fit_adam(df_head *head, const df_head_candidate *cand, const df_train_options *o,
                          const fold_rows *fr, const df_cached_stream *stream, df_error *err) {
    df_adam *adam = NULL;
    float *class_w = NULL;
    df_status st = df_adam_create(&cand->adam, df_head_num_params(head), &adam, err);
    if (st == DF_OK && o->class_weight_balanced) {
        class_w = malloc(sizeof(float) * (size_t)fr->C);
        st = class_w ? df_head_balanced_class_weights(fr->fold_labels, fr->n_train, fr->C, class_w, err)
                     : df_error_set(err, DF_ERR_NOMEM, "out of memory");
    }
    df_cached_source src;
    if (fr->rows) {
        /* The fold's own copy, standardised in place once (the loop then
         * skips that step in every batch): row (k, t) is variant k of photo
         * train_idx[t], so the batches are the ones the shared cache gives. */
        df_head_standardise(head, fr->rows, (size_t)fr->K * (size_t)fr->n_train, fr->rows);
        df_cached_source_init(&src, fr->rows, fr->K, fr->n_train, fr->F, NULL, fr->n_train, fr->fold_labels, o->seed,
                              stream->kind, stream->id, stream->epoch_first);
        src.base.standardised = 1;
    } else {
        df_cached_source_init(&src, fr->variants, fr->K, fr->N, fr->F, fr->train_idx, fr->n_train, fr->labels, o->seed,
                              stream->kind, stream->id, stream->epoch_first);
    }
    df_fit_plan plan = {.batch_size = o->batch_size,
                        .batches = df_fit_batches(fr->n_train, o->batch_size, o->steps_per_epoch),
                        .seed = o->seed, .class_weights = class_w};
    int epochs = cand->epochs > 0 ? cand->epochs : o->epochs;
    for (int e = 0; st == DF_OK && e < epochs; e++) {
        df_epoch_sums sums = {0};
        int interrupted;
        st = df_fit_epoch(head, adam, &src.base, &plan, e, &sums, &interrupted, err);
        if (st == DF_OK && o->stop_flag && *o->stop_flag)
            st = df_error_set(err, DF_ERR_INTERRUPTED, "interrupted while fitting a head");
    }
    df_adam_destroy(adam);
    free(class_w);
    return st;
}

df_status df_fit_head_cached(const float *variants, int K, const int *labels, int N, size_t F, const int *idx,
                             int n_idx, int C, const df_head_candidate *cand, const df_train_options *o,
                             const df_cached_stream *stream, df_head **out, df_error *err) {
    *out = NULL;
    df_head *head = NULL;
    float *rows = NULL;
    int *all = NULL;
    if (!idx) {
        all = malloc(sizeof(int) * (size_t)(N ? N : 1));
        if (!all) return df_error_set(err, DF_ERR_NOMEM, "out of memory for %d photos", N);
        for (int i = 0; i < N; i++) all[i] = i;
        n_idx = N;
    }
    const int *train_idx = idx ? idx : all;
    const int n_train = n_idx;
    int *fold_labels = malloc(sizeof(int) * (size_t)(n_train ? n_train : 1));
    df_status st = fold_labels ? df_head_create(&cand->head, (int)F, C, o->seed, &head, err)
                               : df_error_set(err, DF_ERR_NOMEM, "out of memory for %d photos", n_train);
    if (st == DF_OK && cand->head.kind == DF_HEAD_LINEAR) {
        /* Standardise with statistics of these photos' variants only. */
        rows = malloc((size_t)K * (size_t)n_train * F * sizeof(float));
        if (!rows) st = df_error_set(err, DF_ERR_NOMEM, "out of memory for %d x %d features", K, n_train);
        for (int k = 0; st == DF_OK && k < K; k++)
            for (int t = 0; t < n_train; t++)
                memcpy(rows + ((size_t)k * n_train + t) * F, variants + ((size_t)k * N + (size_t)train_idx[t]) * F,
                       F * sizeof(float));
        if (st == DF_OK) st = df_head_fit_standardisation(head, rows, K * n_train, err);
    }
    if (fold_labels)
        for (int t = 0; t < n_train; t++) fold_labels[t] = labels[train_idx[t]];
    if (st == DF_OK && cand->exact) st = fit_exact(head, rows, K, n_train, fold_labels, o, err);
    else if (st == DF_OK) {
        const fold_rows fr = {variants, rows, K, N, F, train_idx, n_train, labels, fold_labels, C};
        st = fit_adam(head, cand, o, &fr, stream, err);
    }
    free(rows);
    free(fold_labels);
    free(all);
    if (st != DF_OK) {
        df_head_destroy(head);
        return st;
    }
    *out = head;
    return DF_OK;
}

df_status df_cross_val_predict(const float *variants, int K, const float *clean, const int *labels, int N, int C,
                               size_t F, const int *fold_of, int folds, const df_head_candidate *cand,
                               const df_train_options *base, float *oof, df_error *err) {
    return df_cross_val_predict_extra(variants, K, clean, labels, N, C, F, fold_of, folds, cand, base, oof, NULL, 0,
                                      NULL, err);
}

/* Fold f's head: an exact linear one on the shared rows, or through
 * df_fit_head_cached. */
static df_status fold_head(const float *variants, int K, const int *labels, int N, size_t F, const int *train_idx,
                           int n_train, int C, int f, const df_head_candidate *cand, const df_train_options *base,
                           const df_exact_rows *shared, df_head **head, df_error *err) {
    if (!shared) {
        const df_cached_stream stream = {.kind = DF_STREAM_FOLDS, .id = ((uint64_t)1 << 32) + (uint64_t)f};
        return df_fit_head_cached(variants, K, labels, N, F, train_idx, n_train, C, cand, base, &stream, head, err);
    }
    int *y = malloc(sizeof(int) * (size_t)(n_train ? n_train : 1));
    df_status st = y ? df_head_create(&cand->head, (int)F, C, base->seed, head, err)
                     : df_error_set(err, DF_ERR_NOMEM, "out of memory for %d photos", n_train);
    for (int t = 0; st == DF_OK && t < n_train; t++) y[t] = labels[train_idx[t]];
    if (st == DF_OK)
        st = df_fit_linear_exact_photos(*head, shared, train_idx, n_train, y, base->stop_flag, NULL, err);
    if (st != DF_OK) {
        df_head_destroy(*head);
        *head = NULL;
    }
    free(y);
    return st;
}

/* Fold f of df_cross_val_predict_extra: its head, trained on the other
 * folds, predicts its photos (and the extra rows). */
static df_status predict_fold(const float *variants, int K, const float *clean, const int *labels, int N, int C,
                              size_t F, const int *fold_of, int f, const df_head_candidate *cand,
                              const df_train_options *base, const df_exact_rows *shared, float *oof,
                              const float *extra, int n_extra, float *fold_extra, df_error *err) {
    int *train_idx = malloc(sizeof(int) * (size_t)(N ? N : 1)), *test_idx = malloc(sizeof(int) * (size_t)(N ? N : 1));
    float *rows = malloc(sizeof(float) * (size_t)(N ? N : 1) * F), *probs = malloc(sizeof(float) * (size_t)(N ? N : 1) * (size_t)C);
    df_status st = train_idx && test_idx && rows && probs
                       ? DF_OK
                       : df_error_set(err, DF_ERR_NOMEM, "cross-validation: out of memory for %d photos", N);
    int n_train = 0, n_test = 0;
    for (int i = 0; st == DF_OK && i < N; i++) {
        if (fold_of[i] == f) test_idx[n_test++] = i;
        else train_idx[n_train++] = i;
    }
    if (st == DF_OK && n_test == 0) {
        if (fold_extra) memset(fold_extra, 0, sizeof(float) * (size_t)n_extra * (size_t)C);
    } else if (st == DF_OK) {
        df_head *head = NULL;
        st = fold_head(variants, K, labels, N, F, train_idx, n_train, C, f, cand, base, shared, &head, err);
        for (int t = 0; st == DF_OK && t < n_test; t++)
            memcpy(rows + (size_t)t * F, clean + (size_t)test_idx[t] * F, F * sizeof(float));
        if (st == DF_OK) st = df_head_predict(head, rows, n_test, probs, err);
        for (int t = 0; st == DF_OK && t < n_test; t++)
            memcpy(oof + (size_t)test_idx[t] * C, probs + (size_t)t * C, (size_t)C * sizeof(float));
        if (st == DF_OK && fold_extra && n_extra > 0) st = df_head_predict(head, extra, n_extra, fold_extra, err);
        df_head_destroy(head);
    }
    free(train_idx);
    free(test_idx);
    free(rows);
    free(probs);
    return st;
}

/* One fold of df_cross_val_predict_extra, its failure noted in fe. */
static void run_fold(const float *variants, int K, const float *clean, const int *labels, int N, int C, size_t F,
                     const int *fold_of, int f, const df_head_candidate *cand, const df_train_options *base,
                     const df_exact_rows *shared, float *oof, const float *extra, int n_extra, float *extra_probs,
                     df_first_error *fe) {
    df_error e;
    df_error_clear(&e);
    float *fold_extra = extra_probs ? extra_probs + (size_t)f * (size_t)n_extra * (size_t)C : NULL;
    if (predict_fold(variants, K, clean, labels, N, C, F, fold_of, f, cand, base, shared, oof, extra, n_extra,
                     fold_extra, &e) != DF_OK)
        df_first_error_note(fe, f, &e);
}

/* The folds are independent (each its own head, Adam state and streams,
 * writing only its own photos' rows), so they are fitted in parallel; the
 * result does not depend on the number of threads, and a failure reported
 * is the lowest fold's. Called inside a parallel region (the calibration
 * beside the head's own training, df_train_and_trust), the folds are tasks
 * for that region's threads: a parallel loop there would get one thread. */
df_status df_cross_val_predict_extra(const float *variants, int K, const float *clean, const int *labels, int N,
                                     int C, size_t F, const int *fold_of, int folds, const df_head_candidate *cand,
                                     const df_train_options *base, float *oof, const float *extra, int n_extra,
                                     float *extra_probs, df_error *err) {
    df_first_error fe;
    df_first_error_init(&fe);
    /* While the folds share the cores, each fold's GEMMs run on its own
     * thread: OpenBLAS's threads on top of the folds' oversubscribed them
     * (its waiting threads spin in sched_yield: 17% of a --head auto run on
     * 2 cores, by perf). OpenBLAS splits a GEMM's rows and columns, not
     * its sums, so the results do not change. The shared rows' Gram matrix
     * before the folds takes all the cores, unless this runs beside
     * another fit (df_train_and_trust): one core each. */
    const int blas_threads = df_blas_threads();
#ifdef _OPENMP
    const int nested = omp_in_parallel();
#else
    const int nested = 0;
#endif
    if (nested && blas_threads > 1) df_blas_threads_set(1);
    df_exact_rows *own = NULL;
    const df_exact_rows *shared = NULL;
    df_status st = DF_OK;
    if (df_head_candidate_shares_rows(cand, base)) {
        if (df_exact_rows_of(base->exact_rows, variants, K, N, F)) shared = base->exact_rows;
        else if ((st = df_exact_rows_create(variants, K, N, F, &own, err)) == DF_OK) shared = own;
    }
    if (folds > 1 && blas_threads > 1) df_blas_threads_set(1);
#ifdef _OPENMP
    if (st == DF_OK && nested) {
#pragma omp taskloop grainsize(1)
        for (int f = 0; f < folds; f++)
            run_fold(variants, K, clean, labels, N, C, F, fold_of, f, cand, base, shared, oof, extra, n_extra,
                     extra_probs, &fe);
    } else if (st == DF_OK) {
#pragma omp parallel for schedule(dynamic, 1) if (folds > 1)
        for (int f = 0; f < folds; f++)
            run_fold(variants, K, clean, labels, N, C, F, fold_of, f, cand, base, shared, oof, extra, n_extra,
                     extra_probs, &fe);
    }
#else
    for (int f = 0; st == DF_OK && f < folds; f++)
        run_fold(variants, K, clean, labels, N, C, F, fold_of, f, cand, base, shared, oof, extra, n_extra, extra_probs,
                 &fe);
#endif
    if (blas_threads > 1) df_blas_threads_set(blas_threads);
    df_exact_rows_destroy(own);
    if (st != DF_OK) return st;
    return df_first_error_take(&fe, err);
}

/* Each fold's held-out accuracy and cross-entropy (folds values each). */
static df_status fold_scores(const float *oof, const int *labels, const int *fold_of, int N, int C, int folds,
                             double *acc, double *loss, df_error *err) {
    float *p = malloc(sizeof(float) * (size_t)N * (size_t)C);
    int *y = malloc(sizeof(int) * (size_t)N);
    if (!p || !y) {
        free(p);
        free(y);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory for %d photos", N);
    }
    for (int f = 0; f < folds; f++) {
        int n = 0;
        for (int i = 0; i < N; i++)
            if (fold_of[i] == f) {
                memcpy(p + (size_t)n * C, oof + (size_t)i * C, (size_t)C * sizeof(float));
                y[n++] = labels[i];
            }
        acc[f] = n ? df_eval_accuracy(p, y, n, C) : 0.0;
        loss[f] = n ? df_eval_cross_entropy(p, y, n, C) : 0.0;
    }
    free(p);
    free(y);
    return DF_OK;
}

void df_mean_se(const double *x, int n, double *mean, double *se) {
    double m = 0.0, ss = 0.0;
    for (int i = 0; i < n; i++) m += x[i];
    m = n > 0 ? m / n : 0.0;
    for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *se = n > 1 ? sqrt(ss / (n - 1) / n) : 0.0;
}

/* Equal up to rounding: fold accuracies are multiples of 1/n_test, and
 * their means are sums of such in a fixed order. */
#define SCORE_EPS 1e-9

df_one_se_choice df_choose_one_se(const double *scores, const double *losses, int n, int m) {
    df_one_se_choice r = {.best = 0, .chosen = 0};
    double se_best = 0.0, loss_best = 0.0;
    for (int c = 0; c < n; c++) {
        double mean, se, lmean = 0.0, lse;
        df_mean_se(scores + (size_t)c * m, m, &mean, &se);
        if (losses) df_mean_se(losses + (size_t)c * m, m, &lmean, &lse);
        double d = mean - r.best_mean;
        if (c == 0 || d > SCORE_EPS || (fabs(d) <= SCORE_EPS && lmean < loss_best)) {
            r.best = c;
            r.best_mean = mean;
            se_best = se;
            loss_best = lmean;
        }
    }
    r.best_se = se_best;
    r.threshold = r.best_mean - se_best;
    for (int c = 0; c < n; c++) {
        double mean, se;
        df_mean_se(scores + (size_t)c * m, m, &mean, &se);
        if (mean >= r.threshold - SCORE_EPS) {
            r.chosen = c;
            break;
        }
    }
    return r;
}

void df_head_search_result_free(df_head_search_result *r) {
    free(r->train_variants);
    free(r->train_clean);
    r->train_variants = NULL;
    r->train_clean = NULL;
}

df_status df_head_search(df_backbone *bb, const df_dataset *train, const df_train_options *base,
                         const df_head_candidate *candidates, int n_candidates, int folds,
                         df_head_search_result *out, df_error *err) {
    memset(out, 0, sizeof *out);
    if (n_candidates < 1 || n_candidates > DF_HEAD_SEARCH_MAX)
        return df_error_set(err, DF_ERR_INVALID_ARG, "head search: %d candidates (1 to %d)", n_candidates,
                            DF_HEAD_SEARCH_MAX);
    if (folds < 2 || folds > DF_HEAD_SEARCH_MAX_FOLDS)
        return df_error_set(err, DF_ERR_INVALID_ARG, "head search: %d folds is not in [2, %d]", folds,
                            DF_HEAD_SEARCH_MAX_FOLDS);
    if (base->epochs < 1 || base->batch_size < 1)
        return df_error_set(err, DF_ERR_INVALID_ARG, "head search: epochs and batch size must be positive");
    df_status st = df_dataset_check(train, err);
    if (st != DF_OK) return st;
    const int N = train->count, C = train->num_classes;
    const int K = !base->augment ? 1 : base->feature_cache > 0 ? base->feature_cache : 4;
    const size_t F = df_backbone_feature_dim(bb);
    out->folds = folds;
    out->n_candidates = n_candidates;
    out->variants = K;
    memcpy(out->candidates, candidates, sizeof *candidates * (size_t)n_candidates);
    for (int c = 0; c < n_candidates; c++)
        if (candidates[c].head.max_batch < base->batch_size)
            out->candidates[c].head.max_batch = base->batch_size;

    double t0 = df_clock_seconds();
    float *variants = NULL, *clean = NULL;
    st = df_train_feature_variants(bb, train, base, K, &variants, &clean, err);
    if (st != DF_OK) return st;
    out->feature_seconds = df_clock_seconds() - t0;
    t0 = df_clock_seconds();

    int *labels = malloc(sizeof(int) * (size_t)N), *fold_of = malloc(sizeof(int) * (size_t)N);
    float *oof = malloc(sizeof(float) * (size_t)N * (size_t)C);
    df_exact_rows *search_rows = NULL;
    if (!labels || !fold_of || !oof) {
        st = df_error_set(err, DF_ERR_NOMEM, "head search: out of memory for %d photos", N);
        goto done;
    }
    for (int i = 0; i < N; i++) labels[i] = train->items[i].label;
    st = df_stratified_folds(labels, N, C, folds, base->seed, fold_of, err);
    /* The exact linear candidates differ only in their L2: one set of
     * shared rows (one Gram matrix) for all their folds. */
    df_train_options shared_base = *base;
    int any_exact = 0;
    for (int c = 0; c < n_candidates; c++) any_exact |= df_head_candidate_shares_rows(&out->candidates[c], base);
    if (st == DF_OK && any_exact) {
        st = df_exact_rows_create(variants, K, N, F, &search_rows, err);
        shared_base.exact_rows = search_rows;
    }
    for (int c = 0; st == DF_OK && c < n_candidates; c++) {
        st = df_cross_val_predict(variants, K, clean, labels, N, C, F, fold_of, folds, &out->candidates[c],
                                  &shared_base, oof, err);
        if (st == DF_OK)
            st = fold_scores(oof, labels, fold_of, N, C, folds, out->fold_accuracy[c], out->fold_loss[c], err);
        if (st == DF_OK) {
            double se;
            df_mean_se(out->fold_accuracy[c], folds, &out->accuracy[c], &out->accuracy_se[c]);
            df_mean_se(out->fold_loss[c], folds, &out->loss[c], &se);
        }
    }
    if (st == DF_OK) {
        double acc[DF_HEAD_SEARCH_MAX * DF_HEAD_SEARCH_MAX_FOLDS], loss[DF_HEAD_SEARCH_MAX * DF_HEAD_SEARCH_MAX_FOLDS];
        for (int c = 0; c < n_candidates; c++)
            for (int f = 0; f < folds; f++) {
                acc[c * folds + f] = out->fold_accuracy[c][f];
                loss[c * folds + f] = out->fold_loss[c][f];
            }
        df_one_se_choice ch = df_choose_one_se(acc, loss, n_candidates, folds);
        out->best = ch.chosen;
        out->top = ch.best;
        out->threshold = ch.threshold;
    }
    out->search_seconds = df_clock_seconds() - t0;
done:
    df_exact_rows_destroy(search_rows);
    if (st == DF_OK) {
        out->train_variants = variants;
        out->train_clean = clean;
        variants = NULL;
        clean = NULL;
    }
    free(variants);
    free(clean);
    free(labels);
    free(fold_of);
    free(oof);
    return st;
}
