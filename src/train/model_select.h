/*
 * Choosing the head for a data set by stratified k-fold cross-validation on
 * its training photos (`deepfashion train --head auto`). The validation
 * photos are never looked at, so the accuracy reported on them afterwards
 * stays an honest estimate.
 *
 * The backbone runs once: every training photo's augmented variants (the
 * ones training's feature cache would draw) and its plain features are
 * computed up front; each candidate is then trained k times on the variants
 * of k-1 folds, with the run's epochs, batch size and class weights, and
 * scored on the plain features of the fold left out, as validation is.
 * Early stopping is not applied inside the folds (it would need yet another
 * held-out part of each fold's photos).
 * The choice is the one-standard-error rule (Breiman et al. 1984; Hastie,
 * Tibshirani and Friedman, ESL 7.10): the best mean fold accuracy sets a
 * threshold one standard error (over its folds) below it, and the first
 * candidate, in the list's order, whose mean reaches it is chosen. Lists
 * are ordered simplest / most regularised first (df_head_candidates_default
 * says how), so a candidate must beat a simpler one by more than the
 * noise of the folds to be chosen. On 106 photos one fold is 21 photos,
 * one photo 4.8 points: the best mean alone rewards fitting the one set of
 * photos the folds come from (issue 10: that choice cost five points on
 * other people's photos).
 */
#ifndef DF_TRAIN_MODEL_SELECT_H
#define DF_TRAIN_MODEL_SELECT_H

#include "train/train.h"

#define DF_HEAD_SEARCH_MAX 16
#define DF_HEAD_SEARCH_MAX_FOLDS 20

typedef struct df_head_candidate {
    char name[64]; /* "linear l2=0.001 lr=0.001" */
    df_head_config head;
    df_adam_config adam;
    int epochs; /* 0: the base options' */
    int exact;  /* linear: fitted to the optimum (df_fit_linear_exact), no Adam, no epochs */
} df_head_candidate;

/* The candidates --head auto compares, built on base (whose batch,
 * augmentation and optimiser settings other than lr are kept), simplest
 * first: the linear head fitted exactly (df_fit_linear_exact) at L2 10, 3,
 * 1, 0.3, 0.1, 0.03 and 0.01 (with base's class weights, which the exact
 * fit has not: by Adam instead, the default's L2 over 300 epochs at 1e-3,
 * L2 0.1, 0.03 and 0.01 at 1e-2, L2 1e-3 at 1e-3 and 1e-2); then the
 * original's MLP (1024 units, BatchNorm, dropout 0.25) at Adam 1e-3 with
 * L2 0.01 and without. Returns how many it wrote. */
int df_head_candidates_default(const df_train_options *base, df_head_candidate out[DF_HEAD_SEARCH_MAX]);

typedef struct df_head_search_result {
    int folds, n_candidates;
    int best;                           /* the choice (one-standard-error rule) */
    int top;                            /* the best mean fold accuracy (ties: lower loss) */
    double threshold;                   /* top's mean accuracy minus its standard error */
    int variants;                       /* augmented variants per photo trained on */
    df_head_candidate candidates[DF_HEAD_SEARCH_MAX];
    double accuracy[DF_HEAD_SEARCH_MAX]; /* mean over folds of the held-out accuracy */
    double accuracy_se[DF_HEAD_SEARCH_MAX]; /* its standard error: sd over folds / sqrt(folds) */
    double loss[DF_HEAD_SEARCH_MAX];     /* mean over folds of the held-out cross-entropy */
    double fold_accuracy[DF_HEAD_SEARCH_MAX][DF_HEAD_SEARCH_MAX_FOLDS]; /* [candidate][fold] */
    double fold_loss[DF_HEAD_SEARCH_MAX][DF_HEAD_SEARCH_MAX_FOLDS];
    double feature_seconds, search_seconds;
    /* The training photos' variants the search trained on (variants x
     * photos x feature_dim, as df_train_feature_variants), kept so that
     * training the chosen head need not run the backbone again
     * (df_train_options.feature_variants when variants == feature_cache).
     * Owned: df_head_search_result_free. */
    float *train_variants;
    /* Their un-augmented features (photos x feature_dim), for the
     * calibration (df_train_options.feature_clean). Owned, as above. */
    float *train_clean;
} df_head_search_result;

void df_head_search_result_free(df_head_search_result *r);

/* Runs the search on train's photos with base's settings (base->feature_cache
 * variants per photo, 4 when it is 0 (live augmentation), 1 without
 * augmentation). folds in [2, 20] and at most the number of photos.
 * Deterministic for a given base->seed. */
