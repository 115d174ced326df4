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
 * The best mean fold accuracy wins; a tie goes to the lower mean fold loss,
 * then to the earlier candidate (the default recipe's head comes first).
 */
#ifndef DF_TRAIN_MODEL_SELECT_H
#define DF_TRAIN_MODEL_SELECT_H

#include "train/train.h"

#define DF_HEAD_SEARCH_MAX 16

typedef struct df_head_candidate {
    char name[64]; /* "linear l2=0.001 lr=0.001" */
    df_head_config head;
    df_adam_config adam;
} df_head_candidate;

/* The candidates --head auto compares, built on base (whose epochs, batch,
 * augmentation and optimiser settings other than lr are kept): the linear
 * head at L2 1e-3 (the default), 1e-4 and 1e-2 with Adam 1e-3, and at L2
 * 1e-3 with Adam 1e-2; the original's MLP (1024 units, BatchNorm, dropout
 * 0.25) with Adam 1e-3 and 1e-4. Returns how many it wrote. */
int df_head_candidates_default(const df_train_options *base, df_head_candidate out[DF_HEAD_SEARCH_MAX]);

typedef struct df_head_search_result {
    int folds, n_candidates, best;
    int variants;                       /* augmented variants per photo trained on */
    df_head_candidate candidates[DF_HEAD_SEARCH_MAX];
    double accuracy[DF_HEAD_SEARCH_MAX]; /* mean over folds of the held-out accuracy */
    double loss[DF_HEAD_SEARCH_MAX];     /* mean over folds of the held-out cross-entropy */
    double feature_seconds, search_seconds;
    /* The training photos' variants the search trained on (variants x
     * photos x feature_dim, as df_train_feature_variants), kept so that
     * training the chosen head need not run the backbone again
     * (df_train_options.feature_variants when variants == feature_cache).
     * Owned: df_head_search_result_free. */
    float *train_variants;
} df_head_search_result;

void df_head_search_result_free(df_head_search_result *r);

/* Runs the search on train's photos with base's settings (base->feature_cache
 * variants per photo, 4 when it is 0 (live augmentation), 1 without
 * augmentation). folds in [2, 20] and at most the number of photos.
 * Deterministic for a given base->seed. */
df_status df_head_search(df_backbone *bb, const df_dataset *train, const df_train_options *base,
                         const df_head_candidate *candidates, int n_candidates, int folds,
                         df_head_search_result *out, df_error *err) DF_MUST_CHECK;

/* The run's own head and optimiser settings as a candidate. */
df_head_candidate df_head_candidate_from_options(const df_train_options *o);

/* Out-of-fold predictions on frozen features: for each fold f, a head with
 * cand's settings (and base's epochs, batch size, steps per epoch, class
 * weights and seed) is trained through the fitting loop (fit.h) on the
 * variants of the photos outside f, and predicts the plain features of the
 * photos in f. variants: K x N x F (variant-major; pass clean with K = 1
 * for no augmentation), clean: N x F, labels: N in [0, C), fold_of: N in
 * [0, folds) (df_stratified_folds). oof: N x C probabilities, written.
 * Deterministic for base->seed. */
df_status df_cross_val_predict(const float *variants, int K, const float *clean, const int *labels, int N, int C,
                               size_t F, const int *fold_of, int folds, const df_head_candidate *cand,
                               const df_train_options *base, float *oof, df_error *err) DF_MUST_CHECK;

/* Assigns each of n photos (labels[i] in [0, C)) a fold in [0, folds):
 * within each class, a seeded shuffle dealt round-robin, continuing where
 * the previous class stopped, so fold sizes differ by at most one and each
 * class is spread evenly. */
df_status df_stratified_folds(const int *labels, int n, int C, int folds, uint64_t seed, int *fold_of,
                              df_error *err) DF_MUST_CHECK;

#endif