df_status df_head_search(df_backbone *bb, const df_dataset *train, const df_train_options *base,
                         const df_head_candidate *candidates, int n_candidates, int folds,
                         df_head_search_result *out, df_error *err) DF_MUST_CHECK;

/* Mean and standard error (sample sd / sqrt(n); 0 when n < 2) of x[0..n). */
void df_mean_se(const double *x, int n, double *mean, double *se);

typedef struct df_one_se_choice {
    int best;           /* highest mean score; ties to the lower mean loss, then the earlier */
    double best_mean, best_se;
    double threshold;   /* best_mean - best_se */
    int chosen;         /* the first candidate whose mean score >= threshold */
} df_one_se_choice;

/* The one-standard-error rule over n candidates, listed simplest first:
 * scores and losses (losses may be NULL) are n x m (m replicates per
 * candidate: folds, or folds x seeds), row c = candidate c. Pure: no
 * allocation, no state. Means equal to within 1e-9 count as equal. */
df_one_se_choice df_choose_one_se(const double *scores, const double *losses, int n, int m);

/* The run's own head and optimiser settings as a candidate. */
df_head_candidate df_head_candidate_from_options(const df_train_options *o);
/* Whether cand's folds fit on shared rows (train/fit.h df_exact_rows): an
 * exact linear head, which has no class weights. */
int df_head_candidate_shares_rows(const df_head_candidate *cand, const df_train_options *base);

/* Which cached-variant stream a fitted head draws from (fit.h,
 * df_cached_source): df_train's own is {DF_TRAIN_STREAM_VARIANT, 0, 1}, a
 * fold's {DF_STREAM_FOLDS, 2^32 + fold, 0}. */
typedef struct df_cached_stream {
    uint64_t kind, id;
    int epoch_first;
} df_cached_stream;

/* A head with cand's settings trained through the fitting loop on the
 * variants (K x N x F, variant-major) of the photos idx[0..n_idx) (idx NULL
 * = all N), with o's epochs, batch size, steps per epoch, class weights and
 * seed; a linear head is standardised with those photos' variants. With
 * all photos and df_train's stream this is the head df_train trains from
 * its feature cache, without a backbone (bench/bench_defaults.c checks
 * it). *out is owned by the caller. */
df_status df_fit_head_cached(const float *variants, int K, const int *labels, int N, size_t F, const int *idx,
                             int n_idx, int C, const df_head_candidate *cand, const df_train_options *o,
                             const df_cached_stream *stream, df_head **out, df_error *err) DF_MUST_CHECK;

/* Out-of-fold predictions on frozen features: for each fold f, a head with
 * cand's settings (and base's epochs, batch size, steps per epoch, class
 * weights and seed) is trained through the fitting loop (fit.h) on the
 * variants of the photos outside f, and predicts the plain features of the
 * photos in f. variants: K x N x F (variant-major; pass clean with K = 1
 * for no augmentation), clean: N x F, labels: N in [0, C), fold_of: N in
 * [0, folds) (df_stratified_folds). oof: N x C probabilities, written.
 * Deterministic for base->seed. An exact linear candidate's folds share
 * the rows (train/fit.h df_exact_rows): each fold's head is standardised
 * with the statistics of all N photos' variants, as the head trained on
 * all of them is, and fitted on a block of their one Gram matrix. */
df_status df_cross_val_predict(const float *variants, int K, const float *clean, const int *labels, int N, int C,
                               size_t F, const int *fold_of, int folds, const df_head_candidate *cand,
                               const df_train_options *base, float *oof, df_error *err) DF_MUST_CHECK;

/* df_cross_val_predict, and each fold's head also predicts the n_extra
 * rows of extra (n_extra x F; e.g. other photos, to score an ensemble of
 * the fold heads, or the photos' mirrored features): extra_probs =
 * folds x n_extra x C, fold-major, written (zeros for an empty fold). */
df_status df_cross_val_predict_extra(const float *variants, int K, const float *clean, const int *labels, int N,
                                     int C, size_t F, const int *fold_of, int folds, const df_head_candidate *cand,
                                     const df_train_options *base, float *oof, const float *extra, int n_extra,
                                     float *extra_probs, df_error *err) DF_MUST_CHECK;

/* Assigns each of n photos (labels[i] in [0, C)) a fold in [0, folds):
 * within each class, a seeded shuffle dealt round-robin, continuing where
 * the previous class stopped, so fold sizes differ by at most one and each
 * class is spread evenly. */
df_status df_stratified_folds(const int *labels, int n, int C, int folds, uint64_t seed, int *fold_of,
                              df_error *err) DF_MUST_CHECK;

#endif
